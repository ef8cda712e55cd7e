import ./not-yet.nix {
  type = "s3";
  knownKeys = [ "bucket" "key" "prefix" "region" "endpoint" ];
  requiredKeys = [ "bucket" ];
  describe = cfg: "${cfg.bucket or "bucket"}/${cfg.prefix or cfg.key or ""}";
}
