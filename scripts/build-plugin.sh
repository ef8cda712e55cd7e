#!/usr/bin/env bash
# Configure and build the Nix plugin against one of the Nix versions scripts/setup-nix.sh sets up.
#
#   scripts/build-plugin.sh <2.8|2.26> [builddir]     # default builddir: build/plugin-<version>
#
# Prints the path of the loader, the file plugin-files names, on its last line:
# <builddir>/cpp/loader/libnix_fetch_model.so, which loads <builddir>/cpp/nix-fetch-model/libnix_fetch_model-<nix version>.so.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=${1:?usage: build-plugin.sh <2.8|2.26> [builddir]}
builddir=${2:-$repo/build/plugin-$version}

case $version in
  2.8) pkgconfig=${NFM_NIX28_PREFIX:-/opt/nix-2.8-dev}/lib/pkgconfig ;;
  # nix-fetchers.pc requires libgit2, which this Nix keeps in lib/pkgconfig.
  2.26) pkgconfig=/opt/nix-2.26/lib/x86_64-linux-gnu/pkgconfig:/opt/nix-2.26/lib/pkgconfig ;;
  *) echo "build-plugin.sh: unknown Nix version '$version': give 2.8 or 2.26" >&2; exit 2 ;;
esac
if [[ ! -f ${pkgconfig%%:*}/nix-expr.pc ]]; then
  echo "build-plugin.sh: no Nix $version pkg-config files in $pkgconfig: run scripts/setup-nix.sh first" >&2
  exit 1
fi

export PKG_CONFIG_PATH=$pkgconfig
if [[ ! -f $builddir/build.ninja ]]; then
  if ! log=$(meson setup "$builddir" "$repo" 2>&1); then
    echo "$log" >&2
    rm -rf "$builddir"
    exit 1
  fi
fi
meson compile -C "$builddir" >&2
echo "$builddir/cpp/loader/libnix_fetch_model.so"
