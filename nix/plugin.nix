# The evaluator plugin adding builtins.fetchModel, built with meson (meson.build) against `nix`:
#   $out/lib/nix/plugins/libnix_fetch_model.so                     the loader, for plugin-files
#   $out/lib/nix/nix-fetch-model/libnix_fetch_model-<version>.so   the build for that Nix
# Any Nix can load the loader; another Nix than `nix` gets a warning and no builtin. For several
# Nix versions, join the package built with each (symlinkJoin): one loader, all the builds.
#
# `nix` is an argument, so the plugin follows the Nix a system runs:
#   nix-fetch-model-plugin.override { nix = config.nix.package; }
# The version it was built for is in its name, in passthru.nixVersion and in the build's file
# name. plugin-files names its loader, "${plugin}/lib/nix/plugins/libnix_fetch_model.so".
{ lib, stdenv, rustPlatform, meson, ninja, pkg-config, cargo, rustc, nix, boost, nlohmann_json }:
let
  version = "0.1.0";
in
stdenv.mkDerivation {
  pname = "nix-fetch-model-plugin";
  inherit version;
  # The Nix version in the name: two builds for two Nix versions are two store paths, and
  # `nix-store -q --references /run/current-system` tells which Nix a system's plugin is for.
  name = "nix-fetch-model-plugin-${version}-nix-${nix.version}";
  src = lib.cleanSource ../.;
  cargoDeps = rustPlatform.importCargoLock { lockFile = ../Cargo.lock; };
  # meson runs cargo (meson.build, 'rust-core') with the vendored crates cargoSetupHook configures.
  nativeBuildInputs = [ meson ninja pkg-config cargo rustc rustPlatform.cargoSetupHook ];
  # Nix's headers include Boost and nlohmann_json.
  buildInputs = [ nix boost nlohmann_json ];

  # meson names the build after the version pkg-config reports for nix-expr; the loader looks
  # for the running Nix's version. Both must be nix.version, or the loader would find nothing.
  postInstall = ''
    build="$out/lib/nix/nix-fetch-model/libnix_fetch_model-${nix.version}.so"
    if [ ! -e "$build" ]; then
      echo "nix-fetch-model-plugin: meson built $(ls "$out/lib/nix/nix-fetch-model"), not libnix_fetch_model-${nix.version}.so:" \
        "pkg-config's nix-expr version is not nix.version (${nix.version}), so the loader would not find the build" >&2
      exit 1
    fi
  '';

  passthru = {
    nixVersion = nix.version;
    inherit nix;
  };
  meta = {
    description = "Nix plugin adding builtins.fetchModel (for Nix ${nix.version})";
    license = lib.licenses.mit;
  };
}
