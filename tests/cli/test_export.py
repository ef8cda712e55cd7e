"""`export`: a model of the store linked (or copied) into a writable Hub cache beside the models
huggingface_hub downloaded there; huggingface_hub then finds it offline and its cache scan
reports no warnings. A ref that names another commit is refused, the cache left as it was."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import env_for, move_branch, nfm, write_repo

WEIGHTS = bytes(range(256)) * 12
TINY = {"config.json": '{"a": 1}\n', "model.safetensors": WEIGHTS, "sub/notes.md": "hi\n"}


def hf(cache: Path, code: str, hub=None, offline=True) -> str:
    """Python `code` with huggingface_hub, HF_HUB_CACHE=`cache`; its stdout."""
    env = env_for(hub, HF_HUB_CACHE=str(cache), HF_HUB_DISABLE_PROGRESS_BARS="1")
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def prefetch(hub, ref="hf:org/tiny") -> dict:
    report = json.loads(nfm("prefetch", ref, "--json", env=env_for(hub)).stdout)
    if not report["addedToStore"]:
        pytest.skip("the Nix store is not writable here: export needs a store path")
    return report


def scan(cache: Path) -> dict:
    code = ("from huggingface_hub import scan_cache_dir; import json; r = scan_cache_dir(); "
            "print(json.dumps({'warnings': [str(w) for w in r.warnings], 'repos': "
            "{x.repo_id: sorted(v.commit_hash for v in x.revisions) for x in r.repos}}))")
    return json.loads(hf(cache, code))


def offline_files(cache: Path, repo: str) -> dict:
    """What snapshot_download(local_files_only=True) and an offline hf_hub_download find."""
    code = (f"from huggingface_hub import snapshot_download, hf_hub_download; import json, os; "
            f"d = snapshot_download({repo!r}, local_files_only=True); "
            f"one = open(hf_hub_download({repo!r}, 'config.json')).read(); "
            f"files = {{os.path.relpath(os.path.join(r, f), d): open(os.path.join(r, f), 'rb').read().hex() "
            f"for r, _, fs in os.walk(d) for f in fs}}; "
            f"print(json.dumps({{'config': one, 'files': files}}))")
    return json.loads(hf(cache, code))


def tree(folder: Path) -> dict:
    """Every path below `folder` and what it is (a link's target, a file's bytes)."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            rel = str(path.relative_to(folder))
            out[rel] = os.readlink(path) if path.is_symlink() else (
                "dir" if path.is_dir() else path.read_bytes())
    return out


@pytest.fixture
def hub_and_cache(hub_root, start_hub, tmp_path):
    """org/tiny and org/other on the fake Hub; a Hub cache where huggingface_hub downloaded
    org/other the usual way."""
    write_repo(hub_root / "models" / "org" / "tiny", TINY)
    write_repo(hub_root / "models" / "org" / "other", {"config.json": '{"other": 1}\n'})
    hub = start_hub()
    cache = tmp_path / "hf-cache"
    hf(cache, "from huggingface_hub import snapshot_download; snapshot_download('org/other')",
       hub, offline=False)
    return hub, cache


def expected_files() -> dict:
    return {path: (content.encode() if isinstance(content, str) else content).hex()
            for path, content in TINY.items()}


def test_export_links_a_model_beside_downloaded_ones_and_huggingface_hub_finds_it(hub_and_cache):
    hub, cache = hub_and_cache
    model = prefetch(hub)
    out = nfm("export", model["storePath"], "--cache", str(cache), env=env_for()).stdout
    assert "linked (a new repo folder)" in out
    assert os.readlink(cache / "models--org--tiny") == model["storePath"]
    scanned = scan(cache)
    assert scanned["warnings"] == []
    assert scanned["repos"]["org/tiny"] == [model["commit"]]
    assert "org/other" in scanned["repos"]
    found = offline_files(cache, "org/tiny")
    assert found["files"] == expected_files() and found["config"] == TINY["config.json"]
    again = nfm("export", model["storePath"], "--cache", str(cache), env=env_for()).stdout
    assert "already linked" in again


def test_export_copy_writes_files_of_its_own(hub_and_cache):
    hub, cache = hub_and_cache
    model = prefetch(hub)
    nfm("export", model["storePath"], "--cache", str(cache), "--copy", env=env_for())
    folder = cache / "models--org--tiny"
    assert folder.is_dir() and not folder.is_symlink()
    blobs = list((folder / "blobs").iterdir())
    assert len(blobs) == 3 and not any(b.is_symlink() for b in blobs)
    assert all(os.access(b, os.W_OK) for b in blobs)
    assert (folder / "refs" / "main").read_text() == model["commit"]
    assert scan(cache)["warnings"] == []
    assert offline_files(cache, "org/tiny")["files"] == expected_files()
    assert not [p for p in cache.iterdir() if "nix-fetch-model" in p.name]


def test_export_merges_into_a_folder_of_the_same_commit_downloaded_in_part(hub_and_cache):
    hub, cache = hub_and_cache
    hf(cache, "from huggingface_hub import snapshot_download; "
       "snapshot_download('org/tiny', allow_patterns=['*.json'])", hub, offline=False)
    model = prefetch(hub)
    out = nfm("export", model["storePath"], "--cache", str(cache), env=env_for()).stdout
    assert "linked into the existing repo folder" in out
    folder = cache / "models--org--tiny"
    assert not folder.is_symlink()
    weights = folder / "snapshots" / model["commit"] / "model.safetensors"
    assert weights.resolve().is_relative_to(model["storePath"])
    assert scan(cache)["warnings"] == []
    assert offline_files(cache, "org/tiny")["files"] == expected_files()
    again = nfm("export", model["storePath"], "--cache", str(cache), env=env_for()).stdout
    assert "left as it is" in again


def test_export_refuses_a_ref_at_another_commit_and_leaves_the_cache_as_it_was(
        hub_root, hub_and_cache):
    hub, cache = hub_and_cache
    hf(cache, "from huggingface_hub import snapshot_download; snapshot_download('org/tiny')",
       hub, offline=False)
    folder = cache / "models--org--tiny"
    theirs = (folder / "refs" / "main").read_text()
    before = tree(folder)
    move_branch(hub_root / "models" / "org" / "tiny", "main", {"config.json": '{"a": 2}\n'})
    model = prefetch(hub)
    assert model["commit"] != theirs
    for mode in ([], ["--copy"]):
        refused = nfm("export", model["storePath"], "--cache", str(cache), *mode,
                      env=env_for(), check=False)
        assert refused.returncode == 1
        assert (f"its refs/main is commit {theirs}, not the exported {model['commit']}"
                in refused.stderr)
        assert "It is left as it is: move it away" in refused.stderr
        assert tree(folder) == before


def test_export_of_a_reference_fetches_it_and_refuses_a_foreign_link(hub_and_cache, tmp_path):
    hub, cache = hub_and_cache
    out = nfm("export", "hf:org/tiny", "--cache", str(cache), env=env_for(hub)).stdout
    if "not in the store" in out:
        pytest.skip("the Nix store is not writable here: export needs a store path")
    assert "linked (a new repo folder)" in out
    assert offline_files(cache, "org/tiny")["files"] == expected_files()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (cache / "models--org--tiny").unlink()
    (cache / "models--org--tiny").symlink_to(elsewhere)
    refused = nfm("export", "hf:org/tiny", "--cache", str(cache), env=env_for(hub), check=False)
    assert refused.returncode == 1 and "which is not in" in refused.stderr
    assert os.readlink(cache / "models--org--tiny") == str(elsewhere)


def test_export_replaces_its_own_link_but_not_one_whose_ref_names_another_commit(
        hub_root, hub_and_cache, tmp_path):
    hub, cache = hub_and_cache
    first = prefetch(hub)
    env = env_for(HF_HOME=str(tmp_path / "home"))
    nfm("export", first["storePath"], env=env)
    link = tmp_path / "home" / "hub" / "models--org--tiny"
    assert os.readlink(link) == first["storePath"]
    # The same commit, another selection: the link is replaced.
    json_only = json.loads(nfm("prefetch", "hf:org/tiny", "--include", "*.json", "--json",
                               env=env_for(hub)).stdout)
    out = nfm("export", json_only["storePath"], env=env).stdout
    assert "replacing a link to another store path" in out
    assert os.readlink(link) == json_only["storePath"]
    assert json_only["commit"] == first["commit"]
    # Another commit of main: refused, the link left as it is.
    move_branch(hub_root / "models" / "org" / "tiny", "main", {"config.json": '{"a": 2}\n'})
    moved = prefetch(hub)
    refused = nfm("export", moved["storePath"], env=env, check=False)
    assert refused.returncode == 1
    assert f"a link to {json_only['storePath']}" in refused.stderr
    assert "remove the link" in refused.stderr
    assert os.readlink(link) == json_only["storePath"]
