# The source adapters, one file each, and the dispatch from a fetchModel argument to its
# adapter. An adapter is
#   { type; supported; validateConfig = cfg: [ problem ]; defaultName = cfg: name;
#     hfCacheName = cfg: name or null; impureEnvVars = cfg: [ var ]; commit = cfg: sha or null;
#     extractMeta = cfg: attrs; buildInputs = pkgs: [ drv ];
#     mkFetchDerivation = pkgs: { name; spec; hash; impureEnvVars; }: drv; }
let
  inherit (builtins) attrNames head length listToAttrs;
  fixedOutput = import ./fixed-output.nix;

  fetchedByCore = adapter: adapter // {
    buildInputs = pkgs: [ pkgs.nix-fetch-model ];
    mkFetchDerivation = fixedOutput;
  };

  notFetched = adapter: adapter // {
    buildInputs = pkgs: [ ];
    mkFetchDerivation = pkgs: args:
      throw "fetchModel: source.${adapter.type} is not fetched by nix-fetch-model yet; only huggingface is supported for now";
  };

  adapters = {
    huggingface = fetchedByCore (import ./huggingface.nix);
    mlflow = notFetched (import ./mlflow.nix);
    s3 = notFetched (import ./s3.nix);
    git-lfs = notFetched (import ./git-lfs.nix);
    git-xet = notFetched (import ./git-xet.nix);
    url = notFetched (import ./url.nix);
    ollama = notFetched (import ./ollama.nix);
  };

  # The order users read in messages.
  sourceTypes = [ "huggingface" "mlflow" "s3" "git-lfs" "git-xet" "url" "ollama" ];
in
{
  inherit adapters sourceTypes;

  getAdapter = type:
    adapters.${type} or (throw "fetchModel: unknown source type '${type}', known: ${builtins.concatStringsSep ", " sourceTypes}");

  # { type; config; adapter; } of `source = { <type> = config; }`; call after types.validateSource.
  dispatch = source:
    let type = head (attrNames source);
    in { inherit type; config = source.${type}; adapter = adapters.${type}; };
}
