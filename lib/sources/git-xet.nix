import ./not-yet.nix {
  type = "git-xet";
  describe = cfg: baseNameOf (cfg.url or "repo");
}
