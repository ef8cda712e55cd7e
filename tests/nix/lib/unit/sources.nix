{ lib, ... }:
let
  inherit (lib.sources) getAdapter dispatch;
  hf = getAdapter "huggingface";
  ollama = getAdapter "ollama";
  digest = "sha256:${builtins.concatStringsSep "" (builtins.genList (_: "ab") 32)}";
  gitLfs = getAdapter "git-lfs";
in
[
  { name = "default name of a model is the Hub cache folder"; expr = hf.defaultName { repo = "sentence-transformers/all-MiniLM-L6-v2"; }; expected = "models--sentence-transformers--all-MiniLM-L6-v2"; }
  { name = "default name of a dataset"; expr = hf.defaultName { repo = "org/d"; repoType = "dataset"; }; expected = "datasets--org--d"; }
  { name = "default name of a space"; expr = hf.defaultName { repo = "org/s"; repoType = "space"; }; expected = "spaces--org--s"; }
  { name = "default name of a bare legacy id"; expr = hf.defaultName { repo = "gpt2"; }; expected = "models--gpt2"; }
  { name = "a commit revision is the commit"; expr = hf.commit { repo = "a/b"; revision = "0123456789abcdef0123456789abcdef01234567"; }; expected = "0123456789abcdef0123456789abcdef01234567"; }
  { name = "a branch has no commit before the fetch"; expr = hf.commit { repo = "a/b"; }; expected = null; }
  { name = "a pinned commit is the commit"; expr = hf.commit { repo = "a/b"; revision = "main"; commit = "0123456789abcdef0123456789abcdef01234567"; }; expected = "0123456789abcdef0123456789abcdef01234567"; }
  { name = "impureEnvVars carry the token and endpoint"; expr = hf.impureEnvVars { }; expected = [ "HF_TOKEN" "HUGGING_FACE_HUB_TOKEN" "HF_ENDPOINT" ]; }
  { name = "meta of a dataset"; expr = (hf.extractMeta { repo = "o/d"; repoType = "dataset"; revision = "v1"; }).homepage; expected = "https://huggingface.co/datasets/o/d"; }
  { name = "dispatch"; expr = (dispatch { huggingface.repo = "a/b"; }).type; expected = "huggingface"; }
  { name = "dispatch past a null source type (absent)"; expr = (dispatch { git-lfs = null; huggingface.repo = "a/b"; }).type; expected = "huggingface"; }
  { name = "every source type has an adapter"; expr = builtins.attrNames lib.sources.adapters; expected = builtins.sort builtins.lessThan lib.sourceTypes; }
  { name = "the sources fetched: every type"; expr = builtins.filter (t: (getAdapter t).supported) lib.sourceTypes; expected = lib.sourceTypes; }
  # The same remotes as src/spec/git_lfs.rs `default_repos`.
  { name = "git-lfs: default repos"; expr = map gitLfs.defaultRepo [ "https://h/org/name.git" "https://h/git/org/Llama-3.1-8B/" "https://h:8080/a/b/c%20d..e.git" "https://h/only" "https://h/" "https://h/--/.git" "http://127.0.0.1:1/git/org/tiny.git" "https://h/o/${builtins.concatStringsSep "" (builtins.genList (i: "a") 95)}.-x" ]; expected = [ "org/name" "org/Llama-3.1-8B" "b/c-20d-e" "git/only" "git/repo" "git/repo" "org/tiny" "o/${builtins.concatStringsSep "" (builtins.genList (i: "a") 95)}" ]; }
  { name = "git-lfs: default name"; expr = gitLfs.defaultName { url = "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2"; }; expected = "models--sentence-transformers--all-MiniLM-L6-v2"; }
  { name = "git-lfs: a repo names the cache folder"; expr = gitLfs.hfCacheName { url = "https://h/x/y.git"; repo = "org/m"; }; expected = "models--org--m"; }
  { name = "git-lfs: a commit rev is the commit"; expr = gitLfs.commit { url = "https://h/r"; rev = "0123456789abcdef0123456789abcdef01234567"; }; expected = "0123456789abcdef0123456789abcdef01234567"; }
  { name = "git-lfs: a pinned branch is its commit"; expr = gitLfs.commit { url = "https://h/r"; commit = "0123456789abcdef0123456789abcdef01234567"; }; expected = "0123456789abcdef0123456789abcdef01234567"; }
  { name = "git-lfs: a branch has no commit before the fetch"; expr = gitLfs.commit { url = "https://h/r"; rev = "v1"; }; expected = null; }
  { name = "git-lfs: the builder reads netrc"; expr = gitLfs.impureEnvVars { }; expected = [ "NETRC" ]; }
  { name = "an unknown type fails"; expr = (builtins.tryEval (getAdapter "ftp")).success; expected = false; }
  { name = "factory: huggingface.model"; expr = lib.huggingface.model "a/b"; expected = { huggingface.repo = "a/b"; }; }
  { name = "factory: huggingface.org with a name"; expr = lib.huggingface.org "meta-llama" "Llama-3-8B"; expected = { huggingface.repo = "meta-llama/Llama-3-8B"; }; }
  { name = "factory: huggingface.org with options"; expr = lib.huggingface.org "o" { name = "m"; revision = "v1"; files = [ "*.json" ]; }; expected = { huggingface = { repo = "o/m"; revision = "v1"; files = [ "*.json" ]; }; }; }
  { name = "factory: huggingface.dataset"; expr = lib.huggingface.dataset "o/d"; expected = { huggingface = { repo = "o/d"; repoType = "dataset"; }; }; }
  { name = "factory: mkS3"; expr = lib.mkS3 { bucket = "b"; region = "eu-west-1"; } "llama/"; expected = { s3 = { bucket = "b"; region = "eu-west-1"; prefix = "llama/"; }; }; }
  { name = "factory: mkGcs"; expr = lib.mkGcs { bucket = "b"; } "llama/"; expected = { gcs = { bucket = "b"; prefix = "llama/"; }; }; }
  { name = "factory: mkAzure"; expr = lib.mkAzure { account = "acct"; container = "models"; } "llama"; expected = { azure = { account = "acct"; container = "models"; prefix = "llama"; }; }; }
  { name = "factory sources pass the checks (s3, gcs, azure)"; expr = map (s: (lib.validateSource s).valid) [ (lib.mkS3 { bucket = "models"; region = "eu-west-1"; } "llama/") (lib.mkGcs { bucket = "models"; } "") (lib.mkAzure { account = "acct"; container = "models"; } "m") ]; expected = [ true true true ]; }
  { name = "default name of a bucket's prefix"; expr = map (t: (getAdapter t).defaultName { bucket = "models"; container = "models"; account = "acct"; prefix = "llm/tiny.v1/"; }) [ "s3" "gcs" "azure" ]; expected = [ "models--s3--models-llm-tiny-v1" "models--gcs--models-llm-tiny-v1" "models--azure--models-llm-tiny-v1" ]; }
  { name = "impureEnvVars of s3 carry the AWS chain"; expr = builtins.all (v: builtins.elem v ((getAdapter "s3").impureEnvVars { })) [ "AWS_ACCESS_KEY_ID" "AWS_SECRET_ACCESS_KEY" "AWS_SESSION_TOKEN" "AWS_PROFILE" "AWS_WEB_IDENTITY_TOKEN_FILE" "AWS_ROLE_ARN" ]; expected = true; }
  { name = "impureEnvVars of gcs and azure"; expr = map (t: builtins.head ((getAdapter t).impureEnvVars { })) [ "gcs" "azure" ]; expected = [ "GOOGLE_APPLICATION_CREDENTIALS" "AZURE_STORAGE_ACCOUNT_KEY" ]; }
  { name = "factory: mkMlflow"; expr = lib.mkMlflow { trackingUri = "http://m"; } { modelName = "x"; version = "3"; }; expected = { mlflow = { trackingUri = "http://m"; modelName = "x"; version = "3"; }; }; }
  { name = "factory: mkMlflow with an alias and a selection"; expr = lib.mkMlflow { trackingUri = "http://m"; } { modelName = "x"; alias = "champion"; files = [ "*.json" ]; }; expected = { mlflow = { trackingUri = "http://m"; modelName = "x"; alias = "champion"; files = [ "*.json" ]; }; }; }
  { name = "factory sources pass the checks (mlflow)"; expr = (lib.validateSource (lib.mkMlflow { trackingUri = "https://m.test"; } { modelName = "x"; alias = "a"; })).valid; expected = true; }
  { name = "mlflow: the default name and cache folder"; expr = (getAdapter "mlflow").defaultName { trackingUri = "https://m"; modelName = "My Model.v2"; version = 3; }; expected = "models--mlflow--My-Model-v2"; }
  { name = "mlflow: a given repo"; expr = (getAdapter "mlflow").hfCacheName { trackingUri = "https://m"; modelName = "m"; alias = "a"; repo = "org/m"; }; expected = "models--org--m"; }
  { name = "mlflow: impureEnvVars are MLflow's client variables"; expr = builtins.elem "MLFLOW_TRACKING_TOKEN" ((getAdapter "mlflow").impureEnvVars { }) && builtins.elem "MLFLOW_TRACKING_PASSWORD" ((getAdapter "mlflow").impureEnvVars { }); expected = true; }
  { name = "mlflow: no commit before the fetch"; expr = (getAdapter "mlflow").commit { trackingUri = "https://m"; modelName = "m"; version = "3"; }; expected = null; }
  { name = "factory: mkGitLfs"; expr = lib.mkGitLfs { url = "https://h/r.git"; } { rev = "abc"; }; expected = { git-lfs = { url = "https://h/r.git"; rev = "abc"; }; }; }
  { name = "factory: mkGitLfs with a pin"; expr = lib.mkGitLfs { url = "https://h/r.git"; } { rev = "main"; commit = "0123456789abcdef0123456789abcdef01234567"; exclude = [ "*.onnx" ]; }; expected = { git-lfs = { url = "https://h/r.git"; rev = "main"; commit = "0123456789abcdef0123456789abcdef01234567"; exclude = [ "*.onnx" ]; }; }; }
  { name = "factory sources pass the checks (git-lfs)"; expr = (lib.validateSource (lib.mkGitLfs { url = "https://h/org/r.git"; } { rev = "v1"; files = [ "*.json" ]; })).valid; expected = true; }
  { name = "factory: mkGitXet"; expr = (lib.mkGitXet { url = "u"; } { rev = "r"; }) ? git-xet; expected = true; }
  { name = "factory: mkGitXet passes the checks"; expr = (lib.validateSource (lib.mkGitXet { url = "https://huggingface.co/o/m"; } { rev = "v1"; files = [ "*.json" ]; })).valid; expected = true; }
  { name = "git-xet: default name of a model"; expr = (getAdapter "git-xet").defaultName { url = "https://huggingface.co/org/name"; }; expected = "models--org--name"; }
  { name = "git-xet: default name of a dataset, a trailing slash"; expr = (getAdapter "git-xet").defaultName { url = "http://127.0.0.1:8080/datasets/org/d/"; }; expected = "datasets--org--d"; }
  { name = "git-xet: a bare legacy id"; expr = (getAdapter "git-xet").hfCacheName { url = "https://huggingface.co/gpt2"; }; expected = "models--gpt2"; }
  { name = "git-xet: a pinned commit is the commit"; expr = (getAdapter "git-xet").commit { url = "https://h/a/b"; commit = "0123456789abcdef0123456789abcdef01234567"; }; expected = "0123456789abcdef0123456789abcdef01234567"; }
  { name = "git-xet: a branch has no commit before the fetch"; expr = (getAdapter "git-xet").commit { url = "https://h/a/b"; rev = "v1"; }; expected = null; }
  { name = "git-xet: impureEnvVars carry the token"; expr = (getAdapter "git-xet").impureEnvVars { }; expected = [ "HF_TOKEN" "HUGGING_FACE_HUB_TOKEN" ]; }
  { name = "git-xet: meta"; expr = with (getAdapter "git-xet").extractMeta { url = "https://huggingface.co/spaces/o/s"; rev = "v2"; }; [ repoId repoType revision ]; expected = [ "o/s" "space" "v2" ]; }
  { name = "factory: mkHttp"; expr = lib.mkHttp { baseUrl = "https://x/m"; } "w.gguf"; expected = { url.url = "https://x/m/w.gguf"; }; }
  { name = "factory: ollama.model"; expr = lib.ollama.model "llama3:8b"; expected = { ollama.model = "llama3:8b"; }; }
  { name = "factory: ollama.model with attributes"; expr = lib.ollama.model { model = "m"; tag = "t"; }; expected = { ollama = { model = "m"; tag = "t"; }; }; }
  { name = "factory sources pass the checks (ollama)"; expr = (lib.validateSource (lib.ollama.model "huihui_ai/deepseek-r1:8b")).valid; expected = true; }
  { name = "ollama: the default name"; expr = ollama.defaultName { model = "llama3.2"; }; expected = "ollama-llama3.2-latest"; }
  { name = "ollama: the default name of a whole name"; expr = ollama.defaultName { model = "http://127.0.0.1:5000/team/tiny:v1"; }; expected = "ollama-tiny-v1"; }
  { name = "ollama: the manifest's path, as Ollama reads it"; expr = map ollama.manifestPath [ { model = "llama3:8b"; } { model = "tiny"; tag = "v1"; namespace = "team"; registry = "http://127.0.0.1:5000"; } ]; expected = [ "manifests/registry.ollama.ai/library/llama3/8b" "manifests/127.0.0.1:5000/team/tiny/v1" ]; }
  { name = "ollama: no Hub cache folder"; expr = ollama.hfCacheName { model = "llama3"; }; expected = null; }
  { name = "ollama: the pinned digest is the commit"; expr = [ (ollama.commit { model = "m"; inherit digest; }) (ollama.commit { model = "m"; }) ]; expected = [ digest null ]; }
  { name = "ollama: meta"; expr = ollama.extractMeta { model = "llama3:8b"; }; expected = { description = "Ollama model llama3:8b"; homepage = "https://ollama.com/library/llama3"; }; }
  { name = "ollama: names cut as Ollama cuts them"; expr = map ollama.splitName [ "m" "ns/m:t" "h:1/ns/m" "a/b/c/d" ]; expected = [ { registry = null; namespace = null; model = "m"; tag = null; } { registry = null; namespace = "ns"; model = "m"; tag = "t"; } { registry = "h:1"; namespace = "ns"; model = "m"; tag = null; } { registry = "a/b"; namespace = "c"; model = "d"; tag = null; } ]; }
  { name = "factory sources pass the checks (huggingface)"; expr = (lib.validateSource (lib.huggingface.org "o" "m")).valid; expected = true; }
]
