import ./not-yet.nix {
  type = "url";
  knownKeys = [ "url" "urls" ];
  requiredKeys = [ ];
  describe = cfg: baseNameOf (cfg.url or "file");
}
