# The packages the modules default to: the user's pkgs.nix-fetch-model and
# pkgs.nix-fetch-model-plugin (those of overlays.default), else built from this source with the
# user's pkgs; the plugin built for the Nix given (`nix.package`), never for another.
pkgs: {
  cli = pkgs.nix-fetch-model or (pkgs.callPackage ../package.nix { });
  pluginFor = nix:
    (pkgs.nix-fetch-model-plugin or (pkgs.callPackage ../plugin.nix { inherit nix; })).override { inherit nix; };
}
