{ lib, ... }:
let
  v = lib.validation;
  names = map (x: x.name);
  custom = v.mkValidator { name = "c"; command = "true"; };
in
[
  { name = "mkValidator fills the defaults"; expr = removeAttrs custom [ "command" ]; expected = { name = "c"; description = ""; onFailure = "abort"; timeout = 300; runtimeInputs = [ ]; }; }
  { name = "mkValidator refuses a bad onFailure"; expr = (builtins.tryEval (v.mkValidator { name = "x"; command = "true"; onFailure = "ignore"; })).success; expected = false; }
  { name = "validator problems are listed together"; expr = builtins.length ((import ../../../../lib/validation/check.nix).validatorProblems { name = "a b"; onFailure = "x"; timeout = "soon"; }); expected = 4; }
  { name = "timeouts"; expr = map (import ../../../../lib/validation/check.nix).parseTimeout [ 30 "30" "45s" "5m" "1h" "x" ]; expected = [ 30 30 45 300 3600 null ]; }
  { name = "sizes"; expr = map v.parseSize [ "20G" "500M" "1K" 7 "3GiB" ]; expected = [ 21474836480 524288000 1024 7 3221225472 ]; }
  { name = "a bad size fails"; expr = (builtins.tryEval (v.maxSize "big").command).success; expected = false; }
  { name = "presets"; expr = builtins.attrNames v.presets; expected = [ "minimal" "none" "paranoid" "quick" "standard" "strict" ]; }
  { name = "preset none is empty"; expr = v.presets.none; expected = [ ]; }
  { name = "each preset holds the one before"; expr = map (p: builtins.all (x: builtins.elem x (names v.presets.${p.big})) (names v.presets.${p.small})) [ { small = "quick"; big = "minimal"; } { small = "minimal"; big = "standard"; } { small = "standard"; big = "strict"; } { small = "strict"; big = "paranoid"; } ]; expected = [ true true true true ]; }
  { name = "paranoid aborts on everything"; expr = builtins.all (x: x.onFailure == "abort") v.presets.paranoid; expected = true; }
  { name = "licenseCheck warns"; expr = v.licenseCheck.onFailure; expected = "warn"; }
  { name = "mergeValidators: later wins, first place kept"; expr = map (x: [ x.name x.onFailure ]) (v.mergeValidators [ [ v.noPickleFiles v.licenseCheck ] [ (v.noPickleFiles // { onFailure = "warn"; }) custom ] ]); expected = [ [ "noPickleFiles" "warn" ] [ "licenseCheck" "warn" ] [ "c" "abort" ] ]; }
  { name = "resolve a preset name"; expr = names (v.resolve "minimal"); expected = names v.presets.minimal; }
  { name = "resolve { preset; validators; }"; expr = names (v.resolve { preset = "quick"; validators = [ custom ]; }); expected = [ "validHfStructure" "c" ]; }
  { name = "resolve one validator"; expr = names (v.resolve custom); expected = [ "c" ]; }
  { name = "requiredFiles quotes the names"; expr = builtins.match ".*'file with space.txt'.*" (v.requiredFiles [ "file with space.txt" ]).command != null; expected = true; }
  { name = "problems of a validation argument"; expr = v.problems [ { name = "x"; } ]; expected = [ "validator 'x': command is missing or not a string (a shell command run in the snapshot folder)" ]; }
]
