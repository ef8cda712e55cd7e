#!/usr/bin/env bash
# Everything the build and the tests need on a fresh Debian 12 machine with a Rust toolchain:
# Debian's packages (Nix 2.8, curl, openssl for the tests' CA, tinyproxy-bin for the proxy tests:
# the binary alone, no service), what the Nix plugin builds with (scripts/setup-nix.sh: meson,
# Nix 2.8's headers, Nix 2.26 from ../shared/nix), the Python test venv, and the real servers the
# sources are tested against (scripts/setup-servers.sh).
# Idempotent: what is there already is skipped.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

need_cmd() { command -v "$1" >/dev/null 2>&1; }

if ! need_cmd cargo; then
  echo "setup.sh: cargo is missing: install a Rust toolchain (rustup, or apt-get install cargo)" >&2
  exit 1
fi

packages=()
need_cmd curl || packages+=(curl)
need_cmd python3 || packages+=(python3 python3-venv)
need_cmd openssl || packages+=(openssl)
need_cmd tinyproxy || packages+=(tinyproxy-bin)
if ((${#packages[@]})); then
  echo "setup.sh: installing ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${packages[@]}" >/dev/null
fi

bash "$repo/scripts/setup-nix.sh"
bash "$repo/scripts/setup-python.sh"
bash "$repo/scripts/setup-servers.sh"
