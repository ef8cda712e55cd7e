# The nix-fetch-model library. Import it with `import ./lib { }`; the plugin's
# builtins.fetchModel is used when it is loaded (`builtins ? fetchModel` is then true, and so is
# usesPlugin below). Tests (and users who want the fixed-output derivation even with the
# plugin) pass builtinFetchModel = null or a stand-in.
{ builtinFetchModel ? builtins.fetchModel or null }:
let
  types = import ./types.nix;
  sources = import ./sources;
  factories = import ./sources/factories.nix;
  validation = import ./validation;
  integration = import ./integration.nix;
  fetchModel = import ./fetchModel.nix { inherit builtinFetchModel; };
in
factories // integration // {
  inherit types sources validation integration factories;
  inherit (types) normalizeHash fakeHash validateConfig validateSource sourceTypes;
  inherit (validation) presets mkValidator mergeValidators mkValidationDerivation;
  validators = validation.validators;

  inherit fetchModel;
  # fromLock pkgs ./models.lock.json: the models a lock file of `nix-fetch-model lock` pins.
  fromLock = import ./fromLock.nix { inherit fetchModel; };
  usesPlugin = builtinFetchModel != null;
}
