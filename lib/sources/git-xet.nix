# A Hub repo named by its URL, whose files stored with Xet come through the Xet protocol; laid
# out as source.huggingface lays the same repo out (the same tree and hash). The core
# (src/spec/git_xet.rs) checks it with the same words.
#   source.git-xet = { url = "https://huggingface.co/org/name"; rev = "main"; commit = "<40 hex>"; };
let
  inherit (builtins) elemAt isAttrs isString match replaceStrings;
  util = import ../util.nix;
  check = import ./check.nix;
  hf = import ./huggingface.nix;

  knownKeys = [ "url" "rev" "commit" "files" "exclude" ];
  at = "source.git-xet";
  example = "https://huggingface.co/org/name";
  tokenRefused = "${at}.token is refused: a token written in the argument ends up in the world-readable Nix store; put it in a file and set auth.tokenFile = \"/run/secrets/hf-token\", or set auth.tokenEnvVar = \"HF_TOKEN\"";
  synonyms = { revision = "rev"; repo = "url"; include = "files"; allow_patterns = "files"; allowPatterns = "files"; ignore_patterns = "exclude"; ignorePatterns = "exclude"; };
  isCommit = text: match "[0-9a-f]{40}" text != null;

  # [ hub type repo ] of a repo's URL (src/spec/git_xet.rs `repo_url`), or null.
  located = url:
    let m = match "(https?://[^/?#]+)/((datasets|spaces)/)?([^/?#]+(/[^/?#]+)?)/?" url;
    in if m == null then null
      else [ (elemAt m 0) ({ datasets = "dataset"; spaces = "space"; }.${toString (elemAt m 2)} or "model") (elemAt m 3) ];

  urlProblem = url:
    let
      shown = util.redactUserinfo url;
      place = located url;
    in
    if shown != url then
      "${at}.url '${shown}' holds credentials: a URL is printed, logged and stored, so it must not hold a token; give the token with HF_TOKEN, auth.tokenFile or auth.tokenEnvVar"
    else if match "https?://[^/].*" url == null then "${at}.url '${url}' is not an http:// or https:// URL"
    else if place == null then
      "${at}.url '${url}' is not a Hub repo's URL: give https://<hub>/<org>/<name>, or https://<hub>/datasets/<org>/<name> or https://<hub>/spaces/<org>/<name> for a dataset or a space, without a query or fragment"
    else if !hf.isRepoId (elemAt place 2) then
      "${at}.url '${url}' names repo '${elemAt place 2}', which is not 'org/name' (or a bare 'name'): letters, digits, '.', '_' and '-', at most 96 a part, not starting or ending with '.' or '-', no '--' or '..'"
    else null;

  validateConfig = cfg:
    let
      get = key: cfg.${key} or null;
      url = get "url";
      rev = get "rev";
      commit = get "commit";
      revError = hf.revisionProblem rev;
      lineFor = key:
        if key == "token" then tokenRefused
        else check.unknown { inherit at key; known = knownKeys; meant = synonyms.${key} or null; };
    in
    if !isAttrs cfg then [ "${at} ${check.wrongType cfg "an attrset { url = \"${example}\"; }"}" ]
    else
      check.unknownKeysWith { inherit at lineFor; known = knownKeys; } cfg
      ++ (if url == null then [ "${at}.url is missing: give the repo's URL, e.g. url = \"${example}\"" ]
          else if !isString url then [ "${at}.url ${check.wrongType url "a string such as \"${example}\""}" ]
          else util.optional (urlProblem url != null) (urlProblem url))
      ++ (if rev == null then [ ]
          else if !isString rev then [ "${at}.rev ${check.wrongType rev "a string: a branch, a tag, refs/pr/N or a commit"}" ]
          else util.optional (revError != null)
            "${at}.rev '${rev}' ${revError}: give a branch, a tag, refs/pr/N or a commit")
      ++ (if commit == null then [ ]
          else if !isString commit then [ "${at}.commit ${check.wrongType commit "a string: the 40 hex digits of a commit"}" ]
          else if !isCommit commit then [ "${at}.commit '${commit}' is not a commit: give its 40 lowercase hex digits, as nix-fetch-model prefetch prints them" ]
          else if isString rev && isCommit rev && rev != commit then
            [ "${at}.commit '${commit}' differs from rev '${rev}', which is itself a commit: give only one of them" ]
          else [ ])
      ++ (if get "files" == null then [ ] else check.stringList at "files" cfg.files)
      ++ (if get "exclude" == null then [ ] else check.stringList at "exclude" cfg.exclude);

  plural = { model = "models"; dataset = "datasets"; space = "spaces"; };
  placeOf = cfg: let place = located (cfg.url or ""); in if place == null then [ "" "model" "repo" ] else place;
  cacheFolderName = cfg:
    let place = placeOf cfg;
    in "${plural.${elemAt place 1}}--${replaceStrings [ "/" ] [ "--" ] (elemAt place 2)}";
  revOf = cfg: util.attrOr cfg "rev" "main";
in
{
  type = "git-xet";
  supported = true;
  inherit validateConfig knownKeys located;

  defaultName = cacheFolderName;
  # Where huggingface_hub looks for this repo under HF_HUB_CACHE: as for source.huggingface.
  hfCacheName = cacheFolderName;

  # The Hub token; the URL names the Hub (HF_ENDPOINT is not read).
  impureEnvVars = cfg: [ "HF_TOKEN" "HUGGING_FACE_HUB_TOKEN" ];

  # The commit that `commit` (or a commit as the rev) pins; otherwise only the fetch knows it.
  commit = cfg:
    if util.attrOr cfg "commit" null != null then cfg.commit
    else if isCommit (revOf cfg) then revOf cfg
    else null;

  mkFetchDerivation = import ./fixed-output.nix;

  extractMeta = cfg:
    let place = placeOf cfg;
    in {
      repoId = elemAt place 2;
      repoType = elemAt place 1;
      revision = revOf cfg;
      homepage = cfg.url;
      description = "${elemAt place 2} (${elemAt place 1}) from ${elemAt place 0} at ${revOf cfg}, Xet files through the Xet protocol";
    };
}
