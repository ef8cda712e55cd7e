{ lib, vectors }:
let
  inherit (lib) normalizeHash;
  parse = lib.types.parseHash;
  # One vector: { base16; nix32; base64; sri; } of the same sha256, as Nix's own tools print it.
  forms = v: {
    "SRI" = v.sri;
    "sha256:base16" = "sha256:${v.base16}";
    "sha256:nix32" = "sha256:${v.nix32}";
    "sha256:base64" = "sha256:${v.base64}";
    "bare base16" = v.base16;
    "bare nix32" = v.nix32;
    "upper-case base16" = "sha256:${v.base16upper}";
  };
  vectorTests = builtins.concatLists (builtins.genList (i:
    let v = builtins.elemAt vectors i;
    in map (form: {
      name = "vector ${toString i}: ${form} -> SRI";
      expr = normalizeHash (forms v).${form};
      expected = v.sri;
    }) (builtins.attrNames (forms v))) (builtins.length vectors));
  refused = hash: {
    name = "refused: '${hash}'";
    expr = (parse hash).error != null && (parse hash).sri == null;
    expected = true;
  };
in
[
  { name = "vectors were given"; expr = builtins.length vectors >= 3; expected = true; }
]
++ vectorTests
++ map refused [
  "sha256-AAAA"
  "sha512-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
  "md5:0123456789abcdef0123456789abcdef"
  "sha256:0123456789abcdef"
  "sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
  "sha256:zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
  "g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  "sha256-!AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
]
++ [
  {
    name = "a wrong length is named in the error";
    expr = (parse "sha256:0123").error;
    expected = "hash 'sha256:0123': sha256 digits are 64 (base-16), 52 (Nix base-32) or 44 (base-64) characters, not 4";
  }
  {
    name = "normalizeHash throws on a bad hash";
    expr = (builtins.tryEval (normalizeHash "sha256:0123")).success;
    expected = false;
  }
  { name = "fakeHash is a valid SRI"; expr = normalizeHash lib.fakeHash; expected = lib.fakeHash; }
]
