"""source.git-lfs against a real git server (Debian's git http-backend behind lighttpd) and a real
Git LFS server (giftless), the repositories made and pushed by Debian's git and git-lfs."""

from __future__ import annotations

import hashlib
import json
import stat
import subprocess
from pathlib import Path

import pytest
from huggingface_hub import hf_hub_download, snapshot_download

from conftest import delete_path, hub_cache_with, is_valid
from servers.git_lfs import GitLfsServer, lfs_oid, pseudo_random_bytes

# The NAR hash of nothing that exists: never matches.
WRONG_HASH = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


def git_blob_id(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def spec_of(url: str, **source) -> dict:
    return {"source": {"git-lfs": {"url": url, **source}}, "network": {"retries": 0}}


@pytest.fixture
def server():
    with GitLfsServer() as server:
        yield server


@pytest.fixture
def no_git_credentials(tmp_path) -> dict:
    """An environment where git finds no credential helper (an empty global config)."""
    empty = tmp_path / "empty-gitconfig"
    empty.write_text("")
    return {"GIT_CONFIG_GLOBAL": str(empty), "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}


def test_three_ways_agree_and_huggingface_hub_reads_the_layout(nix, ways, server, tmp_path):
    repo = server.create_repo("org/tiny")
    fetched = ways.all_three(nix, spec_of(repo["url"]))
    assert is_valid(nix, fetched["path"])
    assert fetched["commit"] == repo["sha"]
    store = Path(fetched["path"])
    assert (store / "refs" / "main").read_text() == repo["sha"]
    files = repo["files"]
    # Blob names as the Hub's: sha256 of LFS files, the git blob id of the others.
    weights = files["model.safetensors"]
    assert (store / "blobs" / lfs_oid(weights)).read_bytes() == weights
    assert (store / "blobs" / git_blob_id(files["config.json"])).read_bytes() == files["config.json"]
    assert (store / "blobs" / git_blob_id(files["tokenizer/nested/vocab.txt"])).is_file()

    cache = hub_cache_with(tmp_path, fetched["path"], "models--org--tiny")
    config = hf_hub_download("org/tiny", "config.json", cache_dir=cache, local_files_only=True)
    assert Path(config).read_bytes() == files["config.json"]
    vocab = hf_hub_download("org/tiny", "tokenizer/nested/vocab.txt", cache_dir=cache, local_files_only=True)
    assert Path(vocab).read_bytes() == files["tokenizer/nested/vocab.txt"]
    snapshot = Path(snapshot_download("org/tiny", cache_dir=cache, local_files_only=True))
    assert snapshot.name == repo["sha"]
    assert sorted(str(p.relative_to(snapshot)) for p in snapshot.rglob("*") if not p.is_dir()) == [
        ".gitattributes", ".lfsconfig", "config.json", "model.safetensors", "tokenizer/nested/vocab.txt"]
    assert (snapshot / "model.safetensors").read_bytes() == weights


def test_the_default_lfs_endpoint_a_selection_and_a_commit_as_rev(ways, server):
    """No .lfsconfig: the LFS endpoint is <remote>/info/lfs, as git-lfs derives it. `files`
    keeps the LFS file and a nested plain one; a commit as the rev writes no refs/."""
    repo = server.create_repo("org/plain-endpoint", lfsconfig=False)
    spec = spec_of(repo["url"], rev=repo["sha"], files=["*.safetensors", "tokenizer/*"])
    fetched = ways.prefetch(spec, args=("--json", "--no-add"))
    assert fetched["report"]["files"] == ["model.safetensors", "tokenizer/nested/vocab.txt"]
    assert fetched["commit"] == repo["sha"]
    fetched = ways.prefetch(spec)
    store = Path(fetched["path"])
    assert not (store / "refs").exists()
    # The repo has no .lfsconfig: its LFS object came through <remote>/info/lfs.
    assert (store / "blobs" / lfs_oid(repo["files"]["model.safetensors"])).is_file()
    everything = ways.prefetch(spec_of(repo["url"], rev=repo["sha"]), args=("--json", "--no-add"))
    assert ".lfsconfig" not in everything["report"]["files"]


def test_a_cache_hit_needs_no_server(nix, ways):
    with GitLfsServer() as server:
        repo = server.create_repo("org/cached")
        spec = spec_of(repo["url"])
        fetched = ways.prefetch(spec)
    pinned = dict(spec, hash=fetched["hash"])
    pinned["source"]["git-lfs"]["commit"] = fetched["commit"]
    ways.found_in_the_store(nix, pinned, fetched)


def test_a_wrong_hash_is_refused_by_each_way(nix, ways, server):
    repo = server.create_repo("org/wrong-hash")
    ways.refused_by_each_way(nix, dict(spec_of(repo["url"]), hash=WRONG_HASH))


def test_the_pin_holds_when_main_moves(nix, ways, server):
    first = server.create_repo("org/moving")
    spec = spec_of(first["url"])
    fetched = ways.prefetch(spec)
    pin = fetched["report"]["pin"]
    assert pin["source"]["git-lfs"] == {"url": first["url"], "commit": first["sha"]}
    second = server.commit("org/moving", server.default_files(version=2))
    assert server.remote_head("org/moving") == second != first["sha"]
    # In the store: the pin gives it without asking the server.
    assert ways.plugin(nix, pin)["path"] == fetched["path"]
    delete_path(nix, fetched["path"])
    # Fetched again: rev = "main" with the commit still gives the first tree.
    again = ways.plugin(nix, pin)
    assert (again["path"], again["commit"]) == (fetched["path"], first["sha"])
    moved = ways.prefetch(spec, args=("--json", "--no-add"))
    assert moved["commit"] == second and moved["hash"] != fetched["hash"]


def test_a_commit_the_remote_lacks_is_named(ways, server):
    repo = server.create_repo("org/lacking")
    missing = "0" * 39 + "1"
    done = ways.prefetch(spec_of(repo["url"], commit=missing), check=False)
    assert done.returncode != 0
    assert f"commit {missing} (source.git-lfs.commit) is not on {repo['url']} in the history of 'main'" in done.stderr, done.stderr
    done = ways.prefetch(spec_of(repo["url"], rev="nope"), check=False)
    assert done.returncode != 0
    assert "rev 'nope' is neither a branch nor a tag of" in done.stderr, done.stderr


def drop_lfs_object(server: GitLfsServer, content: bytes) -> None:
    stored = [p for p in (server.root / "lfs-storage").rglob(lfs_oid(content)) if p.is_file()]
    assert stored, "giftless stores the object under its oid"
    for path in stored:
        path.unlink()


def test_an_lfs_object_the_server_lacks_is_a_clear_error(ways, server):
    files = GitLfsServer.default_files()
    files["extra.safetensors"] = pseudo_random_bytes(4096, "extra")
    repo = server.create_repo("org/lost", files=files)
    drop_lfs_object(server, files["extra.safetensors"])
    # One object of two lacking: the batch answers it with a per-object error.
    done = ways.prefetch(spec_of(repo["url"]), check=False)
    assert done.returncode != 0
    oid = lfs_oid(files["extra.safetensors"])
    assert f"extra.safetensors is a Git LFS pointer to object {oid} (4096 bytes), which the LFS server" in done.stderr, done.stderr
    assert "git lfs push --all origin" in done.stderr
    # The only object asked for lacking: giftless answers the whole batch with 404.
    done = ways.prefetch(spec_of(repo["url"], files=["extra.safetensors"]), check=False)
    assert done.returncode != 0
    assert f"is a Git LFS pointer to object {oid}" in done.stderr, done.stderr
    # Left out, the rest fetches.
    fetched = ways.prefetch(spec_of(repo["url"], exclude=["extra.safetensors"]), args=("--json", "--no-add"))
    assert "extra.safetensors" not in fetched["report"]["files"]


def test_credentials_from_git_helpers_and_netrc_stay_out_of_the_store(nix, ways, netrc_dir, no_git_credentials, tmp_path):
    with GitLfsServer(auth=True) as server:
        repo = server.create_repo("org/private")
        spec = spec_of(repo["url"])

        refused = ways.prefetch(spec, env=no_git_credentials, check=False)
        assert refused.returncode != 0
        assert "HTTP 401" in refused.stderr and "the git remote wants credentials" in refused.stderr, refused.stderr
        assert "git credential fill" in refused.stderr and "netrc" in refused.stderr

        # git's credential helper (a store holding the git password only): the LFS server refuses.
        store = tmp_path / "git-only-credentials"
        store.write_text(f"http://{server.git_user}:{server.git_password}@127.0.0.1%3a{server.git_port}\n")
        git_only = tmp_path / "git-only-gitconfig"
        git_only.write_text(f"[credential]\n\thelper = store --file={store}\n")
        refused = ways.prefetch(spec, env=dict(no_git_credentials, GIT_CONFIG_GLOBAL=str(git_only)), check=False)
        assert refused.returncode != 0
        assert "HTTP 401" in refused.stderr and "the LFS server wants credentials" in refused.stderr, refused.stderr
        assert f"127.0.0.1:{server.lfs_port}" in refused.stderr

        # Both in the helper's store (the server's own client config): the CLI and the plugin.
        helpers = dict(no_git_credentials, GIT_CONFIG_GLOBAL=str(server.gitconfig))
        by_helper = ways.prefetch(spec, env=helpers, args=("--json", "--no-add"))
        by_plugin = ways.plugin(nix, dict(spec, hash=by_helper["hash"]), env=helpers)
        assert by_plugin["path"] == by_helper["path"]
        delete_path(nix, by_plugin["path"])

        # A wrong password in netrc is named.
        local = spec_of(repo["url"].replace("127.0.0.1", "localhost"))
        wrong = netrc_dir / "wrong"
        wrong.write_text(f"machine localhost login {server.git_user} password not-{server.git_password}\n")
        refused = ways.prefetch(local, env=dict(no_git_credentials, NETRC=str(wrong)), check=False)
        assert refused.returncode != 0
        assert f"refused the credentials {wrong} holds for localhost" in refused.stderr, refused.stderr

        # netrc, which the fixed-output builder reads too: the git remote as localhost, the LFS
        # server (lfs.url of .lfsconfig) as 127.0.0.1, so that one file holds both.
        good = netrc_dir / "netrc"
        good.write_text(f"machine localhost login {server.git_user} password {server.git_password}\n"
                        f"machine 127.0.0.1 login _jwt password {server.lfs_token}\n")
        good.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
        fetched = ways.all_three(nix, local, env=dict(no_git_credentials, NETRC=str(good)))
    assert fetched["hash"] == by_helper["hash"]
    nar = nix.run("nix-store", "--dump", fetched["path"], text=False).stdout
    for secret in (server.git_password, server.lfs_token):
        assert secret.encode() not in nar
        assert secret not in json.dumps(fetched["report"])


def test_prefetch_prints_a_pin_to_paste(nix, ways, server, tmp_path):
    repo = server.create_repo("org/pasted")
    text = subprocess.run([str(ways.cli), "prefetch", f"git-lfs:{repo['url']}@main", "--nix", "--no-add"],
                          capture_output=True, text=True, env=ways.env())
    assert text.returncode == 0, text.stderr
    assert 'source.git-lfs = {' in text.stdout and f'commit = "{repo["sha"]}";' in text.stdout, text.stdout
    pasted = tmp_path / "pin.nix"
    pasted.write_text(text.stdout)
    expr = f"let m = builtins.fetchModel (import {pasted}); in [ m.outPath m.commit ]"
    done = nix.run("nix-instantiate", *nix.options(), "--eval", "--strict", "--json", "-E", expr, env=ways.env())
    assert done.returncode == 0, done.stderr
    path, commit = json.loads(done.stdout)
    assert path.endswith("-models--org--pasted") and commit == repo["sha"]
