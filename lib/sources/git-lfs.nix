import ./not-yet.nix {
  type = "git-lfs";
  describe = cfg: baseNameOf (cfg.url or "repo");
}
