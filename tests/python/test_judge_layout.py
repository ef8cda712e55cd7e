"""huggingface_hub, the reference client, judges our output.

Offline: with HF_HUB_OFFLINE=1 and HF_HUB_CACHE holding `models--org--name` -> our output,
snapshot_download, hf_hub_download and try_to_load_from_cache find every file with the right
bytes, and scan_cache_dir lists the repo with its refs and reports nothing corrupted.

Online: huggingface_hub's own snapshot_download from the fake Hub writes the same blobs/,
refs/ and snapshots/ (names, link targets, bytes) as we do.
"""

from __future__ import annotations

import hashlib
import json

import pytest

import ours

CASES = [
    # (repo, repo_type, revision, fixture folder holding that revision's files)
    ("fake-org/tiny-model", None, None, "models/fake-org/tiny-model"),
    ("fake-org/multi-rev", None, "refs/pr/1", "models/fake-org/multi-rev/rev-pr1"),
    ("fake-org/multi-rev", None, "v1.0", "models/fake-org/multi-rev/rev-v1"),
    ("fake-org/tiny-dataset", "dataset", None, "datasets/fake-org/tiny-dataset"),
]
IDS = [f"{repo}@{revision or 'main'}" for repo, _, revision, _ in CASES]


def cache_folder(repo: str, repo_type: str | None) -> str:
    return f"{repo_type or 'model'}s--{repo.replace('/', '--')}"


@pytest.mark.parametrize("repo,repo_type,revision,fixture", CASES, ids=IDS)
def test_huggingface_hub_writes_the_same_tree(fake_hub, hf, tmp_path, repo, repo_type, revision, fixture):
    out = tmp_path / "ours"
    ours.fetch(fake_hub.endpoint, repo, out, revision=revision, repo_type=repo_type)
    hf.snapshot_download(repo, revision=revision, repo_type=repo_type)
    theirs = hf.cache / cache_folder(repo, repo_type)
    assert ours.tree(out) == ours.tree(theirs)


def test_same_selection_as_allow_and_ignore_patterns(fake_hub, hf, tmp_path):
    allow, ignore = ["*.json", "nested/", "*.md"], ["nested/dir/*", "tokenizer*"]
    out = tmp_path / "ours"
    ours.fetch(fake_hub.endpoint, "fake-org/tiny-model", out, files=allow, exclude=ignore)
    hf.snapshot_download("fake-org/tiny-model", allow_patterns=allow, ignore_patterns=ignore)
    theirs = hf.cache / cache_folder("fake-org/tiny-model", None)
    assert ours.tree(out) == ours.tree(theirs)
    snapshot = [p for p in ours.tree(out) if p.startswith("snapshots/") and p.count("/") >= 2]
    assert any(p.endswith("/config.json") for p in snapshot)
    assert not any("tokenizer" in p or "nested/dir" in p or p.endswith(".safetensors") for p in snapshot)


OFFLINE_CHECK = r"""
import hashlib, json, sys
from pathlib import Path
import huggingface_hub as hh

def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()

repo, repo_type, revision = sys.argv[1], sys.argv[2] or None, sys.argv[3] or None
expected = json.loads(sys.argv[4])
report = {}
snapshot = Path(hh.snapshot_download(repo, repo_type=repo_type, revision=revision))
report["snapshot_files"] = sorted(str(p.relative_to(snapshot)) for p in snapshot.rglob("*") if p.is_file())
report["hf_hub_download"] = {}
report["try_to_load_from_cache"] = {}
for path, sha in expected.items():
    report["hf_hub_download"][path] = sha256(hh.hf_hub_download(repo, path, repo_type=repo_type, revision=revision))
    cached = hh.try_to_load_from_cache(repo, path, repo_type=repo_type, revision=revision)
    report["try_to_load_from_cache"][path] = sha256(cached) if isinstance(cached, str) else repr(cached)
info = hh.scan_cache_dir()
report["warnings"] = [str(w) for w in info.warnings]
report["repos"] = [
    {"id": r.repo_id, "type": r.repo_type, "refs": sorted(r.refs),
     "revisions": [{"commit": rev.commit_hash, "refs": sorted(rev.refs), "files": sorted(f.file_name for f in rev.files)}
                   for rev in r.revisions],
     "nb_files": r.nb_files, "size_on_disk": r.size_on_disk}
    for r in info.repos
]
print(json.dumps(report))
"""


@pytest.mark.parametrize("repo,repo_type,revision,fixture", CASES, ids=IDS)
def test_huggingface_hub_reads_our_output_offline(fake_hub, hf, tmp_path, repo, repo_type, revision, fixture):
    out = tmp_path / "ours"
    ours.fetch(fake_hub.endpoint, repo, out, revision=revision, repo_type=repo_type)
    fake_hub.stop()
    hf.cache.mkdir(parents=True)
    (hf.cache / cache_folder(repo, repo_type)).symlink_to(out)

    files = ours.fixture_files(ours.FIXTURES / fixture)
    expected = {path: hashlib.sha256(data).hexdigest() for path, data in files.items()}
    result = hf.run_python(OFFLINE_CHECK, repo, repo_type or "", revision or "", json.dumps(expected),
                           HF_HUB_OFFLINE="1")
    report = json.loads(result.stdout)

    assert report["snapshot_files"] == sorted(expected)
    assert report["hf_hub_download"] == expected
    assert report["try_to_load_from_cache"] == expected
    assert report["warnings"] == [], "scan_cache_dir found the cache corrupted"
    [scanned] = report["repos"]
    assert scanned["id"] == repo and scanned["type"] == (repo_type or "model")
    assert scanned["refs"] == [revision or "main"]
    [snapshot] = scanned["revisions"]
    assert snapshot["refs"] == [revision or "main"]
    assert sorted(snapshot["files"]) == sorted(p.rsplit("/", 1)[-1] for p in expected)
    assert scanned["nb_files"] == len(set(expected.values()))
