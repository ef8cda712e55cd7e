#!/usr/bin/env bash
# Set up what building and testing the Nix plugin needs on Debian 12 (run as root; idempotent):
#   - Debian packages: nix-bin (Nix 2.8), meson, ninja, a C++ compiler, the -dev packages Nix's
#     headers include (Boost, nlohmann-json, bdw-gc, libarchive);
#   - Nix 2.8 headers, which Debian does not package: taken from `apt-get source nix`, installed
#     to $NFM_NIX28_PREFIX (default /opt/nix-2.8-dev) with a config.h and pkg-config files
#     pointing at Debian's libraries in /usr/lib/nix;
#   - Nix 2.26.3 with shared libraries in /opt/nix-2.26, from ../shared/nix/install-nix-2.26
#     beside the clone (or $NFM_SHARED_NIX/install-nix-2.26); skipped with a note if absent.
#
#   bash scripts/setup-nix.sh        then   scripts/build-plugin.sh 2.8 / 2.26
#
# Boost: the packages come as 1.81, as /opt/nix-2.26 needs them (1.74 and 1.81 -dev conflict).
# Debian built Nix 2.8 with Boost 1.74; the only Boost class in Nix's headers' data, boost::format,
# has the same layout in both versions.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=${NFM_NIX28_PREFIX:-/opt/nix-2.8-dev}
shared_nix=${NFM_SHARED_NIX:-$repo/../shared/nix}
export DEBIAN_FRONTEND=noninteractive

say() { echo "setup-nix.sh: $*"; }
die() { echo "setup-nix.sh: $*" >&2; exit 1; }

packages="nix-bin meson ninja-build pkgconf g++ dpkg-dev libboost1.81-dev libgc-dev
  nlohmann-json3-dev libarchive-dev"

install_packages() {
  # shellcheck disable=SC2086
  if dpkg -s $packages >/dev/null 2>&1; then
    return
  fi
  [[ $(id -u) == 0 ]] || die "missing Debian packages; run as root, or: apt-get install $packages"
  say "installing Debian packages"
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -q $packages >/dev/null
}

nix28_version() {
  dpkg-query -W -f '${source:Upstream-Version}' nix-bin
}

# The mirror apt already uses for bookworm, so the deb-src line follows the machine's configuration.
debian_mirror() {
  local uri
  uri=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [[ -n $uri ]] || uri=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
  [[ -n $uri ]] || die "no Debian mirror in apt's sources: add a 'deb-src <mirror> bookworm main' line"
  echo "$uri"
}

ensure_deb_src() {
  if grep -rqs '^deb-src .* bookworm main' /etc/apt/sources.list /etc/apt/sources.list.d/ ||
    grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/*.sources; then
    return
  fi
  say "adding a deb-src line for bookworm (apt-get source needs it)"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) bookworm main" \
    > /etc/apt/sources.list.d/nfm-deb-src.list
  apt-get update -qq
}

# Nix's configure output that its installed headers read; Debian configures with --enable-gc.
write_config_h() {
  local version=$1 system=$2
  cat > "$prefix/include/nix/config.h" <<EOF
/* Written by nix-fetch-model's scripts/setup-nix.sh for Debian's nix-bin $version. */
#define PACKAGE_NAME "nix"
#define PACKAGE_VERSION "$version"
#define SYSTEM "$system"
#define HAVE_BOEHMGC 1
#define HAVE_STRUCT_DIRENT_D_TYPE 1
#define HAVE_PUBSETBUF 1
#define HAVE_SECCOMP 1
#define CAN_LINK_SYMLINK 1
#define ENABLE_S3 0
EOF
}

write_pkg_config() {
  local version=$1 module libs requires
  mkdir -p "$prefix/lib/pkgconfig"
  for module in nix-store nix-expr nix-main; do
    case $module in
      nix-store) libs="-lnixstore -lnixutil" requires="" ;;
      nix-expr) libs="-lnixexpr" requires="nix-store bdw-gc" ;;
      nix-main) libs="-lnixmain" requires="nix-store" ;;
    esac
    cat > "$prefix/lib/pkgconfig/$module.pc" <<EOF
prefix=$prefix
libdir=/usr/lib/nix
includedir=\${prefix}/include

Name: $module
Description: Nix $version headers (from Debian's source package) and Debian's libraries
Version: $version
Requires: $requires
Libs: -L\${libdir} -Wl,-rpath,\${libdir} $libs
Cflags: -I\${includedir}/nix -std=c++17
EOF
  done
}

install_nix28_headers() {
  local version stamp work src
  version=$(nix28_version)
  stamp="$prefix/.nix-version"
  if [[ -f $stamp && $(<"$stamp") == "$version" ]]; then
    say "Nix $version headers in $prefix are up to date"
    return
  fi
  ensure_deb_src
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  say "fetching the source of Debian's nix $version (apt-get source)"
  (cd "$work" && apt-get source -qq "nix=$(dpkg-query -W -f '${source:Version}' nix-bin)" >/dev/null 2>&1) ||
    (cd "$work" && apt-get source -qq nix >/dev/null) ||
    die "apt-get source nix failed: check the deb-src line and run apt-get update"
  src=$(find "$work" -maxdepth 1 -type d -name "nix-$version*" | head -n1)
  [[ -n $src && -f $src/src/libexpr/eval.hh ]] || die "no unpacked nix-$version source in $work"
  rm -rf "$prefix"
  mkdir -p "$prefix/include/nix/flake" "$prefix/include/nix/builtins" "$prefix/include/nix/build"
  # The header layout of Nix 2.8's `make install` (local.mk, src/*/local.mk).
  cp "$src"/src/lib*/*.hh "$prefix/include/nix/"
  cp "$src"/src/libexpr/flake/*.hh "$prefix/include/nix/flake/"
  cp "$src"/src/libstore/builtins/*.hh "$prefix/include/nix/builtins/"
  cp "$src"/src/libstore/build/*.hh "$prefix/include/nix/build/"
  write_config_h "$version" "$(uname -m)-linux"
  write_pkg_config "$version"
  echo "$version" > "$stamp"
  say "Nix $version headers installed in $prefix"
}

install_nix226() {
  if [[ -x $shared_nix/install-nix-2.26 ]] || [[ -f $shared_nix/install-nix-2.26 ]]; then
    bash "$shared_nix/install-nix-2.26" >/dev/null
    say "Nix 2.26 ready in /opt/nix-2.26"
  elif [[ -x /opt/nix-2.26/bin/nix ]]; then
    say "Nix 2.26 already in /opt/nix-2.26"
  else
    say "SKIP Nix 2.26: no $shared_nix/install-nix-2.26 (set NFM_SHARED_NIX to its folder)"
  fi
}

install_packages
install_nix28_headers
install_nix226
