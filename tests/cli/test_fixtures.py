"""The fixtures themselves: a moved branch serves a new commit and keeps the old one."""

import json
import urllib.request

from conftest import move_branch, write_repo


def commit_of(hub, repo: str, revision: str) -> str:
    url = f"{hub.endpoint}/api/models/{repo}/revision/{revision}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)["sha"]


def test_a_moved_branch_points_at_a_new_commit_and_the_old_one_stays(hub_root, start_hub):
    repo = write_repo(hub_root / "models" / "org" / "tiny", {"config.json": "{}"})
    hub = start_hub()
    before = commit_of(hub, "org/tiny", "main")
    move_branch(repo, "main", {"config.json": '{"moved": true}'})
    after = commit_of(hub, "org/tiny", "main")
    assert after != before
    assert commit_of(hub, "org/tiny", before) == before


def test_an_lfs_file_kept_by_a_moved_branch_is_still_served(hub_root, start_hub):
    weights = bytes(range(256)) * 8
    repo = write_repo(hub_root / "models" / "org" / "kept", {"model.safetensors": weights})
    hub = start_hub()
    url = f"{hub.endpoint}/org/kept/resolve/main/model.safetensors"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == weights
    move_branch(repo, "main", {"model.safetensors": weights, "config.json": "{}"})
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == weights
