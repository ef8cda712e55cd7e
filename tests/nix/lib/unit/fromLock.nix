{ lib, ... }:
let
  pkgs = { system = "x86_64-linux"; bash = "/host/bash"; coreutils = "/host/coreutils"; nix-fetch-model = "/host/nfm"; };
  lock = builtins.fromJSON (builtins.readFile ./locks/two.lock.json);
  inherit (lock.models.a) pin;
  models = lib.fromLock pkgs ./locks/two.lock.json;
  # The plugin's builtins.fetchModel, played as in fetchModel.nix.
  standIn = spec: { outPath = "/nix/store/00000000000000000000000000000000-${spec.name}"; narHash = spec.hash; commit = "c0"; };
  viaPlugin = (import ../../../../lib { builtinFetchModel = standIn; }).fromLock pkgs ./locks/two.lock.json;
  refused = file: (builtins.tryEval (lib.fromLock pkgs file)).success;
in
[
  { name = "fromLock: one model per entry, by name"; expr = builtins.attrNames models; expected = [ "a" "b" ]; }
  { name = "fromLock: each is fetchModel of its pin"; expr = map (n: models.${n}.drvPath) [ "a" "b" ]; expected = map (n: (lib.fetchModel pkgs lock.models.${n}.pin).drvPath) [ "a" "b" ]; }
  { name = "fromLock: the pinned name, hash, commit and files"; expr = { inherit (models.b) name outputHash commit; files = (builtins.fromJSON models.b.fetchSpec).source.huggingface.files; }; expected = { name = "models--org--b"; outputHash = lock.models.b.hash; commit = lock.models.b.commit; files = [ "*.json" ]; }; }
  { name = "fromLock: through the plugin when it is loaded"; expr = [ viaPlugin.a.outPath viaPlugin.a.fetcher viaPlugin.a.hash ]; expected = [ "/nix/store/00000000000000000000000000000000-models--org--a" "builtin" pin.hash ]; }
  { name = "fromLock: another format version, or none, is refused"; expr = map refused [ ./locks/version-2.lock.json ./locks/no-version.lock.json ]; expected = [ false false ]; }
  { name = "fromLock: an empty lock gives no models"; expr = lib.fromLock pkgs ./locks/empty.lock.json; expected = { }; }
]
