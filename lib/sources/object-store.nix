# The objects below a prefix of a bucket (S3, GCS) or of an Azure container, laid out as one repo
# folder of the Hub cache (`<type>/<bucket>-<prefix>` by default). The core
# (src/spec/object_store.rs, src/sources/object_store.rs) checks them with the same words and
# fetches them through the object_store crate.
#   source.s3 = { bucket = "models"; prefix = "llama/8b"; region = "eu-west-1"; };
#   source.gcs = { bucket = "models"; prefix = "llama/8b"; };
#   source.azure = { account = "mystorage"; container = "models"; prefix = "llama/8b"; };
# `versionIds` (S3, Azure) / `generations` (GCS), as `nix-fetch-model prefetch --nix` prints
# them, pin each file's version: then the prefix is not listed, those files are fetched.
type:
let
  inherit (builtins) attrNames concatLists concatStringsSep elem filter head isAttrs isString length match replaceStrings split stringLength substring;
  util = import ../util.nix;
  check = import ./check.nix;

  at = "source.${type}";
  versionsKey = if type == "gcs" then "generations" else "versionIds";
  bucketKey = if type == "azure" then "container" else "bucket";
  knownKeys = {
    s3 = [ "bucket" "prefix" "region" "endpoint" "files" "exclude" "versionIds" "repo" ];
    gcs = [ "bucket" "prefix" "endpoint" "files" "exclude" "generations" "repo" ];
    azure = [ "account" "container" "prefix" "endpoint" "files" "exclude" "versionIds" "repo" ];
  }.${type};
  credentials = {
    s3 = "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile of ~/.aws/credentials (AWS_PROFILE)";
    gcs = "GOOGLE_APPLICATION_CREDENTIALS (a service account's key file)";
    azure = "AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_TOKEN";
  }.${type};

  # What the credential chains read (src/sources/object_store.rs): the fixed-output build gets
  # them from the nix-daemon's environment (or nix-build's, single-user), never from the spec.
  envVars = {
    s3 = [
      "AWS_ACCESS_KEY_ID" "AWS_SECRET_ACCESS_KEY" "AWS_SESSION_TOKEN" "AWS_WEB_IDENTITY_TOKEN_FILE"
      "AWS_ROLE_ARN" "AWS_ROLE_SESSION_NAME" "AWS_ENDPOINT_URL_STS" "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
      "AWS_CONTAINER_CREDENTIALS_FULL_URI" "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE" "AWS_SKIP_SIGNATURE"
      "AWS_REGION" "AWS_DEFAULT_REGION" "AWS_ENDPOINT_URL" "AWS_ENDPOINT_URL_S3" "AWS_PROFILE"
      "AWS_SHARED_CREDENTIALS_FILE" "AWS_CONFIG_FILE" "AWS_EC2_METADATA_DISABLED"
    ];
    gcs = [
      "GOOGLE_APPLICATION_CREDENTIALS" "GOOGLE_SERVICE_ACCOUNT" "GOOGLE_SERVICE_ACCOUNT_PATH"
      "GOOGLE_SERVICE_ACCOUNT_KEY" "GOOGLE_SKIP_SIGNATURE" "STORAGE_EMULATOR_HOST"
    ];
    azure = [
      "AZURE_STORAGE_ACCOUNT_KEY" "AZURE_STORAGE_SAS_TOKEN" "AZURE_STORAGE_SAS_KEY" "AZURE_STORAGE_TOKEN"
      "AZURE_CLIENT_ID" "AZURE_CLIENT_SECRET" "AZURE_TENANT_ID" "AZURE_AUTHORITY_HOST"
      "AZURE_FEDERATED_TOKEN_FILE" "AZURE_MSI_ENDPOINT" "AZURE_USE_AZURE_CLI" "AZURE_SKIP_SIGNATURE"
      "AZURE_STORAGE_CONNECTION_STRING"
    ];
  }.${type};

  lower = replaceStrings
    [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ]
    [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];
  isCredential = key: builtins.any (word: match ".*${word}.*" (lower key) != null)
    [ "secret" "token" "password" "accesskey" "accountkey" "sas" "credential" ];
  synonyms = {
    include = "files"; key = "prefix"; path = "prefix"; folder = "prefix";
  } // (if type == "azure" then { bucket = "container"; } else { })
    // (if type == "gcs" then { versionIds = "generations"; generation = "generations"; versions = "generations"; }
        else { versions = "versionIds"; versionId = "versionIds"; });
  lineFor = key:
    if isCredential key then
      "${at}.${key} is refused: a credential written in the argument ends up in the world-readable Nix store; give it with ${credentials}"
    else check.unknown { inherit at key; known = knownKeys; meant = synonyms.${key} or null; };

  between = low: high: s: stringLength s >= low && stringLength s <= high;
  nameProblem = key: text:
    if key == "account" then
      util.optional (!(between 3 24 text && match "[a-z0-9]*" text != null))
        "is not a storage account name: 3 to 24 lowercase letters and digits"
    else if key == "container" then
      util.optional (!(between 3 63 text && match "[a-z0-9][a-z0-9-]*" text != null))
        "is not a container name: 3 to 63 lowercase letters, digits and '-', starting with a letter or digit"
    else
      util.optional (!(between 3 255 text && match "[A-Za-z0-9][A-Za-z0-9._-]*" text != null))
        "is not a bucket name: 3 to 255 letters, digits, '.', '_' and '-', starting with a letter or digit";
  nameWanted = {
    account = "the storage account's name, e.g. account = \"mystorage\"";
    container = "the container's name, e.g. container = \"models\"";
    bucket = "the bucket's name, e.g. bucket = \"models\"";
  };
  requiredName = cfg: key:
    let value = cfg.${key} or null;
    in
    if value == null then [ "${at}.${key} is missing: give ${nameWanted.${key}}" ]
    else if !isString value then [ "${at}.${key} ${check.wrongType value "a string such as \"${if key == "account" then "mystorage" else "models"}\""}" ]
    else map (problem: "${at}.${key} '${value}' ${problem}") (nameProblem key value);

  # The prefix without the one trailing '/' it may have.
  folderOf = prefix: let m = match "(.*)/" prefix; in if m == null then prefix else head m;
  prefixOf = cfg: folderOf (util.attrOr cfg "prefix" "");

  endpointProblem = endpoint:
    let shown = util.redactUserinfo endpoint;
    in
    if shown != endpoint then
      "'${shown}' holds credentials: a URL is printed, logged and stored, so it must not hold a password; give them with ${credentials}"
    else if match "https?://[^/].*" endpoint == null then "'${endpoint}' is not an http:// or https:// URL"
    else null;

  versionsProblems = versions:
    let
      here = path: "${at}.${versionsKey}.${check.nixString path}";
      entryProblems = path:
        let
          version = versions.${path};
          problem = check.pathProblem path;
        in
        util.optional (problem != null)
          "${here path} names no file: the name ${problem}; name each file by its path below the prefix"
        ++ (if type == "gcs" then
              (if !isString version then [ "${here path} ${check.wrongType version "a string of digits such as \"1700000000000000\""}" ]
               else util.optional (match "[0-9]{1,20}" version == null)
                 "${here path} '${version}' is not a generation: give its digits, as nix-fetch-model prefetch --nix prints them")
            else
              (if !isString version then [ "${here path} ${check.wrongType version "a string: the object's version id"}" ]
               else util.optional (match "[!-~]+" version == null)
                 "${here path} '${version}' is not a version id: printable ASCII without spaces, as nix-fetch-model prefetch --nix prints it"));
    in
    if !isAttrs versions then
      [ "${at}.${versionsKey} ${check.wrongType versions "an attrset { \"config.json\" = \"...\"; }, as nix-fetch-model prefetch --nix prints it"}" ]
    else if versions == { } then
      [ "${at}.${versionsKey} is empty: give the version of each file, as nix-fetch-model prefetch --nix prints them, or leave it out" ]
    else concatLists (map entryProblems (attrNames versions));

  validateConfig = cfg:
    let
      get = key: cfg.${key} or null;
      prefix = get "prefix";
      region = get "region";
      endpoint = get "endpoint";
      repo = get "repo";
      prefixError = if isString prefix && folderOf prefix != "" then check.pathProblem (folderOf prefix) else null;
    in
    if !isAttrs cfg then [ "${at} ${check.wrongType cfg "an attrset { ${bucketKey} = \"models\"; prefix = \"llama\"; }"}" ]
    else
      check.unknownKeysWith { inherit at lineFor; known = knownKeys; } cfg
      ++ (if type == "azure" then requiredName cfg "account" else [ ])
      ++ requiredName cfg bucketKey
      ++ (if prefix == null then [ ]
          else if !isString prefix then [ "${at}.prefix ${check.wrongType prefix "a string such as \"models/llama\""}" ]
          else util.optional (prefixError != null)
            "${at}.prefix '${prefix}' ${prefixError}: give the folder of the model's objects, e.g. prefix = \"models/llama\"")
      ++ (if type != "s3" || region == null then [ ]
          else if !isString region then [ "${at}.region ${check.wrongType region "a string such as \"eu-west-1\""}" ]
          else util.optional (match "[a-z0-9][a-z0-9-]*" region == null)
            "${at}.region '${region}' is not a region: lowercase letters, digits and '-', e.g. \"eu-west-1\"")
      ++ (if endpoint == null then [ ]
          else if !isString endpoint then [ "${at}.endpoint ${check.wrongType endpoint "a string: an http:// or https:// URL"}" ]
          else let problem = endpointProblem endpoint; in util.optional (problem != null) "${at}.endpoint ${problem}")
      ++ (if get "files" == null then [ ] else check.stringList at "files" cfg.files)
      ++ (if get "exclude" == null then [ ] else check.stringList at "exclude" cfg.exclude)
      ++ (if get versionsKey == null then [ ] else versionsProblems cfg.${versionsKey})
      ++ (if repo == null then [ ]
          else if !isString repo then [ "${at}.repo ${check.wrongType repo "a string such as \"org/name\""}" ]
          else util.optional (!(import ./huggingface.nix).isRepoId repo)
            "${at}.repo '${repo}' is not 'org/name' (or a bare 'name'): letters, digits, '.', '_' and '-', at most 96 a part, not starting or ending with '.' or '-', no '--' or '..'");

  defaultRepo = bucket: prefix: check.derivedRepo type "${bucket}/${prefix}" "bucket";
  repoOf = cfg: if (cfg.repo or null) != null then cfg.repo else defaultRepo cfg.${bucketKey} (prefixOf cfg);
  cacheFolderName = cfg: "models--${replaceStrings [ "/" ] [ "--" ] (repoOf cfg)}";

  subjectOf = cfg:
    let
      place = if type == "azure" then "azure://${cfg.account}/${cfg.container}"
        else if type == "gcs" then "gs://${cfg.bucket}" else "s3://${cfg.bucket}";
      prefix = prefixOf cfg;
    in if prefix == "" then place else "${place}/${prefix}";
in
{
  inherit type validateConfig knownKeys defaultRepo;
  supported = true;

  defaultName = cacheFolderName;
  hfCacheName = cacheFolderName;

  impureEnvVars = cfg: envVars;

  # A hash of the objects' keys, sizes, ETags and versions: only the fetch knows it.
  commit = cfg: null;

  mkFetchDerivation = import ./fixed-output.nix;

  extractMeta = cfg: {
    repoId = repoOf cfg;
    homepage = subjectOf cfg;
    description = "the objects below ${subjectOf cfg}";
  };
}
