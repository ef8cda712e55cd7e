# mkValidationDerivation: a regular derivation that runs validators over a fetched model, so
# the fetch itself stays a pure fixed-output step. Its output links to the model and adds
# validation/report.json and one log a validator: a 70 GB model does not take 140 GB.
pkgs:
{ model, validators, name ? "${model.name or "model"}-validated" }:
let
  inherit (builtins) concatStringsSep genList isString length listToAttrs;
  util = import ../util.nix;
  vs = map (import ./validators.nix).mkValidator validators;
  # A runtime input is a package, or the name of a pkgs attribute ("python3").
  resolve = input: if isString input && builtins.substring 0 1 input != "/" then pkgs.${input} else input;
  binPath = inputs: concatStringsSep "" (map (p: "${resolve p}/bin:") inputs);
  perValidator = i: v: [
    { name = "validator_${toString i}_name"; value = v.name; }
    { name = "validator_${toString i}_command"; value = v.command; }
    { name = "validator_${toString i}_onFailure"; value = v.onFailure; }
    { name = "validator_${toString i}_timeout"; value = toString v.timeout; }
    { name = "validator_${toString i}_path"; value = binPath v.runtimeInputs; }
  ];
  duplicates = util.duplicates (map (v: v.name) vs);
in
if duplicates != [ ] then
  throw "mkValidationDerivation: two validators are named ${builtins.head duplicates}; give them different names or use mergeValidators"
else
derivation ({
  inherit name;
  system = util.systemOf pkgs;
  builder = "${pkgs.bash}/bin/bash";
  args = [ ./run-validators.sh ];
  src = model;
  PATH = binPath [ pkgs.bash pkgs.coreutils pkgs.findutils pkgs.gnugrep pkgs.gnused ];
  validatorCount = length vs;
  preferLocalBuild = true;
} // listToAttrs (builtins.concatLists (genList (i: perValidator i (builtins.elemAt vs i)) (length vs))))
