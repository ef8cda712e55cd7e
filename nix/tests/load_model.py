"""Load the VM test's model offline from $HF_HUB_CACHE (nix/tests/nixos-vm.nix runs it as a
login shell and as a service). Exits non-zero, with the reason, if anything is missing."""
import os

assert os.environ.get("HF_HUB_OFFLINE") == "1", "HF_HUB_OFFLINE is not 1"
from huggingface_hub import hf_hub_download, scan_cache_dir, snapshot_download
from transformers import PretrainedConfig

repo = "fake-org/tiny-model"
snapshot = snapshot_download(repo)
assert os.path.isfile(os.path.join(snapshot, "model.safetensors")), snapshot
config = PretrainedConfig.from_pretrained(repo)
assert config.hidden_size == 16, config
assert open(hf_hub_download(repo, "nested/file with space.txt")).read()
scan = scan_cache_dir()
assert [r.repo_id for r in scan.repos] == [repo] and not scan.warnings, (scan.repos, scan.warnings)
print(f"{repo} loaded offline from {os.environ['HF_HUB_CACHE']}")
