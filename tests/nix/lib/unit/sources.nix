{ lib, ... }:
let
  inherit (lib.sources) getAdapter dispatch;
  hf = getAdapter "huggingface";
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
  { name = "the sources fetched"; expr = builtins.filter (t: (getAdapter t).supported) lib.sourceTypes; expected = [ "huggingface" "git-xet" "url" ]; }
  { name = "an unknown type fails"; expr = (builtins.tryEval (getAdapter "ftp")).success; expected = false; }
  { name = "an unsupported source fails when fetched"; expr = (builtins.tryEval ((getAdapter "ollama").mkFetchDerivation { } { })).success; expected = false; }
  { name = "factory: huggingface.model"; expr = lib.huggingface.model "a/b"; expected = { huggingface.repo = "a/b"; }; }
  { name = "factory: huggingface.org with a name"; expr = lib.huggingface.org "meta-llama" "Llama-3-8B"; expected = { huggingface.repo = "meta-llama/Llama-3-8B"; }; }
  { name = "factory: huggingface.org with options"; expr = lib.huggingface.org "o" { name = "m"; revision = "v1"; files = [ "*.json" ]; }; expected = { huggingface = { repo = "o/m"; revision = "v1"; files = [ "*.json" ]; }; }; }
  { name = "factory: huggingface.dataset"; expr = lib.huggingface.dataset "o/d"; expected = { huggingface = { repo = "o/d"; repoType = "dataset"; }; }; }
  { name = "factory: mkS3"; expr = lib.mkS3 { bucket = "b"; region = "eu-west-1"; } "llama/"; expected = { s3 = { bucket = "b"; region = "eu-west-1"; prefix = "llama/"; }; }; }
  { name = "factory: mkMlflow"; expr = lib.mkMlflow { trackingUri = "http://m"; } { modelName = "x"; version = "3"; }; expected = { mlflow = { trackingUri = "http://m"; modelName = "x"; version = "3"; }; }; }
  { name = "factory: mkGitLfs"; expr = lib.mkGitLfs { url = "https://h/r.git"; } { rev = "abc"; }; expected = { git-lfs = { url = "https://h/r.git"; rev = "abc"; }; }; }
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
  { name = "factory: ollama.model"; expr = lib.ollama.model "llama3:8b"; expected = { ollama = { model = "llama3"; tag = "8b"; }; }; }
  { name = "factory sources pass the checks (huggingface)"; expr = (lib.validateSource (lib.huggingface.org "o" "m")).valid; expected = true; }
  { name = "factory sources of unfetched types say so"; expr = (lib.validateSource (lib.ollama.model "llama3")).errors; expected = [ "source.ollama: this source is not fetched by nix-fetch-model yet; see the README's table of sources" ]; }
]
