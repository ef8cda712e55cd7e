#!/usr/bin/env bash
# The library's tests with one Nix: unit tests (nix-instantiate --eval --strict), the parity of
# the library's and the CLI's spec checks, and builds of real fixed-output and validation
# derivations against the fake Hub (nix-build).
#
#   bash tests/nix/lib/run.sh [NIX_BIN_DIR]     e.g. /usr/bin (Nix 2.8) or /opt/nix-2.26/bin
#
# Ends with 'N passed, N failed' (and 'SKIP: reason' lines before it); exit status 0 only if
# nothing failed. Uses target/release/nix-fetch-model (built with cargo if missing) and .venv.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
nix_bin=${1:-$(dirname "$(command -v nix-build)")}
export PATH="$nix_bin:$PATH"
cd "$repo" || exit 1

passed=0 failed=0
pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1"; [[ -n ${2:-} ]] && sed 's/^/    /' <<<"$2" | tail -n 40; failed=$((failed + 1)); }
skip() { echo "SKIP: $1"; }
check() { # name, command...: passes when the command succeeds
  local name=$1 out; shift
  if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$out"; fi
}

work=$(mktemp -d /tmp/nfm-lib-tests.XXXXXX)
hub_pids=()
cleanup() {
  for pid in "${hub_pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  rm -rf "$work"
  # The store paths only this run made (named with its nonce, see builds.sh).
  local mine=(/nix/store/*-"${nonce:-none}"*)
  [[ -e ${mine[0]} ]] && "$nix_bin/nix-store" --delete "${mine[@]}" >/dev/null 2>&1
}
trap cleanup EXIT

echo "== lib tests with $("$nix_bin/nix-build" --version) ($nix_bin)"
# filter-syscalls: Nix 2.26 refuses to build without seccomp, which this machine's kernel
# does not offer.
# shellcheck disable=SC2034  # read by unit.sh and builds.sh
nix_opts=(--option substituters "" --option filter-syscalls false)
nix3() { "$nix_bin/nix" --extra-experimental-features nix-command "$@"; }

source "$here/unit.sh"
source "$here/parity.sh"
source "$here/builds.sh"

run_unit_tests
run_parity_tests
run_build_tests

echo
echo "$passed passed, $failed failed"
((failed == 0))
