{ lib, ... }:
let
  outputs = import ../flake-outputs.nix;
  system = "x86_64-linux";
  pkgs = import ../stand-in-nixpkgs { inherit system; };
  tiny = outputs.models.${system}.fake-org-tiny-model;
in
[
  { name = "outputs"; expr = builtins.attrNames outputs; expected = [ "checks" "devShells" "devenvModules" "homeManagerModules" "lib" "models" "nixosModules" "overlays" "packages" ]; }
  { name = "modules"; expr = [ outputs.nixosModules.default outputs.homeManagerModules.default outputs.devenvModules.default ]; expected = [ ../../../../nix/modules/nixos.nix ../../../../nix/modules/home-manager.nix ../../../../nix/modules/devenv.nix ]; }
  { name = "lib holds the library"; expr = builtins.all (n: outputs.lib ? ${n}) [ "fetchModel" "mkHfCache" "mkShellHook" "mkHfSymlinks" "presets" "mkValidator" "normalizeHash" "huggingface" "validateConfig" ]; expected = true; }
  { name = "packages: the CLI, the plugin, a default"; expr = with outputs.packages.${system}; [ default.pname nix-fetch-model.pname plugin.pname (default.cargoLock.lockFile == ../../../../Cargo.lock) ]; expected = [ "nix-fetch-model" "nix-fetch-model" "nix-fetch-model-plugin" true ]; }
  { name = "packages for every system"; expr = builtins.attrNames outputs.packages; expected = [ "aarch64-darwin" "aarch64-linux" "x86_64-darwin" "x86_64-linux" ]; }
  { name = "the plugin is built against the system's nix"; expr = outputs.packages.${system}.plugin.passthru.nixVersion; expected = "2.8.0"; }
  { name = "overlays.default adds the packages"; expr = builtins.attrNames (outputs.overlays.default pkgs pkgs); expected = [ "nix-fetch-model" "nix-fetch-model-plugin" ]; }
  { name = "nixpkgs with the overlay: the library's fetchModel builds with its CLI (README, Install)";
    expr = let withOverlay = import ../stand-in-nixpkgs { inherit system; overlays = [ outputs.overlays.default ]; };
      in [ withOverlay.nix-fetch-model.pname (lib.fetchModel withOverlay { source.huggingface.repo = "a/b"; hash = ""; }).nixFetchModel ];
    expected = [ "nix-fetch-model" "${outputs.packages.${system}.nix-fetch-model}/bin/nix-fetch-model" ]; }
  { name = "lib.fetchModel brings the flake's CLI when pkgs lacks it"; expr = (outputs.lib.fetchModel pkgs { source.huggingface.repo = "a/b"; hash = ""; }).nixFetchModel; expected = "${outputs.packages.${system}.nix-fetch-model}/bin/nix-fetch-model"; }
  { name = "lib.fromLock brings the flake's CLI when pkgs lacks it"; expr = (outputs.lib.fromLock pkgs ./locks/two.lock.json).a.nixFetchModel; expected = "${outputs.packages.${system}.nix-fetch-model}/bin/nix-fetch-model"; }
  { name = "models: the registry entry is fetchModel of its definition"; expr = { inherit (tiny) name outputHash nixFetchModel; }; expected = { name = "models--fake-org--tiny-model"; outputHash = (import ../../../../models/definitions.nix).fake-org-tiny-model.hash; nixFetchModel = "${outputs.packages.${system}.nix-fetch-model}/bin/nix-fetch-model"; }; }
  { name = "devShells.default"; expr = outputs.devShells.${system}.default.standIn; expected = "mkShell"; }
  { name = "checks"; expr = builtins.attrNames outputs.checks.${system}; expected = [ "cli" "lib-unit" "nixos-module" "plugin" ]; }
  { name = "checks: the NixOS VM test on Linux only"; expr = [ outputs.checks.${system}.nixos-module.standIn outputs.checks.${system}.nixos-module.name (outputs.checks.aarch64-darwin ? nixos-module) ]; expected = [ "runNixOSTest" "nix-fetch-model-nixos-module" false ]; }
]
