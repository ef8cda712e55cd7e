import ./not-yet.nix {
  type = "s3";
  describe = cfg: "${cfg.bucket or "bucket"}/${cfg.prefix or cfg.key or ""}";
}
