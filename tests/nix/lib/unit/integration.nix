{ lib, ... }:
let
  pkgs = { system = "x86_64-linux"; bash = "/host/bash"; coreutils = "/host/coreutils"; };
  model = name: { outPath = "/nix/store/00000000000000000000000000000000-${name}"; hfCacheName = name; };
  a = model "models--o--a";
  b = model "datasets--o--b";
  cache = lib.mkHfCache pkgs [ a b ];
  hook = lib.mkShellHook pkgs [ a ];
  ollamaModel = name: { outPath = "/nix/store/00000000000000000000000000000000-${name}"; name = name; sourceType = "ollama"; hfCacheName = null; };
  o1 = ollamaModel "ollama-tiny-v1";
  o2 = ollamaModel "ollama-m-latest";
  contains = needle: s: builtins.match ".*${builtins.unsafeDiscardStringContext needle}.*" (builtins.unsafeDiscardStringContext s) != null;
in
[
  { name = "mkHfCache links each model by its cache name"; expr = cache.links; expected = "datasets--o--b ${b.outPath} models--o--a ${a.outPath}"; }
  { name = "mkHfCache takes an attrset too"; expr = (lib.mkHfCache pkgs { "models--x--y" = "/nix/store/x"; }).links; expected = "models--x--y /nix/store/x"; }
  { name = "mkHfCache refuses two models of one name"; expr = (builtins.tryEval (lib.mkHfCache pkgs [ a a ]).drvPath).success; expected = false; }
  { name = "mkShellHook exports the cache, offline"; expr = map (l: contains l hook) [ "export HF_HUB_CACHE=${(lib.mkHfCache pkgs [ a ]).outPath}" "export HF_HUB_OFFLINE=1" "export TRANSFORMERS_OFFLINE=1" ]; expected = [ true true true ]; }
  { name = "mkShellHook online"; expr = contains "OFFLINE" (lib.mkShellHook pkgs { models = [ a ]; offline = false; }); expected = false; }
  { name = "mkHfSymlinks links into the user's cache"; expr = contains "ln -sfn '${a.outPath}' \"\\$\\{HF_HUB_CACHE:-.*'models--o--a'" (lib.mkHfSymlinks [ a ]); expected = true; }
  { name = "mkHfCache says an Ollama model is no Hub cache folder"; expr = (builtins.tryEval (lib.mkHfCache pkgs [ a o1 ]).drvPath).success; expected = false; }
  { name = "mkOllamaModels links every Ollama model"; expr = (lib.mkOllamaModels pkgs [ o1 o2 ]).models; expected = "${o1.outPath} ${o2.outPath}"; }
  { name = "mkOllamaModels refuses a model of another source"; expr = (builtins.tryEval (lib.mkOllamaModels pkgs [ o1 (a // { sourceType = "huggingface"; }) ]).drvPath).success; expected = false; }
]
