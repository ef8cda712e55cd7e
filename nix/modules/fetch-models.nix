# The models of a module's `models.<name>`, fetched with the project's lib.fetchModel, and the
# Hub cache of them (lib.mkHfCache).
#   builtinFetchModel = null: the fixed-output derivation, even where the plugin is loaded (the
#   same store path either way), so evaluating a system needs no plugin.
{ lib, pkgs, cli, models, tokenFile ? null, builtinFetchModel ? null }:
let
  nfm = import ../../lib { inherit builtinFetchModel; };
  modelType = import ./model-type.nix { inherit lib; };
  # The library takes the CLI, the fixed-output derivation's builder, from pkgs.
  withCli = pkgs // { nix-fetch-model = cli; };

  fetched = lib.mapAttrs (_: m: nfm.fetchModel withCli (modelType.toArgument { inherit tokenFile; } m)) models;

  # { "models--org--name" = model; }: where each model goes in a Hub cache.
  byCacheName = builtins.foldl'
    (acc: attr:
      let m = fetched.${attr}; in
      if acc ? ${m.hfCacheName} then
        throw "nix-fetch-model: models.${acc.${m.hfCacheName}.attr} and models.${attr} would both be ${m.hfCacheName} in the Hub cache; keep one of them"
      else acc // { ${m.hfCacheName} = { inherit attr; model = m; }; })
    { }
    (builtins.attrNames fetched);
in
{
  inherit fetched;
  links = lib.mapAttrs (_: e: e.model) byCacheName;
  hubCache = nfm.mkHfCache withCli (lib.mapAttrs (_: e: e.model) byCacheName);
  inherit (nfm) offlineVariables;
}
