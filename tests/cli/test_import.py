"""`import`: a repo folder huggingface_hub downloaded becomes the store path a fetch of that
commit gives, every file checked, nothing downloaded (but the missing files with --fill)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import env_for, nfm, write_repo

WEIGHTS = bytes(range(256)) * 12  # LFS by its extension
FILES = {"config.json": '{"a": 1}\n', "model.safetensors": WEIGHTS, "sub/notes.md": "hi\n"}


def snapshot_download(hub, cache: Path, repo: str, **kwargs) -> Path:
    """huggingface_hub's own snapshot_download from the fake Hub into the Hub cache `cache`."""
    code = ("import sys, json; from huggingface_hub import snapshot_download; "
            "print(snapshot_download(sys.argv[1], **json.loads(sys.argv[2])))")
    env = env_for(hub, HF_HUB_CACHE=str(cache), HF_HUB_DISABLE_PROGRESS_BARS="1")
    out = subprocess.run([sys.executable, "-c", code, repo, json.dumps(kwargs)], env=env,
                         capture_output=True, text=True, check=True).stdout
    return Path(out.strip().splitlines()[-1])


@pytest.fixture
def downloaded(hub_root, start_hub, tmp_path):
    """The fake Hub serving org/tiny, and a Hub cache where huggingface_hub downloaded it."""
    write_repo(hub_root / "models" / "org" / "tiny", FILES)
    hub = start_hub()
    cache = tmp_path / "hf-cache"
    snapshot = snapshot_download(hub, cache, "org/tiny")
    return hub, cache, snapshot


def store_path_is_valid(path: str) -> bool:
    if shutil.which("nix-store") is None:
        pytest.skip("nix-store is not on PATH: the store path cannot be checked")
    return subprocess.run(["nix-store", "--check-validity", path],
                          capture_output=True).returncode == 0


def prefetched(hub, *args: str) -> dict:
    return json.loads(nfm("prefetch", "hf:org/tiny", *args, "--no-add", "--json",
                          env=env_for(hub)).stdout)


def test_a_cache_huggingface_hub_wrote_imports_to_the_hash_prefetch_gives(downloaded):
    hub, cache, snapshot = downloaded
    hub.clear_log()
    env = env_for(hub, HF_HUB_CACHE=str(cache))
    imported = json.loads(nfm("import", "hf:org/tiny", "--json", env=env).stdout)
    # The listing came from the folder's trees/<commit>.json: the Hub was not asked at all.
    assert hub.log() == []
    expected = prefetched(hub)
    assert imported["hash"] == expected["hash"]
    assert imported["storePath"] == expected["storePath"]
    assert imported["commit"] == snapshot.name == expected["commit"]
    assert imported["pin"]["source"]["huggingface"]["commit"] == snapshot.name
    assert imported["addedToStore"] and store_path_is_valid(imported["storePath"])


def test_without_a_cached_listing_the_hubs_listing_is_used_and_nothing_downloaded(downloaded):
    hub, cache, snapshot = downloaded
    folder = cache / "models--org--tiny"
    shutil.rmtree(folder / "trees", ignore_errors=True)
    hub.clear_log()
    imported = json.loads(nfm("import", str(folder), "--no-add", "--json",
                              env=env_for(hub)).stdout)
    asked = [entry["path"] for entry in hub.log()]
    assert asked and all(path.startswith("/api/models/org/tiny/tree/") for path in asked), asked
    assert imported["hash"] == prefetched(hub)["hash"]


def test_a_selection_imports_as_prefetch_of_that_selection(downloaded):
    hub, cache, snapshot = downloaded
    env = env_for(hub, HF_HUB_CACHE=str(cache))
    imported = json.loads(nfm("import", f"hf:org/tiny@{snapshot.name}", "--exclude", "*.md",
                              "--no-add", "--json", env=env).stdout)
    assert imported["files"] == ["config.json", "model.safetensors"]
    expected = json.loads(nfm("prefetch", f"hf:org/tiny@{snapshot.name}", "--exclude", "*.md",
                              "--no-add", "--json", env=env_for(hub)).stdout)
    assert imported["hash"] == expected["hash"]


def test_a_snapshot_lacking_a_file_is_refused_and_fill_fetches_only_that_file(downloaded):
    hub, cache, snapshot = downloaded
    folder = cache / "models--org--tiny"
    lacking = snapshot / "sub" / "notes.md"
    (folder / "blobs" / os.readlink(lacking).split("/")[-1]).unlink()
    lacking.unlink()
    env = env_for(hub, HF_HUB_CACHE=str(cache))
    refused = nfm("import", "hf:org/tiny", "--no-add", env=env, check=False)
    assert refused.returncode == 1
    assert "lacks 1 of the 3 selected files:\n  sub/notes.md\n" in refused.stderr
    assert "--fill" in refused.stderr
    hub.clear_log()
    filled = json.loads(nfm("import", "hf:org/tiny", "--fill", "--no-add", "--json",
                            env=env).stdout)
    downloads = [e["path"] for e in hub.log() if e["method"] == "GET"]
    assert downloads == [f"/org/tiny/resolve/{snapshot.name}/sub/notes.md"], downloads
    assert filled["hash"] == prefetched(hub)["hash"]


def test_a_corrupt_blob_is_refused_naming_the_file(downloaded):
    hub, cache, snapshot = downloaded
    weights = (snapshot / "model.safetensors").resolve()
    weights.write_bytes(b"\xff" + WEIGHTS[1:])
    env = env_for(hub, HF_HUB_CACHE=str(cache))
    refused = nfm("import", "hf:org/tiny", "--no-add", env=env, check=False)
    assert refused.returncode == 1
    assert "model.safetensors: sha256 mismatch" in refused.stderr
    assert str(weights) in refused.stderr and "corrupt" in refused.stderr
    assert refused.stdout == ""


def test_a_revision_the_folder_has_no_ref_of_is_refused_with_its_snapshots(downloaded):
    hub, cache, snapshot = downloaded
    env = env_for(hub, HF_HUB_CACHE=str(cache))
    refused = nfm("import", "hf:org/tiny@v2", "--no-add", env=env, check=False)
    assert refused.returncode == 1
    assert "has no refs/v2" in refused.stderr and snapshot.name in refused.stderr
    missing = nfm("import", "hf:org/other", "--no-add", env=env, check=False)
    assert missing.returncode == 1 and "not in the Hub cache" in missing.stderr


def test_a_reference_is_found_in_hf_home_when_hf_hub_cache_is_unset(downloaded, tmp_path):
    hub, cache, snapshot = downloaded
    home = tmp_path / "hf-home"
    home.mkdir()
    cache.rename(home / "hub")
    imported = json.loads(nfm("import", "hf:org/tiny", "--no-add", "--json",
                              env=env_for(hub, HF_HOME=str(home))).stdout)
    assert imported["commit"] == snapshot.name
    assert imported["hash"] == prefetched(hub)["hash"]
