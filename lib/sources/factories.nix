# Shorthands that build the `source` attribute of fetchModel:
#   source = huggingface.model "sentence-transformers/all-MiniLM-L6-v2";
#   source = (huggingface.org "meta-llama") { name = "Llama-3.1-8B"; revision = "v1"; };
#   source = (mkS3 { bucket = "models"; region = "eu-west-1"; }) "llama/8b/";
#   source = (mkGcs { bucket = "models"; }) "llama/8b/";
#   source = (mkAzure { account = "mystorage"; container = "models"; }) "llama/8b/";
let
  inherit (builtins) isString removeAttrs;
  inherit (import ../util.nix) withoutNulls;

  hfRepo = repoType: repo: extra: { huggingface = { inherit repo; } // extra // (if repoType == "model" then { } else { inherit repoType; }); };
  # A name, or { name; revision; files; exclude; }.
  inOrg = repoType: org: nameOrAttrs:
    if isString nameOrAttrs then hfRepo repoType "${org}/${nameOrAttrs}" { }
    else hfRepo repoType "${org}/${nameOrAttrs.name}" (removeAttrs nameOrAttrs [ "name" ]);

  # git-lfs and git-xet take the same attributes.
  mkGit = type: { url }: { rev, commit ? null, files ? null, exclude ? null }: {
    ${type} = { inherit url rev; } // withoutNulls { inherit commit files exclude; };
  };
in
{
  huggingface = {
    model = repo: hfRepo "model" repo { };
    dataset = repo: hfRepo "dataset" repo { };
    space = repo: hfRepo "space" repo { };
    org = inOrg "model";
    datasetsOf = inOrg "dataset";
  };

  mkMlflow = { trackingUri }:
    { modelName, version ? null, alias ? null, stage ? null, artifactPath ? null, files ? null, exclude ? null, repo ? null }: {
      mlflow = { inherit trackingUri modelName; } // withoutNulls { inherit version alias stage artifactPath files exclude repo; };
    };

  mkS3 = { bucket, region ? null, endpoint ? null }: prefix: {
    s3 = { inherit bucket prefix; } // withoutNulls { inherit region endpoint; };
  };

  mkGcs = { bucket, endpoint ? null }: prefix: {
    gcs = { inherit bucket prefix; } // withoutNulls { inherit endpoint; };
  };

  mkAzure = { account, container, endpoint ? null }: prefix: {
    azure = { inherit account container prefix; } // withoutNulls { inherit endpoint; };
  };

  mkGitLfs = mkGit "git-lfs";
  mkGitXet = mkGit "git-xet";

  mkHttp = { baseUrl }: path: { url.url = "${baseUrl}/${path}"; };

  # An Ollama name ("llama3:8b", "namespace/model:tag", "registry/namespace/model:tag"), or the
  # attributes of source.ollama.
  ollama.model = nameOrAttrs: { ollama = if isString nameOrAttrs then { model = nameOrAttrs; } else nameOrAttrs; };
}
