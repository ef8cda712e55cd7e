# Making fetched models visible to huggingface_hub, transformers and friends, offline.
let
  inherit (builtins) attrNames concatStringsSep isAttrs isList listToAttrs;
  util = import ./util.nix;

  # { "<models--org--name>" = model; } from a list of fetchModel results, or an attrset as is.
  byCacheName = models:
    if isAttrs models && !(models ? outPath) then models
    else
      let
        list = util.toList models;
        nameOf = m:
          if (m.sourceType or null) == "ollama" && (m.hfCacheName or null) == null then throw
            "mkHfCache: ${m.name or "a model"} is an Ollama model, laid out as Ollama's models folder (OLLAMA_MODELS), not as a Hub cache folder: leave it out of the Hub cache"
          else if (m.hfCacheName or null) == null then throw
            "mkHfCache: ${m.name or "a model"} has no hfCacheName; give integration.hfCacheName to fetchModel, or pass an attrset { \"models--org--name\" = model; }"
          else m.hfCacheName;
        duplicates = util.duplicates (map nameOf list);
      in
      if duplicates != [ ] then
        throw "mkHfCache: two models would both be ${builtins.head duplicates} in the cache; keep one of them"
      else listToAttrs (map (m: { name = nameOf m; value = m; }) list);

  # A folder for HF_HUB_CACHE holding one link a model: models--org--name -> the model.
  mkHfCache = pkgs: models:
    let links = byCacheName models;
    in
    derivation {
      name = "hf-hub-cache";
      system = util.systemOf pkgs;
      builder = "${pkgs.bash}/bin/bash";
      args = [ "-c" ''
        set -e
        "$coreutils/bin/mkdir" "$out"
        set -- $links
        while (($#)); do "$coreutils/bin/ln" -s "$2" "$out/$1"; shift 2; done
      '' ];
      # Pairs of cache folder name and store path; neither holds a space.
      links = concatStringsSep " " (map (name: "${name} ${links.${name}}") (attrNames links));
      coreutils = pkgs.coreutils;
      preferLocalBuild = true;
      allowSubstitutes = false;
    };

  # Shell lines linking models into an existing, writable cache ($HF_HUB_CACHE, else
  # ~/.cache/huggingface/hub), beside models that were downloaded there the usual way.
  mkHfSymlinks = models:
    let links = byCacheName models;
    in
    ''
      mkdir -p "''${HF_HUB_CACHE:-''${HF_HOME:-$HOME/.cache/huggingface}/hub}"
    '' + concatStringsSep "" (map (name: ''
      ln -sfn ${util.escapeShellArg "${links.${name}}"} "''${HF_HUB_CACHE:-''${HF_HOME:-$HOME/.cache/huggingface}/hub}/"${util.escapeShellArg name}
    '') (attrNames links));

  # A devShell's shellHook: HF_HUB_CACHE on a cache of the models, offline.
  # mkShellHook pkgs [ models ] or mkShellHook pkgs { models; offline ? true; }.
  mkShellHook = pkgs: args:
    let
      models = if isList args || args ? outPath then args else args.models;
      offline = if isAttrs args && !(args ? outPath) then args.offline or true else true;
    in
    ''
      export HF_HUB_CACHE=${mkHfCache pkgs models}
    '' + util.optionalString offline (concatStringsSep "" (map (name: ''
      export ${name}=${offlineVariables.${name}}
    '') (attrNames offlineVariables)));

  # What keeps huggingface_hub, transformers and datasets from the network (mkShellHook and
  # the modules set them).
  offlineVariables = { HF_HUB_OFFLINE = "1"; TRANSFORMERS_OFFLINE = "1"; HF_DATASETS_OFFLINE = "1"; };

  # One OLLAMA_MODELS folder for several models of the ollama source: blobs/ and manifests/ of
  # links into each model. (One model alone needs none: OLLAMA_MODELS = the model.)
  mkOllamaModels = pkgs: models:
    let
      list = util.toList models;
      others = builtins.filter (m: (m.sourceType or "ollama") != "ollama") list;
    in
    if others != [ ] then
      throw "mkOllamaModels: ${(builtins.head others).name or "a model"} is not an Ollama model (source.ollama): only those are laid out as Ollama's models folder"
    else
    derivation {
      name = "ollama-models";
      system = util.systemOf pkgs;
      builder = "${pkgs.bash}/bin/bash";
      args = [ "-c" ''
        set -e
        "$coreutils/bin/mkdir" "$out"
        for model in $models; do
          for manifest in "$model"/manifests/*/*/*/*; do
            if [[ -e $out/''${manifest#"$model"/} ]]; then
              echo "mkOllamaModels: two models are both ''${manifest#"$model"/manifests/}; keep one of them" >&2
              exit 1
            fi
          done
          "$coreutils/bin/cp" -rsf --no-preserve=mode "$model/blobs" "$model/manifests" "$out/"
        done
      '' ];
      # Store paths: none holds a space.
      models = concatStringsSep " " (map toString list);
      coreutils = pkgs.coreutils;
      preferLocalBuild = true;
      allowSubstitutes = false;
    };
in
{
  inherit mkHfCache mkHfSymlinks mkShellHook mkOllamaModels offlineVariables;
}
