# shellcheck shell=bash disable=SC2154  # sourced by run.sh, which sets repo, work, here, nix_opts
# Unit tests: tests/nix/lib/unit evaluated with --strict, and the text of fetchModel's errors.
# Sourced by run.sh.

# sha256 vectors in every spelling, from Nix's own tools (nix-hash and nix hash).
hash_vectors() {
  local i file base16 entries=()
  for i in 1 2 3 4; do
    file="$work/vector-$i"
    head -c $((i * 1000)) /dev/urandom >"$file"
    base16=$(nix-hash --type sha256 --flat "$file")
    entries+=("$(printf '{"base16":"%s","base16upper":"%s","nix32":"%s","base64":"%s","sri":"%s"}' \
      "$base16" "${base16^^}" \
      "$(nix-hash --type sha256 --to-base32 "$base16")" \
      "$(nix3 hash to-base64 --type sha256 "$base16" 2>/dev/null)" \
      "$(nix3 hash to-sri --type sha256 "$base16" 2>/dev/null)")")
  done
  (IFS=,; echo "[${entries[*]}]")
}

run_unit_tests() {
  local json result
  json=$(hash_vectors)
  if ! result=$(nix-instantiate --eval --strict --json "$here/unit" --argstr vectorsJSON "$json" 2>&1); then
    fail "unit tests evaluate" "$result"
    return
  fi
  eval "$(python3 - "$result" <<'PY'
import json, shlex, sys
r = json.loads(sys.argv[1])
print(f"passed=$((passed + {r['passed']}))")
print(f"echo 'PASS: {r['passed']} unit tests (tests/nix/lib/unit)'")
for f in r["failed"]:
    detail = f"expected: {json.dumps(f['expected'])}\ngot:      {json.dumps(f['got'])}"
    print(f"fail {shlex.quote(f['file'] + ': ' + f['name'])} {shlex.quote(detail)}")
PY
)"
  check_error_texts
}

# Evaluates `expr` (a Nix expression over `lib` and `pkgs`), expecting an error holding each
# of the given texts.
expect_eval_error() { # name, expr, texts...
  local name=$1 expr=$2 out text; shift 2
  local prelude='let lib = import ./lib { builtinFetchModel = null; }; pkgs = { system = "x86_64-linux"; bash = "/b"; coreutils = "/c"; }; in'
  if out=$(nix-instantiate --eval --strict -E "$prelude $expr" 2>&1); then
    fail "$name" "evaluated, but an error was expected: $out"; return
  fi
  for text in "$@"; do
    if ! grep -qF -- "$text" <<<"$out"; then fail "$name" "no '$text' in:
$out"; return; fi
  done
  pass "$name"
}

check_error_texts() {
  expect_eval_error "one error lists every problem" \
    '(lib.fetchModel pkgs { source.huggingface.repo = "a/b/c"; hash = "sha256:12"; auth.token = "hf_x"; sha256 = ""; }).outPath' \
    "fetchModel (a/b/c):" \
    '  - argument.sha256 is not a known attribute; write hash = "sha256-..." instead' \
    "  - source.huggingface.repo 'a/b/c' is not 'org/name'" \
    "  - hash 'sha256:12': sha256 digits are" \
    "  - auth.token is refused"
  expect_eval_error "a missing hash says how to discover it" \
    '(lib.fetchModel pkgs { source.huggingface.repo = "a/b"; }).outPath' \
    'hash is missing' 'set hash = "" and build' 'nix-fetch-model prefetch'
  expect_eval_error "pkgs without the CLI says to add the overlay" \
    '(lib.fetchModel pkgs { source.huggingface.repo = "a/b"; hash = ""; }).drvPath' \
    "pkgs has no nix-fetch-model" "overlays.default"
  expect_eval_error "a bad validator is named" \
    '(lib.fetchModel pkgs { source.huggingface.repo = "a/b"; hash = ""; validation = [ { name = "v"; command = "true"; onFailure = "maybe"; } ]; }).outPath' \
    "validator 'v': onFailure 'maybe' is not one of 'abort', 'warn', 'skip'"
  expect_eval_error "fromLock refuses a lock file of another format version" \
    'lib.fromLock pkgs ./tests/nix/lib/unit/locks/version-2.lock.json' \
    "fromLock: $repo/tests/nix/lib/unit/locks/version-2.lock.json is a lock file of format version 2" \
    "reads version 1 only" "nix-fetch-model lock"
}
