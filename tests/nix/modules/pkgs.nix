# The stand-in pkgs of the module tests: the library tests' stand-ins (host tools and the
# cargo-built CLI in the store, ../lib/stand-ins.nix) and what the modules use besides:
#   nix, nixVersions.*   stand-in Nix packages (a version and a store path, never built);
#   nix-fetch-model-plugin  a trivial plugin derivation laid out as nix/plugin.nix installs
#                        (the loader and the build for its Nix), with `.override { nix; }`;
#   callPackage, stdenv.mkDerivation, rustPlatform...  enough to call nix/plugin.nix and
#                        nix/package.nix themselves (evaluation only);
#   python3.withPackages, writeShellScriptBin  for the VM test's machine (evaluation only).
#   withPlugin = false: no nix-fetch-model-plugin, so the modules call nix/plugin.nix.
{ hostTools, cli, withPlugin ? true }:
let
  host = import ../lib/stand-ins.nix { inherit hostTools cli; };
  inherit (host) system;

  # A derivation that is only evaluated: its store path exists only as a name.
  evalOnly = name: attrs: derivation { inherit name system; builder = "/bin/sh"; args = [ "-c" "exit 1" ]; } // attrs;
  standInNix = version: evalOnly "nix-${version}" { inherit version; pname = "nix"; };

  makeOverridable = f: args: f args // { override = more: makeOverridable f (args // more); };

  # The loader and the build for `nix`, where nix/plugin.nix's meson install puts them.
  plugin = makeOverridable ({ nix }: derivation {
    name = "nix-fetch-model-plugin-stand-in-nix-${nix.version}";
    inherit system;
    builder = "${host.bash}/bin/bash";
    PATH = "${host.coreutils}/bin";
    args = [ "-c" ''
      mkdir -p $out/lib/nix/plugins $out/lib/nix/nix-fetch-model
      echo "the loader" > $out/lib/nix/plugins/libnix_fetch_model.so
      echo "the build for Nix ${nix.version}" > $out/lib/nix/nix-fetch-model/libnix_fetch_model-${nix.version}.so
    '' ];
  } // { passthru.nixVersion = nix.version; nixVersion = nix.version; });

  pkgs = host // {
    nix = standInNix "2.8.0";
    nixVersions = { nix_2_26 = standInNix "2.26.3"; nix_2_28 = standInNix "2.28.4"; };
    nix-fetch-model = { type = "derivation"; name = "nix-fetch-model"; outPath = "${host.nix-fetch-model}"; };

    stdenv = {
      hostPlatform = { inherit system; };
      mkDerivation = args: evalOnly (args.name or "${args.pname}-${args.version}") (args // { standIn = "stdenv.mkDerivation"; });
    };
    lib = { cleanSource = src: src; licenses.mit = "mit"; };
    rustPlatform = {
      buildRustPackage = args: evalOnly "${args.pname}-${args.version}" args;
      importCargoLock = _: evalOnly "cargo-deps" { };
      cargoSetupHook = evalOnly "cargo-setup-hook" { };
    };
    meson = evalOnly "meson" { }; ninja = evalOnly "ninja" { }; pkg-config = evalOnly "pkg-config" { };
    cargo = evalOnly "cargo" { }; rustc = evalOnly "rustc" { }; boost = evalOnly "boost" { };
    nlohmann_json = evalOnly "nlohmann_json" { };
    # For the VM test's machine (nix/tests/nixos-vm.nix), evaluated only.
    python3 = { outPath = host.python3; withPackages = _: evalOnly "python3-with-packages" { }; };
    writeShellScriptBin = name: text: evalOnly name { inherit text; };
    callPackage = fn: extra:
      let f = import fn;
      in makeOverridable (args: f args) (builtins.intersectAttrs (builtins.functionArgs f) pkgs // extra);
  } // (if withPlugin then { nix-fetch-model-plugin = plugin { nix = pkgs.nix; }; } else { });
in
pkgs
