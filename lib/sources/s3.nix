import ./object-store.nix "s3"
