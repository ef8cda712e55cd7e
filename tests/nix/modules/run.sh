#!/usr/bin/env bash
# The NixOS, home-manager and devenv modules' tests with one Nix: each module evaluated with
# nixpkgs' lib.evalModules (the lib of ../shared/nixpkgs-lib; NixOS, home-manager and devenv
# themselves cannot be fetched here, so the few host options the modules set are declared in
# hosts.nix), the module system's errors for bad input, and real builds against the fake Hub:
# the NixOS Hub cache read offline by huggingface_hub and transformers and kept alive by a root,
# a token file read by the build users, the home-manager activation run against a real,
# writable cache, and (with NFM_PLUGIN) which fetcher each module uses with the plugin loaded.
#
#   bash tests/nix/modules/run.sh [NIX_BIN_DIR]     e.g. /usr/bin (Nix 2.8) or /opt/nix-2.26/bin
#
# Ends with 'N passed, N failed' ('SKIP: reason' lines before it); exit status 0 only if nothing
# failed. Uses NFM_BIN (else target/release/nix-fetch-model, built if missing), .venv, and
# NFM_NIXPKGS_LIB (a tarball of nixpkgs' lib; default ../shared/nixpkgs-lib/nixpkgs-lib.tar.xz).
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

work=$(mktemp -d /tmp/nfm-module-tests.XXXXXX)
# The build users read the token files under it (see builds.sh).
chmod 755 "$work"
hub_pids=()
cleanup() {
  for pid in "${hub_pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  rm -rf "$work"
  # The store paths only this run made (named with its nonce).
  local mine=(/nix/store/*-"${nonce:-none}"*)
  [[ -e ${mine[0]} ]] && "$nix_bin/nix-store" --delete "${mine[@]}" >/dev/null 2>&1
}
trap cleanup EXIT

echo "== module tests with $("$nix_bin/nix-build" --version) ($nix_bin)"
# shellcheck disable=SC2034  # read by builds.sh
nix_opts=(--option substituters "" --option filter-syscalls false)

# The helpers of the library's build tests: host tools and the CLI as stand-in packages, the
# fake Hub, prefetch.
# shellcheck source=../lib/builds.sh
source "$repo/tests/nix/lib/builds.sh"
source "$here/unit.sh"
source "$here/builds.sh"

tarball=${NFM_NIXPKGS_LIB:-$repo/../shared/nixpkgs-lib/nixpkgs-lib.tar.xz}
if [[ ! -f $tarball ]]; then
  skip "module tests: no nixpkgs lib at $tarball (set NFM_NIXPKGS_LIB)"
# (Python's tarfile reads .tar.xz without the xz command, which minimal images lack.)
elif ! python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$tarball" "$work" \
  || [[ ! -f $work/lib/default.nix ]]; then
  fail "module tests: $tarball holds no lib/default.nix"
elif setup_build_tests; then
  # shellcheck disable=SC2034  # read by unit.sh and builds.sh
  nixpkgs_lib=$work/lib
  run_unit_tests
  run_build_tests
fi

echo
echo "$passed passed, $failed failed"
((failed == 0))
