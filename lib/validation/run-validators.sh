# shellcheck shell=bash disable=SC2154  # the derivation sets out, src, validatorCount, validator_*
# Builder of a validation derivation: runs each validator over the model in $src, then makes
# $out the model's folder again, by links (not copies), plus validation/ with the report.
# Inputs: $src, $validatorCount, and for each i: validator_<i>_{name,command,onFailure,timeout,path}.
set -u
shopt -s nullglob

snapshots=("$src"/snapshots/*/)
if ((${#snapshots[@]} == 1)); then snapshot=${snapshots[0]%/}; else snapshot=$src; fi
export src snapshot

mkdir -p "$out/validation"
for entry in "$src"/* "$src"/.[!.]*; do ln -s "$entry" "$out/${entry##*/}"; done

results=()
for ((i = 0; i < validatorCount; i++)); do
  var() { local v="validator_${i}_$1"; printf '%s' "${!v}"; }
  name=$(var name) onFailure=$(var onFailure) timeout=$(var timeout)
  log="$out/validation/$name.log"
  if [[ $onFailure == skip ]]; then
    echo "validator $name: skipped"
    results+=("\"$name\": {\"status\": \"skipped\"}")
    continue
  fi
  echo "validator $name: running (timeout ${timeout}s)"
  start=$SECONDS
  (cd "$snapshot" && PATH="$(var path)$PATH" exec timeout --kill-after=5 "$timeout" bash -c "$(var command)") >"$log" 2>&1
  status=$?
  seconds=$((SECONDS - start))
  if ((status == 0)); then
    outcome=passed
  elif ((status == 124 || status == 137)); then
    outcome=timed-out
    echo "timed out after ${timeout}s" >>"$log"
  else
    outcome=failed
  fi
  results+=("\"$name\": {\"status\": \"$outcome\", \"exitStatus\": $status, \"seconds\": $seconds}")
  if [[ $outcome != passed ]]; then
    sed 's/^/  | /' "$log" >&2
    if [[ $onFailure == abort ]]; then
      echo "validation failed: validator $name $outcome (exit status $status) on $src." >&2
      echo "Its output is above. To accept the model anyway, set the validator's onFailure to \"warn\" or leave it out." >&2
      exit 1
    fi
    echo "warning: validator $name $outcome (exit status $status); going on, as its onFailure is \"warn\"" >&2
  else
    # Its last line of output, if it printed any, says what it checked.
    last=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1)
    echo "validator $name: passed${last:+ ($last)}"
  fi
done

{
  printf '{\n  "model": "%s",\n  "validators": {' "$src"
  sep=""
  for r in "${results[@]}"; do printf '%s\n    %s' "$sep" "$r"; sep=","; done
  printf '\n  }\n}\n'
} >"$out/validation/report.json"
