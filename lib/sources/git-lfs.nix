import ./not-yet.nix {
  type = "git-lfs";
  knownKeys = [ "url" "rev" "files" ];
  requiredKeys = [ "url" "rev" ];
  describe = cfg: baseNameOf (cfg.url or "repo");
}
