# home-manager: programs.nix-fetch-model. The CLI; the plugin built for the user's Nix
# (nix.package), named in the user's nix.conf; models linked into the user's writable Hub
# cache beside those downloaded the usual way, and kept alive by the home-manager generation;
# session variables on request. README, "The home-manager module".
{ config, lib, pkgs, ... }:
let
  inherit (lib) escapeShellArg escapeShellArgs literalExpression mkEnableOption mkIf mkMerge mkOption types;
  cfg = config.programs.nix-fetch-model;
  modelType = import ./model-type.nix { inherit lib; };
  packages = import ./packages.nix pkgs;
  models = import ./fetch-models.nix {
    inherit lib pkgs;
    cli = cfg.package;
    models = cfg.models;
    # The user's own evaluation: the builtin when the plugin is loaded (the user's token and
    # environment), else the fixed-output derivation; the same store path either way.
    builtinFetchModel = builtins.fetchModel or null;
  };

  # The activation's two steps: `check` before home-manager writes anything, `link` after. The
  # model paths in the script are what keeps the models alive: the generation references them.
  hubLinks = mode: ''
    PATH=${escapeShellArg "${pkgs.coreutils}/bin:${pkgs.gnugrep}/bin:${pkgs.gnused}/bin"}:$PATH ${pkgs.bash}/bin/bash ${./hub-links.sh} ${mode} \
      ${escapeShellArgs [ cfg.hubCachePath stateFile builtins.storeDir ]} \
      ${escapeShellArgs (lib.concatLists (lib.mapAttrsToList (name: m: [ name "${m}" ]) models.links))}
  '';
  stateFile = "${toString config.xdg.stateHome}/nix-fetch-model/hub-links";
  # home-manager's DAG entries ({ data; after; before; }, what lib.hm.dag.entryBefore makes).
  dagEntry = { after ? [ ], before ? [ ] }: data: { inherit data after before; };
in
{
  options.programs.nix-fetch-model = {
    enable = mkEnableOption "nix-fetch-model: the CLI on PATH, and the models, plugin and variables configured below";

    package = mkOption {
      type = types.package;
      default = packages.cli;
      defaultText = literalExpression "pkgs.nix-fetch-model";
      description = "The CLI: on PATH, and the builder of the models' fixed-output derivations.";
    };

    plugin = {
      enable = mkEnableOption ''
        builtins.fetchModel in your evaluations: nix.settings.plugin-files (your nix.conf)
        names the loader of the plugin built for nix.package, which must be the Nix you run'';
      package = mkOption {
        type = types.nullOr types.package;
        default = if config.nix.package == null then null else packages.pluginFor config.nix.package;
        defaultText = literalExpression "pkgs.nix-fetch-model-plugin.override { nix = config.nix.package; }";
        description = "The plugin, built for the Nix that loads it.";
      };
    };

    models = mkOption {
      type = types.attrsOf modelType.model;
      default = { };
      description = ''
        Models to fetch (each the argument of `lib.fetchModel`) and link into hubCachePath as
        models--org--name, beside the models downloaded there the usual way. A folder that
        holds another commit is never replaced: the activation stops and says so.
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

    hubCachePath = mkOption {
      type = types.str;
      default = "${toString config.xdg.cacheHome}/huggingface/hub";
      defaultText = literalExpression ''"''${config.xdg.cacheHome}/huggingface/hub"'';
      description = "Your writable Hub cache, where the models are linked (huggingface_hub's default with XDG_CACHE_HOME).";
    };

    setSessionVariables = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Set HF_HUB_CACHE to hubCachePath, and HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE and
        HF_DATASETS_OFFLINE to 1, in your sessions.
      '';
    };
  };

  config = mkMerge [
    { programs.nix-fetch-model.fetched = models.fetched; }
    (mkIf cfg.enable (mkMerge [
      {
        home.packages = [ cfg.package ];
        # Runs with no models too: it removes the links of models taken out of the configuration.
        home.activation.nixFetchModelCheck = dagEntry { before = [ "writeBoundary" ]; } (hubLinks "check");
        home.activation.nixFetchModelLinks = dagEntry { after = [ "writeBoundary" ]; } (hubLinks "link");
      }
      (mkIf cfg.plugin.enable {
        assertions = [{
          assertion = cfg.plugin.package != null;
          message = "programs.nix-fetch-model.plugin.enable: set nix.package to the Nix you run (the plugin is built for exactly that Nix), or set programs.nix-fetch-model.plugin.package.";
        }];
        nix.settings.plugin-files = lib.optional (cfg.plugin.package != null)
          "${cfg.plugin.package}/lib/nix/plugins/libnix_fetch_model.so";
      })
      (mkIf cfg.setSessionVariables {
        home.sessionVariables = { HF_HUB_CACHE = cfg.hubCachePath; } // models.offlineVariables;
      })
    ]))
  ];
}
