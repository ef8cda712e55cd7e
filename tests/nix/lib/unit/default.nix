# The library's unit tests: every file here is a list of { name; expr; expected; }.
# nix-instantiate --eval --strict --json tests/nix/lib/unit --argstr vectorsJSON '[...]'
# gives { passed; failed = [ { file; name; expected; got; } ]; }.
# vectors: sha256 hashes in every spelling, made by nix-hash and nix (see run.sh).
{ vectorsJSON ? "[]", vectors ? builtins.fromJSON vectorsJSON }:
let
  lib = import ../../../../lib { builtinFetchModel = null; };
  files = {
    hash = ./hash.nix;
    types = ./types.nix;
    sources = ./sources.nix;
    validation = ./validation.nix;
    integration = ./integration.nix;
    fetchModel = ./fetchModel.nix;
    fromLock = ./fromLock.nix;
    flake = ./flake.nix;
  };
  tests = builtins.concatLists (map (file:
    map (t: t // { inherit file; }) (import files.${file} { inherit lib vectors; }))
    (builtins.attrNames files));
  failures = builtins.filter (t: t.expr != t.expected) tests;
in
{
  passed = builtins.length tests - builtins.length failures;
  failed = map (t: { inherit (t) file name expected; got = t.expr; }) failures;
}
