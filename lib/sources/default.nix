# The source adapters, one file each, and the dispatch from a fetchModel argument to its
# adapter. An adapter is
#   { type; supported; validateConfig = cfg: [ problem ]; defaultName = cfg: name;
#     hfCacheName = cfg: name or null; impureEnvVars = cfg: [ var ]; commit = cfg: sha or null;
#     extractMeta = cfg: attrs; mkFetchDerivation = pkgs: { name; spec; hash; impureEnvVars; }: drv; }
let
  inherit (builtins) attrNames head;
  util = import ../util.nix;

  adapters = {
    huggingface = import ./huggingface.nix;
    mlflow = import ./mlflow.nix;
    s3 = import ./s3.nix;
    gcs = import ./gcs.nix;
    azure = import ./azure.nix;
    git-lfs = import ./git-lfs.nix;
    git-xet = import ./git-xet.nix;
    url = import ./url.nix;
    ollama = import ./ollama.nix;
  };

  # The order users read in messages.
  sourceTypes = [ "huggingface" "mlflow" "s3" "gcs" "azure" "git-lfs" "git-xet" "url" "ollama" ];
in
{
  inherit adapters sourceTypes;

  getAdapter = type:
    adapters.${type} or (throw "fetchModel: unknown source type '${type}', known: ${builtins.concatStringsSep ", " sourceTypes}");

  # { type; config; adapter; } of `source = { <type> = config; }` (other types null, as absent);
  # call after types.validateSource.
  dispatch = source:
    let type = head (attrNames (util.withoutNulls source));
    in { inherit type; config = source.${type}; adapter = adapters.${type}; };
}
