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
  { name = "unknown source type names the known ones"; expr = has "unknown source type 'hf', known: huggingface, mlflow, s3, git-lfs, git-xet, url, ollama" (errorsOf { source.hf.repo = "a/b"; hash = ""; }); expected = true; }
  { name = "unknown attribute names the known ones"; expr = errorsOf (hf "a/b" // { sha256 = "x"; }); expected = [ "argument.sha256 is not a known attribute; known: name, source, hash, network, auth, validation, integration, meta" ]; }
  { name = "unknown source attribute names the known ones"; expr = errorsOf { source.huggingface = { repo = "a/b"; rev = "x"; }; hash = ""; }; expected = [ "source.huggingface.rev is not a known attribute; known: repo, revision, repoType, files, exclude" ]; }
  { name = "repo ids the core accepts"; expr = map repoValid [ "gpt2" "org/name" "Org_1/na.me-2" "a/b_" ]; expected = [ true true true true ]; }
  { name = "malformed repo ids"; expr = map repoValid [ "a/b/c" "-a/b" "a--b/c" "a/b." "a/.b" "" "a/" "/b" "a..b/c" "a b/c" ]; expected = [ false false false false false false false false false false ]; }
  { name = "a malformed repo says what to give"; expr = errorsOf (hf "a/b/c"); expected = [ "source.huggingface.repo 'a/b/c' is not 'org/name' (or a bare 'name'): letters, digits, '.', '_' and '-', at most 96 a part, no '--' or '..'" ]; }
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
  { name = "a sources the core does not fetch yet says so"; expr = has "not fetched by nix-fetch-model yet" (errorsOf { source.s3 = { bucket = "b"; }; hash = ""; }); expected = true; }
  { name = "validateSource"; expr = lib.validateSource { huggingface.repo = "a/b"; }; expected = { valid = true; errors = [ ]; sourceType = "huggingface"; }; }
  { name = "sourceTypes"; expr = lib.sourceTypes; expected = [ "huggingface" "mlflow" "s3" "git-lfs" "git-xet" "url" "ollama" ]; }
]
