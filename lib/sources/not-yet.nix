# An adapter for a source type the project knows but the core does not fetch yet: its
# attributes are checked, and using it fails at evaluation with a message that says so.
{ type, knownKeys, requiredKeys, describe }:
let
  check = import ./check.nix;
  at = "source.${type}";
in
{
  inherit type;
  supported = false;

  validateConfig = cfg:
    if !builtins.isAttrs cfg then [ "${at} is a ${builtins.typeOf cfg}, give an attrset" ]
    else
      check.unknownKeys at knownKeys cfg
      ++ check.required at requiredKeys cfg
      ++ [ "${at}: this source is not fetched by nix-fetch-model yet; only huggingface is supported for now" ];

  defaultName = cfg: builtins.replaceStrings [ "/" ":" "@" ] [ "--" "-" "-" ] (describe cfg);
  hfCacheName = cfg: null;
  impureEnvVars = cfg: [ ];
  commit = cfg: null;
  extractMeta = cfg: { description = "${describe cfg} (${type})"; };
  mkFetchDerivation = pkgs: args:
    throw "fetchModel: source.${type} is not fetched by nix-fetch-model yet; only huggingface is supported for now";
}
