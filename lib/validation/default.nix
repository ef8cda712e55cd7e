# Validation of a fetched model: validators, presets and the derivation that runs them.
let
  inherit (builtins) filter isAttrs isList isString;
  validators = import ./validators.nix;
  presets = import ./presets.nix;
  check = import ./check.nix;

  # Later validators replace earlier ones of the same name, in the place of the first.
  mergeValidators = lists:
    let
      all = builtins.concatLists lists;
      lastOf = name: builtins.foldl' (found: v: if v.name == name then v else found) null all;
      names = (import ../util.nix).unique (map (v: v.name) all);
    in
    map lastOf names;

  # The validators a fetchModel `validation` argument asks for: a preset name, a list of
  # validators, one validator, or { preset; validators; }.
  resolve = validation:
    if isString validation then presets.${validation}
    else if isList validation then validation
    else if isAttrs validation && validation ? command then [ validation ]
    else mergeValidators [ (resolve (validation.preset or "none")) (validation.validators or [ ]) ];
in
validators // {
  inherit validators presets mergeValidators resolve;
  inherit (check) problems;
  mkValidationDerivation = import ./derivation.nix;
}
