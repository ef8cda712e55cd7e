# fromLock pkgs ./models.lock.json
#
# The models of a lock file written by `nix-fetch-model lock`, by name: each is
# `fetchModel pkgs <its pin>` (the plugin's fetch when it is loaded, else a fixed-output
# derivation). A lock file of another format version is refused, saying so.
{ fetchModel }:
let
  version = 1;
in
pkgs: lockFile:
let
  lock = builtins.fromJSON (builtins.readFile lockFile);
  found = if builtins.isAttrs lock then lock.version or null else null;
  where = toString lockFile;
in
if found == null then
  throw "fromLock: ${where} is not a lock file of nix-fetch-model (no \"version\"); write it with `nix-fetch-model lock`"
else if found != version then
  throw ("fromLock: ${where} is a lock file of format version ${builtins.toJSON found}, and this "
    + "nix-fetch-model reads version ${toString version} only: use the nix-fetch-model that wrote it, "
    + "or write it again with this one (`nix-fetch-model lock`)")
else
  builtins.mapAttrs (_: entry: fetchModel pkgs entry.pin) (lock.models or { })
