{ lib, ... }:
let
  pkgs = { system = "x86_64-linux"; bash = "/host/bash"; coreutils = "/host/coreutils"; findutils = "/host/f"; gnugrep = "/host/g"; gnused = "/host/s"; python3 = "/host/python3"; nix-fetch-model = "/host/nfm"; };
  hash16 = "sha256:e4b4b02fcd80b19033ae09b8cd4dbeb20f3b4b4fec36e10fba6e7bd1292e810b";
  args = {
    source.huggingface = { repo = "fake-org/tiny-model"; revision = "main"; };
    hash = hash16;
    network = { endpoint = "http://127.0.0.1:9"; concurrency = 2; };
    auth.tokenEnvVar = "MY_HF_TOKEN";
    validation = "none";
    integration.hfCacheName = "models--fake-org--tiny-model";
    meta.note = "a test";
  };
  fod = lib.fetchModel pkgs args;
  # A stand-in of the plugin's builtins.fetchModel with the interface of DESIGN.md.
  standIn = spec: {
    outPath = "/nix/store/00000000000000000000000000000000-${spec.name}";
    narHash = spec.hash or null;
    commit = "c080c801871925314498d1c4a202981d472685a4";
    received = spec;
  };
  withPlugin = import ../../../../lib { builtinFetchModel = standIn; };
  viaPlugin = withPlugin.fetchModel pkgs args;
  validated = lib.fetchModel pkgs (args // { validation = "minimal"; });
  validatedViaPlugin = withPlugin.fetchModel pkgs (args // { validation = "minimal"; });
  sri = lib.normalizeHash hash16;
  err = a: (builtins.tryEval (lib.fetchModel pkgs a).outPath).success;
  ollamaDigest = "sha256:${builtins.concatStringsSep "" (builtins.genList (_: "0f") 32)}";
  ollama = lib.fetchModel pkgs { source.ollama = { model = "llama3:8b"; digest = ollamaDigest; }; hash = hash16; };
in
[
  { name = "ollama: its name, no Hub cache, the digest as the commit, NETRC for the builder"; expr = { inherit (ollama) name hfCacheName hfCachePath sourceType commit; netrc = builtins.elem "NETRC" ollama.impureEnvVars; }; expected = { name = "ollama-llama3-8b"; hfCacheName = null; hfCachePath = null; sourceType = "ollama"; commit = ollamaDigest; netrc = true; }; }
  { name = "the FOD is fixed-output, recursive, sha256, SRI"; expr = { inherit (fod) outputHashMode outputHashAlgo outputHash; }; expected = { outputHashMode = "recursive"; outputHashAlgo = "sha256"; outputHash = sri; }; }
  { name = "the FOD's builder is the CLI in fetch mode, --direct"; expr = [ fod.nixFetchModel (builtins.elemAt fod.args 1) ]; expected = [ "/host/nfm/bin/nix-fetch-model" ''exec "$nixFetchModel" fetch --spec "$fetchSpecPath" --out "$out" --direct'' ]; }
  { name = "the default name is the Hub cache folder"; expr = fod.name; expected = "models--fake-org--tiny-model"; }
  { name = "the spec: argument minus library keys, name and SRI explicit"; expr = builtins.fromJSON fod.fetchSpec; expected = { name = "models--fake-org--tiny-model"; source.huggingface = { repo = "fake-org/tiny-model"; revision = "main"; }; hash = sri; network = { endpoint = "http://127.0.0.1:9"; concurrency = 2; }; auth.tokenEnvVar = "MY_HF_TOKEN"; }; }
  { name = "impureEnvVars: token, endpoint, the named token variable, proxies, TLS roots"; expr = map (v: builtins.elem v fod.impureEnvVars) [ "HF_TOKEN" "HUGGING_FACE_HUB_TOKEN" "HF_ENDPOINT" "MY_HF_TOKEN" "https_proxy" "HTTPS_PROXY" "no_proxy" "NIX_SSL_CERT_FILE" "SSL_CERT_FILE" ]; expected = [ true true true true true true true true true ]; }
  { name = "the same name and hash give the same path, whatever the network options"; expr = (lib.fetchModel pkgs (args // { network.concurrency = 7; })).outPath == fod.outPath; expected = true; }
  { name = "another spelling of the hash gives the same drv"; expr = (lib.fetchModel pkgs (args // { hash = sri; })).drvPath == fod.drvPath; expected = true; }
  { name = "another name gives another path"; expr = (lib.fetchModel pkgs (args // { name = "tiny"; })).outPath == fod.outPath; expected = false; }
  { name = "hash \"\" builds with the fake hash"; expr = (lib.fetchModel pkgs (args // { hash = ""; })).outputHash; expected = lib.fakeHash; }
  { name = "no hash and no plugin is an error"; expr = err (removeAttrs args [ "hash" ]); expected = false; }
  { name = "a token in the argument is an error"; expr = err (args // { auth.token = "hf_secret"; }); expected = false; }
  { name = "an unsupported source is an error at evaluation"; expr = err (args // { source.s3.bucket = "b"; }); expected = false; }
  { name = "passthru and meta"; expr = { inherit (fod) fetcher commit hfCacheName sourceType; inherit (fod.passthru) hash; meta = { inherit (fod.meta) note repoId; }; }; expected = { fetcher = "derivation"; commit = null; hfCacheName = "models--fake-org--tiny-model"; sourceType = "huggingface"; hash = sri; meta = { note = "a test"; repoId = "fake-org/tiny-model"; }; }; }
  { name = "a commit pin: passthru.commit is known at evaluation, and the spec has it"; expr = let m = lib.fetchModel pkgs (args // { source.huggingface = { repo = "fake-org/tiny-model"; revision = "main"; commit = "c080c801871925314498d1c4a202981d472685a4"; }; }); in [ m.commit m.passthru.commit (builtins.fromJSON m.fetchSpec).source.huggingface.commit ]; expected = [ "c080c801871925314498d1c4a202981d472685a4" "c080c801871925314498d1c4a202981d472685a4" "c080c801871925314498d1c4a202981d472685a4" ]; }
  { name = "name = null is the default name"; expr = (lib.fetchModel pkgs (args // { name = null; })).name; expected = "models--fake-org--tiny-model"; }
  { name = "passthru.raw is the FOD"; expr = fod.passthru.raw.drvPath == fod.drvPath; expected = true; }
  { name = "hfCachePath links the model"; expr = fod.hfCachePath.links; expected = "models--fake-org--tiny-model ${fod.outPath}"; }
  { name = "validation: a second derivation over the FOD"; expr = [ validated.name (validated.src.outPath == fod.outPath) validated.validatorCount (validated.unvalidated.outPath == fod.outPath) validated.validators ]; expected = [ "models--fake-org--tiny-model-validated" true 2 true [ "validHfStructure" "noPickleFiles" ] ]; }
  { name = "plugin: it gets the FOD's spec"; expr = builtins.toJSON viaPlugin.raw.received == fod.fetchSpec; expected = true; }
  { name = "plugin: the same shape"; expr = { inherit (viaPlugin) name outPath fetcher commit hfCacheName; h = viaPlugin.passthru.hash; }; expected = { name = fod.name; outPath = "/nix/store/00000000000000000000000000000000-models--fake-org--tiny-model"; fetcher = "builtin"; commit = "c080c801871925314498d1c4a202981d472685a4"; hfCacheName = fod.hfCacheName; h = sri; }; }
  { name = "plugin: every key of the FOD's result is there"; expr = builtins.filter (k: !(viaPlugin ? ${k})) (builtins.attrNames fod.passthru ++ [ "meta" "passthru" "outPath" "name" ]); expected = [ ]; }
  { name = "plugin: no hash is fine (the plugin decides)"; expr = (withPlugin.fetchModel pkgs (removeAttrs args [ "hash" ])).raw.received ? hash; expected = false; }
  { name = "plugin: validation runs over the builtin's path"; expr = [ validatedViaPlugin.src.outPath validatedViaPlugin.name ]; expected = [ viaPlugin.outPath "models--fake-org--tiny-model-validated" ]; }
  { name = "usesPlugin"; expr = [ lib.usesPlugin withPlugin.usesPlugin ]; expected = [ false true ]; }
]
