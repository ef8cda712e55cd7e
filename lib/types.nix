# What a fetchModel argument may hold, and the checks that list every problem at once.
let
  inherit (builtins) attrNames concatStringsSep filter isAttrs isInt isFloat isPath isString length match;
  util = import ./util.nix;
  hash = import ./hash.nix;
  check = import ./sources/check.nix;
  sources = import ./sources;
  validation = import ./validation/check.nix;

  topKeys = [ "name" "source" "hash" "network" "auth" "validation" "integration" "meta" ];
  # Only the library reads these; the rest is the spec that the builder and the plugin get.
  libraryKeys = [ "validation" "integration" "meta" ];
  networkKeys = [ "endpoint" "concurrency" "timeout" "retries" ];
  authKeys = [ "tokenFile" "tokenEnvVar" ];
  integrationKeys = [ "hfCacheName" ];

  validateSource = source:
    let
      given = if isAttrs source then attrNames source else [ ];
      known = filter (t: builtins.elem t sources.sourceTypes) given;
      unknown = filter (t: !builtins.elem t sources.sourceTypes) given;
      types = concatStringsSep ", " sources.sourceTypes;
      errors =
        if source == null then [ "source is missing: give one of ${types}, e.g. source.huggingface.repo = \"org/name\"" ]
        else if !isAttrs source then [ "source is a ${builtins.typeOf source}, give an attrset with one of ${types}" ]
        else
          map (t: "source: unknown source type '${t}', known: ${types}") unknown
          ++ (if length given == 0 then [ "source is empty: give exactly one of ${types}" ]
              else if length given > 1 then [ "source: give exactly one source, got ${toString (length given)}: ${concatStringsSep ", " given}" ]
              else if known == [ ] then [ ]
              else (sources.getAdapter (builtins.head known)).validateConfig source.${builtins.head known});
    in
    {
      valid = errors == [ ];
      inherit errors;
      sourceType = if isAttrs source && length known == 1 && length given == 1 then builtins.head known else null;
    };

  # A name Nix accepts for a store path, in every Nix version.
  nameProblem = name:
    if !isString name then "name is a ${builtins.typeOf name}, give a string"
    else if name == "" then "name is empty"
    else if match "[A-Za-z0-9+_?=.-]+" name == null then "name '${name}' may only hold letters, digits and + - . _ ? ="
    else if util.hasPrefix "." name then "name '${name}' must not start with '.'"
    else if builtins.stringLength name > 211 then "name '${name}' is longer than 211 characters"
    else null;

  hashProblems = { hashRequired }: config:
    let h = config.hash or null;
    in
    if h == null then
      util.optional hashRequired
        "hash is missing: without the plugin the model is a fixed-output derivation, which needs one; set hash = \"\" and build to be told the hash (got: sha256-...), or run nix-fetch-model prefetch"
    else if h == "" then [ ]
    else
      let parsed = hash.parseHash h;
      in util.optional (parsed.error != null) parsed.error;

  networkProblems = network:
    let
      number = x: isInt x || isFloat x;
      endpoint = network.endpoint or null;
    in
    if !isAttrs network then [ "network is a ${builtins.typeOf network}, give an attrset" ]
    else
      check.unknownKeys "network" networkKeys network
      ++ util.optional (endpoint != null && !(isString endpoint && match "https?://[^/].*" endpoint != null))
        "network.endpoint '${toString endpoint}' is not an http:// or https:// URL"
      ++ util.optional (network ? concurrency && !(isInt network.concurrency && network.concurrency >= 1 && network.concurrency <= 256))
        "network.concurrency must be a whole number from 1 to 256"
      ++ util.optional (network ? timeout && !(number network.timeout && network.timeout > 0))
        "network.timeout must be a positive number of seconds"
      ++ util.optional (network ? retries && !(isInt network.retries && network.retries >= 0))
        "network.retries must be a whole number, 0 or more";

  authProblems = auth:
    let file = auth.tokenFile or null;
    in
    if !isAttrs auth then [ "auth is a ${builtins.typeOf auth}, give an attrset" ]
    else
      (if auth ? token then
        [ "auth.token is refused: a token in a Nix expression ends up in the world-readable store; use auth.tokenFile = \"/run/secrets/hf-token\" or auth.tokenEnvVar = \"HF_TOKEN\"" ]
      else check.unknownKeys "auth" authKeys auth)
      ++ util.optional (isPath file)
        "auth.tokenFile is a Nix path, which would copy the token into the world-readable store; give it as a string: \"/run/secrets/hf-token\""
      ++ util.optional (file != null && !isPath file && !(isString file && util.hasPrefix "/" file))
        "auth.tokenFile must be an absolute path given as a string"
      ++ util.optional (auth ? tokenEnvVar && !(isString auth.tokenEnvVar && match "[A-Za-z_][A-Za-z0-9_]*" auth.tokenEnvVar != null))
        "auth.tokenEnvVar '${toString (auth.tokenEnvVar or "")}' is not an environment variable name";

  validateConfigWith = { hashRequired ? true }: config:
    let
      source = validateSource (config.source or null);
      name = if config ? name then nameProblem config.name else null;
      errors =
        if !isAttrs config then [ "the argument is a ${builtins.typeOf config}, give an attrset { source; hash; ... }" ]
        else
          check.unknownKeys "argument" topKeys config
          ++ source.errors
          ++ util.optional (name != null) name
          ++ hashProblems { inherit hashRequired; } config
          ++ networkProblems (config.network or { })
          ++ authProblems (config.auth or { })
          ++ validation.problems (config.validation or [ ])
          ++ (if isAttrs (config.integration or { }) then check.unknownKeys "integration" integrationKeys (config.integration or { })
              else [ "integration is a ${builtins.typeOf config.integration}, give an attrset" ])
          ++ util.optional (!isAttrs (config.meta or { })) "meta is a ${builtins.typeOf config.meta}, give an attrset";
    in
    {
      valid = errors == [ ];
      inherit errors;
      inherit (source) sourceType;
    };
in
{
  inherit (sources) sourceTypes;
  inherit topKeys libraryKeys validateSource validateConfigWith;
  inherit (hash) normalizeHash parseHash isValidHash fakeHash;
  validateConfig = validateConfigWith { };
}
