# The flake's check of the unit tests: they run at evaluation, with hash vectors from
# builtins.convertHash (Nix 2.19 and newer); the check's output exists once all pass.
{ pkgs }:
let
  convert = hash: format: builtins.convertHash { inherit hash; hashAlgo = "sha256"; toHashFormat = format; };
  upper = builtins.replaceStrings [ "a" "b" "c" "d" "e" "f" ] [ "A" "B" "C" "D" "E" "F" ];
  vector = text:
    let base16 = builtins.hashString "sha256" text;
    in { inherit base16; base16upper = upper base16; nix32 = convert base16 "nix32"; base64 = convert base16 "base64"; sri = convert base16 "sri"; };
  vectors = if builtins ? convertHash then map vector [ "a" "nix-fetch-model" "models--org--name" "" ] else [ ];
  result = import ./default.nix { inherit vectors; };
in
if result.failed == [ ] then
  pkgs.runCommand "nix-fetch-model-lib-unit" { } "echo ${toString result.passed} passed > $out"
else
  throw "nix-fetch-model lib unit tests failed:\n${builtins.toJSON result.failed}"
