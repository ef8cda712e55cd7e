# What a fetchModel argument may hold, and the checks that list every problem at once.
# The Rust core (src/spec/) checks the spec part with the same words, in the same order:
# unknown top-level attributes, then source, name, hash, network, auth (then, here only,
# validation, integration, meta); unknown attributes first in each. A null attribute is one
# not given. tests/support/bad_specs.json holds the lines both must give.
let
  inherit (builtins) attrNames concatStringsSep elem filter isAttrs isFloat isInt isPath isString length match;
  util = import ./util.nix;
  hash = import ./hash.nix;
  check = import ./sources/check.nix;
  sources = import ./sources;
  validation = import ./validation/check.nix;
  inherit (check) wrongType;

  specKeys = [ "name" "source" "hash" "network" "auth" ];
  # Only the library reads these; the rest is the spec that the builder and the plugin get.
  libraryKeys = [ "validation" "integration" "meta" ];
  topKeys = specKeys ++ libraryKeys;
  networkKeys = [ "endpoint" "concurrency" "timeout" "retries" ];
  authKeys = [ "tokenFile" "tokenEnvVar" ];
  integrationKeys = [ "hfCacheName" ];

  tokenRefused = at:
    "${at}.token is refused: a token written in the argument ends up in the world-readable Nix store; put it in a file and set auth.tokenFile = \"/run/secrets/hf-token\", or set auth.tokenEnvVar = \"HF_TOKEN\"";

  # The line of an unknown top-level attribute: what to write instead, where there is one.
  unknownTopLevel = config: key:
    let
      value = config.${key};
      parsed = if isString value then hash.parseHash value else { error = "not a string"; };
      sections = filter (s: elem key s.keys) [
        { name = "source.huggingface"; keys = (sources.getAdapter "huggingface").knownKeys; }
        { name = "network"; keys = networkKeys; }
        { name = "auth"; keys = authKeys; }
      ];
      section = if sections == [ ] then null else builtins.head sections;
      instead =
        if elem key [ "sha256" "narHash" "outputHash" ] then
          (if parsed.error == null then "write hash = ${check.nixString parsed.sri} instead"
           else "write hash = \"sha256-...\" instead (SRI, or sha256: followed by Nix base-32, base-16 or base-64 digits)")
        else if section != null then "write ${section.name}.${key} instead"
        else null;
    in
    if key == "token" then tokenRefused "argument"
    else check.unknown { at = "argument"; inherit key instead; known = topKeys; };

  validateSource = source:
    let
      # Every attribute is checked for a known type; only those not null are given sources.
      names = if isAttrs source then attrNames source else [ ];
      given = if isAttrs source then attrNames (util.withoutNulls source) else [ ];
      known = filter (t: elem t sources.sourceTypes) given;
      unknown = filter (t: !elem t sources.sourceTypes) names;
      types = concatStringsSep ", " sources.sourceTypes;
      errors =
        if source == null then [ "source is missing: give one of ${types}, e.g. source.huggingface.repo = \"org/name\"" ]
        else if !isAttrs source then [ "source ${wrongType source "an attrset with one of ${types}"}" ]
        else
          map (t: check.unknown { noun = "source type"; at = "source"; key = t; known = sources.sourceTypes; meant = if t == "hf" then "huggingface" else null; }) unknown
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
    let problem =
      if name == "" then "is empty"
      else if match "[A-Za-z0-9+_?=.-]+" name == null then "may only hold letters, digits and + - . _ ? ="
      else if util.hasPrefix "." name then "must not start with '.'"
      else if builtins.stringLength name > 211 then "is longer than 211 characters"
      else null;
    in
    if !isString name then "name ${wrongType name "a string"}"
    else if problem != null then "name '${name}' ${problem}"
    else null;

  hashProblems = { hashRequired }: config:
    let h = config.hash or null;
    in
    if h == null then
      util.optional hashRequired
        "hash is missing: without the plugin the model is a fixed-output derivation, which needs one; set hash = \"\" and build to be told the hash (got: sha256-...), or run nix-fetch-model prefetch"
    else if h == "" then [ ]
    else if !isString h then [ "hash ${wrongType h "a string such as \"sha256-...\""}" ]
    else
      let parsed = hash.parseHash h;
      in util.optional (parsed.error != null) parsed.error;

  endpointProblem = endpoint:
    let shown = util.redactUserinfo endpoint;
    in
    if !isString endpoint then "network.endpoint ${wrongType endpoint "a URL such as \"https://huggingface.co\""}"
    else if shown != endpoint then
      "network.endpoint '${shown}' holds credentials: a URL is printed, logged and stored, so it must not hold a token; give the token with HF_TOKEN, auth.tokenFile or auth.tokenEnvVar"
    else if match "https?://[^/].*" endpoint == null then "network.endpoint '${endpoint}' is not an http:// or https:// URL"
    else null;

  networkProblems = network:
    let
      get = key: network.${key} or null;
      endpoint = get "endpoint";
      number = x: isInt x || isFloat x;
    in
    if !isAttrs network then [ "network ${wrongType network "an attrset"}" ]
    else
      check.unknownKeys "network" networkKeys network
      ++ util.optional (endpoint != null) (endpointProblem endpoint)
      ++ util.optional (get "concurrency" != null && !(isInt network.concurrency && network.concurrency >= 1 && network.concurrency <= 256))
        "network.concurrency must be a whole number from 1 to 256"
      ++ util.optional (get "timeout" != null && !(number network.timeout && network.timeout > 0 && network.timeout <= 86400))
        "network.timeout must be a positive number of seconds, at most 86400"
      ++ util.optional (get "retries" != null && !(isInt network.retries && network.retries >= 0 && network.retries <= 100))
        "network.retries must be a whole number from 0 to 100";

  authProblems = auth:
    let
      file = auth.tokenFile or null;
      variable = auth.tokenEnvVar or null;
    in
    if !isAttrs auth then [ "auth ${wrongType auth "an attrset"}" ]
    else
      check.unknownKeysWith { at = "auth"; known = authKeys; lineFor = key: if key == "token" then tokenRefused "auth" else null; } auth
      ++ util.optional (file != null) (
        if isPath file then "auth.tokenFile is a Nix path, which would copy the token into the world-readable store; give it as a string: \"/run/secrets/hf-token\""
        else if !isString file then "auth.tokenFile ${wrongType file "an absolute path as a string, e.g. \"/run/secrets/hf-token\""}"
        else if !util.hasPrefix "/" file then "auth.tokenFile '${file}' is not an absolute path: give one as a string, e.g. \"/run/secrets/hf-token\""
        else null)
      ++ util.optional (variable != null) (
        if !isString variable then "auth.tokenEnvVar ${wrongType variable "a variable name such as \"HF_TOKEN\""}"
        else if match "[A-Za-z_][A-Za-z0-9_]*" variable == null then "auth.tokenEnvVar '${variable}' is not an environment variable name"
        else null);

  validateConfigWith = { hashRequired ? true }: config:
    let
      source = validateSource (config.source or null);
      get = key: config.${key} or null;
      integration = util.attrOr config "integration" { };
      meta = util.attrOr config "meta" { };
      lines =
        if !isAttrs config then [ "the argument ${wrongType config "an attrset { source; hash; ... }"}" ]
        else
          map (unknownTopLevel config) (filter (key: !elem key topKeys) (attrNames config))
          ++ source.errors
          ++ util.optional (get "name" != null) (nameProblem config.name)
          ++ hashProblems { inherit hashRequired; } config
          ++ (if get "network" != null then networkProblems config.network else [ ])
          ++ (if get "auth" != null then authProblems config.auth else [ ])
          ++ validation.problems (util.attrOr config "validation" [ ])
          ++ (if isAttrs integration then check.unknownKeys "integration" integrationKeys integration
              else [ "integration ${wrongType integration "an attrset"}" ])
          ++ util.optional (!isAttrs meta) "meta ${wrongType meta "an attrset"}";
      errors = filter (line: line != null) lines;
    in
    {
      valid = errors == [ ];
      inherit errors;
      inherit (source) sourceType;
    };

  # The heading of the one error that lists the problems: fetchModel (org/name).
  heading = config:
    let repo = config.source.huggingface.repo or null;
    in if isAttrs config && isString repo && repo != "" then "fetchModel (${repo})" else "fetchModel";
in
{
  inherit (sources) sourceTypes;
  inherit topKeys specKeys libraryKeys validateSource validateConfigWith heading;
  inherit (util) redactUserinfo;
  inherit (hash) normalizeHash parseHash isValidHash fakeHash;
  validateConfig = validateConfigWith { };
}
