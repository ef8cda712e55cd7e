# A version of a model of an MLflow Model Registry, read through the tracking server's REST API
# and its proxied artifacts, laid out as one repo folder of the Hub cache (`mlflow/<model>` by
# default). The core (src/spec/mlflow.rs) checks it with the same words.
#   source.mlflow = { trackingUri = "https://mlflow.example.org"; modelName = "m"; alias = "champion"; };
#   source.mlflow = { trackingUri = "..."; modelName = "m"; version = "3"; artifactPath = "model"; };
let
  inherit (builtins) concatStringsSep elem filter head isAttrs isInt isString match split stringLength substring;
  util = import ../util.nix;
  check = import ./check.nix;

  knownKeys = [ "trackingUri" "modelName" "version" "alias" "stage" "artifactPath" "files" "exclude" "repo" ];
  stages = [ "Staging" "Production" "Archived" "None" ];
  at = "source.mlflow";
  credentialVariables = "MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD";

  synonyms = {
    name = "modelName"; model = "modelName"; registeredModel = "modelName";
    uri = "trackingUri"; trackingURI = "trackingUri"; tracking_uri = "trackingUri"; endpoint = "trackingUri"; url = "trackingUri";
    artifact_path = "artifactPath"; path = "artifactPath";
    include = "files"; allow_patterns = "files"; allowPatterns = "files";
    ignore_patterns = "exclude"; ignorePatterns = "exclude";
  };
  lineFor = key:
    if elem key [ "token" "password" "username" ] then
      "${at}.${key} is refused: a credential written in the argument ends up in the world-readable Nix store; set ${credentialVariables} in the environment, as for MLflow's own client"
    else check.unknown { inherit at key; known = knownKeys; meant = synonyms.${key} or null; };

  trackingUriProblem = uri:
    let shown = util.redactUserinfo uri;
    in
    if shown != uri then
      "'${shown}' holds credentials: a URL is printed, logged and stored, so it must not hold a password; set ${credentialVariables} in the environment instead"
    else if match "https?://[^/].*" uri == null then
      "'${uri}' is not an http:// or https:// URL: nix-fetch-model reads a model registry through an MLflow tracking server's REST API"
    else null;

  # 1 to 18 digits, not starting with 0 (src/spec/mlflow.rs `is_version`).
  versionProblem = version:
    let
      text = toString version;
      notNumber = "${at}.version '${text}' is not a version number: give the number MLflow gave the version, e.g. version = \"3\"";
    in
    if isInt version then (if version >= 1 && version <= 999999999999999999 then null else notNumber)
    else if isString version then (if match "[1-9][0-9]{0,17}" version != null then null else notNumber)
    else "${at}.version ${check.wrongType version "a string such as \"3\" (or an int)"}";

  validateConfig = cfg:
    let
      get = key: cfg.${key} or null;
      uri = get "trackingUri";
      modelName = get "modelName";
      version = get "version";
      alias = get "alias";
      stage = get "stage";
      artifactPath = get "artifactPath";
      repo = get "repo";
      oneOfStages = "one of ${util.quoteList stages}";
    in
    if !isAttrs cfg then [ "${at} ${check.wrongType cfg "an attrset { trackingUri = \"https://...\"; modelName = \"...\"; alias = \"champion\"; }"}" ]
    else
      check.unknownKeysWith { inherit at lineFor; known = knownKeys; } cfg
      ++ (if uri == null then [ "${at}.trackingUri is missing: give the tracking server's URL, e.g. trackingUri = \"https://mlflow.example.org\"" ]
          else if !isString uri then [ "${at}.trackingUri ${check.wrongType uri "a string: the tracking server's http:// or https:// URL"}" ]
          else let problem = trackingUriProblem uri; in util.optional (problem != null) "${at}.trackingUri ${problem}")
      ++ (if modelName == null then [ "${at}.modelName is missing: give the registered model's name, e.g. modelName = \"my-model\"" ]
          else if !isString modelName then [ "${at}.modelName ${check.wrongType modelName "a string: the registered model's name"}" ]
          else util.optional (modelName == "") "${at}.modelName is empty: give the registered model's name")
      ++ (if version == null then [ ] else let problem = versionProblem version; in util.optional (problem != null) problem)
      ++ (if alias == null then [ ]
          else if !isString alias then [ "${at}.alias ${check.wrongType alias "a string such as \"champion\""}" ]
          else util.optional (alias == "") "${at}.alias is empty: give the alias, e.g. alias = \"champion\"")
      ++ (if stage == null then [ ]
          else if !isString stage then [ "${at}.stage ${check.wrongType stage oneOfStages}" ]
          else util.optional (!elem stage stages)
            "${at}.stage '${stage}' is not ${oneOfStages} (stages are deprecated since MLflow 2.9: prefer an alias)")
      ++ util.optional (alias != null && stage != null) "${at}: give alias or stage, not both"
      ++ util.optional (version == null && alias == null && stage == null)
        "${at}.version is missing: give version = \"3\", or alias = \"champion\" (or the deprecated stage = \"Production\") to take the version it names"
      ++ (if artifactPath == null then [ ]
          else if !isString artifactPath then [ "${at}.artifactPath ${check.wrongType artifactPath "a string: a folder of the version's artifacts, such as \"model\""}" ]
          else let problem = check.pathProblem artifactPath; in util.optional (problem != null)
            "${at}.artifactPath '${artifactPath}' ${problem}: give a folder of the version's artifacts, such as \"model\"")
      ++ (if get "files" == null then [ ] else check.stringList at "files" cfg.files)
      ++ (if get "exclude" == null then [ ] else check.stringList at "exclude" cfg.exclude)
      ++ (if repo == null then [ ]
          else if !isString repo then [ "${at}.repo ${check.wrongType repo "a string such as \"org/name\""}" ]
          else util.optional (!(import ./huggingface.nix).isRepoId repo)
            "${at}.repo '${repo}' is not 'org/name' (or a bare 'name'): letters, digits, '.', '_' and '-', at most 96 a part, not starting or ending with '.' or '-', no '--' or '..'");

  defaultRepo = modelName: check.derivedRepo "mlflow" modelName "model";
  repoOf = cfg: if (cfg.repo or null) != null then cfg.repo else defaultRepo cfg.modelName;
  cacheFolderName = cfg: "models--${builtins.replaceStrings [ "/" ] [ "--" ] (repoOf cfg)}";
  askedOf = cfg:
    let get = key: cfg.${key} or null;
    in if get "version" != null then "version ${toString cfg.version}"
       else if get "alias" != null then "alias ${cfg.alias}"
       else "stage ${toString (get "stage")}";
in
{
  type = "mlflow";
  supported = true;
  inherit validateConfig knownKeys defaultRepo;

  defaultName = cacheFolderName;
  hfCacheName = cacheFolderName;

  # MLflow's client variables: the credentials and the tracking server's CA (as MLflow reads
  # them); MLFLOW_TRACKING_INSECURE_TLS so that the builder refuses it as the plugin does.
  impureEnvVars = cfg: [
    "MLFLOW_TRACKING_TOKEN" "MLFLOW_TRACKING_USERNAME" "MLFLOW_TRACKING_PASSWORD"
    "MLFLOW_TRACKING_SERVER_CERT_PATH" "MLFLOW_TRACKING_INSECURE_TLS"
  ];

  # The snapshot's name is derived by the fetch from the version and its listing.
  commit = cfg: null;

  mkFetchDerivation = import ./fixed-output.nix;

  extractMeta = cfg: {
    repoId = repoOf cfg;
    homepage = cfg.trackingUri;
    description = "${cfg.modelName} (${askedOf cfg}) from the MLflow registry at ${cfg.trackingUri}";
  };
}
