"""source.url against real web servers: lighttpd (Range, a redirect, basic auth) and Python's
http.server (no Range)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from huggingface_hub import hf_hub_download, snapshot_download

from conftest import delete_path, hub_cache_with, is_valid
from servers.web import Lighttpd, PlainHttpServer

# The NAR hash of nothing that exists: never matches.
WRONG_HASH = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
BIG = 16 * 2**20 + 3_000_001  # two ranges of the engine's 16 MiB


@pytest.fixture
def served(tmp_path) -> Path:
    """A web root with files/ and private/, the same unique model in each."""
    root = tmp_path / "www"
    model = {
        "model.safetensors": os.urandom(BIG),
        "config.json": json.dumps({"model_type": "bert", "id": os.urandom(8).hex()}).encode(),
        "notes.txt": b"notes\n",
    }
    for folder in ("files", "private"):
        (root / folder).mkdir(parents=True)
        for name, content in model.items():
            (root / folder / name).write_bytes(content)
    root.chmod(0o755)
    return root


def spec_of(base: str, folder: str = "files", repo: str = "org/url-model") -> dict:
    return {
        "source": {"url": {"repo": repo, "urls": [
            {"url": f"{base}/{folder}/model.safetensors"},
            {"url": f"{base}/{folder}/config.json"},
            {"url": f"{base}/{folder}/notes.txt", "filename": "docs/notes.txt"},
        ]}},
        "network": {"retries": 0},
    }


def test_three_ways_agree_and_huggingface_hub_reads_the_layout(nix, ways, served, tmp_path):
    with Lighttpd(served) as web:
        fetched = ways.all_three(nix, spec_of(web.base_url))
    assert is_valid(nix, fetched["path"])
    cache = hub_cache_with(tmp_path, fetched["path"], "models--org--url-model")
    config = hf_hub_download("org/url-model", "config.json", cache_dir=cache, local_files_only=True)
    assert Path(config).read_bytes() == (served / "files" / "config.json").read_bytes()
    snapshot = Path(snapshot_download("org/url-model", cache_dir=cache, local_files_only=True))
    assert sorted(str(p.relative_to(snapshot)) for p in snapshot.rglob("*") if not p.is_dir()) == [
        "config.json", "docs/notes.txt", "model.safetensors"]
    assert snapshot.name == fetched["commit"]
    blob = hashlib.sha256((served / "files" / "model.safetensors").read_bytes()).hexdigest()
    assert (Path(fetched["path"]) / "blobs" / blob).stat().st_size == BIG


def test_a_server_without_range_and_a_redirect_give_the_same_hash(ways, served):
    with Lighttpd(served) as web:
        ranged = ways.prefetch(spec_of(web.base_url), args=("--json", "--no-add"))
        moved = ways.prefetch(spec_of(web.base_url, folder="moved"), args=("--json", "--no-add"))
    with PlainHttpServer(served) as plain:
        whole = ways.prefetch(spec_of(plain.base_url), args=("--json", "--no-add"))
    assert ranged["hash"] == moved["hash"] == whole["hash"]
    assert ranged["commit"] == moved["commit"] == whole["commit"]


def test_a_wrong_sha256_names_the_file_and_adds_nothing(ways, served):
    spec = spec_of("")
    with Lighttpd(served) as web:
        spec = spec_of(web.base_url)
        spec["source"]["url"]["urls"][1]["sha256"] = hashlib.sha256(b"other").hexdigest()
        done = ways.prefetch(spec, check=False)
    assert done.returncode != 0
    assert "config.json: sha256 mismatch" in done.stderr, done.stderr


def test_a_wrong_hash_is_refused_by_each_way(nix, ways, served):
    with Lighttpd(served) as web:
        ways.refused_by_each_way(nix, dict(spec_of(web.base_url), hash=WRONG_HASH))


def test_credentials_come_from_netrc_and_stay_out_of_the_store(nix, ways, served, netrc_dir):
    with Lighttpd(served) as web:
        spec = spec_of(web.base_url, folder="private", repo="org/private-model")
        refused = ways.prefetch(spec, check=False)
        assert refused.returncode != 0
        assert "HTTP 401" in refused.stderr and "netrc" in refused.stderr and "machine 127.0.0.1" in refused.stderr, refused.stderr

        wrong = netrc_dir / "wrong"
        wrong.write_text(f"machine 127.0.0.1 login {web.username} password not-{web.password}\n")
        refused = ways.prefetch(spec, env={"NETRC": str(wrong)}, check=False)
        assert refused.returncode != 0
        assert f"refused the credentials {wrong} holds" in refused.stderr, refused.stderr

        good = netrc_dir / "netrc"
        good.write_text(f"machine 127.0.0.1 login {web.username} password {web.password}\n")
        good.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
        fetched = ways.all_three(nix, spec, env={"NETRC": str(good)})
    nar = nix.run("nix-store", "--dump", fetched["path"], text=False).stdout
    assert web.password.encode() not in nar
    assert web.password not in json.dumps(fetched["report"])


def test_a_cache_hit_needs_no_server(nix, ways, served):
    with Lighttpd(served) as web:
        spec = spec_of(web.base_url)
        fetched = ways.prefetch(spec)
    pinned = dict(spec, hash=fetched["hash"])
    ways.found_in_the_store(nix, pinned, fetched)


def test_the_pin_holds_when_the_file_at_the_url_changes(nix, ways, served):
    with Lighttpd(served) as web:
        spec = spec_of(web.base_url)
        fetched = ways.prefetch(spec)
        pin = fetched["report"]["pin"]
        assert all(entry["sha256"].startswith("sha256-") for entry in pin["source"]["url"]["urls"])
        (served / "files" / "config.json").write_bytes(b'{"model_type": "moved"}')
        # Still in the store: the pin gives what was fetched, without asking the server.
        assert ways.plugin(nix, pin)["path"] == fetched["path"]
        delete_path(nix, fetched["path"])
        moved = ways.plugin(nix, pin, check=False)
    assert moved.returncode != 0
    assert "config.json: sha256 mismatch" in moved.stderr, moved.stderr
    assert not is_valid(nix, fetched["path"])


def test_prefetch_prints_a_pin_to_paste(nix, ways, served, tmp_path):
    with Lighttpd(served) as web:
        url = f"{web.base_url}/files/config.json"
        text = subprocess.run([str(ways.cli), "prefetch", f"url:{url}", "--nix", "--no-add"],
                              capture_output=True, text=True, env=ways.env())
        assert text.returncode == 0, text.stderr
        pasted = tmp_path / "pin.nix"
        pasted.write_text(text.stdout)
        expr = f"let m = builtins.fetchModel (import {pasted}); in m.outPath"
        done = nix.run("nix-instantiate", *nix.options(), "--eval", "--strict", "--json", "-E", expr, env=ways.env())
    assert done.returncode == 0, done.stderr
    assert "models--url--config-json" in json.loads(done.stdout)
    assert 'sha256 = "sha256-' in text.stdout
