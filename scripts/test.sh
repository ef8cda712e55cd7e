#!/usr/bin/env bash
# All tests: sets up the machine (scripts/setup.sh), then runs the Rust unit and integration
# tests and the Python tests (huggingface_hub judging our layout, the real model), and ends
# with one line 'N passed, N failed, N skipped' over all of them. Exit status 0 only if all pass.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

bash scripts/setup.sh || { echo "test.sh: set-up failed" >&2; exit 1; }

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
failed_suites=()

run_suite() { # name, command...
  local name=$1; shift
  echo "==> $name: $*"
  if ! "$@" 2>&1 | tee "$logs/$name.log"; then
    failed_suites+=("$name")
  fi
}

run_suite rust cargo test --locked
run_suite python env NFM_BIN="$repo/target/debug/nix-fetch-model" .venv/bin/pytest tests/python -q -rs

count() { # regex-with-one-number-group, file(s)
  grep -ohE "$1" "${@:2}" | grep -oE '[0-9]+' | awk '{ s += $1 } END { print s + 0 }'
}
passed=$(( $(count '[0-9]+ passed;' "$logs/rust.log") + $(count '[0-9]+ passed' "$logs/python.log") ))
failed=$(( $(count '[0-9]+ failed;' "$logs/rust.log") + $(count '[0-9]+ failed' "$logs/python.log") ))
skipped=$(( $(count '[0-9]+ ignored;' "$logs/rust.log") + $(count '[0-9]+ skipped' "$logs/python.log") ))

echo
if ((${#failed_suites[@]})); then
  echo "failing suites: ${failed_suites[*]}"
  ((failed > 0)) || failed=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
((failed == 0))
