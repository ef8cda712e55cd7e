# Files at plain HTTP(S) URLs, laid out as one repo folder of the Hub cache (`url/<name>` by
# default). The core (src/spec/url.rs) checks them with the same words.
#   source.url = { url = "https://example.org/model.safetensors"; sha256 = "sha256-..."; };
#   source.url = { urls = [ { url = "..."; filename = "config.json"; } ]; repo = "org/name"; };
let
  inherit (builtins) concatStringsSep elemAt filter genList head isAttrs isList isString length match split stringLength substring;
  util = import ../util.nix;
  check = import ./check.nix;
  hash = import ../hash.nix;

  knownKeys = [ "url" "urls" "sha256" "filename" "repo" ];
  fileKeys = [ "url" "sha256" "filename" ];
  at = "source.url";

  # The last segment of a URL's path, as written.
  lastSegment = url:
    let
      path = match "[^:/?#]+://[^/?#]*(/[^?#]*)?([?#].*)?" url;
      segments = if path == null || head path == null then [ "" ] else filter isString (split "/" (head path));
    in elemAt segments (length segments - 1);

  urlProblem = where: url:
    let shown = util.redactUserinfo url;
    in
    if !isString url then "${where}.url ${check.wrongType url "a string: an http:// or https:// URL"}"
    else if shown != url then
      "${where}.url '${shown}' holds credentials: a URL is printed, logged and stored, so it must not hold a password; put it in a netrc file ($NETRC, else ~/.netrc)"
    else if match "https?://[^/].*" url == null then "${where}.url '${url}' is not an http:// or https:// URL"
    else null;

  # The problems of one file, `where` being `source.url` or `source.url.urls[i]`.
  fileProblems = where: file:
    let
      get = key: file.${key} or null;
      url = get "url";
      sha256 = get "sha256";
      filename = get "filename";
      urlError = if url == null then "${where}.url is missing: give the file's URL" else urlProblem where url;
    in
    util.optional (urlError != null) urlError
    ++ (if sha256 == null then [ ]
        else if !isString sha256 then [ "${where}.sha256 ${check.wrongType sha256 "a string such as \"sha256-...\""}" ]
        else util.optional ((hash.parseHash sha256).error != null)
          "${where}.sha256 '${sha256}' is not a sha256 hash: give \"sha256-...\" (SRI) or its 64 hex digits")
    ++ (if filename == null then
          util.optional (urlError == null && lastSegment url == "")
            "${where}.url '${url}' ends without a file name: give filename = \"...\""
        else if !isString filename then [ "${where}.filename ${check.wrongType filename "a string such as \"model.safetensors\""}" ]
        else
          let problem = check.pathProblem filename;
          in util.optional (problem != null)
            "${where}.filename '${filename}' ${problem}: give a relative path such as \"model.safetensors\"");

  # The file entries of a config: the config itself, or its `urls`.
  entriesOf = cfg: if (cfg.urls or null) != null then cfg.urls else [ cfg ];
  nameOf = file: if (file.filename or null) != null then file.filename else lastSegment file.url;

  validateConfig = cfg:
    let
      get = key: cfg.${key} or null;
      urls = get "urls";
      repo = get "repo";
      entryProblems = i: entry:
        let where = "${at}.urls[${toString i}]";
        in
        if !isAttrs entry then [ "${where} ${check.wrongType entry "an attrset { url = \"https://...\"; }"}" ]
        else check.unknownKeys where fileKeys entry ++ fileProblems where entry;
      filesProblems =
        if get "url" != null && urls != null then [ "${at}: give url or urls, not both" ]
        else if get "url" == null && urls == null then
          [ "${at}.url is missing: give the file's URL, e.g. url = \"https://example.org/model.safetensors\", or urls = [ { url = \"...\"; } ] for several" ]
        else if urls == null then fileProblems at cfg
        else
          map (key: "${at}.${key} goes with url; with urls, give it in each entry") (filter (key: get key != null) [ "sha256" "filename" ])
          ++ (if !isList urls then [ "${at}.urls ${check.wrongType urls "a list of { url; sha256 ? null; filename ? null; }"}" ]
              else if urls == [ ] then [ "${at}.urls is empty: give at least one { url = \"...\"; }" ]
              else builtins.concatLists (genList (i: entryProblems i (elemAt urls i)) (length urls)));
      repoProblems =
        if repo == null then [ ]
        else if !isString repo then [ "${at}.repo ${check.wrongType repo "a string such as \"org/name\""}" ]
        else util.optional (!(import ./huggingface.nix).isRepoId repo)
          "${at}.repo '${repo}' is not 'org/name' (or a bare 'name'): letters, digits, '.', '_' and '-', at most 96 a part, not starting or ending with '.' or '-', no '--' or '..'";
      twice = util.duplicates (map nameOf (entriesOf cfg));
      baseProblems = check.unknownKeys at knownKeys cfg ++ filesProblems ++ repoProblems;
    in
    if !isAttrs cfg then [ "${at} ${check.wrongType cfg "an attrset { url = \"https://...\"; }"}" ]
    else baseProblems
      ++ util.optional (baseProblems == [ ] && twice != [ ])
        "${at}: two files are named '${head twice}': give each its own filename";

  defaultRepo = nameHint: check.derivedRepo "url" nameHint "file";
  repoOf = cfg: if (cfg.repo or null) != null then cfg.repo else defaultRepo (nameOf (head (entriesOf cfg)));
  cacheFolderName = cfg: "models--${builtins.replaceStrings [ "/" ] [ "--" ] (repoOf cfg)}";
in
{
  type = "url";
  supported = true;
  inherit validateConfig knownKeys defaultRepo lastSegment;

  defaultName = cacheFolderName;
  hfCacheName = cacheFolderName;

  # A netrc file holds the credentials of a plain URL.
  impureEnvVars = cfg: [ "NETRC" ];

  # Files at URLs have no commit of their own: the fetch derives one from their content.
  commit = cfg: null;

  mkFetchDerivation = import ./fixed-output.nix;

  extractMeta = cfg:
    let files = entriesOf cfg;
    in {
      repoId = repoOf cfg;
      homepage = (head files).url;
      description = "${toString (length files)} file(s) from ${(head files).url}";
    };
}
