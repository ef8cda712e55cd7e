# A git repository over smart HTTP at one commit, its Git LFS pointers resolved, laid out as one
# repo folder of the Hub cache (`<owner>/<name>` of the remote's path by default). The core
# (src/spec/git_lfs.rs) checks it with the same words.
#   source.git-lfs = { url = "https://huggingface.co/org/name"; rev = "main"; commit = "<40 hex>"; };
let
  inherit (builtins) concatStringsSep elemAt filter head isAttrs isString length match split stringLength substring;
  util = import ../util.nix;
  check = import ./check.nix;

  knownKeys = [ "url" "rev" "commit" "files" "exclude" "repo" ];
  at = "source.git-lfs";
  synonyms = { revision = "rev"; ref = "rev"; branch = "rev"; tag = "rev"; include = "files"; };

  isCommit = rev: match "[0-9a-f]{40}" rev != null;
  revOf = cfg: util.attrOr cfg "rev" "main";

  urlProblem = url:
    let shown = util.redactUserinfo url;
    in
    if match ".*://.*" url == null then "'${url}' is not an http:// or https:// URL"
    else if shown != url then
      "'${shown}' holds credentials: a URL is printed, logged and stored, so it must not hold a password; give them to a git credential helper or a netrc file ($NETRC, else ~/.netrc)"
    else if match "https?://[^/].*" url == null then "'${url}' is not an http:// or https:// URL"
    else if match ".*[?#].*" url != null then
      "'${url}' has a query or a fragment: give the remote as git clones it, e.g. \"https://huggingface.co/org/name\""
    else null;

  # `<owner>/<name>` of the last two segments of the remote's path as written: src/spec/git_lfs.rs
  # `default_repo`.
  segmentsOf = url:
    let m = match "[^:/?#]+://[^/?#]*(/[^?#]*)?([?#].*)?" url;
    in if m == null || head m == null then [ ] else filter (s: isString s && s != "") (split "/" (head m));
  trimStart = s: let m = match "[.-]*([^.-].*)" s; in if m == null then "" else head m;
  trimEnd = s: let m = match "(.*[^.-])[.-]*" s; in if m == null then "" else head m;
  part = text:
    let
      kept = concatStringsSep "-" (filter isString (split "[^A-Za-z0-9._-]+" text));
      collapsed = concatStringsSep "-" (filter isString (split "[.-][.-]+" kept));
    in trimEnd (substring 0 96 (trimEnd (trimStart collapsed)));
  defaultRepo = url:
    let
      segments = segmentsOf url;
      n = length segments;
      last = if n == 0 then "repo" else elemAt segments (n - 1);
      nameText = let m = match "(.*)\\.git" last; in if m == null then last else head m;
      owner = if n < 2 then "git" else part (elemAt segments (n - 2));
      name = part nameText;
    in "${if owner == "" then "git" else owner}/${if name == "" then "repo" else name}";

  validateConfig = cfg:
    let
      get = key: cfg.${key} or null;
      url = get "url";
      rev = get "rev";
      commit = get "commit";
      repo = get "repo";
      urlError = if isString url then urlProblem url else null;
      revError = if isString rev then check.pathProblem rev else null;
    in
    if !isAttrs cfg then [ "${at} ${check.wrongType cfg "an attrset { url = \"https://...\"; rev = \"main\"; }"}" ]
    else
      check.unknownKeysWith { inherit at; known = knownKeys; lineFor = key: check.unknown { inherit at key; known = knownKeys; meant = synonyms.${key} or null; }; } cfg
      ++ (if url == null then [ "${at}.url is missing: give the git remote, e.g. url = \"https://huggingface.co/org/name\"" ]
          else if !isString url then [ "${at}.url ${check.wrongType url "a string: the git remote's http:// or https:// URL"}" ]
          else util.optional (urlError != null) "${at}.url ${urlError}")
      ++ (if rev == null then [ ]
          else if !isString rev then [ "${at}.rev ${check.wrongType rev "a string: a branch, a tag or a commit"}" ]
          else util.optional (revError != null) "${at}.rev '${rev}' ${revError}: give a branch, a tag or a commit")
      ++ (if commit == null then [ ]
          else if !isString commit then [ "${at}.commit ${check.wrongType commit "a string: the 40 hex digits of a commit"}" ]
          else if !isCommit commit then [ "${at}.commit '${commit}' is not a commit: give its 40 lowercase hex digits, as nix-fetch-model prefetch prints them" ]
          else if isString rev && isCommit rev && rev != commit then
            [ "${at}.commit '${commit}' differs from revision '${rev}', which is itself a commit: give only one of them" ]
          else [ ])
      ++ (if get "files" == null then [ ] else check.stringList at "files" cfg.files)
      ++ (if get "exclude" == null then [ ] else check.stringList at "exclude" cfg.exclude)
      ++ (if repo == null then [ ]
          else if !isString repo then [ "${at}.repo ${check.wrongType repo "a string such as \"org/name\""}" ]
          else util.optional (!(import ./huggingface.nix).isRepoId repo)
            "${at}.repo '${repo}' is not 'org/name' (or a bare 'name'): letters, digits, '.', '_' and '-', at most 96 a part, not starting or ending with '.' or '-', no '--' or '..'");

  repoOf = cfg: if (cfg.repo or null) != null then cfg.repo else defaultRepo cfg.url;
  cacheFolderName = cfg: "models--${builtins.replaceStrings [ "/" ] [ "--" ] (repoOf cfg)}";
in
{
  type = "git-lfs";
  supported = true;
  inherit validateConfig knownKeys defaultRepo;

  defaultName = cacheFolderName;
  hfCacheName = cacheFolderName;

  # git's credential helpers need git and a home, which the builder has not: there a netrc
  # file named by $NETRC gives the credentials of the git remote and of the LFS server.
  impureEnvVars = cfg: [ "NETRC" ];

  # The commit `commit` (or a commit as the rev) pins; otherwise only the fetch knows it.
  commit = cfg:
    if (cfg.commit or null) != null then cfg.commit
    else if isCommit (revOf cfg) then revOf cfg
    else null;

  mkFetchDerivation = import ./fixed-output.nix;

  extractMeta = cfg: {
    repoId = repoOf cfg;
    revision = revOf cfg;
    homepage = cfg.url;
    description = "${cfg.url} at ${revOf cfg} (git with Git LFS)";
  };
}
