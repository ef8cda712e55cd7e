# The evaluator plugin adding builtins.fetchModel, built with meson (meson.build) against the
# `nix` it will be loaded into: a plugin built for another Nix version refuses to load.
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
