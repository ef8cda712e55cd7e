#!/usr/bin/env bash
# Install the real servers that tests start (tests/support/servers/): for each server <name>,
# whatever of these files exists in tests/support/servers/:
#
#   <name>.apt               Debian packages, one a line: apt-get installs those missing
#   <name>.requirements.txt  pip pins (best a full lock): a venv at $NFM_SERVERS_DIR/<name>
#   <name>.npm               npm packages, one `package@version` a line: npm install into
#                            $NFM_SERVERS_DIR/<name>
#
# Blank lines and lines starting with # are ignored. $NFM_SERVERS_DIR defaults to <repo>/.servers
# (gitignored). Idempotent: a venv or npm folder keeps a stamp of its file (and of the Python or
# Node version); when the stamp matches, nothing is done. Run as root on Debian 12 (apt-get).
#
#   bash scripts/setup-servers.sh            # every server
#   bash scripts/setup-servers.sh s3 azure   # only these
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
specs=$repo/tests/support/servers
dest=${NFM_SERVERS_DIR:-$repo/.servers}
python=${PYTHON:-python3}

say() { echo "setup-servers.sh: $*"; }
die() { echo "setup-servers.sh: $*" >&2; exit 1; }
# The file's lines less comments and blanks.
entries() { sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e 's/^[[:space:]]*//' "$1" | grep -v '^$' || true; }

names=("$@")
if ((${#names[@]} == 0)); then
  for file in "$specs"/*.apt "$specs"/*.requirements.txt "$specs"/*.npm; do
    [[ -e $file ]] || continue
    base=$(basename "$file")
    names+=("${base%%.*}")
  done
  mapfile -t names < <(printf '%s\n' "${names[@]}" | sort -u)
fi
((${#names[@]})) || { say "no server files in $specs"; exit 0; }
for name in "${names[@]}"; do
  compgen -G "$specs/$name.*" >/dev/null || die "no files for server '$name' in $specs"
done

# --- Debian packages: those of the .apt files, and what the venvs and npm need.
installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; }
missing=()
need_venv=false need_npm=false
for name in "${names[@]}"; do
  if [[ -f $specs/$name.apt ]]; then
    while read -r package; do
      installed "$package" || missing+=("$package")
    done < <(entries "$specs/$name.apt")
  fi
  [[ -f $specs/$name.requirements.txt ]] && need_venv=true
  [[ -f $specs/$name.npm ]] && need_npm=true
done
if $need_venv && ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
  missing+=(python3-venv)
fi
if $need_npm && ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi
if ((${#missing[@]})); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  say "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp_of() { { cat "$1"; shift; "$@"; } | sha256sum | cut -d' ' -f1; }

# --- Python venvs.
for name in "${names[@]}"; do
  requirements=$specs/$name.requirements.txt
  [[ -f $requirements ]] || continue
  venv=$dest/$name
  stamp_file=$venv/.nfm-requirements.sha256
  stamp=$(stamp_of "$requirements" "$python" -c 'import sys; print(sys.version)')
  if [[ -x $venv/bin/python && -f $stamp_file && $(<"$stamp_file") == "$stamp" ]]; then
    say "$venv is up to date"
    continue
  fi
  if [[ -e $venv && ! -f $venv/pyvenv.cfg ]]; then
    die "$venv exists and is not a virtualenv; refusing to replace it"
  fi
  say "creating $venv from $(basename "$requirements")"
  rm -rf "$venv"
  mkdir -p "$dest"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --requirement "$requirements"
  echo "$stamp" > "$stamp_file"
done

# --- npm packages.
for name in "${names[@]}"; do
  list=$specs/$name.npm
  [[ -f $list ]] || continue
  prefix=$dest/$name
  stamp_file=$prefix/.nfm-npm.sha256
  stamp=$(stamp_of "$list" node --version)
  if [[ -d $prefix/node_modules && -f $stamp_file && $(<"$stamp_file") == "$stamp" ]]; then
    say "$prefix is up to date"
    continue
  fi
  mapfile -t packages < <(entries "$list")
  ((${#packages[@]})) || continue
  say "npm install ${packages[*]} into $prefix"
  rm -rf "$prefix"
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --save-exact --no-audit --no-fund --no-update-notifier \
    --loglevel=error "${packages[@]}" >/dev/null
  echo "$stamp" > "$stamp_file"
done

say "servers ready in $dest"
