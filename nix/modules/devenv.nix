# devenv: nix-fetch-model. Models fetched and put into a Hub cache that the shell, its
# processes and scripts see through HF_HUB_CACHE, offline, as lib.mkShellHook does; the CLI in
# the shell. README, "The devenv module".
{ config, lib, pkgs, ... }:
let
  inherit (lib) literalExpression mkEnableOption mkIf mkOption types;
  cfg = config.nix-fetch-model;
  modelType = import ./model-type.nix { inherit lib; };
  packages = import ./packages.nix pkgs;
  models = import ./fetch-models.nix {
    inherit lib pkgs;
    cli = cfg.package;
    models = cfg.models;
    # The builtin when the plugin is loaded, else the fixed-output derivation (the same path).
    builtinFetchModel = builtins.fetchModel or null;
  };
in
{
  options.nix-fetch-model = {
    enable = mkEnableOption "nix-fetch-model: the models below in the shell's HF_HUB_CACHE, and the CLI";

    package = mkOption {
      type = types.package;
      default = packages.cli;
      defaultText = literalExpression "pkgs.nix-fetch-model";
      description = "The CLI: in the shell, and the builder of the models' fixed-output derivations.";
    };

    models = mkOption {
      type = types.attrsOf modelType.model;
      default = { };
      description = "Models to fetch, each the argument of `lib.fetchModel`; the shell's HF_HUB_CACHE holds them.";
    };

    fetched = mkOption {
      type = types.attrsOf types.unspecified;
      readOnly = true;
      description = ''
        The models by their name in `models`: what `lib.fetchModel` returns (a derivation or
        store path, with `commit`, `hfCacheName`, `hfCachePath`, `spec`...). For a service that
        takes a folder: "''${fetched.minilm}/snapshots/''${fetched.minilm.commit}" (with a pinned commit).
      '';
    };

    offline = mkOption {
      type = types.bool;
      default = true;
      description = "Set HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE and HF_DATASETS_OFFLINE to 1, so nothing is downloaded behind the pins.";
    };

    hubCache = mkOption {
      type = types.package;
      readOnly = true;
      description = "The Hub cache of the models (lib.mkHfCache), HF_HUB_CACHE in the shell.";
    };
  };

  config = lib.mkMerge [
    { nix-fetch-model = { inherit (models) hubCache fetched; }; }
    (mkIf cfg.enable {
      packages = [ cfg.package ];
      # env, not enterShell: devenv's processes and scripts get it too. The shell references
      # the cache, so devenv's garbage-collection root keeps the models.
      env = { HF_HUB_CACHE = "${models.hubCache}"; } // lib.optionalAttrs cfg.offline models.offlineVariables;
    })
  ];
}
