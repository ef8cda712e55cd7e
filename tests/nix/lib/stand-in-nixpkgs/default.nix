# A stand-in for the nixpkgs flake input (nixpkgs cannot be fetched here): the attributes
# flake.nix and its package files use. With NFM_TEST_HOST_TOOLS and NFM_TEST_CLI set (run.sh
# does), bash & co. are host tools and the CLI "package" is the cargo-built binary, so models
# of the flake really build; without them, paths are placeholders for evaluation only.
{ system, overlays ? [ ] }:
let
  hostTools = builtins.getEnv "NFM_TEST_HOST_TOOLS";
  cli = builtins.getEnv "NFM_TEST_CLI";
  host =
    if hostTools != "" then import ../stand-ins.nix { inherit hostTools cli; }
    else {
      bash = "/stand-in/bash"; coreutils = "/stand-in/coreutils"; findutils = "/stand-in/findutils";
      gnugrep = "/stand-in/gnugrep"; gnused = "/stand-in/gnused"; python3 = "/stand-in/python3";
      nix-fetch-model = "/stand-in/nix-fetch-model";
    };
  placeholder = name: { inherit name; outPath = "/stand-in/${name}"; };

  base = final: removeAttrs host [ "nix-fetch-model" "system" ] // {
    inherit system;
    stdenv = {
      hostPlatform = { inherit system; };
      mkDerivation = args: args // { standIn = "stdenv.mkDerivation"; outPath = "/stand-in/${args.pname}"; };
    };
    lib = { cleanSource = src: src; licenses.mit = "mit"; };
    callPackage = fn: extra:
      let f = import fn;
      in f (builtins.intersectAttrs (builtins.functionArgs f) final // extra);
    rustPlatform = {
      # The cargo-built binary plays the package that nixpkgs would build.
      buildRustPackage = args: args // { standIn = "buildRustPackage"; outPath = "${host.nix-fetch-model}"; };
      importCargoLock = args: placeholder "cargo-deps";
      cargoSetupHook = placeholder "cargo-setup-hook";
    };
    mkShell = args: args // { standIn = "mkShell"; };
    runCommand = name: env: script: derivation (env // {
      inherit name system;
      builder = "${final.bash}/bin/bash";
      args = [ "-c" script ];
      PATH = "${final.coreutils}/bin";
    });
    meson = placeholder "meson"; ninja = placeholder "ninja"; pkg-config = placeholder "pkg-config";
    cargo = placeholder "cargo"; rustc = placeholder "rustc"; boost = placeholder "boost";
    nlohmann_json = placeholder "nlohmann_json";
    # The VM test is only evaluated here (tests/nix/modules runs its machine's module).
    testers.runNixOSTest = test: test // { standIn = "runNixOSTest"; };
    nix = placeholder "nix" // { version = "2.8.0"; };
  };
  fix = f: let x = f x; in x;
in
fix (final: builtins.foldl' (prev: overlay: prev // overlay final prev) (base final) overlays)
