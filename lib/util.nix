# The few list and string helpers the library needs, on builtins only: lib/ must not
# depend on nixpkgs' lib (it has to evaluate where nixpkgs cannot be fetched).
let
  inherit (builtins)
    concatStringsSep
    filter
    foldl'
    isList
    isString
    length
    split
    stringLength
    substring
    ;
in
rec {
  hasPrefix = prefix: s: substring 0 (stringLength prefix) s == prefix;
  hasSuffix = suffix: s:
    let
      n = stringLength s;
      m = stringLength suffix;
    in
    n >= m && substring (n - m) m s == suffix;

  splitString = sep: s: filter isString (split (escapeRegex sep) s);
  escapeRegex = s:
    concatStringsSep "" (map (c: if builtins.elem c regexSpecials then "\\${c}" else c) (chars s));
  regexSpecials = [ "." "[" "]" "(" ")" "{" "}" "*" "+" "?" "^" "$" "|" "\\" ];
  chars = s: builtins.genList (i: substring i 1 s) (stringLength s);

  concatMap = f: list: builtins.concatLists (map f list);
  optional = cond: x: if cond then [ x ] else [ ];
  optionals = cond: xs: if cond then xs else [ ];
  optionalString = cond: s: if cond then s else "";
  unique = foldl' (acc: x: if builtins.elem x acc then acc else acc ++ [ x ]) [ ];
  toList = x: if isList x then x else [ x ];
  last = list: builtins.elemAt list (length list - 1);

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
