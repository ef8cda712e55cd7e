# fetchModel pkgs { name; source; hash; network; auth; validation; integration; meta; }
#
# Checks the argument (one error listing every problem), fetches with builtins.fetchModel when
# the plugin is loaded (`builtins ? fetchModel`; passthru.fetcher then says "builtin") or else
# with a fixed-output derivation (same spec, same bytes, same store path for the same name and
# hash), runs the validators in a second derivation, and returns the model, a derivation either
# way, with passthru = { raw; spec; commit; hfCachePath; ... } and meta.
{ builtinFetchModel }:
let
  inherit (builtins) removeAttrs toJSON;
  util = import ./util.nix;
  types = import ./types.nix;
  sources = import ./sources;
  validation = import ./validation;
  integration = import ./integration.nix;

  # The proxies a fetcher honours, as nixpkgs' lib.fetchers.proxyImpureEnvVars, and the TLS
  # roots it trusts besides the built-in ones.
  networkImpureEnvVars = [
    "http_proxy" "https_proxy" "ftp_proxy" "all_proxy" "no_proxy"
    "HTTP_PROXY" "HTTPS_PROXY" "FTP_PROXY" "ALL_PROXY" "NO_PROXY"
    "NIX_SSL_CERT_FILE" "SSL_CERT_FILE"
  ];

in
pkgs: args:
let
  useBuiltin = builtinFetchModel != null;
  checked = types.validateConfigWith { hashRequired = !useBuiltin; } args;
  source = sources.dispatch args.source;
  inherit (source) adapter config;

  name = util.attrOr args "name" (adapter.defaultName config);
  givenHash = args.hash or null;
  hash = if givenHash == null || givenHash == "" then givenHash else types.normalizeHash givenHash;

  # The JSON the builder and the plugin both get: the argument minus what only the library
  # reads, with the name and the hash made explicit. The checks refused any token in it.
  spec = removeAttrs args types.libraryKeys
    // { inherit name; }
    // (if hash == null then { } else { inherit hash; });

  impureEnvVars = util.unique (adapter.impureEnvVars config
    ++ util.optional ((args.auth.tokenEnvVar or null) != null) args.auth.tokenEnvVar
    ++ networkImpureEnvVars);

  raw =
    if useBuiltin then builtinFetchModel spec else fetched;

  # The fixed-output derivation of this model: its output path depends only on the name and
  # the hash, so it is the path the plugin added.
  fixedOutput = spec: hash: adapter.mkFetchDerivation pkgs {
    inherit name impureEnvVars hash;
    spec = toJSON spec;
  };

  # The fetched model, a derivation from either fetcher, so that nix-build and `nix build -f`
  # of a model build and print the model. With the plugin, its drvPath is the fixed-output
  # derivation of the hash the plugin got: the same output path, already valid, so nothing
  # builds (and if the path was collected since, the derivation fetches it again). Without
  # the CLI in pkgs, a derivation of the same path that only says to evaluate again.
  fetched =
    if useBuiltin then {
      type = "derivation";
      inherit name;
      inherit (raw) outPath;
      outputName = "out";
      drvPath =
        if pkgs ? nix-fetch-model then (fixedOutput (spec // { hash = raw.narHash; }) raw.narHash).drvPath
        else (derivation {
          inherit name;
          system = "builtin";
          builder = "builtin:fetchurl";
          url = "nix-fetch-model:${name}: builtins.fetchModel added this path at evaluation; evaluate again to fetch it";
          outputHashMode = "recursive";
          outputHashAlgo = "sha256";
          outputHash = raw.narHash;
        }).drvPath;
    }
    else fixedOutput spec (if hash == "" then types.fakeHash else hash);

  validators = validation.resolve (util.attrOr args "validation" [ ]);
  model =
    if validators == [ ] then fetched
    else validation.mkValidationDerivation pkgs { model = fetched; inherit validators; };

  hfCacheName = util.attrOr (util.attrOr args "integration" { }) "hfCacheName" (adapter.hfCacheName config);

  passthru = {
    inherit raw spec impureEnvVars hfCacheName;
    fetcher = if useBuiltin then "builtin" else "derivation";
    sourceType = source.type;
    hash = if useBuiltin then raw.narHash or hash else hash;
    commit = if useBuiltin then raw.commit or (adapter.commit config) else adapter.commit config;
    unvalidated = fetched;
    validators = map (v: v.name) validators;
    validationReport = if validators == [ ] then null else "${model}/validation/report.json";
    # null for a source not laid out as a Hub cache folder (ollama).
    hfCachePath = if hfCacheName == null then null else integration.mkHfCache pkgs [ result ];
  };

  meta = adapter.extractMeta config // util.attrOr args "meta" { };

  result = model // passthru // { inherit passthru meta; };
in
util.throwIfErrors (types.heading args) checked.errors result
