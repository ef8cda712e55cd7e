# Checks shared by the source adapters and the argument check; each returns a list of problems.
# The Rust core words them the same (src/spec/): keep the two in step (tests/support/bad_specs.json).
let
  inherit (builtins) attrNames concatStringsSep elemAt filter foldl' genList head isList isString length stringLength substring;
  util = import ../util.nix;

  # Levenshtein distance, over bytes.
  editDistance = a: b:
    let
      bs = util.chars b;
      n = length bs;
      min = x: y: if x < y then x else y;
      # The next row of the table, built backwards and turned round.
      nextRow = row: i: ca:
        let
          backwards = foldl' (acc: j:
            let
              substitution = elemAt row j + (if ca == elemAt bs j then 0 else 1);
              deletion = elemAt row (j + 1) + 1;
              insertion = head acc + 1;
            in [ (min substitution (min deletion insertion)) ] ++ acc) [ (i + 1) ] (genList (j: j) n);
        in genList (k: elemAt backwards (n - k)) (n + 1);
      last = foldl' (row: i: nextRow row i (substring i 1 a)) (genList (j: j) (n + 1)) (genList (i: i) (stringLength a));
    in elemAt last n;

  # The known name nearest to `key`, if at most one edit for every three bytes of it (at least
  # one) away; the first of equals wins.
  closest = key: known:
    let
      most = let third = stringLength key / 3; in if third < 1 then 1 else third;
      best = foldl' (acc: name:
        let d = editDistance key name;
        in if d <= most && (acc == null || d < acc.d) then { inherit d name; } else acc) null known;
    in if best == null then null else best.name;

  # builtins.typeOf, with `set` called `attrset` and `lambda` `function`.
  typeName = value: let t = builtins.typeOf value; in { set = "attrset"; lambda = "function"; }.${t} or t;
  withArticle = name:
    if name == "null" then "null"
    else if builtins.match "[aeiou].*" name != null then "an ${name}"
    else "a ${name}";
in
rec {
  inherit editDistance closest typeName withArticle;

  # The core's rule of a relative path (src/layout/paths.rs), in its order: a file's path in a
  # snapshot, and a revision (written as refs/<revision>). null when there is no problem.
  pathProblem = path:
    let names = filter isString (builtins.split "/" path);
    in
    if path == "" then "is empty"
    else if builtins.match ".*\\\\.*" path != null then "holds a backslash"
    else if util.hasPrefix "/" path then "starts with '/'"
    else if builtins.match "(.*/|.*//.*)" path != null then "has an empty segment"
    else if builtins.any (s: s == "." || s == "..") names then "has a '.' or '..' segment"
    else if builtins.any (s: stringLength s > 255) names then "has a name longer than the 255 bytes a file name can have"
    else null;

  # `<namespace>/<name>`, the Hub cache repo a source derives when the spec names none: `text`
  # with every run of characters other than letters, digits and `_` made one `-`, at most 96
  # characters, `fallback` if nothing is left (src/spec/fields.rs `derived_repo`).
  derivedRepo = namespace: text: fallback:
    let
      parts = filter (p: isString p && p != "") (builtins.split "[^A-Za-z0-9_]+" text);
      joined = substring 0 96 (concatStringsSep "-" parts);
      trimmed = let m = builtins.match "(.*[^-])-*" joined; in if m == null then "" else head m;
    in "${namespace}/${if trimmed == "" then fallback else trimmed}";

  # "is a string, give ...": what follows the attribute when its value has the wrong type.
  wrongType = value: wanted: "is ${withArticle (typeName value)}, give ${wanted}";

  # A Nix string literal of `s`.
  nixString = s: builtins.replaceStrings [ "\${" ] [ "\\\${" ] (builtins.toJSON s);

  # `<at>.<key> is not a known <noun>; ...`: what to write instead (`instead`), else the known
  # name it is meant to be (`meant`, else the closest) and the known names.
  unknown = { noun ? "attribute", at, key, known, instead ? null, meant ? null }:
    let
      start = "${at}.${key} is not a known ${noun}";
      knownList = concatStringsSep ", " known;
      name = if meant != null then meant else closest key known;
    in
    if instead != null then "${start}; ${instead}"
    else if name != null then "${start}; did you mean ${name}? Known: ${knownList}"
    else "${start}; known: ${knownList}";

  # One line for each attribute of `attrs` not in `known`; `lineFor key` may word one itself.
  unknownKeys = at: known: attrs: unknownKeysWith { inherit at known; } attrs;
  unknownKeysWith = { at, known, lineFor ? key: null }: attrs:
    map (key: let own = lineFor key; in if own != null then own else unknown { inherit at key known; })
      (filter (key: !builtins.elem key known) (attrNames attrs));

  stringList = at: key: value:
    if isString value then [ "${at}.${key} is a string, give a list: ${key} = [ ${nixString value} ];" ]
    else if !isList value then [ "${at}.${key} ${wrongType value "a list of strings"}" ]
    else
      let notString = filter (x: !isString x) value;
      in util.optional (notString != [ ]) "${at}.${key} holds ${withArticle (typeName (head notString))}, give only strings";
}
