#!/usr/bin/env bash
# All tests: sets up the machine (scripts/setup.sh), then runs the Rust unit and integration
# tests, the Python tests (huggingface_hub judging our layout, the real model), the plugin's,
# the Nix library's and the NixOS/home-manager/devenv modules' tests with real Nix 2.8 and 2.26, each source against its real server, and ends with one line
# 'N passed, N failed, N skipped' over all of them. Exit status 0 only if all pass.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo" || exit 1

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
run_suite plugin .venv/bin/pytest tests/nix/plugin -q -rs
run_suite cli env NFM_BIN="$repo/target/debug/nix-fetch-model" .venv/bin/pytest tests/cli -q -rs
run_suite sources env NFM_BIN="$repo/target/debug/nix-fetch-model" .venv/bin/pytest tests/sources tests/support/servers -q -rs
# The plugin tests built the plugin for each Nix; the library's parity test loads it.
NFM_BIN=$repo/target/debug/nix-fetch-model NFM_PLUGIN=$repo/build/plugin-2.8/cpp/loader/libnix_fetch_model.so run_suite nix-lib-2.8 bash tests/nix/lib/run.sh /usr/bin
NFM_BIN=$repo/target/debug/nix-fetch-model NFM_PLUGIN=$repo/build/plugin-2.26/cpp/loader/libnix_fetch_model.so run_suite nix-lib-2.26 bash tests/nix/lib/run.sh /opt/nix-2.26/bin
# The NixOS, home-manager and devenv modules, evaluated with nixpkgs' lib (../shared/nixpkgs-lib).
NFM_BIN=$repo/target/debug/nix-fetch-model NFM_PLUGIN=$repo/build/plugin-2.8/cpp/loader/libnix_fetch_model.so run_suite nix-modules-2.8 bash tests/nix/modules/run.sh /usr/bin
NFM_BIN=$repo/target/debug/nix-fetch-model NFM_PLUGIN=$repo/build/plugin-2.26/cpp/loader/libnix_fetch_model.so run_suite nix-modules-2.26 bash tests/nix/modules/run.sh /opt/nix-2.26/bin

count() { # regex-with-one-number-group, file(s)
  grep -ohE "$1" "${@:2}" | grep -oE '[0-9]+' | awk '{ s += $1 } END { print s + 0 }'
}
pytest_logs=("$logs/python.log" "$logs/plugin.log" "$logs/cli.log" "$logs/sources.log")
passed=$(( $(count '[0-9]+ passed;' "$logs/rust.log") + $(count '[0-9]+ passed' "${pytest_logs[@]}") ))
failed=$(( $(count '[0-9]+ failed;' "$logs/rust.log") + $(count '[0-9]+ failed' "${pytest_logs[@]}") ))
skipped=$(( $(count '[0-9]+ ignored;' "$logs/rust.log") + $(count '[0-9]+ skipped' "${pytest_logs[@]}") ))
for log in "$logs"/nix-lib-*.log "$logs"/nix-modules-*.log; do
  passed=$(( passed + $(count '^[0-9]+ passed,' "$log") ))
  failed=$(( failed + $(count '[0-9]+ failed$' "$log") ))
  skipped=$(( skipped + $(grep -c '^SKIP:' "$log") ))
done

echo
if ((${#failed_suites[@]})); then
  echo "failing suites: ${failed_suites[*]}"
  ((failed > 0)) || failed=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
((failed == 0))
