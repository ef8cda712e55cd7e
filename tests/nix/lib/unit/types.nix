{ lib, ... }:
let
  inherit (lib) validateConfig;
  hashRequiredNot = lib.types.validateConfigWith { hashRequired = false; };
  hf = repo: { source.huggingface.repo = repo; hash = lib.fakeHash; };
  errorsOf = config: (validateConfig config).errors;
  has = needle: errors: builtins.any (e: builtins.match ".*${needle}.*" e != null) errors;
  repoValid = repo: (validateConfig (hf repo)).valid;
in
[
  { name = "a minimal config is valid"; expr = validateConfig (hf "org/name"); expected = { valid = true; errors = [ ]; sourceType = "huggingface"; }; }
  { name = "hash missing is an error when required"; expr = has "hash is missing" (errorsOf { source.huggingface.repo = "a/b"; }); expected = true; }
  { name = "hash missing is fine with the plugin"; expr = (hashRequiredNot { source.huggingface.repo = "a/b"; }).valid; expected = true; }
  { name = "hash \"\" asks Nix for the hash"; expr = (validateConfig { source.huggingface.repo = "a/b"; hash = ""; }).valid; expected = true; }
  { name = "a bad hash is an error"; expr = has "hash 'sha256:xyz'" (errorsOf (hf "a/b" // { hash = "sha256:xyz"; })); expected = true; }
  { name = "two sources"; expr = errorsOf { source = { huggingface.repo = "a/b"; s3.bucket = "x"; }; hash = ""; }; expected = [ "source: give exactly one source, got 2: huggingface, s3" ]; }
  { name = "no source"; expr = has "source is missing" (errorsOf { hash = ""; }); expected = true; }
  { name = "unknown source type names the known ones"; expr = errorsOf { source.ftp.url = "a/b"; hash = ""; }; expected = [ "source.ftp is not a known source type; known: huggingface, mlflow, s3, gcs, azure, git-lfs, git-xet, url, ollama" ]; }
  { name = "unknown attribute names the known ones"; expr = errorsOf (hf "a/b" // { bogus = "x"; }); expected = [ "argument.bogus is not a known attribute; known: name, source, hash, network, auth, validation, integration, meta" ]; }
  { name = "sha256 says to write hash, in SRI"; expr = errorsOf (hf "a/b" // { sha256 = "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"; }); expected = [ "argument.sha256 is not a known attribute; write hash = \"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\" instead" ]; }
  { name = "a typo names the attribute meant"; expr = errorsOf { source.huggingface = { repo = "a/b"; revison = "x"; }; hash = ""; }; expected = [ "source.huggingface.revison is not a known attribute; did you mean revision? Known: repo, revision, commit, repoType, files, exclude" ]; }
  { name = "a library attribute is known"; expr = (validateConfig (hf "a/b" // { validation = "none"; integration = { }; meta = { }; })).valid; expected = true; }
  { name = "null is an attribute not given"; expr = (validateConfig (hf "a/b" // { name = null; network = null; auth = null; validation = null; integration = null; meta = null; })).valid; expected = true; }
  { name = "repo ids the core accepts"; expr = map repoValid [ "gpt2" "org/name" "Org_1/na.me-2" "a/b_" ]; expected = [ true true true true ]; }
  { name = "malformed repo ids"; expr = map repoValid [ "a/b/c" "-a/b" "a--b/c" "a/b." "a/.b" "" "a/" "/b" "a..b/c" "a b/c" ]; expected = [ false false false false false false false false false false ]; }
  { name = "a malformed repo says what to give"; expr = errorsOf (hf "a/b/c"); expected = [ "source.huggingface.repo 'a/b/c' is not 'org/name' (or a bare 'name'): letters, digits, '.', '_' and '-', at most 96 a part, not starting or ending with '.' or '-', no '--' or '..'" ]; }
  { name = "repoType is checked"; expr = has "repoType 'weights'" (errorsOf { source.huggingface = { repo = "a/b"; repoType = "weights"; }; hash = ""; }); expected = true; }
  { name = "revision with '..' is refused"; expr = has "revision '../x'" (errorsOf { source.huggingface = { repo = "a/b"; revision = "../x"; }; hash = ""; }); expected = true; }
  { name = "refs/pr/1 is a revision"; expr = (validateConfig { source.huggingface = { repo = "a/b"; revision = "refs/pr/1"; }; hash = ""; }).valid; expected = true; }
  { name = "every problem at once"; expr = builtins.length (errorsOf { source.huggingface.repo = "a/b/c"; hash = "sha256:1"; name = ".x"; auth.token = "hf_x"; network.concurrency = 0; bogus = 1; }); expected = 6; }
  { name = "auth.token is refused, naming the ways that work"; expr = has "auth.tokenFile" (errorsOf (hf "a/b" // { auth.token = "hf_secret"; })); expected = true; }
  { name = "auth.tokenFile as a Nix path is refused"; expr = has "Nix path" (errorsOf (hf "a/b" // { auth.tokenFile = ./types.nix; })); expected = true; }
  { name = "auth.tokenFile as a string is fine"; expr = (validateConfig (hf "a/b" // { auth = { tokenFile = "/run/secrets/t"; tokenEnvVar = "MY_TOKEN"; }; })).valid; expected = true; }
  { name = "a bad tokenEnvVar"; expr = has "tokenEnvVar" (errorsOf (hf "a/b" // { auth.tokenEnvVar = "A-B"; })); expected = true; }
  { name = "network.endpoint must be a URL"; expr = has "network.endpoint" (errorsOf (hf "a/b" // { network.endpoint = "localhost:80"; })); expected = true; }
  { name = "network options that are fine"; expr = (validateConfig (hf "a/b" // { network = { endpoint = "http://127.0.0.1:1"; concurrency = 4; timeout = 2.5; retries = 0; }; })).valid; expected = true; }
  { name = "a store name Nix refuses"; expr = has "name 'a b'" (errorsOf (hf "a/b" // { name = "a b"; })); expected = true; }
  { name = "an unknown preset names the known ones"; expr = has "unknown preset 'strictest'" (errorsOf (hf "a/b" // { validation = "strictest"; })); expected = true; }
  { name = "a commit pin is valid"; expr = (validateConfig (hf "a/b" // { source.huggingface = { repo = "a/b"; revision = "main"; commit = "0123456789abcdef0123456789abcdef01234567"; }; })).valid; expected = true; }
  { name = "a bad commit is refused"; expr = has "source.huggingface.commit 'abc' is not a commit" (errorsOf { source.huggingface = { repo = "a/b"; commit = "abc"; }; hash = ""; }); expected = true; }
  { name = "credentials in the endpoint are refused, not shown"; expr = errorsOf (hf "a/b" // { network.endpoint = "https://me:hf_secret@hub.example/x"; }); expected = [ "network.endpoint 'https://***@hub.example/x' holds credentials: a URL is printed, logged and stored, so it must not hold a token; give the token with HF_TOKEN, auth.tokenFile or auth.tokenEnvVar" ]; }
  { name = "redactUserinfo"; expr = map lib.types.redactUserinfo [ "http://u:p@h:1/a" "https://a@b@h/c@d" "u:p@h/x" "http://h/a@b" "http://h?q=a@b" "a/b://c@d" ]; expected = [ "http://***@h:1/a" "https://***@h/c@d" "***@h/x" "http://h/a@b" "http://h?q=a@b" "a/b://c@d" ]; }
  { name = "editDistance"; expr = map ({ a, b }: (import ../../../../lib/sources/check.nix).editDistance a b) [ { a = "revison"; b = "revision"; } { a = ""; b = "abc"; } { a = "kitten"; b = "sitting"; } ]; expected = [ 1 3 3 ]; }
  { name = "heading names the repo"; expr = map lib.types.heading [ (hf "a/b") (hf "") { source = "x"; } [ 1 ] ]; expected = [ "fetchModel (a/b)" "fetchModel" "fetchModel" "fetchModel" ]; }
  { name = "validateSource"; expr = lib.validateSource { huggingface.repo = "a/b"; }; expected = { valid = true; errors = [ ]; sourceType = "huggingface"; }; }
  { name = "validateSource: a null source type is absent"; expr = lib.validateSource { git-lfs = null; huggingface.repo = "a/b"; }; expected = { valid = true; errors = [ ]; sourceType = "huggingface"; }; }
  { name = "sourceTypes"; expr = lib.sourceTypes; expected = [ "huggingface" "mlflow" "s3" "gcs" "azure" "git-lfs" "git-xet" "url" "ollama" ]; }
]
