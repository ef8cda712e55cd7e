# The few list and string helpers the library needs, on builtins only: lib/ must not
# depend on nixpkgs' lib (it has to evaluate where nixpkgs cannot be fetched).
let
  inherit (builtins)
    attrNames
    concatStringsSep
    filter
    foldl'
    isList
    length
    stringLength
    substring
    ;
in
rec {
  hasPrefix = prefix: s: substring 0 (stringLength prefix) s == prefix;

  chars = s: builtins.genList (i: substring i 1 s) (stringLength s);

  optional = cond: x: if cond then [ x ] else [ ];
  optionalString = cond: s: if cond then s else "";
  unique = foldl' (acc: x: if builtins.elem x acc then acc else acc ++ [ x ]) [ ];
  toList = x: if isList x then x else [ x ];

  # The elements that occur more than once, each time they occur.
  duplicates = xs: filter (x: length (filter (y: y == x) xs) > 1) xs;

  # attrs.${key}, or `default` when it is absent or null (a null attribute is one not given).
  attrOr = attrs: key: default: let value = attrs.${key} or null; in if value == null then default else value;

  # `url` with the user information of its authority (user:token@) replaced by ***.
  redactUserinfo = url:
    let m = builtins.match "(([^/?#]*://)?)[^/?#]*(@.*)" url;
    in if m == null then url else "${builtins.head m}***${builtins.elemAt m 2}";

  # The attrset without its null attributes: { a = 1; b = null; } -> { a = 1; }.
  withoutNulls = a: removeAttrs a (filter (n: a.${n} == null) (attrNames a));

  # The system a pkgs builds for, in nixpkgs old and new.
  systemOf = pkgs: pkgs.stdenv.hostPlatform.system or pkgs.system;

  # "a", "b" and "c"
  quoteList = xs: concatStringsSep ", " (map (x: "'${x}'") xs);

  # Shell single-quoting, for strings put into generated scripts.
  escapeShellArg = s: "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] s}'";

  # Integer power and the bit shifts that Nix lacks.
  pow = base: exp: if exp == 0 then 1 else base * pow base (exp - 1);
  shiftLeft = x: n: x * pow 2 n;
  shiftRight = x: n: x / pow 2 n;

  # The one `throw` of a check that found problems: every problem on its own line.
  throwIfErrors = what: errors: value:
    if errors == [ ] then
      value
    else
      throw ("${what}:\n" + concatStringsSep "\n" (map (e: "  - ${e}") errors));
}
