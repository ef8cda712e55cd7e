import ./not-yet.nix {
  type = "mlflow";
  describe = cfg: "${cfg.modelName or "model"}";
}
