# The flake's outputs, called with the stand-in nixpkgs input.
let
  flake = import ../../../flake.nix;
  outputs = flake.outputs {
    self = outputs // { outPath = ../../..; };
    nixpkgs = { outPath = ./stand-in-nixpkgs; };
  };
in
outputs
