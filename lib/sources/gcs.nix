import ./object-store.nix "gcs"
