import ./object-store.nix "azure"
