"""Read the models of $HF_HUB_CACHE offline (run by run.sh after mkShellHook's exports)."""
import os
import sys

assert os.environ.get("HF_HUB_OFFLINE") == "1" and os.environ.get("TRANSFORMERS_OFFLINE") == "1"
from huggingface_hub import hf_hub_download, scan_cache_dir, snapshot_download
from transformers import AutoConfig, AutoTokenizer

repo = "sentence-transformers/all-MiniLM-L6-v2"
snapshot = snapshot_download(repo)
package = os.path.join(os.environ["NFM_PKG"], "model")
for name in ("config.json", "tokenizer.json", "model.safetensors"):
    with open(os.path.join(snapshot, name), "rb") as ours, open(os.path.join(package, name), "rb") as theirs:
        assert ours.read() == theirs.read(), f"{name} differs from the package's copy"
config = AutoConfig.from_pretrained(repo)
assert config.model_type == "bert", config.model_type
tokens = AutoTokenizer.from_pretrained(repo)("Reproducible models in the Nix store")["input_ids"]
assert tokens[0] == 101 and len(tokens) > 4, tokens
train = hf_hub_download("fake-org/tiny-dataset", "data/train.csv", repo_type="dataset")
assert open(train).read().strip(), "empty train.csv"
repos = {(r.repo_type, r.repo_id) for r in scan_cache_dir().repos}
assert repos == {("model", repo), ("dataset", "fake-org/tiny-dataset")}, repos
print(f"{repo}: {config.model_type}, {len(tokens)} tokens; tiny-dataset; scan_cache_dir sees both")
