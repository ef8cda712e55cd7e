# NixOS: programs.nix-fetch-model. The CLI; the plugin built for the system's Nix, named in
# nix.settings.plugin-files; models fetched as fixed-output derivations (evaluating the system
# needs no plugin) and kept alive by the system closure; their Hub cache for services and
# logins; a token file the daemon's builds can read. README, "The NixOS module".
{ config, lib, pkgs, ... }:
let
  inherit (lib) literalExpression mkEnableOption mkIf mkMerge mkOption types;
  cfg = config.programs.nix-fetch-model;
  modelType = import ./model-type.nix { inherit lib; };
  packages = import ./packages.nix pkgs;
  models = import ./fetch-models.nix {
    inherit lib pkgs;
    cli = cfg.package;
    models = cfg.models;
    tokenFile = cfg.tokenFile;
    builtinFetchModel = null;
  };
  # The token files the fixed-output fetches read: the module's and the models' own.
  tokenFiles = lib.unique (lib.optional (cfg.tokenFile != null) cfg.tokenFile
    ++ lib.concatMap (m: lib.optional (m.auth.tokenFile != null) m.auth.tokenFile) (lib.attrValues cfg.models));
in
{
  options.programs.nix-fetch-model = {
    enable = mkEnableOption "nix-fetch-model: the CLI on PATH, and the models, plugin and Hub cache configured below";

    package = mkOption {
      type = types.package;
      default = packages.cli;
      defaultText = literalExpression "pkgs.nix-fetch-model";
      description = "The CLI: on PATH, and the builder of the models' fixed-output derivations.";
    };

    plugin = {
      enable = mkEnableOption ''
        builtins.fetchModel in every evaluation on this machine: nix.settings.plugin-files
        names the loader of the plugin built for nix.package. After a Nix upgrade without a
        rebuild, the loader warns and adds nothing, and lib.fetchModel falls back to its
        fixed-output derivation'';
      package = mkOption {
        type = types.package;
        default = packages.pluginFor config.nix.package;
        defaultText = literalExpression "pkgs.nix-fetch-model-plugin.override { nix = config.nix.package; }";
        description = "The plugin, built for the Nix that loads it.";
      };
    };

    models = mkOption {
      type = types.attrsOf modelType.model;
      default = { };
      example = literalExpression ''
        {
          minilm = {
            source.huggingface = {
              repo = "sentence-transformers/all-MiniLM-L6-v2";
              revision = "main";
              commit = "eef5dfb0430ad3ef5f69a1b750b7bb3b11c7330a";
            };
            hash = "sha256-...";
            validation = "minimal";
          };
        }'';
      description = ''
        Models to fetch: each is the argument of `lib.fetchModel` (`source`, `hash`, `name`,
        `network`, `auth`, `validation`, `integration`, `meta`). Each is a fixed-output
        derivation, validated as configured, and part of the system closure, so garbage
        collection keeps it.
      '';
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

    tokenFile = mkOption {
      type = types.nullOr modelType.tokenFile;
      default = null;
      example = "/run/secrets/hf-token";
      description = ''
        A file holding the Hub token, for models without an `auth` of their own. The
        nix-daemon's build users read it when they fetch (mode 0440, group nixbld), and it is
        added to nix.settings.extra-sandbox-paths, so every build on this machine can read it:
        see the README's warning.
      '';
    };

    hubCache = mkOption {
      type = types.package;
      readOnly = true;
      description = "The Hub cache of the models (lib.mkHfCache): a read-only store folder with one models--org--name link a model.";
    };

    hubCachePath = mkOption {
      type = types.str;
      readOnly = true;
      example = literalExpression ''{ systemd.services.my-llm.environment.HF_HUB_CACHE = config.programs.nix-fetch-model.hubCachePath; }'';
      description = "The store path of hubCache, for services' HF_HUB_CACHE.";
    };

    setSessionVariables = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Set HF_HUB_CACHE to hubCachePath, and HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE and
        HF_DATASETS_OFFLINE to 1, for every login.
      '';
    };
  };

  config = mkMerge [
    {
      programs.nix-fetch-model = {
        inherit (models) hubCache fetched;
        hubCachePath = "${models.hubCache}";
      };
    }
    (mkIf cfg.enable (mkMerge [
      {
        environment.systemPackages = [ cfg.package ];
      }
      (mkIf (cfg.models != { }) {
        # In the system closure, so garbage collection keeps every model; a stable path too.
        environment.etc."nix-fetch-model/hub-cache".source = cfg.hubCache;
      })
      (mkIf cfg.plugin.enable {
        nix.settings.plugin-files = [ "${cfg.plugin.package}/lib/nix/plugins/libnix_fetch_model.so" ];
        # The lock folder all users share, so two users' evaluations download a model once.
        systemd.tmpfiles.rules = [ "d /tmp/nix-fetch-model-locks 1777 root root -" ];
      })
      (mkIf cfg.setSessionVariables {
        environment.sessionVariables = { HF_HUB_CACHE = cfg.hubCachePath; } // models.offlineVariables;
      })
      (mkIf (tokenFiles != [ ]) {
        # Seen by sandboxed builds ('?': builds go on while a file is missing).
        nix.settings.extra-sandbox-paths = map (f: "${f}?") tokenFiles;
      })
    ]))
  ];
}
