# The modules' evaluation tests: each module evaluated with nixpkgs' lib.evalModules (eval.nix),
# a list of { name; expr; expected; }. Gives { passed; failed = [ { name; expected; got; } ]; }.
#   nix-instantiate --eval --strict --json tests/nix/modules/unit.nix --argstr nixpkgsLib DIR
#     --argstr hostTools DIR --argstr cli DIR
{ nixpkgsLib, hostTools, cli }:
let
  evalWith = args: kind: config: import ./eval.nix ({ inherit nixpkgsLib hostTools cli kind config; } // args);
  eval = evalWith { };
  nixos = config: (eval "nixos" config).config;
  hm = config: (eval "home-manager" config).config;
  devenv = config: (eval "devenv" config).config;
  inherit (eval "nixos" { }) pkgs lib;

  plain = builtins.unsafeDiscardStringContext;
  # Shell words without their quotes (nixpkgs' escapeShellArg quotes only some, depending on its version).
  unquoted = s: plain (builtins.replaceStrings [ "'" ] [ "" ] s);
  hash = "sha256-5LSwL82AsZAzrgm4zU2+sg87S0/sNuEPum570SkugQs=";
  tiny = { source.huggingface.repo = "fake-org/tiny-model"; inherit hash; };
  dataset = { source.huggingface = { repo = "fake-org/tiny-dataset"; repoType = "dataset"; }; hash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="; };

  nix226 = pkgs.nixVersions.nix_2_26;
  loaderOf = plugin: "${plugin}/lib/nix/plugins/libnix_fetch_model.so";

  # A NixOS configuration with everything on.
  full = nixos ({ pkgs, config, ... }: {
    nix.package = nix226;
    programs.nix-fetch-model = {
      enable = true;
      plugin.enable = true;
      setSessionVariables = true;
      tokenFile = "/run/secrets/hf-token";
      models = { inherit tiny dataset; };
    };
    systemd.services.llm.environment.HF_HUB_CACHE = config.programs.nix-fetch-model.hubCachePath;
  });
  fullCfg = full.programs.nix-fetch-model;

  homeFull = hm ({ config, ... }: {
    nix.package = nix226;
    xdg.cacheHome = "/home/u/.xdg-cache";
    xdg.stateHome = "/home/u/.state";
    programs.nix-fetch-model = { enable = true; plugin.enable = true; setSessionVariables = true; models = { inherit tiny dataset; }; };
  });

  devenvFull = devenv { nix-fetch-model = { enable = true; models = { inherit tiny dataset; }; }; };

  # The VM test of the flake's checks: its machine evaluated as a NixOS module here.
  vmTest = import ../../../nix/tests/nixos-vm.nix { inherit pkgs; module = ../../../nix/modules/nixos.nix; };
  vmMachine = (lib.evalModules {
    modules = [
      (import ./hosts.nix { inherit lib pkgs; }).nixos
      { options.virtualisation.memorySize = lib.mkOption { type = lib.types.int; }; }
      vmTest.nodes.machine
      { _module.args.pkgs = pkgs; }
    ];
  }).config;

  tests = [
    # The plugin for the Nix given.
    { name = "nixos: plugin-files names the loader of the plugin built for nix.package (2.26.3)";
      expr = full.nix.settings.plugin-files;
      expected = [ (loaderOf (pkgs.nix-fetch-model-plugin.override { nix = nix226; })) ]; }
    { name = "nixos: that plugin records Nix 2.26.3";
      expr = fullCfg.plugin.package.nixVersion; expected = "2.26.3"; }
    { name = "nixos: another nix.package, another plugin";
      expr = (nixos { nix.package = pkgs.nixVersions.nix_2_28; programs.nix-fetch-model = { enable = true; plugin.enable = true; }; }).nix.settings.plugin-files;
      expected = [ (loaderOf (pkgs.nix-fetch-model-plugin.override { nix = pkgs.nixVersions.nix_2_28; })) ]; }
    { name = "nixos: the default nix.package gets the plugin for it (2.8.0)";
      expr = (nixos { programs.nix-fetch-model = { enable = true; plugin.enable = true; }; }).programs.nix-fetch-model.plugin.package.nixVersion;
      expected = "2.8.0"; }
    { name = "nixos: without pkgs.nix-fetch-model-plugin, nix/plugin.nix is built for nix.package";
      expr = let p = ((evalWith { withPlugin = false; } "nixos" { nix.package = nix226; programs.nix-fetch-model = { enable = true; plugin.enable = true; }; }).config).programs.nix-fetch-model.plugin.package;
        in [ p.name p.passthru.nixVersion (builtins.elem nix226 p.buildInputs) ];
      expected = [ "nix-fetch-model-plugin-0.1.0-nix-2.26.3" "2.26.3" true ]; }
    { name = "nixos: plugin.enable off, no plugin-files";
      expr = (nixos { programs.nix-fetch-model.enable = true; }).nix.settings ? plugin-files; expected = false; }
    { name = "nixos: the users' shared lock folder with the plugin";
      expr = full.systemd.tmpfiles.rules; expected = [ "d /tmp/nix-fetch-model-locks 1777 root root -" ]; }
    { name = "nixos: a user's plugin-files entry is kept beside the module's";
      expr = builtins.length (nixos { nix.settings.plugin-files = [ "/other/plugin.so" ]; programs.nix-fetch-model = { enable = true; plugin.enable = true; }; }).nix.settings.plugin-files;
      expected = 2; }

    # The CLI; disabled does nothing.
    { name = "nixos: enable puts the CLI on environment.systemPackages";
      expr = map (p: p.name) full.environment.systemPackages; expected = [ "nix-fetch-model" ]; }
    { name = "nixos: disabled, nothing is set";
      expr = let c = nixos { programs.nix-fetch-model = { plugin.enable = true; setSessionVariables = true; models = { inherit tiny; }; }; };
        in [ c.environment.systemPackages c.nix.settings c.environment.etc c.environment.sessionVariables ];
      expected = [ [ ] { } { } { } ]; }

    # Models, their Hub cache, rooting.
    { name = "nixos: hubCache links each model by its cache folder name";
      expr = plain fullCfg.hubCache.links;
      expected = plain "datasets--fake-org--tiny-dataset ${fullCfg.fetched.dataset} models--fake-org--tiny-model ${fullCfg.fetched.tiny}"; }
    { name = "nixos: hubCachePath is hubCache's store path";
      expr = fullCfg.hubCachePath == "${fullCfg.hubCache}"; expected = true; }
    { name = "nixos: the models are fixed-output derivations of the pinned hashes (no plugin needed)";
      expr = lib.mapAttrs (_: m: { inherit (m) fetcher outputHash outputHashMode; }) fullCfg.fetched;
      expected = { tiny = { fetcher = "derivation"; outputHash = tiny.hash; outputHashMode = "recursive"; }; dataset = { fetcher = "derivation"; outputHash = dataset.hash; outputHashMode = "recursive"; }; }; }
    { name = "nixos: fetched.<name> is lib.fetchModel of models.<name>";
      expr = plain fullCfg.fetched.tiny.outPath == plain ((import ../../../lib { builtinFetchModel = null; }).fetchModel (pkgs // { nix-fetch-model = fullCfg.package; }) tiny).outPath; expected = true; }
    { name = "nixos: the system closure roots the cache (environment.etc)";
      expr = plain full.environment.etc."nix-fetch-model/hub-cache".source.outPath; expected = plain fullCfg.hubCachePath; }
    { name = "nixos: a service gets the cache from hubCachePath";
      expr = full.systemd.services.llm.environment.HF_HUB_CACHE; expected = fullCfg.hubCachePath; }
    { name = "nixos: setSessionVariables: HF_HUB_CACHE and the offline variables";
      expr = full.environment.sessionVariables;
      expected = { HF_HUB_CACHE = fullCfg.hubCachePath; HF_HUB_OFFLINE = "1"; TRANSFORMERS_OFFLINE = "1"; HF_DATASETS_OFFLINE = "1"; }; }
    { name = "nixos: no session variables unless asked";
      expr = (nixos { programs.nix-fetch-model = { enable = true; models = { inherit tiny; }; }; }).environment.sessionVariables; expected = { }; }
    { name = "nixos: hubCachePath is read-only";
      expr = (builtins.tryEval (nixos { programs.nix-fetch-model = { enable = true; hubCachePath = "/x"; }; }).programs.nix-fetch-model.hubCachePath).success; expected = false; }
    { name = "nixos: validation as configured (the cache links the validated model)";
      expr = lib.hasInfix "-models--fake-org--tiny-model-validated" (plain (nixos { programs.nix-fetch-model = { enable = true; models.tiny = tiny // { validation = "quick"; }; }; }).programs.nix-fetch-model.hubCache.links) ;
      expected = true; }

    # The token file.
    { name = "nixos: tokenFile reaches every model's spec without an auth of its own";
      expr = lib.mapAttrs (_: m: m.spec.auth) fullCfg.fetched; expected = { tiny.tokenFile = "/run/secrets/hf-token"; dataset.tokenFile = "/run/secrets/hf-token"; }; }
    { name = "nixos: tokenFile is seen by sandboxed builds (extra-sandbox-paths, optional)";
      expr = full.nix.settings.extra-sandbox-paths; expected = [ "/run/secrets/hf-token?" ]; }
    { name = "nixos: a model's own auth wins, and its token file is a sandbox path too";
      expr = let c = nixos { programs.nix-fetch-model = { enable = true; tokenFile = "/run/secrets/a"; models.tiny = tiny // { auth.tokenFile = "/run/secrets/b"; }; models.d = dataset // { auth.tokenEnvVar = "MY_TOKEN"; }; }; };
        in [ (lib.mapAttrs (_: m: m.spec.auth) c.programs.nix-fetch-model.fetched) c.nix.settings.extra-sandbox-paths ];
      expected = [ { tiny.tokenFile = "/run/secrets/b"; d.tokenEnvVar = "MY_TOKEN"; } [ "/run/secrets/a?" "/run/secrets/b?" ] ]; }

    # home-manager.
    { name = "home-manager: plugin-files for the user's nix.package";
      expr = homeFull.nix.settings.plugin-files; expected = [ (loaderOf (pkgs.nix-fetch-model-plugin.override { nix = nix226; })) ]; }
    { name = "home-manager: plugin.enable without nix.package fails an assertion that says what to set";
      expr = map (a: [ a.assertion (lib.hasInfix "set nix.package to the Nix you run" a.message) ])
        (hm { programs.nix-fetch-model = { enable = true; plugin.enable = true; }; }).assertions;
      expected = [ [ false true ] ]; }
    { name = "home-manager: the CLI in home.packages";
      expr = map (p: p.name) homeFull.home.packages; expected = [ "nix-fetch-model" ]; }
    { name = "home-manager: the links are checked before writeBoundary and made after it";
      expr = lib.mapAttrs (_: e: { inherit (e) after before; }) homeFull.home.activation;
      expected = { nixFetchModelCheck = { after = [ ]; before = [ "writeBoundary" ]; }; nixFetchModelLinks = { after = [ "writeBoundary" ]; before = [ ]; }; }; }
    { name = "home-manager: the script links into xdg.cacheHome/huggingface/hub, state in xdg.stateHome, each model by name";
      expr = map (s: lib.hasInfix (plain s) (unquoted homeFull.home.activation.nixFetchModelLinks.data))
        [ "hub-links.sh link \\\n  /home/u/.xdg-cache/huggingface/hub /home/u/.state/nix-fetch-model/hub-links ${builtins.storeDir}" "models--fake-org--tiny-model ${homeFull.programs.nix-fetch-model.fetched.tiny}" "datasets--fake-org--tiny-dataset ${homeFull.programs.nix-fetch-model.fetched.dataset}" ];
      expected = [ true true true ]; }
    { name = "home-manager: the generation references the models (the activation script's context)";
      expr = builtins.length (builtins.attrNames (builtins.getContext homeFull.home.activation.nixFetchModelLinks.data)) >= 3; expected = true; }
    { name = "home-manager: hubCachePath can be set";
      expr = lib.hasInfix "/data/hf/hub /home/stand-in/.local/state" (unquoted (hm { programs.nix-fetch-model = { enable = true; hubCachePath = "/data/hf/hub"; }; }).home.activation.nixFetchModelLinks.data); expected = true; }
    { name = "home-manager: session variables on request";
      expr = [ homeFull.home.sessionVariables (hm { programs.nix-fetch-model.enable = true; }).home.sessionVariables ];
      expected = [ { HF_HUB_CACHE = "/home/u/.xdg-cache/huggingface/hub"; HF_HUB_OFFLINE = "1"; TRANSFORMERS_OFFLINE = "1"; HF_DATASETS_OFFLINE = "1"; } { } ]; }
    { name = "home-manager: disabled, nothing is set";
      expr = let c = hm { programs.nix-fetch-model.models = { inherit tiny; }; }; in [ c.home.activation c.home.packages c.nix.settings ]; expected = [ { } [ ] { } ]; }

    # devenv.
    { name = "devenv: HF_HUB_CACHE is the Hub cache of the models, offline";
      expr = devenvFull.env;
      expected = { HF_HUB_CACHE = "${devenvFull.nix-fetch-model.hubCache}"; HF_HUB_OFFLINE = "1"; TRANSFORMERS_OFFLINE = "1"; HF_DATASETS_OFFLINE = "1"; }; }
    { name = "devenv: the same variables as lib.mkShellHook";
      expr = let hook = (import ../../../lib { builtinFetchModel = null; }).mkShellHook pkgs { models = [ ]; };
        in builtins.sort (a: b: a < b) (map (l: builtins.head (builtins.match "export ([A-Z_]+)=.*" l)) (builtins.filter (l: l != "") (lib.splitString "\n" hook)));
      expected = builtins.attrNames devenvFull.env; }
    { name = "devenv: offline = false leaves the network on";
      expr = builtins.attrNames (devenv { nix-fetch-model = { enable = true; offline = false; models = { inherit tiny; }; }; }).env; expected = [ "HF_HUB_CACHE" ]; }
    { name = "devenv: the CLI in packages, and the same cache as NixOS for the same models";
      expr = [ (map (p: p.name) devenvFull.packages) (plain devenvFull.nix-fetch-model.hubCache.links == plain fullCfg.hubCache.links) ];
      expected = [ [ "nix-fetch-model" ] true ]; }

    # The VM test's machine, evaluated with these modules.
    { name = "VM test: its machine evaluates: the module on, the service's HF_HUB_CACHE is hubCachePath";
      expr = [ vmMachine.programs.nix-fetch-model.enable (vmMachine.systemd.services.load-model.environment.HF_HUB_CACHE == vmMachine.programs.nix-fetch-model.hubCachePath) (lib.hasInfix "models--fake-org--tiny-model" vmMachine.programs.nix-fetch-model.hubCache.links) ];
      expected = [ true true true ]; }
    { name = "VM test: its script names the plugin for the machine's Nix";
      expr = lib.hasInfix (plain (loaderOf vmMachine.programs.nix-fetch-model.plugin.package)) (plain (vmTest.testScript { nodes.machine = vmMachine; })); expected = true; }
  ];
  failures = builtins.filter (t: t.expr != t.expected) tests;
in
{
  passed = builtins.length tests - builtins.length failures;
  failed = map (t: { inherit (t) name expected; got = t.expr; }) failures;
}
