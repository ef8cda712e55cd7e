# The evaluator plugin adding builtins.fetchModel, built with meson (meson.build) against `nix`:
#   $out/lib/nix/plugins/libnix_fetch_model.so                     the loader, for plugin-files
#   $out/lib/nix/nix-fetch-model/libnix_fetch_model-<version>.so   the build for that Nix
# Any Nix can load the loader; another Nix than `nix` gets a warning and no builtin. For several
# Nix versions, join the package built with each (symlinkJoin): one loader, all the builds.
{ lib, stdenv, rustPlatform, meson, ninja, pkg-config, cargo, rustc, nix, boost }:
stdenv.mkDerivation {
  pname = "nix-fetch-model-plugin";
  version = "0.1.0";
  src = lib.cleanSource ../.;
  cargoDeps = rustPlatform.importCargoLock { lockFile = ../Cargo.lock; };
  nativeBuildInputs = [ meson ninja pkg-config cargo rustc rustPlatform.cargoSetupHook ];
  buildInputs = [ nix boost ];
  passthru.nixVersion = nix.version;
  meta = {
    description = "Nix plugin adding builtins.fetchModel (for Nix ${nix.version})";
    license = lib.licenses.mit;
  };
}
