# shellcheck shell=bash disable=SC2154  # sourced by run.sh, which sets repo, work, here, nixpkgs_lib
# Evaluation tests: unit.nix under --strict, and the errors the modules give for bad input (the
# module system's own, or the library's where the library checks).

# nix-instantiate of eval.nix for one module and configuration: eval_module KIND CONFIG ATTR [more args]
eval_opts=()
# (eval_opts: options that must come first, such as plugin-files on Nix 2.8.)
eval_module() {
  nix-instantiate "${eval_opts[@]}" --eval --strict --json "$here/eval.nix" --argstr nixpkgsLib "$nixpkgs_lib" \
    --argstr hostTools "$work/tools" --argstr cli "$work/cli" --argstr kind "$1" --arg config "$2" -A "$3" "${@:4}"
}

run_unit_tests() {
  local result
  if ! result=$(nix-instantiate --eval --strict --json "$here/unit.nix" --argstr nixpkgsLib "$nixpkgs_lib" \
    --argstr hostTools "$work/tools" --argstr cli "$work/cli" 2>&1); then
    fail "module unit tests evaluate" "$result"
  else
    eval "$(python3 - "$result" <<'PY'
import json, shlex, sys
r = json.loads(sys.argv[1])
print(f"passed=$((passed + {r['passed']}))")
print(f"echo 'PASS: {r['passed']} evaluation tests (tests/nix/modules/unit.nix)'")
for f in r["failed"]:
    detail = f"expected: {json.dumps(f['expected'])}\ngot:      {json.dumps(f['got'])}"
    print(f"fail {shlex.quote('unit.nix: ' + f['name'])} {shlex.quote(detail)}")
PY
)"
  fi
  check_module_errors
}

# expect_module_error NAME KIND CONFIG ATTR TEXT...: evaluating ATTR fails with every TEXT (one
# of several alternatives when TEXT holds '|').
expect_module_error() {
  local name=$1 kind=$2 config=$3 attr=$4 out text alt found; shift 4
  if out=$(eval_module "$kind" "$config" "$attr" 2>&1); then
    fail "$name" "evaluated, but an error was expected: $out"; return
  fi
  for text in "$@"; do
    found=
    IFS='|' read -ra alts <<<"$text"
    for alt in "${alts[@]}"; do grep -qF -- "$alt" <<<"$out" && found=1; done
    [[ -n $found ]] || { fail "$name" "no '$text' in:
$out"; return; }
  done
  pass "$name"
}

check_module_errors() {
  local hash='sha256-5LSwL82AsZAzrgm4zU2+sg87S0/sNuEPum570SkugQs='
  local tiny="source.huggingface.repo = \"fake-org/tiny-model\"; hash = \"$hash\";"
  local cfg='config.programs.nix-fetch-model'
  # The module system's words for an option without a value: newer and older nixpkgs.
  local undefined='was accessed but has no value defined|is used but not defined'

  expect_module_error "nixos: a model without source is the module system's error" nixos \
    "{ programs.nix-fetch-model = { enable = true; models.bad.hash = \"$hash\"; }; }" "$cfg.hubCachePath" \
    "The option \`programs.nix-fetch-model.models.bad.source'" "$undefined"
  expect_module_error "devenv: a model without hash is the module system's error" devenv \
    "{ nix-fetch-model = { enable = true; models.bad.source.huggingface.repo = \"fake-org/tiny-model\"; }; }" "config.env" \
    "The option \`nix-fetch-model.models.bad.hash'" "$undefined"
  expect_module_error "nixos: tokenFile as a Nix path is refused by its type" nixos \
    "{ programs.nix-fetch-model = { enable = true; tokenFile = ./token; }; }" "config.nix.settings" \
    "A definition for option \`programs.nix-fetch-model.tokenFile' is not of type" \
    "absolute path given as a string, outside the Nix store (a Nix path such as ./token would copy the token into the world-readable store)"
  expect_module_error "nixos: tokenFile as a string made from a Nix path is refused too" nixos \
    "{ programs.nix-fetch-model = { enable = true; tokenFile = \"\${builtins.toFile \"token\" \"hf_x\"}\"; }; }" "config.nix.settings" \
    "A definition for option \`programs.nix-fetch-model.tokenFile' is not of type"
  expect_module_error "nixos: a relative tokenFile is refused" nixos \
    "{ programs.nix-fetch-model = { enable = true; tokenFile = \"secrets/token\"; }; }" "config.nix.settings" \
    "A definition for option \`programs.nix-fetch-model.tokenFile' is not of type"
  expect_module_error "home-manager: a model's auth.tokenFile as a Nix path is refused by its type" home-manager \
    "{ programs.nix-fetch-model = { enable = true; models.x = { $tiny auth.tokenFile = ./token; }; }; }" "$cfg.fetched.x.outPath" \
    "A definition for option \`programs.nix-fetch-model.models.x.auth.tokenFile' is not of type"
  expect_module_error "nixos: fetchModel's own checks still apply (an unknown attribute)" nixos \
    "{ programs.nix-fetch-model = { enable = true; models.x = { $tiny sha256 = \"$hash\"; }; }; }" "$cfg.hubCachePath" \
    "fetchModel (fake-org/tiny-model):" "argument.sha256 is not a known attribute"
  expect_module_error "nixos: two models for one cache folder are refused, by name" nixos \
    "{ programs.nix-fetch-model = { enable = true; models.a = { $tiny }; models.b = { $tiny name = \"other\"; }; }; }" "$cfg.hubCachePath" \
    "models.a and models.b would both be models--fake-org--tiny-model in the Hub cache"
  expect_module_error "devenv: hubCache is read-only" devenv \
    "{ nix-fetch-model.hubCache = ./.; }" "config.nix-fetch-model.hubCache" \
    "read-only"
}
