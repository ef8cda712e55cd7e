"""A pin holds when the branch moves: `revision = "main"` with `commit` and `hash` fetches the
tree huggingface_hub wrote when `main` was at that commit, after `main` has moved on the Hub.
huggingface_hub judges it: its own download of `main` before the move is the tree we must
write, and offline it finds the model in our output by the repo id alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import ours
from conftest import FIXTURES

REPO = "fake-org/moving"
MULTI_REV = FIXTURES / "models" / "fake-org" / "multi-rev"

OFFLINE_SNAPSHOT = r"""
import json, sys
from pathlib import Path
from huggingface_hub import snapshot_download
snapshot = Path(snapshot_download(sys.argv[1]))
print(json.dumps({"commit": snapshot.name,
                  "files": {str(p.relative_to(snapshot)): p.read_bytes().hex() for p in snapshot.rglob("*") if p.is_file()}}))
"""


def serve_main_from(repo: Path, folder: str, history: list[str]) -> None:
    (repo / "_hub.json").write_text(json.dumps({"revisions": {"main": folder}, "history": history}))


def moving_repo(tmp_path: Path, start_fake_hub):
    """A repo whose `main` is at the folder `old`, with `new` ready to move to, and its hub."""
    repo = tmp_path / "hub" / "models" / REPO
    shutil.copytree(MULTI_REV / "rev-v1", repo / "old")
    shutil.copytree(MULTI_REV / "rev-main", repo / "new")
    serve_main_from(repo, "old", [])
    return repo, start_fake_hub(root=tmp_path / "hub")


def test_a_commit_pin_holds_when_the_branch_moves(tmp_path, start_fake_hub, hf_client_for):
    repo, hub = moving_repo(tmp_path, start_fake_hub)
    judge = hf_client_for(hub)
    judge.snapshot_download(REPO)  # huggingface_hub's own download of main, before the move
    theirs = judge.cache / "models--fake-org--moving"

    pin = ours.prefetch(hub.endpoint, f"hf:{REPO}")["pin"]
    pinned_commit = pin["source"]["huggingface"]["commit"]
    assert pin["source"]["huggingface"]["revision"] == "main"
    assert pinned_commit == (theirs / "refs" / "main").read_text()
    spec = dict(pin, network={"endpoint": hub.endpoint})
    before = tmp_path / "before"
    assert ours.fetch_spec(spec, before).returncode == 0

    serve_main_from(repo, "new", ["old"])  # main moves on; its old commit stays on the Hub
    moved_commit = judge.repo_info(REPO)["sha"]
    assert moved_commit != pinned_commit
    hub.clear_log()
    after = tmp_path / "after"
    fetched = ours.fetch_spec(spec, after)

    assert fetched.returncode == 0, fetched.stderr
    assert ours.nar_hash(after) == ours.nar_hash(before) == pin["hash"]
    assert ours.tree(after) == ours.tree(theirs)
    assert (after / "refs" / "main").read_text() == pinned_commit
    asked = [entry["path"] for entry in hub.log()]
    assert not any("/revision/" in path for path in asked), asked

    offline = hf_client_for(hub)
    offline.cache.mkdir(parents=True)
    (offline.cache / "models--fake-org--moving").symlink_to(after)
    hub.stop()
    report = json.loads(offline.run_python(OFFLINE_SNAPSHOT, REPO, HF_HUB_OFFLINE="1").stdout)
    assert report["commit"] == pinned_commit
    assert report["files"] == {rel: data.hex() for rel, data in ours.fixture_files(repo / "old").items()}


def test_a_stale_hash_without_a_commit_names_the_commit_main_moved_to(tmp_path, start_fake_hub, hf_client_for):
    repo, hub = moving_repo(tmp_path, start_fake_hub)
    pin = ours.prefetch(hub.endpoint, f"hf:{REPO}")["pin"]
    unpinned = json.loads(json.dumps(pin)) | {"network": {"endpoint": hub.endpoint}}
    del unpinned["source"]["huggingface"]["commit"]

    serve_main_from(repo, "new", ["old"])
    moved_commit = hf_client_for(hub).repo_info(REPO)["sha"]
    fetched = ours.fetch_spec(unpinned, tmp_path / "out")

    assert fetched.returncode != 0
    assert f"specified: {pin['hash']}" in fetched.stderr
    assert "revision 'main' may have moved since the hash was pinned" in fetched.stderr
    assert f'source.huggingface.commit = "{moved_commit}";' in fetched.stderr
    assert not (tmp_path / "out").exists()
