import ./not-yet.nix {
  type = "url";
  describe = cfg: baseNameOf (cfg.url or "file");
}
