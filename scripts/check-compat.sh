#!/usr/bin/env bash
# Compile-check the plugin's C++ (cpp/*.cc, syntax only) against the headers of one Nix
# release, straight from a Nix source tree: no Nix build, no install, no network.
#
#   scripts/check-compat.sh <nix-source-dir> <version>     # e.g. /tmp/nix-2.24.15 2.24.15
#
# <nix-source-dir> is a checkout or `git archive` of NixOS/nix at the tag <version> (only its
# src/ is read). It proves that cpp/compat.hh picks an API that exists in those headers; it is
# not a build and not a test: the plugin must still be built against, and loaded into, the
# exact Nix it is for (scripts/build-plugin.sh).
#
# What a real Nix build would generate is written here by hand, minimal, into a temporary
# directory: the configuration headers (config.h up to 2.24; config-{util,store,expr}.hh in
# 2.25-2.27; nix/{util,store,expr,main}/config.hh from 2.28), with the Boehm GC on, as
# distributions build Nix. The cxx bridge's headers come from the Rust build (target/cxxbridge:
# run `cargo build --lib` first). Needs g++, Boost, nlohmann-json and the bdw-gc headers.
# Environment: CXX (default g++), CXXFLAGS (added to the compiler's arguments), NFM_CXXBRIDGE
# (default <repo>/target/cxxbridge).
#
# Newer Nix needs a newer toolchain than Debian 12's g++ 12 and Boost 1.81: 2.31 uses C++23's
# std::views::zip (libstdc++ 13, or libc++); 2.32 asks for Boost >= 1.87 (its headers use
# Boost.Unordered's concurrent containers: 1.85 is enough up to 2.34, 2.35 needs 1.87's).
# On Debian 12, for example: apt-get install clang-19 libc++-19-dev libc++abi-19-dev, Boost
# headers from PyPI's boost-headers (1.85), and boostorg/unordered's include/ at boost-1.87.0:
#   CXX=clang++-19 CXXFLAGS="-stdlib=libc++ -isystem <unordered-1.87>/include -isystem <boost-1.85>" \
#     scripts/check-compat.sh /tmp/nix-2.35.2 2.35.2
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
usage="usage: check-compat.sh <nix-source-dir> <version, e.g. 2.24.15>"
src=${1:?$usage}
version=${2:?$usage}
cxx=${CXX:-g++}
cxxbridge=${NFM_CXXBRIDGE:-$repo/target/cxxbridge}

die() { echo "check-compat.sh: $*" >&2; exit 1; }

[[ $version =~ ^([0-9]+)\.([0-9]+)(\.[0-9]+)?([.+-].*)?$ ]] || die "bad version '$version': give e.g. 2.24.15"
major=${BASH_REMATCH[1]}
minor=$((10#${BASH_REMATCH[2]}))
[[ -n ${BASH_REMATCH[3]} ]] || version=$version.0
[[ -d $src/src/libexpr ]] || die "$src is not a Nix source tree (no src/libexpr)"
[[ -f $cxxbridge/nix-fetch-model/src/ffi.rs.h && -f $cxxbridge/rust/cxx.h ]] ||
  die "no cxx bridge headers in $cxxbridge: run 'cargo build --lib' in $repo first"
if [[ -f $src/.version ]] && [[ $(<"$src/.version") != "$version"* ]]; then
  echo "check-compat.sh: warning: $src/.version says $(<"$src/.version"), checking as $version" >&2
fi
at_least() { (( major > $1 || (major == $1 && minor >= $2) )); }

gen=$(mktemp -d "${TMPDIR:-/tmp}/nfm-check-compat.XXXXXX")
trap 'rm -rf "$gen"' EXIT

# Debian 12's bdw-gc headers keep the typedefs of the gc_allocator<void> specialisations
# private, which Boost's small_vector (Nix 2.2x+) needs: make them public, as
# ../shared/nix/README describes for /opt/nix-2.26/include/gcfix.
read -r -a extra <<<"${CXXFLAGS:-}"
gcdir=$(dirname "$(echo '#include <gc/gc_allocator.h>' | "$cxx" "${extra[@]}" -x c++ -E -M - 2>/dev/null |
  tr ' \\' '\n\n' | grep '/gc/gc_allocator.h$' | head -1)")
[[ -d $gcdir ]] || die "no bdw-gc headers (gc/gc_allocator.h): install libgc-dev"
mkdir -p "$gen/gcfix/gc"
cp "$gcdir"/*.h "$gen/gcfix/gc/"
sed -i '/^class [a-z_]*<void> {$/a public:' "$gen/gcfix/gc/gc_allocator.h"

# The configuration headers a Nix build generates: only what the public headers read.
system='"x86_64-linux"'
if at_least 2 28; then
  mkdir -p "$gen/cfg/nix/util" "$gen/cfg/nix/store" "$gen/cfg/nix/expr" "$gen/cfg/nix/main"
  printf '#pragma once\n#define NIX_UBSAN_ENABLED 0\n#define NIX_ASAN_ENABLED 0\n' >"$gen/cfg/nix/util/config.hh"
  printf '#pragma once\n#define NIX_LOCAL_SYSTEM %s\n#define NIX_SUPPORT_ACL 1\n#define NIX_WITH_S3_SUPPORT 0\n#define NIX_WITH_AWS_AUTH 0\n#define NIX_WITH_CURL_S3 0\n' \
    "$system" >"$gen/cfg/nix/store/config.hh"
  printf '#pragma once\n#define GC_THREADS 1\n#define NIX_USE_BOEHMGC 1\n' >"$gen/cfg/nix/expr/config.hh"
  printf '#pragma once\n' >"$gen/cfg/nix/main/config.hh"
elif at_least 2 25; then
  mkdir -p "$gen/cfg"
  printf '#pragma once\n#define HAVE_SYSCONF 1\n#define HAVE_LIBCPUID 0\n' >"$gen/cfg/config-util.hh"
  printf '#pragma once\n#define SYSTEM %s\n#define PACKAGE_VERSION "%s"\n#define HAVE_ACL_SUPPORT 1\n#define HAVE_SECCOMP 0\n#define ENABLE_S3 0\n#define CAN_LINK_SYMLINK 1\n' \
    "$system" "$version" >"$gen/cfg/config-store.hh"
  printf '#pragma once\n#define GC_THREADS 1\n#define HAVE_BOEHMGC 1\n' >"$gen/cfg/config-expr.hh"
  printf '#pragma once\n' >"$gen/cfg/config-main.hh"
else
  mkdir -p "$gen/cfg"
  printf '#define PACKAGE_NAME "nix"\n#define PACKAGE_VERSION "%s"\n#define SYSTEM %s\n#define HAVE_BOEHMGC 1\n#define HAVE_STRUCT_DIRENT_D_TYPE 1\n#define HAVE_PUBSETBUF 1\n#define HAVE_SECCOMP 0\n#define HAVE_ACL_SUPPORT 1\n#define CAN_LINK_SYMLINK 1\n#define ENABLE_S3 0\n' \
    "$version" "$system" >"$gen/cfg/config.h"
fi

# Nix's include directories, as its build passes them (the headers' own layout).
includes=(-I"$gen/gcfix" -I"$gen/cfg")
for lib in util store fetchers expr main; do
  if at_least 2 28; then
    dirs=("$src/src/lib$lib/include" "$src/src/lib$lib/unix/include" "$src/src/lib$lib/linux/include")
  else
    dirs=("$src/src/lib$lib" "$src/src/lib$lib/unix" "$src/src/lib$lib/linux")
  fi
  for d in "${dirs[@]}"; do [[ -d $d ]] && includes+=(-I"$d"); done
done
includes+=(-I"$cxxbridge")

# The C++ standard of the version's pkg-config Cflags (g++ 12 spells C++23 c++2b).
if at_least 2 31; then std=c++2b; elif at_least 2 9; then std=c++2a; else std=c++17; fi

status=0
for f in "$repo"/cpp/*.cc; do
  if "$cxx" -fsyntax-only -std=$std -Wall "${extra[@]}" "${includes[@]}" \
      -DNFM_NIX_MAJOR="$major" -DNFM_NIX_MINOR="$minor" -DNFM_NIX_VERSION="\"$version\"" "$f"; then
    echo "check-compat.sh: Nix $version: ${f#"$repo"/}: ok"
  else
    echo "check-compat.sh: Nix $version: ${f#"$repo"/}: FAILED" >&2
    status=1
  fi
done
if (( status != 0 )) && at_least 2 31; then
  echo "check-compat.sh: Nix $version needs C++23 (std::views::zip: libstdc++ 13 or libc++)" \
    "and, from 2.32, newer Boost headers: see the top of this script" >&2
fi
exit $status
