import ./not-yet.nix {
  type = "ollama";
  describe = cfg: "${cfg.model or "model"}-${cfg.tag or "latest"}";
}
