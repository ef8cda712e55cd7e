# A model of an Ollama registry, laid out as the models folder Ollama reads (OLLAMA_MODELS):
# blobs/sha256-<hex> and manifests/<registry>/<namespace>/<model>/<tag>. Not a Hub cache folder:
# hfCacheName is null. The core (src/spec/ollama.rs) checks it with the same words.
#   source.ollama = { model = "llama3:8b"; };
#   source.ollama = { model = "llama3"; tag = "8b"; namespace = "library";
#                     registry = "registry.ollama.ai"; digest = "sha256:..."; };
let
  inherit (builtins) elemAt head isAttrs isString match stringLength;
  util = import ../util.nix;
  check = import ./check.nix;

  knownKeys = [ "model" "tag" "namespace" "registry" "digest" ];
  at = "source.ollama";

  defaultRegistry = "registry.ollama.ai";
  defaultNamespace = "library";
  defaultTag = "latest";

  nameRule = "1 to 80 letters, digits, '_', '-' and '.', starting with a letter, a digit or '_'";
  namespaceRule = "1 to 80 letters, digits, '_' and '-', starting with a letter, a digit or '_'";
  registryRule = "a host, or host:port, of at most 350 letters, digits, '_', '-', '.' and ':', starting with a letter, a digit or '_', optionally after http:// or https://";

  # Ollama's rule of each part of a name (types/model/name.go isValidPart).
  validName = s: match "[A-Za-z0-9_][A-Za-z0-9_.-]*" s != null && stringLength s <= 80;
  validNamespace = s: match "[A-Za-z0-9_][A-Za-z0-9_-]*" s != null && stringLength s <= 80;
  # A registry: { scheme; host; } of `[http(s)://]host`, and whether the host follows the rule.
  registryOf = text:
    let m = match "(https?)://(.*)" text;
    in if m == null then { scheme = "https"; host = text; } else { scheme = head m; host = elemAt m 1; };
  validRegistry = text:
    let host = (registryOf text).host;
    in match "[A-Za-z0-9_][A-Za-z0-9_.:-]*" host != null && stringLength host <= 350;
  isDigest = s: match "sha256:[0-9a-f]{64}" s != null;

  # `[registry/][namespace/]model[:tag]`, cut as Ollama's ParseNameBare cuts it: the tag after the
  # last ':' when no '/' follows it, then the parts from the right at '/'. null for a part not given.
  splitName = name:
    let
      tagged = match "(.*):([^/:]*)" name;
      rest = if tagged == null then name else head tagged;
      m = match "(.*)/([^/]*)" rest;
      before = if m == null then null else head m;
      m2 = if before == null then null else match "(.*)/([^/]*)" before;
    in
    {
      tag = if tagged == null then null else elemAt tagged 1;
      model = if m == null then rest else elemAt m 1;
      namespace = if m == null then null else if m2 == null then before else elemAt m2 1;
      registry = if m2 == null then null else head m2;
    };

  validateConfig = cfg:
    let
      get = key: cfg.${key} or null;
      model = get "model";
      modelText = if isString model then model else "";
      named = splitName modelText;
      partLine = part: value: rule: "${at}.model '${modelText}': its ${part} '${value}' is not valid: give ${rule}";
      modelProblems =
        if model == null then [ "${at}.model is missing: give the model's name, e.g. model = \"llama3:8b\"" ]
        else if !isString model then [ "${at}.model ${check.wrongType model "a string such as \"llama3:8b\""}" ]
        else
          util.optional (named.registry != null && !validRegistry named.registry)
            "${at}.model '${modelText}': its registry '${named.registry}' is not a registry: give ${registryRule}"
          ++ util.optional (named.namespace != null && !validNamespace named.namespace) (partLine "namespace" named.namespace namespaceRule)
          ++ util.optional (!validName named.model) (partLine "model" named.model nameRule)
          ++ util.optional (named.tag != null && !validName named.tag) (partLine "tag" named.tag nameRule);
      # One attribute: its rule, whether the model names it too, and an example of it.
      attrProblems = key: { valid, problem, inModel, example }:
        let value = get key;
        in
        if value == null then [ ]
        else if !isString value then [ "${at}.${key} ${check.wrongType value "a string such as \"${example}\""}" ]
        else
          util.optional (!valid value) "${at}.${key} '${value}' ${problem}"
          ++ util.optional inModel "${at}.${key}: the model '${modelText}' names its ${key} already: give it in one place";
    in
    if !isAttrs cfg then [ "${at} ${check.wrongType cfg "an attrset { model = \"llama3:8b\"; }"}" ]
    else
      check.unknownKeysWith {
        inherit at;
        known = knownKeys;
        lineFor = key:
          let meant = { name = "model"; host = "registry"; }.${key} or null;
          in if meant == null then null else check.unknown { inherit at key meant; known = knownKeys; };
      } cfg
      ++ modelProblems
      ++ attrProblems "tag" { valid = validName; problem = "is not a tag: give ${nameRule}"; inModel = named.tag != null; example = "8b"; }
      ++ attrProblems "namespace" { valid = validNamespace; problem = "is not a namespace: give ${namespaceRule}"; inModel = named.namespace != null; example = "library"; }
      ++ attrProblems "registry" { valid = validRegistry; problem = "is not a registry: give ${registryRule}"; inModel = named.registry != null; example = defaultRegistry; }
      ++ attrProblems "digest" {
        valid = isDigest;
        problem = "is not a manifest digest: give sha256: and its 64 lowercase hex digits, as nix-fetch-model prefetch prints it";
        inModel = false;
        example = "sha256:...";
      };

  # The parts of a valid config, with Ollama's defaults.
  partsOf = cfg:
    let
      named = splitName cfg.model;
      pick = key: util.attrOr cfg key (if named.${key} != null then named.${key} else null);
      registry = registryOf (let r = pick "registry"; in if r == null then defaultRegistry else r);
      namespace = pick "namespace";
      tag = pick "tag";
    in
    {
      inherit (named) model;
      inherit (registry) scheme host;
      namespace = if namespace == null then defaultNamespace else namespace;
      tag = if tag == null then defaultTag else tag;
    };

  # As Ollama shows a name (DisplayShortest).
  display = p:
    if p.host != defaultRegistry then "${p.host}/${p.namespace}/${p.model}:${p.tag}"
    else if p.namespace != defaultNamespace then "${p.namespace}/${p.model}:${p.tag}"
    else "${p.model}:${p.tag}";
in
{
  type = "ollama";
  supported = true;
  inherit validateConfig knownKeys splitName;

  # ollama-<model>-<tag>: src/spec/ollama.rs `default_name`.
  defaultName = cfg: let p = partsOf cfg; in "ollama-${p.model}-${p.tag}";

  # The layout is Ollama's, not a Hub cache folder: point OLLAMA_MODELS at the store path.
  hfCacheName = cfg: null;

  # Basic credentials of a registry come from a netrc file. Ollama's key (~/.ollama/id_ed25519)
  # is not seen by the build users: a private model of an Ollama registry needs the plugin.
  impureEnvVars = cfg: [ "NETRC" ];

  # The pin: the manifest's digest, when the argument gives it.
  commit = cfg: cfg.digest or null;

  # Where Ollama reads the manifest, relative to the store path.
  manifestPath = cfg: let p = partsOf cfg; in "manifests/${p.host}/${p.namespace}/${p.model}/${p.tag}";

  mkFetchDerivation = import ./fixed-output.nix;

  extractMeta = cfg:
    let p = partsOf cfg;
    in {
      description = "Ollama model ${display p}";
    } // (if p.host == defaultRegistry then { homepage = "https://ollama.com/${p.namespace}/${p.model}"; } else { });
}
