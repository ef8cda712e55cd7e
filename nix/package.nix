# The nix-fetch-model CLI: the fixed-output derivation's builder, and `prefetch`.
# TLS roots are built in (rustls with webpki roots), so fetches need no cacert; NIX_SSL_CERT_FILE
# (else SSL_CERT_FILE) adds roots, as does the sandbox's /etc/ssl/certs/ca-certificates.crt in a build.
{ lib, rustPlatform }:
rustPlatform.buildRustPackage {
  pname = "nix-fetch-model";
  version = "0.1.0";
  src = lib.cleanSource ../.;
  cargoLock.lockFile = ../Cargo.lock;
  cargoBuildFlags = [ "--bin" "nix-fetch-model" ];
  # The tests need the fake Hub (Python) and a Nix store; scripts/test.sh runs them.
  doCheck = false;
  meta = {
    description = "Fetch AI models into the Nix store in the Hugging Face cache layout";
    mainProgram = "nix-fetch-model";
    license = lib.licenses.mit;
  };
}
