# The fixed-output derivation of a source the core fetches: its builder is the core's CLI in
# fetch mode, the same code as builtins.fetchModel, so both give the same bytes and hash.
pkgs:
{ name, spec, hash, impureEnvVars }:
let
  util = import ../util.nix;
  cli = pkgs.nix-fetch-model or (throw ''
    fetchModel: pkgs has no nix-fetch-model (the fetcher's builder). Apply the overlay
    nix-fetch-model.overlays.default to your nixpkgs, or use the flake's lib, which adds it.'');
in
derivation {
  inherit name impureEnvVars;
  system = util.systemOf pkgs;
  builder = "${pkgs.bash}/bin/bash";
  args = [ "-c" ''exec "$nixFetchModel" fetch --spec "$fetchSpecPath" --out "$out" --direct'' ];
  nixFetchModel = "${cli}/bin/nix-fetch-model";
  fetchSpec = spec;
  passAsFile = [ "fetchSpec" ];

  outputHashMode = "recursive";
  outputHashAlgo = "sha256";
  outputHash = hash;

  preferLocalBuild = true;
}
