import ./not-yet.nix {
  type = "ollama";
  knownKeys = [ "model" "tag" "registry" ];
  requiredKeys = [ "model" ];
  describe = cfg: "${cfg.model or "model"}-${cfg.tag or "latest"}";
}
