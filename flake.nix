{
  description = "Reproducible AI models in the Nix store, in the Hugging Face cache layout";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAllSystems = f: builtins.listToAttrs (map (system: { name = system; value = f system; }) systems);
      pkgsFor = system: import nixpkgs { inherit system; overlays = [ self.overlays.default ]; };

      base = import ./lib { };
      inherit (import ./lib/util.nix) systemOf;
      # The library's functions that take pkgs get this flake's CLI when pkgs lacks it.
      withCli = pkgs: pkgs // {
        nix-fetch-model = pkgs.nix-fetch-model or self.packages.${systemOf pkgs}.nix-fetch-model;
      };
    in
    {
      lib = base // {
        fetchModel = pkgs: base.fetchModel (withCli pkgs);
        fromLock = pkgs: base.fromLock (withCli pkgs);
      };

      # programs.nix-fetch-model (NixOS, home-manager) and nix-fetch-model (devenv): README,
      # "The NixOS module", "The home-manager module", "The devenv module".
      nixosModules.default = ./nix/modules/nixos.nix;
      homeManagerModules.default = ./nix/modules/home-manager.nix;
      devenvModules.default = ./nix/modules/devenv.nix;

      overlays.default = final: prev: {
        nix-fetch-model = final.callPackage ./nix/package.nix { };
        nix-fetch-model-plugin = final.callPackage ./nix/plugin.nix { };
      };

      packages = forAllSystems (system:
        let pkgs = pkgsFor system;
        in {
          inherit (pkgs) nix-fetch-model nix-fetch-model-plugin;
          plugin = pkgs.nix-fetch-model-plugin;
          default = pkgs.nix-fetch-model;
        });

      # The registry: models/definitions.nix, and the entries of models/models.lock.json (written
      # by `nix-fetch-model lock --models models/models.toml`) when there is one.
      models = forAllSystems (system:
        let
          pkgs = pkgsFor system;
          lockFile = ./models/models.lock.json;
        in
        builtins.mapAttrs (_: self.lib.fetchModel pkgs) (import ./models/definitions.nix)
        // (if builtins.pathExists lockFile then self.lib.fromLock pkgs lockFile else { }));

      devShells = forAllSystems (system:
        let pkgs = pkgsFor system;
        in {
          default = pkgs.mkShell {
            packages = [ pkgs.cargo pkgs.rustc pkgs.meson pkgs.ninja pkgs.pkg-config pkgs.nix pkgs.boost pkgs.python3 ];
          };
        });

      checks = forAllSystems (system:
        let pkgs = pkgsFor system;
        in {
          cli = pkgs.nix-fetch-model;
          plugin = pkgs.nix-fetch-model-plugin;
          # The library's unit tests run at evaluation; the check exists once they all pass.
          lib-unit = import ./tests/nix/lib/unit/check.nix { inherit pkgs; };
        } // (if builtins.match ".*-linux" system != null then {
          # A VM booting the NixOS module (nix/tests/nixos-vm.nix); Linux only.
          nixos-module = pkgs.testers.runNixOSTest
            (import ./nix/tests/nixos-vm.nix { inherit pkgs; module = self.nixosModules.default; });
        } else { }));
    };
}
