# The problems of a validator and of a fetchModel `validation` argument, each a list of strings.
let
  inherit (builtins) attrNames concatStringsSep filter isAttrs isInt isList isString match;
  util = import ../util.nix;
  check = import ../sources/check.nix;

  onFailureModes = [ "abort" "warn" "skip" ];
  validatorKeys = [ "name" "description" "command" "onFailure" "timeout" "runtimeInputs" ];

  # Seconds from 30, "30s", "5m" or "1h".
  parseTimeout = t:
    let m = if isString t then match "([0-9]+)([smh]?)" t else null;
    in
    if isInt t then t
    else if m == null then null
    else
      builtins.fromJSON (builtins.head m)
      * { "" = 1; s = 1; m = 60; h = 3600; }.${builtins.elemAt m 1};

  validatorProblems = v:
    let
      at = "validator '${toString (v.name or "?")}'";
      timeout = parseTimeout (v.timeout or 300);
    in
    if !isAttrs v then [ "a validator is a ${builtins.typeOf v}, give an attrset { name; command; ... } (see mkValidator)" ]
    else
      check.unknownKeys at validatorKeys v
      ++ util.optional (!(v ? name && isString v.name && match "[A-Za-z0-9][A-Za-z0-9_.-]*" v.name != null))
        "${at}: name must be letters, digits, '_', '.' and '-'"
      ++ util.optional (!(v ? command && isString v.command))
        "${at}: command is missing or not a string (a shell command run in the snapshot folder)"
      ++ util.optional (!builtins.elem (v.onFailure or "abort") onFailureModes)
        "${at}: onFailure '${toString v.onFailure}' is not one of ${util.quoteList onFailureModes}"
      ++ util.optional (timeout == null || timeout <= 0)
        "${at}: timeout '${toString (v.timeout or "")}' is not a number of seconds (30) or \"30s\", \"5m\", \"1h\""
      ++ util.optional (!isList (v.runtimeInputs or [ ]))
        "${at}: runtimeInputs must be a list of packages (or names of pkgs attributes)";

  presetNames = attrNames (import ./presets.nix);

  problems = validation:
    if isString validation then
      util.optional (!builtins.elem validation presetNames)
        "validation: unknown preset '${validation}', known: ${concatStringsSep ", " presetNames}"
    else if isList validation then
      builtins.concatMap validatorProblems validation
    else if isAttrs validation && validation ? command then
      validatorProblems validation
    else if isAttrs validation then
      check.unknownKeys "validation" [ "preset" "validators" ] validation
      ++ problems (validation.preset or "none")
      ++ problems (validation.validators or [ ])
    else [ "validation is a ${builtins.typeOf validation}, give a preset name, a list of validators or { preset; validators; }" ];
in
{
  inherit onFailureModes parseTimeout validatorProblems problems;
}
