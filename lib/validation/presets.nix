# Named lists of validators, from none to paranoid. They suit models; a dataset has no config.json.
let
  v = import ./validators.nix;
  strictly = validator: validator // { onFailure = "abort"; };
in
rec {
  none = [ ];
  quick = [ v.validHfStructure ];
  minimal = [ v.validHfStructure v.noPickleFiles ];
  standard = minimal ++ [ v.validConfigJson v.noPythonCode v.licenseCheck ];
  strict = standard ++ [ v.safetensorsOnly ];
  paranoid = map strictly strict;
}
