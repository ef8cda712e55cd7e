# shellcheck shell=bash disable=SC2154  # sourced by run.sh, which sets repo, work, here
# PARITY: every spec of tests/support/bad_specs.json gives the table's heading and problem lines
# through the library's check (validateConfigWith { hashRequired = false; }, as with the plugin)
# on this Nix, and through the Rust check (the CLI's fetch --spec). Sourced by run.sh.

run_parity_tests() {
  local table="$repo/tests/support/bad_specs.json" library cli=${NFM_BIN:-$repo/target/release/nix-fetch-model}
  if ! library=$(nix-instantiate --eval --strict --json --arg table "$table" -E '{ table }:
    let
      types = import '"$repo"'/lib/types.nix;
      check = case: let r = types.validateConfigWith { hashRequired = false; } case.spec; in
        { heading = if r.errors == [ ] then null else types.heading case.spec; problems = r.errors; };
    in map check (builtins.fromJSON (builtins.readFile table)).cases' 2>&1); then
    fail "parity: the library checks the table's specs" "$library"; return
  fi
  [[ -x $cli ]] || { skip "parity through the CLI: no $cli (set NFM_BIN or cargo build --release)"; cli=""; }
  eval "$(python3 "$here/parity.py" "$table" "$library" "$cli" "$work/parity-spec.json")"
}
