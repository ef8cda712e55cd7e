# shellcheck shell=bash
# Links models of the Nix store into a writable Hugging Face cache, beside the models that
# huggingface_hub downloaded there the usual way. home-manager's activation runs it (see
# nix/modules/home-manager.nix): `check` before anything is written, `link` after.
#
#   bash hub-links.sh check|link CACHE STATE STORE_DIR [NAME MODEL]...
#
# For each NAME (models--org--name) and MODEL (its store path), CACHE/NAME may be:
#   - missing, or a link into STORE_DIR (an earlier generation's, mkHfSymlinks'): linked to MODEL;
#   - a folder holding MODEL's commit (snapshots/<commit>), downloaded the usual way: left as it
#     is, with a note (huggingface_hub finds the commit there);
#   - anything else, such as a folder holding other commits: refused. `check` lists every
#     refusal and fails, so the activation stops before anything is written.
# `link` also removes the links it made earlier (listed in STATE) whose model is no longer
# configured, and never touches anything but links into STORE_DIR.
# DRY_RUN set (home-manager switch --dry-run): says what it would do. VERBOSE set: says what it does.
set -euo pipefail

mode=$1 cache=$2 state=$3 store=$4
shift 4
if [[ $mode != check && $mode != link ]] || (($# % 2)); then
  echo "hub-links.sh: usage: hub-links.sh check|link CACHE STATE STORE_DIR [NAME MODEL]..." >&2
  exit 2
fi

names=() models=()
while (($#)); do names+=("$1") models+=("$2"); shift 2; done

say() { if [[ -n ${VERBOSE:-} || -n ${DRY_RUN:-} ]]; then echo "nix-fetch-model: $*"; fi; }
run() { if [[ -n ${DRY_RUN:-} ]]; then echo "nix-fetch-model: would run: $*"; else "$@"; fi; }

# The commits a cache folder holds: the names in its snapshots/, one a line.
commits_of() {
  local snapshot
  for snapshot in "$1"/snapshots/*/; do
    [[ -d $snapshot ]] || continue
    snapshot=${snapshot%/}
    echo "${snapshot##*/}"
  done
}

# Why CACHE/NAME cannot become a link to MODEL (nothing when it can); "keep" for a folder that
# already holds MODEL's commit.
problem() { # name model
  local target=$cache/$1 model=$2 to ours theirs commit
  if [[ -L $target ]]; then
    to=$(readlink "$target")
    [[ $to == "$store"/* ]] && return 0
    echo "$target is a link to $to, which is not in $store: move it away, then switch again"
    return 0
  fi
  [[ -e $target ]] || return 0
  if [[ ! -d $target ]]; then
    echo "$target is a file, not a model's folder: move it away, then switch again"
    return 0
  fi
  ours=$(commits_of "$model")
  theirs=$(commits_of "$target")
  for commit in $ours; do
    if grep -qxF "$commit" <<<"$theirs"; then echo keep; return 0; fi
  done
  echo "$target holds $(commit_list "$theirs"), downloaded the usual way, not the pinned $(commit_list "$ours"): it is left as it is; move it away (or delete it) to use the pinned model, then switch again"
}

# "commit a", "commits a, b" or "no snapshot", from commits one a line.
commit_list() {
  local list
  list=$(tr '\n' ' ' <<<"$1" | sed 's/ *$//; s/ /, /g')
  case $list in
    "") echo "no snapshot" ;;
    *,*) echo "commits $list" ;;
    *) echo "commit $list" ;;
  esac
}

refusals=()
for i in "${!names[@]}"; do
  p=$(problem "${names[$i]}" "${models[$i]}")
  if [[ -n $p && $p != keep ]]; then refusals+=("$p"); fi
done

if [[ $mode == check ]]; then
  if ((${#refusals[@]})); then
    echo "nix-fetch-model: refusing to link models into the Hub cache $cache:" >&2
    printf '  - %s\n' "${refusals[@]}" >&2
    exit 1
  fi
  exit 0
fi

# link
status=0
if ((${#names[@]})); then run mkdir -p "$cache"; fi
for i in "${!names[@]}"; do
  name=${names[$i]} model=${models[$i]} target=$cache/${names[$i]}
  p=$(problem "$name" "$model")
  if [[ $p == keep ]]; then
    echo "nix-fetch-model: $target already holds the commit of $model (downloaded the usual way); left as it is" >&2
  elif [[ -n $p ]]; then
    echo "nix-fetch-model: refusing to link $name: $p" >&2
    status=1
  elif [[ -L $target && $(readlink "$target") == "$model" ]]; then
    :
  else
    say "linking $target -> $model"
    # A new link renamed over the old one: the cache never lacks the model while it changes.
    run ln -sfn "$model" "$cache/.$name.nix-fetch-model-new"
    run mv -fT "$cache/.$name.nix-fetch-model-new" "$target"
  fi
done

# The links an earlier run made whose model is no longer configured.
if [[ -f $state ]]; then
  while IFS=$'\t' read -r old_cache old_name; do
    [[ -n $old_name ]] || continue
    if [[ $old_cache == "$cache" ]]; then
      for name in "${names[@]}"; do [[ $name == "$old_name" ]] && continue 2; done
    fi
    target=$old_cache/$old_name
    if [[ -L $target && $(readlink "$target") == "$store"/* ]]; then
      say "removing $target, whose model is no longer configured"
      run rm -f "$target"
    fi
  done <"$state"
fi

# What this run linked, for the next one.
if [[ -z ${DRY_RUN:-} ]]; then
  mkdir -p "$(dirname "$state")"
  : >"$state.new"
  for name in "${names[@]}"; do
    if [[ -L $cache/$name && $(readlink "$cache/$name") == "$store"/* ]]; then
      printf '%s\t%s\n' "$cache" "$name" >>"$state.new"
    fi
  done
  mv -f "$state.new" "$state"
fi
exit "$status"
