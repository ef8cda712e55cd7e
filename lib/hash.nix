# sha256 hashes in every spelling Nix accepts, turned into SRI in pure Nix
# (Nix 2.8 has no builtins.convertHash): "sha256-<base64>", "sha256:<digits>" and bare
# digits, where digits are 64 base-16, 52 Nix base-32 or 44 base-64 characters.
let
  inherit (builtins)
    bitAnd
    bitOr
    concatStringsSep
    elemAt
    filter
    foldl'
    genList
    length
    listToAttrs
    stringLength
    substring
    ;
  util = import ./util.nix;
  inherit (util) chars shiftLeft shiftRight;

  size = 32;

  indexOf = alphabet:
    listToAttrs (genList (i: { name = substring i 1 alphabet; value = i; }) (stringLength alphabet));
  base16Digits = indexOf "0123456789abcdef" // indexOf "0123456789ABCDEF";
  nix32Alphabet = "0123456789abcdfghijklmnpqrsvwxyz";
  nix32Digits = indexOf nix32Alphabet;
  base64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  base64Digits = indexOf base64Alphabet;

  badChars = digits: s: filter (c: !(digits ? ${c})) (chars s);

  # Each decoder returns { bytes; error; }.
  failure = error: { bytes = null; inherit error; };
  success = bytes: { inherit bytes; error = null; };

  decodeBase16 = s:
    let bad = badChars base16Digits s;
    in
    if bad != [ ] then
      failure "'${builtins.head bad}' is not a base-16 digit"
    else
      success (genList (i:
        base16Digits.${substring (2 * i) 1 s} * 16 + base16Digits.${substring (2 * i + 1) 1 s}) size);

  # Nix's base-32: the last character holds the lowest 5 bits of the first byte.
  decodeNix32 = s:
    let
      bad = badChars nix32Digits s;
      n = stringLength s;
      parts = genList (k:
        let
          digit = nix32Digits.${substring (n - k - 1) 1 s};
          bit = k * 5;
          i = bit / 8;
          j = bit - i * 8;
        in
        [{ inherit i; v = bitAnd (shiftLeft digit j) 255; }]
        ++ (if i < size - 1 then [{ i = i + 1; v = shiftRight digit (8 - j); }]
            else if shiftRight digit (8 - j) != 0 then [{ i = -1; v = 0; }]
            else [ ])) n;
      contributions = builtins.concatLists parts;
    in
    if bad != [ ] then
      failure "'${builtins.head bad}' is not a Nix base-32 digit (alphabet ${nix32Alphabet})"
    else if builtins.any (c: c.i == -1) contributions then
      failure "it is not a valid Nix base-32 sha256 (its high bits overflow 32 bytes)"
    else
      success (genList (k:
        foldl' bitOr 0 (map (c: c.v) (filter (c: c.i == k) contributions))) size);

  # 43 digits, then at most one '=' (the last digit's two low bits are not part of the hash).
  decodeBase64 = s:
    let
      body = builtins.head (builtins.match "(.*[^=]|)=*" s);
      bad = badChars base64Digits body;
      values = map (c: base64Digits.${c}) (chars body);
      count = length values;
      at = elemAt values;
      # 4 six-bit values make 3 bytes; 43 values make 32 bytes (the last group has 3 values).
      byte = k:
        let
          group = k / 3;
          v = i: if 4 * group + i < count then at (4 * group + i) else 0;
          word = ((v 0 * 64 + v 1) * 64 + v 2) * 64 + v 3;
          r = k - group * 3;
        in
        bitAnd (shiftRight word (16 - 8 * r)) 255;
    in
    if bad != [ ] then
      failure "'${builtins.head bad}' is not a base-64 digit"
    else if count != 43 || stringLength s > 44 then
      failure "base-64 sha256 digits are 43 characters and at most one '='"
    else
      success (genList byte size);

  encodeBase64 = bytes:
    let
      at = elemAt bytes;
      n = length bytes;
      groups = (n + 2) / 3;
      char = v: substring v 1 base64Alphabet;
      group = g:
        let
          b = i: if 3 * g + i < n then at (3 * g + i) else 0;
          word = (b 0 * 256 + b 1) * 256 + b 2;
          present = n - 3 * g;
          sextet = i: char (bitAnd (shiftRight word (18 - 6 * i)) 63);
        in
        sextet 0 + sextet 1
        + (if present > 1 then sextet 2 else "=")
        + (if present > 2 then sextet 3 else "=");
    in
    concatStringsSep "" (genList group groups);

  decodeDigits = digits:
    let len = stringLength digits;
    in
    if len == 64 then decodeBase16 digits
    else if len == 52 then decodeNix32 digits
    else if len == 44 then decodeBase64 digits
    else failure "sha256 digits are 64 (base-16), 52 (Nix base-32) or 44 (base-64) characters, not ${toString len}";

  # { sri; error; }: error is null when `hash` (a string) is a valid sha256.
  parseHash = hash:
    let
      colon = builtins.match "([^:]*):(.*)" hash;
      dash = builtins.match "([A-Za-z0-9]+)-(.*)" hash;
      result =
        if !builtins.isString hash then
          failure "it is a ${builtins.typeOf hash}, not a string"
        else if colon != null then
          (if builtins.head colon != "sha256" then failure "only sha256 is supported, not '${builtins.head colon}'"
           else decodeDigits (elemAt colon 1))
        else if dash != null then
          (if builtins.head dash != "sha256" then failure "only sha256 is supported, not '${builtins.head dash}'"
           else decodeBase64 (elemAt dash 1))
        else decodeDigits hash;
    in
    if result.error != null then
      { sri = null; error = "hash '${toString hash}': ${result.error}"; }
    else
      { sri = "sha256-" + encodeBase64 result.bytes; error = null; };
in
{
  inherit parseHash;

  isValidHash = hash: (parseHash hash).error == null;

  normalizeHash = hash:
    let parsed = parseHash hash;
    in if parsed.error != null then throw "normalizeHash: ${parsed.error}" else parsed.sri;

  # What to pin first to let Nix tell the real hash ("got: sha256-...").
  fakeHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
}
