"""prefetch remembers: what the store holds of a commit answers without a download; its report
ends with the block to paste; references as `hf download` users write them."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import env_for, move_branch, nfm, write_repo

FILES = {"config.json": '{"model_type": "bert"}\n', "model.safetensors": b"\x00weights" * 4096}


def downloads(hub) -> list[str]:
    """The requests of the log that download a file: `resolve` on the Hub, and the CDN's."""
    return [f"{e['origin']} {e['method']} {e['path']}" for e in hub.log()
            if e["origin"] == "cdn" or "/resolve/" in e["path"]]


@pytest.fixture
def model(hub_root, start_hub, tmp_path, request):
    """A repo of the fake Hub (its name unique to the test, so that its store path is its own),
    the hub, and an environment with a memory of its own."""
    name = "org/" + request.node.name.replace("_", "-")[5:45].strip("-")
    repo = write_repo(hub_root / "models" / name, {**FILES, "notes.md": request.node.name})
    hub = start_hub()
    env = env_for(hub, XDG_CACHE_HOME=str(tmp_path / "cache"))
    return name, repo, hub, env


def prefetch(*args: str, env, check=True):
    return nfm("prefetch", *args, "--json", env=env, check=check)


def report(*args: str, env) -> dict:
    return json.loads(prefetch(*args, env=env).stdout)


def test_a_second_prefetch_downloads_nothing_and_says_it_came_from_the_store(model):
    name, _, hub, env = model
    first = report(f"hf:{name}", env=env)
    assert first["downloaded"] and downloads(hub)
    hub.clear_log()
    second = report(f"hf:{name}", env=env)
    assert downloads(hub) == []
    assert not second["downloaded"]
    # One API call: where the revision points; no listing.
    assert [entry["path"] for entry in hub.log()] == [f"/api/models/{name}/revision/main"], hub.log()
    for key in ("hash", "storePath", "commit", "files", "size", "pin"):
        assert second[key] == first[key], key
    text = nfm("prefetch", f"hf:{name}", env=env).stdout
    assert "from the store" in text and "nothing downloaded" in text
    assert downloads(hub) == []


def test_a_path_gone_from_the_store_is_downloaded_again(model):
    name, _, hub, env = model
    first = report(f"hf:{name}", env=env)
    subprocess.run(["nix-store", "--delete", first["storePath"]], check=True,
                   capture_output=True)
    hub.clear_log()
    again = report(f"hf:{name}", env=env)
    assert again["downloaded"] and downloads(hub)
    assert (again["hash"], again["storePath"]) == (first["hash"], first["storePath"])
    hub.clear_log()
    assert not report(f"hf:{name}", env=env)["downloaded"]
    assert downloads(hub) == []


def test_refresh_downloads_again(model):
    name, _, hub, env = model
    first = report(f"hf:{name}", env=env)
    hub.clear_log()
    again = report(f"hf:{name}", "--refresh", env=env)
    assert again["downloaded"] and downloads(hub)
    assert again["hash"] == first["hash"]


def test_a_corrupt_memory_is_ignored_and_replaced(model, tmp_path):
    name, _, hub, env = model
    first = report(f"hf:{name}", env=env)
    entries = list((tmp_path / "cache" / "nix-fetch-model" / "prefetched").iterdir())
    assert len(entries) == 1
    entries[0].write_text('{"hash": ')
    hub.clear_log()
    assert report(f"hf:{name}", env=env)["hash"] == first["hash"]
    assert downloads(hub)
    hub.clear_log()
    assert not report(f"hf:{name}", env=env)["downloaded"]
    assert downloads(hub) == []
    # An entry whose path is not that of its hash is not believed either.
    entry = json.loads(entries[0].read_text())
    entries[0].write_text(json.dumps({**entry, "hash": "sha256-" + "B" * 43 + "="}))
    assert report(f"hf:{name}", env=env)["downloaded"]


def test_hash_of_a_valid_path_downloads_nothing_and_a_wrong_one_is_a_mismatch(model, tmp_path):
    name, _, hub, env = model
    first = report(f"hf:{name}", env=env)
    other = env_for(hub, XDG_CACHE_HOME=str(tmp_path / "other-cache"))
    hub.clear_log()
    by_hash = report(f"hf:{name}", "--hash", first["hash"], env=other)
    assert hub.log() == []
    assert not by_hash["downloaded"]
    for key in ("hash", "storePath", "commit", "files", "pin"):
        assert by_hash[key] == first[key], key

    wrong = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    failed = prefetch(f"hf:{name}", "--hash", wrong, env=env, check=False)
    assert failed.returncode != 0 and failed.stdout == ""
    assert downloads(hub)
    assert "hash mismatch" in failed.stderr
    assert f"specified: {wrong}" in failed.stderr and first["hash"] in failed.stderr
    bad = nfm("prefetch", f"hf:{name}", "--hash", "sha256-nope", env=env, check=False)
    assert bad.returncode != 0 and "--hash" in bad.stderr


def test_a_moved_branch_gives_its_new_commit(model):
    name, repo, hub, env = model
    first = report(f"hf:{name}", env=env)
    move_branch(repo, "main", {"config.json": "{}", "notes.md": "moved"})
    hub.clear_log()
    moved = report(f"hf:{name}", env=env)
    assert moved["downloaded"] and downloads(hub)
    assert moved["commit"] != first["commit"] and moved["hash"] != first["hash"]


def test_the_report_ends_with_the_block_to_paste_and_json_has_it(model, tmp_path):
    name, _, hub, env = model
    text = nfm("prefetch", f"hf:{name}", env=env).stdout
    head, block = text.split("to pin it, pass this to fetchModel:\n")
    assert "hash:" in head and block.startswith("{") and block.rstrip().endswith("}")
    (tmp_path / "block.nix").write_text(block)
    names = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", "-E",
         f"builtins.attrNames (import {tmp_path / 'block.nix'})"],
        capture_output=True, text=True, check=True).stdout
    assert json.loads(names) == ["hash", "name", "source"]
    data = report(f"hf:{name}", env=env)
    assert data["nix"] == block.rstrip("\n")
    assert data["pin"]["hash"] == data["hash"]
    assert data["pin"]["source"]["huggingface"]["commit"] == data["commit"]


def test_nix_keeps_the_endpoint_given(model):
    name, _, hub, env = model
    block = nfm("prefetch", f"hf:{name}", "--endpoint", hub.endpoint, "--nix", env=env).stdout
    assert f'network.endpoint = "{hub.endpoint}";' in block
    pin = report(f"hf:{name}", "--endpoint", hub.endpoint, env=env)["pin"]
    assert pin["network"] == {"endpoint": hub.endpoint}
    assert "network" not in report(f"hf:{name}", env=env)["pin"]


@pytest.mark.parametrize("form", [
    "{name}",
    "https://huggingface.co/{name}",
    "{endpoint}/{name}/tree/v1",
    "hf://{name}@v1",
])
def test_hub_references_as_hf_download_users_write_them(hub_root, start_hub, tmp_path, form):
    name = "org/forms"
    repo = hub_root / "models" / name
    write_repo(repo / "rev-main", {"config.json": "{}"})
    write_repo(repo / "rev-v1", {"config.json": '{"v": 1}'})
    (repo / "_hub.json").write_text(json.dumps({"revisions": {"main": "rev-main", "v1": "rev-v1"}}))
    hub = start_hub()
    env = env_for(hub, XDG_CACHE_HOME=str(tmp_path / "cache"))
    expected = report(f"hf:{name}@v1" if "v1" in form else f"hf:{name}", env=env)
    given = report(form.format(name=name, endpoint=hub.endpoint), env=env)
    for key in ("repo", "revision", "commit", "hash", "pin"):
        assert given[key] == expected[key], key


def test_datasets_forms_and_flags(hub_root, start_hub, tmp_path):
    write_repo(hub_root / "datasets" / "org" / "data", {"train.csv": "a,b\n1,2\n"})
    hub = start_hub()
    env = env_for(hub, XDG_CACHE_HOME=str(tmp_path / "cache"))
    reports = [report(*args, env=env) for args in (
        ["datasets/org/data"],
        ["org/data", "--repo-type", "dataset", "--revision", "main"],
        [f"{hub.endpoint}/datasets/org/data"],
        ["hf://datasets/org/data"],
    )]
    assert {r["repoType"] for r in reports} == {"dataset"}
    assert len({r["hash"] for r in reports}) == 1

    both = nfm("prefetch", "datasets/org/data@main", "--revision", "v1", env=env, check=False)
    assert both.returncode == 2 or both.returncode == 1
    assert "names revision 'main', and --revision v1: give one" in both.stderr
    other_host = nfm("prefetch", "https://example.com/datasets/org/data", env=env, check=False)
    assert other_host.returncode != 0
    assert "is a URL of example.com, not of the Hub" in other_host.stderr


def test_a_dataset_asked_for_as_a_model_is_named_with_the_command(hub_root, start_hub, tmp_path):
    write_repo(hub_root / "datasets" / "org" / "data", {"train.csv": "a,b\n"})
    hub = start_hub()
    env = env_for(hub, XDG_CACHE_HOME=str(tmp_path / "cache"))
    failed = nfm("prefetch", "org/data", "--include", "*.csv", env=env, check=False)
    assert failed.returncode == 1
    assert "repo org/data (model) not found" in failed.stderr
    hint = "org/data is a dataset on the Hub: nix-fetch-model prefetch hf:datasets/org/data " \
           "--include '*.csv'"
    assert hint in failed.stderr, failed.stderr
    probes = [e["path"] for e in hub.log()]
    assert probes.index("/api/datasets/org/data") > probes.index("/api/models/org/data/revision/main")
    command = hint.split(": ", 1)[1].split()[2:]
    assert report(*[w.strip("'") for w in command], env=env)["repoType"] == "dataset"

    missing = nfm("prefetch", "org/nothing", env=env, check=False)
    assert "not found" in missing.stderr and "on the Hub:" not in missing.stderr
