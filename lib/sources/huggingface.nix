# The Hugging Face Hub (models, datasets, spaces): fetched by the core, laid out as one repo
# folder of the Hub cache.
let
  inherit (builtins) attrNames concatStringsSep filter isAttrs isList isString match;
  util = import ../util.nix;
  check = import ./check.nix;

  repoTypes = [ "model" "dataset" "space" ];
  plural = { model = "models"; dataset = "datasets"; space = "spaces"; };
  urlPrefix = { model = ""; dataset = "datasets/"; space = "spaces/"; };

  repoTypeOf = cfg: cfg.repoType or "model";
  revisionOf = cfg: cfg.revision or "main";

  # The core's repo id rule (src/hub/repo.rs): 'name' or 'org/name', each part 1-96 of
  # [A-Za-z0-9._-], not starting or ending with '-' or '.', and no '--' or '..' anywhere.
  repoPart = "[A-Za-z0-9]([A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?";
  isRepoId = repo:
    match "${repoPart}(/${repoPart})?" repo != null
    && match ".*(--|\\.\\.).*" repo == null;

  revisionProblem = revision:
    if !isString revision || revision == "" then "is not a non-empty string"
    else if match "(/.*|.*/|.*//.*|.*\\\\.*)" revision != null then "has an empty segment or a backslash"
    else if builtins.any (s: s == "." || s == "..") (filter isString (builtins.split "/" revision)) then "has a '.' or '..' segment"
    else null;

  validateConfig = cfg:
    let
      at = "source.huggingface";
      repo = cfg.repo or null;
      revision = revisionOf cfg;
      repoType = repoTypeOf cfg;
      revisionError = revisionProblem revision;
    in
    if !isAttrs cfg then [ "${at} is a ${builtins.typeOf cfg}, give an attrset { repo = \"org/name\"; }" ]
    else
      check.unknownKeys at [ "repo" "revision" "repoType" "files" "exclude" ] cfg
      ++ (if repo == null then [ "${at}.repo is missing: give the repo id, e.g. repo = \"sentence-transformers/all-MiniLM-L6-v2\"" ]
          else if !isString repo || !isRepoId repo then
            [ "${at}.repo '${toString repo}' is not 'org/name' (or a bare 'name'): letters, digits, '.', '_' and '-', at most 96 a part, no '--' or '..'" ]
          else [ ])
      ++ util.optional (!builtins.elem repoType repoTypes)
        "${at}.repoType '${toString repoType}' is not one of ${util.quoteList repoTypes}"
      ++ util.optional (revisionError != null)
        "${at}.revision '${toString revision}' ${revisionError}: give a branch, a tag, refs/pr/N or a commit"
      ++ check.stringList "${at}.files" (cfg.files or [ ])
      ++ check.stringList "${at}.exclude" (cfg.exclude or [ ]);

  cacheFolderName = cfg:
    "${plural.${repoTypeOf cfg}}--${builtins.replaceStrings [ "/" ] [ "--" ] cfg.repo}";

  isCommit = revision: match "[0-9a-f]{40}" revision != null;
in
{
  type = "huggingface";
  supported = true;
  inherit validateConfig;

  defaultName = cacheFolderName;

  # Where huggingface_hub looks for this repo under HF_HUB_CACHE.
  hfCacheName = cacheFolderName;

  impureEnvVars = cfg: [ "HF_TOKEN" "HUGGING_FACE_HUB_TOKEN" "HF_ENDPOINT" ];

  # The commit when the revision pins one; otherwise only the fetch knows it.
  commit = cfg: if isCommit (revisionOf cfg) then revisionOf cfg else null;

  mkFetchDerivation = import ./fixed-output.nix;

  extractMeta = cfg: {
    repoId = cfg.repo;
    repoType = repoTypeOf cfg;
    revision = revisionOf cfg;
    homepage = "https://huggingface.co/${urlPrefix.${repoTypeOf cfg}}${cfg.repo}";
    description = "${cfg.repo} (${repoTypeOf cfg}) from the Hugging Face Hub at ${revisionOf cfg}";
  };
}
