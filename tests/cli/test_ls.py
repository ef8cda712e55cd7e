"""`ls`: the files at a revision, their sizes and storage, and what --include/--exclude select
(the selection a fetch makes)."""

import json
import shutil
from pathlib import Path

from conftest import env_for, nfm, write_repo

WEIGHTS = bytes(range(256)) * 12  # 3072 bytes; LFS by its extension


def tiny(hub_root):
    return write_repo(hub_root / "models" / "org" / "tiny", {
        "config.json": '{"a": 1}\n',
        "model.safetensors": WEIGHTS,
        "sub/notes.md": "hi\n",
    })


def test_ls_lists_every_file_with_its_size_storage_and_the_total(hub_root, start_hub):
    tiny(hub_root)
    hub = start_hub()
    out = nfm("ls", "hf:org/tiny", env=env_for(hub)).stdout
    lines = out.splitlines()
    assert lines[0] == "repo:     org/tiny (model)"
    assert lines[1] == "revision: main"
    assert lines[2].startswith("commit:   ") and len(lines[2].split()[1]) == 40
    assert lines[3].split() == ["9", "B", "git", "config.json"]
    assert lines[4].split() == ["3.00", "KiB", "lfs", "model.safetensors"]
    assert lines[5].split() == ["3", "B", "git", "sub/notes.md"]
    assert lines[6] == "total:    3 files, 3.01 KiB"
    assert "selected" not in out


def test_ls_marks_what_include_and_exclude_select(hub_root, start_hub):
    tiny(hub_root)
    hub = start_hub()
    out = nfm("ls", "hf:org/tiny", "--include", "*.json", "--include", "sub/*",
              "--exclude", "*.md", env=env_for(hub)).stdout
    marked = [line.split()[-1] for line in out.splitlines() if line.startswith("+ ")]
    assert marked == ["config.json"]
    assert "selected: 1 file, 9 B (marked +)" in out


def test_ls_json_gives_files_totals_and_the_selection_prefetch_fetches(hub_root, start_hub):
    tiny(hub_root)
    hub = start_hub()
    env = env_for(hub)
    listed = json.loads(nfm("ls", "hf:org/tiny", "--exclude", "*.safetensors", "--json",
                            env=env).stdout)
    assert listed["repo"] == "org/tiny" and listed["revision"] == "main"
    assert listed["files"] == [
        {"path": "config.json", "size": 9, "storage": "git", "selected": True},
        {"path": "model.safetensors", "size": 3072, "storage": "lfs", "selected": False},
        {"path": "sub/notes.md", "size": 3, "storage": "git", "selected": True},
    ]
    assert listed["total"] == {"files": 3, "size": 3084}
    assert listed["selected"] == {"files": 2, "size": 12}
    fetched = json.loads(nfm("prefetch", "hf:org/tiny", "--exclude", "*.safetensors",
                             "--no-add", "--json", env=env).stdout)
    assert fetched["files"] == [f["path"] for f in listed["files"] if f["selected"]]
    assert fetched["commit"] == listed["commit"]


def test_ls_with_globs_that_match_nothing_still_shows_the_files(hub_root, start_hub):
    tiny(hub_root)
    hub = start_hub()
    listed = json.loads(nfm("ls", "hf:org/tiny", "--include", "*.gguf", "--json",
                            env=env_for(hub)).stdout)
    assert [f["selected"] for f in listed["files"]] == [False, False, False]
    assert listed["selected"] == {"files": 0, "size": 0}
    assert listed["include"] == ["*.gguf"]


def test_ls_of_a_missing_repo_says_so(hub_root, start_hub):
    hub = start_hub()
    result = nfm("ls", "hf:org/nothing", env=env_for(hub), check=False)
    assert result.returncode == 1
    assert "org/nothing" in result.stderr and result.stdout == ""


def test_ls_marks_xet_files(hub_root, start_hub):
    """The recorded Xet fixture: files the Hub lists with a xetHash are `xet`, other LFS files
    `lfs`, the rest `git`."""
    xet = Path(__file__).resolve().parents[1] / "support" / "fixtures" / "xet"
    shutil.copytree(xet / "repo" / "v1", hub_root / "models" / "fake-org" / "xet-model")
    hub = start_hub("--xet", str(xet / "cas"))
    listed = json.loads(nfm("ls", "hf:fake-org/xet-model", "--json", env=env_for(hub)).stdout)
    storage = {f["path"]: f["storage"] for f in listed["files"]}
    assert storage == {
        "config.json": "git",
        "legacy.bin": "lfs",
        "model.safetensors": "xet",
        "nested/repeated.bin": "xet",
        "random.bin": "xet",
        "tokenizer.model": "xet",
    }


def test_ls_takes_a_reference_as_hf_download_does(hub_root, start_hub):
    repo = write_repo(hub_root / "datasets" / "org" / "table", {"data.csv": "a,b\n1,2\n"})
    (repo / "v1").mkdir()
    (repo / "v1" / "data.csv").write_text("a\n")
    (repo / "_hub.json").write_text(json.dumps({"revisions": {"main": ".", "v1": "v1"}}))
    hub = start_hub()
    env = env_for(hub)
    listed = json.loads(nfm("ls", "org/table", "--repo-type", "dataset", "--revision", "v1", "--json",
                            env=env).stdout)
    assert (listed["repoType"], listed["revision"]) == ("dataset", "v1")
    assert listed["files"] == [{"path": "data.csv", "size": 2, "storage": "git", "selected": True}]
    by_url = json.loads(nfm("ls", f"{hub.endpoint}/datasets/org/table/tree/v1", "--json", env=env).stdout)
    assert by_url["commit"] == listed["commit"]
