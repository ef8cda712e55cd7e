# An adapter for a source type the project knows but the core does not fetch yet: using it
# fails at evaluation with a message that says so (the Rust core's check says the same).
{ type, describe }:
{
  inherit type;
  supported = false;

  validateConfig = cfg: [ "source.${type}: this source is not fetched by nix-fetch-model yet; see the README's table of sources" ];

  defaultName = cfg: builtins.replaceStrings [ "/" ":" "@" ] [ "--" "-" "-" ] (describe cfg);
  hfCacheName = cfg: null;
  impureEnvVars = cfg: [ ];
  commit = cfg: null;
  extractMeta = cfg: { description = "${describe cfg} (${type})"; };
  mkFetchDerivation = pkgs: args:
    throw "fetchModel: source.${type} is not fetched by nix-fetch-model yet; see the README's table of sources";
}
