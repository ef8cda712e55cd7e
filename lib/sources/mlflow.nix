import ./not-yet.nix {
  type = "mlflow";
  knownKeys = [ "trackingUri" "modelName" "version" "stage" "artifactPath" ];
  requiredKeys = [ "trackingUri" "modelName" ];
  describe = cfg: "${cfg.modelName or "model"}";
}
