# The option types the modules share: one model (the argument of lib.fetchModel) and a token
# file. `lib` is the module system's (nixpkgs' lib); the project's own lib/ does not use it.
{ lib }:
let
  inherit (lib) mkOption types;

  # An absolute path given as a string. A Nix path (./token), or a string made from one
  # ("${./token}") or naming the store, would put the token into the world-readable store.
  tokenFile = lib.mkOptionType {
    name = "tokenFile";
    description = "absolute path given as a string, outside the Nix store (a Nix path such as ./token would copy the token into the world-readable store)";
    check = x: builtins.isString x && lib.hasPrefix "/" x && !builtins.hasContext x
      && !lib.hasPrefix "${builtins.storeDir}/" x;
    merge = lib.mergeEqualOption;
  };

  auth = types.submodule {
    # Anything else is checked by fetchModel, in the library's words.
    freeformType = types.attrsOf types.anything;
    options = {
      tokenFile = mkOption {
        type = types.nullOr tokenFile;
        default = null;
        example = "/run/secrets/hf-token";
        description = ''
          A file holding the token, read when the model is fetched (by the build user, for
          the fixed-output derivation). A string: a Nix path would copy the token into the
          store.
        '';
      };
      tokenEnvVar = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "HF_TOKEN";
        description = "The environment variable holding the token (an impureEnvVar of the fixed-output derivation: the nix-daemon's environment on a multi-user machine).";
      };
    };
  };

  # One model: the argument of lib.fetchModel (README, "The Nix library"). source and hash are
  # required; every other attribute is passed on, and fetchModel checks it.
  model = types.submodule {
    freeformType = types.attrsOf types.anything;
    options = {
      source = mkOption {
        # Without attrsOf's empty value: a model without a source is the module system's
        # "has no value defined" (or "used but not defined"), not an empty source.
        type = types.attrsOf types.anything // { emptyValue = { }; };
        example = lib.literalExpression ''
          { huggingface = { repo = "sentence-transformers/all-MiniLM-L6-v2"; revision = "main"; commit = "eef5dfb0430ad3ef5f69a1b750b7bb3b11c7330a"; }; }'';
        description = ''
          Where the model comes from: one source type, as `fetchModel` takes it
          (`source.huggingface = { repo; revision; commit; files; exclude; repoType; }`, ...).
          `nix-fetch-model prefetch hf:org/name --nix` prints it with the hash.
        '';
      };
      hash = mkOption {
        type = types.str;
        example = "sha256-FaLSFuj4EHwv44R48lwkDea+v6lYGon3YkmIWvT2n10=";
        description = ''
          The NAR hash of the fetched folder (SRI, or `sha256:` + nix32/base16/base64). Required:
          the model is a fixed-output derivation. Give `""` once to have the build print it.
        '';
      };
      name = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "The store path's name (default: the Hub cache folder name, `models--org--name`).";
      };
      auth = mkOption {
        type = auth;
        default = { };
        description = "How the fetch finds a token (`tokenFile` or `tokenEnvVar`); never the token itself.";
      };
    };
  };

  # The fetchModel argument of a `model` value, without the options left at null; `tokenFile`
  # is the module's, for a model that names no token of its own.
  toArgument = { tokenFile ? null }: value:
    let
      withoutNulls = lib.filterAttrs (_: v: v != null);
      ownAuth = withoutNulls value.auth;
      auth = if ownAuth == { } && tokenFile != null then { inherit tokenFile; } else ownAuth;
    in
    withoutNulls (removeAttrs value [ "auth" ]) // lib.optionalAttrs (auth != { }) { inherit auth; };
in
{
  inherit model tokenFile toArgument;
}
