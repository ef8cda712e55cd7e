# The Hugging Face Hub (models, datasets, spaces): fetched by the core, laid out as one repo
# folder of the Hub cache.
let
  inherit (builtins) attrNames concatStringsSep filter isAttrs isList isString match;
  util = import ../util.nix;
  check = import ./check.nix;

  repoTypes = [ "model" "dataset" "space" ];
  plural = { model = "models"; dataset = "datasets"; space = "spaces"; };
  urlPrefix = { model = ""; dataset = "datasets/"; space = "spaces/"; };

  knownKeys = [ "repo" "revision" "commit" "repoType" "files" "exclude" ];

  attrOr = cfg: key: default: util.attrOr cfg key default;
  repoTypeOf = cfg: attrOr cfg "repoType" "model";
  revisionOf = cfg: attrOr cfg "revision" "main";
  isCommit = revision: match "[0-9a-f]{40}" revision != null;

  # The core's repo id rule (src/hub/repo.rs): 'name' or 'org/name', each part 1-96 of
  # [A-Za-z0-9._-], not starting or ending with '-' or '.', and no '--' or '..' anywhere.
  repoPart = "[A-Za-z0-9_]([A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?";
  isRepoId = repo:
    match "${repoPart}(/${repoPart})?" repo != null
    && match ".*(--|\\.\\.).*" repo == null;

  at = "source.huggingface";
  tokenRefused = "${at}.token is refused: a token written in the argument ends up in the world-readable Nix store; put it in a file and set auth.tokenFile = \"/run/secrets/hf-token\", or set auth.tokenEnvVar = \"HF_TOKEN\"";
  synonyms = { rev = "revision"; include = "files"; allow_patterns = "files"; allowPatterns = "files"; ignore_patterns = "exclude"; ignorePatterns = "exclude"; };

  validateConfig = cfg:
    let
      get = key: cfg.${key} or null;
      repo = get "repo";
      revision = get "revision";
      commit = get "commit";
      repoType = get "repoType";
      revisionError = check.pathProblem revision;
      lineFor = key:
        if key == "token" then tokenRefused
        else check.unknown { inherit at key; known = knownKeys; meant = synonyms.${key} or null; };
    in
    if !isAttrs cfg then [ "${at} ${check.wrongType cfg "an attrset { repo = \"org/name\"; }"}" ]
    else
      check.unknownKeysWith { inherit at lineFor; known = knownKeys; } cfg
      ++ (if repo == null then [ "${at}.repo is missing: give the repo id, e.g. repo = \"sentence-transformers/all-MiniLM-L6-v2\"" ]
          else if !isString repo then [ "${at}.repo ${check.wrongType repo "a string such as \"org/name\""}" ]
          else util.optional (!isRepoId repo)
            "${at}.repo '${repo}' is not 'org/name' (or a bare 'name'): letters, digits, '.', '_' and '-', at most 96 a part, not starting or ending with '.' or '-', no '--' or '..'")
      ++ (if revision == null then [ ]
          else if !isString revision then [ "${at}.revision ${check.wrongType revision "a string: a branch, a tag, refs/pr/N or a commit"}" ]
          else util.optional (revisionError != null)
            "${at}.revision '${revision}' ${revisionError}: give a branch, a tag, refs/pr/N or a commit")
      ++ (if commit == null then [ ]
          else if !isString commit then [ "${at}.commit ${check.wrongType commit "a string: the 40 hex digits of a commit"}" ]
          else if !isCommit commit then [ "${at}.commit '${commit}' is not a commit: give its 40 lowercase hex digits, as nix-fetch-model prefetch prints them" ]
          else if isString revision && isCommit revision && revision != commit then
            [ "${at}.commit '${commit}' differs from revision '${revision}', which is itself a commit: give only one of them" ]
          else [ ])
      ++ (if repoType == null then [ ]
          else if !isString repoType then [ "${at}.repoType ${check.wrongType repoType "one of ${util.quoteList repoTypes}"}" ]
          else util.optional (!builtins.elem repoType repoTypes)
            "${at}.repoType '${repoType}' is not one of ${util.quoteList repoTypes}")
      ++ (if get "files" == null then [ ] else check.stringList at "files" cfg.files)
      ++ (if get "exclude" == null then [ ] else check.stringList at "exclude" cfg.exclude);

  cacheFolderName = cfg:
    "${plural.${repoTypeOf cfg}}--${builtins.replaceStrings [ "/" ] [ "--" ] cfg.repo}";

in
{
  type = "huggingface";
  supported = true;
  inherit validateConfig knownKeys isRepoId;
  revisionProblem = check.pathProblem;

  defaultName = cacheFolderName;

  # Where huggingface_hub looks for this repo under HF_HUB_CACHE.
  hfCacheName = cacheFolderName;

  impureEnvVars = cfg: [ "HF_TOKEN" "HUGGING_FACE_HUB_TOKEN" "HF_ENDPOINT" ];

  # The commit that `commit` (or a commit as the revision) pins; otherwise only the fetch knows it.
  commit = cfg:
    if attrOr cfg "commit" null != null then cfg.commit
    else if isCommit (revisionOf cfg) then revisionOf cfg
    else null;

  mkFetchDerivation = import ./fixed-output.nix;

  extractMeta = cfg: {
    repoId = cfg.repo;
    repoType = repoTypeOf cfg;
    revision = revisionOf cfg;
    homepage = "https://huggingface.co/${urlPrefix.${repoTypeOf cfg}}${cfg.repo}";
    description = "${cfg.repo} (${repoTypeOf cfg}) from the Hugging Face Hub at ${revisionOf cfg}";
  };
}
