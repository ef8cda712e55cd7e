"""source.git-xet against the fake Hub serving recorded Xet responses (--xet): the token route,
the reconstructions xet-core's own local CAS server answered, the xorbs it wrote
(tests/support/fixtures/xet, see its README). No Xet storage of the Hub's can run here; what
these tests show is that our client speaks the protocol as xet-core recorded it, that the real
client (huggingface_hub with hf_xet 1.8.0) reads the same recorded storage, and that both give
the bytes the Hub's resolve route gives. The last test runs xet-core's local CAS server itself
(tests/support/xet/tool, built by cargo the first time), with files hf-xet uploads to it."""

from __future__ import annotations

import array
import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import hf_hub_download, snapshot_download

from conftest import REPO_ROOT, delete_path, hub_cache_with, is_valid
from hub_process import FakeHub

XET = REPO_ROOT / "tests" / "support" / "fixtures" / "xet"
REPO = "fake-org/xet-model"
FOLDER = "models--fake-org--xet-model"
WRONG_HASH = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
# Files the fixture's Hub lists with a xetHash; config.json (kept in git) and legacy.bin (LFS, not
# uploaded to Xet) have none.
XET_FILES = ["model.safetensors", "nested/repeated.bin", "random.bin", "tokenizer.model"]


def make_repo(root: Path, **settings) -> Path:
    """The fixture repo under `root`: `v1` (what `main` holds) and `v2` (v1 with the files the
    second commit changed), and its _hub.json."""
    repo = root / "models" / REPO
    shutil.copytree(XET / "repo" / "v1", repo / "v1")
    shutil.copytree(repo / "v1", repo / "v2")
    shutil.copytree(XET / "repo" / "v2", repo / "v2", dirs_exist_ok=True)
    write_settings(repo, {"revisions": {"main": "v1"}, **settings})
    return repo


def write_settings(repo: Path, settings: dict) -> None:
    (repo / "_hub.json").write_text(json.dumps(settings))


@pytest.fixture
def hub_root(tmp_path) -> Path:
    root = tmp_path / "hub"
    make_repo(root)
    return root


@pytest.fixture
def hub(hub_root):
    hub = FakeHub(hub_root, ["--xet", str(XET / "cas")])
    yield hub
    hub.stop()


def xet_spec(hub: FakeHub, **source) -> dict:
    return {"source": {"git-xet": {"url": f"{hub.endpoint}/{REPO}", **source}}, "network": {"retries": 1}}


def hf_spec(hub: FakeHub, **source) -> dict:
    return {"source": {"huggingface": {"repo": REPO, **source}}, "network": {"endpoint": hub.endpoint, "retries": 1}}


def requests(hub: FakeHub) -> list[dict]:
    return [entry for entry in hub.log() if entry["method"] == "GET"]


def resolved(hub: FakeHub) -> set[str]:
    """The repo files asked for through the resolve route."""
    return {entry["path"].split("/resolve/", 1)[1].split("/", 1)[1] for entry in requests(hub) if "/resolve/" in entry["path"]}


def test_three_ways_agree_and_give_what_source_huggingface_gives(nix, ways, hub, tmp_path):
    fetched = ways.all_three(nix, xet_spec(hub))
    log = requests(hub)
    assert resolved(hub) == {"config.json", "legacy.bin"}, "Xet files came through the Xet protocol"
    assert any(e["path"].endswith("/xet-read-token/" + fetched["commit"]) for e in log)
    assert sum(e["path"].startswith("/v1/reconstructions/") for e in log) == 3 * len(XET_FILES)
    xorbs = [e for e in log if e["path"].startswith("/xorbs/")]
    assert xorbs and all(e["range"] and not e["auth"] for e in xorbs), "ranges, and no token to the storage's URLs"

    hub.clear_log()
    by_resolve = ways.prefetch(hf_spec(hub), args=("--json", "--no-add"))
    assert (by_resolve["hash"], by_resolve["path"], by_resolve["commit"]) == (fetched["hash"], fetched["path"], fetched["commit"])
    assert not any(e["path"].startswith(("/xorbs/", "/v1/")) for e in requests(hub))

    cache = hub_cache_with(tmp_path, fetched["path"], FOLDER)
    snapshot = Path(snapshot_download(REPO, cache_dir=cache, local_files_only=True))
    assert snapshot.name == fetched["commit"]
    for path in ["config.json", "legacy.bin", *XET_FILES]:
        assert (snapshot / path).read_bytes() == (XET / "repo" / "v1" / path).read_bytes(), path
    assert Path(hf_hub_download(REPO, "random.bin", cache_dir=cache, local_files_only=True)).stat().st_size == 150_000


JUDGE = r"""
import json, sys
from huggingface_hub import hf_hub_download
print(json.dumps([hf_hub_download(sys.argv[1], name) for name in sys.argv[2:]]))
"""


def test_the_real_xet_client_reads_the_recorded_storage(hub, tmp_path):
    """huggingface_hub with hf_xet (xet-core 1.8.0) downloads the Xet files from the fake Hub's
    recorded storage: the fake Hub speaks the protocol as the real client expects it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(HF_ENDPOINT=hub.endpoint, HF_HOME=str(tmp_path / "hf-home"), HF_HUB_DISABLE_TELEMETRY="1")
    names = ["model.safetensors", "nested/repeated.bin"]
    done = subprocess.run([sys.executable, "-c", JUDGE, REPO, *names], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    for name, path in zip(names, json.loads(done.stdout.splitlines()[-1])):
        assert Path(path).read_bytes() == (XET / "repo" / "v1" / name).read_bytes(), name
    log = requests(hub)
    assert any(e["path"].startswith("/v1/reconstructions/") for e in log)
    assert any(e["path"].startswith("/xorbs/") for e in log)
    assert not any(e["path"].startswith("/repos/") for e in log), "not through the LFS CDN"


def xorb_range(name: str) -> tuple[str, list[tuple[int, int]]]:
    """The xorb holding `name` (a v1 file stored in one range of one xorb) and the chunks of the
    bytes its download asks for: (offset in the range, scheme) of each."""
    sha256 = hashlib.sha256((XET / "repo" / "v1" / name).read_bytes()).hexdigest()
    xet_hash = json.loads((XET / "cas" / "index.json").read_text())[sha256]["xetHash"]
    answer = json.loads((XET / "cas" / "reconstructions" / f"{xet_hash}.json").read_text())
    [(xorb, [fetch])] = answer["fetch_info"].items()
    data = (XET / "cas" / "xorbs" / xorb).read_bytes()[fetch["url_range"]["start"]: fetch["url_range"]["end"] + 1]
    chunks, at = [], 0
    while at < len(data):
        chunks.append((at, data[at + 4]))
        at += 8 + int.from_bytes(data[at + 1: at + 4], "little")
    return xorb, chunks


def first_stored_chunk(name: str) -> tuple[str, int]:
    """The xorb holding `name` and an offset, in the bytes its download asks for, inside the
    data of its first chunk stored as it is (scheme 0)."""
    xorb, chunks = xorb_range(name)
    return xorb, next(at for at, scheme in chunks if scheme == 0) + 8 + 100


def test_a_corrupted_xorb_range_is_refused_by_the_sha256_check(nix, ways, hub, tmp_path):
    spec = xet_spec(hub, files=["random.bin"])
    xorb, offset = first_stored_chunk("random.bin")
    hub.add_fault(path=f"xorbs/{xorb}", kind="wrong-bytes", on="cdn", after_bytes=offset)
    done = ways.prefetch(spec, check=False)
    assert done.returncode != 0
    assert "random.bin: sha256 mismatch" in done.stderr, done.stderr
    hub.add_fault(path=f"xorbs/{xorb}", kind="wrong-bytes", on="cdn", after_bytes=offset)
    by_plugin = ways.plugin(nix, spec, check=False)
    assert by_plugin.returncode != 0 and "random.bin: sha256 mismatch" in by_plugin.stderr, by_plugin.stderr
    hub.add_fault(path=f"xorbs/{xorb}", kind="wrong-bytes", on="cdn", after_bytes=offset)
    out = tmp_path / "out"
    fetched = subprocess.run([str(ways.cli), "fetch", "--spec", "-", "--out", str(out)],
                             input=json.dumps(spec), capture_output=True, text=True, env=ways.env())
    assert fetched.returncode != 0 and "random.bin: sha256 mismatch" in fetched.stderr, fetched.stderr
    assert not out.exists()
    # Nothing of it in the store: a fetch without the fault adds it, and finds none there before.
    good = ways.prefetch(spec, args=("--json", "--no-add"))
    assert not is_valid(nix, good["path"])


def test_a_cut_xorb_download_resumes_at_the_next_chunk(ways, hub):
    xorb, chunks = xorb_range("random.bin")
    second = chunks[1][0]
    # Cut 100 bytes into the second chunk: the retry asks from the second chunk's header.
    hub.add_fault(path=f"xorbs/{xorb}", kind="cut", on="cdn", after_bytes=second + 100)
    resumed = ways.prefetch(xet_spec(hub, files=["random.bin"]), args=("--json", "--no-add"))
    ranges = [e["range"] for e in requests(hub) if e["path"] == f"/xorbs/{xorb}"]
    first, last = (int(n) for n in ranges[0].removeprefix("bytes=").split("-"))
    assert ranges == [f"bytes={first}-{last}", f"bytes={first + second}-{last}"], ranges
    hub.clear_log()
    whole = ways.prefetch(hf_spec(hub, files=["random.bin"]), args=("--json", "--no-add"))
    assert resumed["hash"] == whole["hash"]


def test_an_expired_xorb_url_is_signed_again(ways, hub):
    xorb, _ = first_stored_chunk("random.bin")
    hub.add_fault(path=f"xorbs/{xorb}", kind="status", on="cdn", status=403)
    fetched = ways.prefetch(xet_spec(hub, files=["random.bin"]), args=("--json", "--no-add"))
    asked = [e["path"] for e in requests(hub) if e["origin"] == "cdn"]
    assert sum(path.startswith("/v1/reconstructions/") for path in asked) == 2, asked
    assert fetched["hash"] == ways.prefetch(hf_spec(hub, files=["random.bin"]), args=("--json", "--no-add"))["hash"]
    # A storage that refuses for good is an error, after a few new signatures.
    hub.add_fault(path=f"xorbs/{xorb}", kind="status", on="cdn", status=403, times=10)
    refused = ways.prefetch(xet_spec(hub, files=["random.bin"]), check=False)
    assert refused.returncode != 0 and "HTTP 403" in refused.stderr and "refused a part of random.bin" in refused.stderr, refused.stderr


def test_a_refused_token_route_is_a_clear_error(ways, hub):
    hub.add_fault(path="*/xet-read-token/*", kind="status", on="api", status=401)
    done = ways.prefetch(xet_spec(hub), check=False)
    assert done.returncode != 0
    assert "/xet-read-token/" in done.stderr and "HTTP 401" in done.stderr, done.stderr
    assert f"the Hub refused a Xet read token for {REPO}: it needs a token: set HF_TOKEN" in done.stderr, done.stderr


def test_a_private_repo_needs_the_token_which_never_reaches_the_storage(nix, ways, hub, hub_root):
    token = "hf_private_xet_token"
    write_settings(hub_root / "models" / REPO, {"revisions": {"main": "v1"}, "private": True, "tokens": [token]})
    refused = ways.prefetch(xet_spec(hub), check=False)
    assert refused.returncode != 0 and "HF_TOKEN" in refused.stderr, refused.stderr
    hub.clear_log()
    fetched = ways.all_three(nix, xet_spec(hub), env={"HF_TOKEN": token})
    storage = [e for e in requests(hub) if e["origin"] == "cdn"]
    assert storage and not any(e["auth"] for e in storage if not e["path"].startswith("/v1/"))
    nar = nix.run("nix-store", "--dump", fetched["path"], text=False).stdout
    assert token.encode() not in nar and b"xet_fake_read_token" not in nar


def test_a_hub_without_xet_serves_the_same_through_resolve_with_a_notice(ways, hub, hub_root):
    with_xet = ways.prefetch(xet_spec(hub), args=("--json", "--no-add"))
    # The token route answers 404: a Hub that offers no Xet.
    hub.add_fault(path="*/xet-read-token/*", kind="status", on="api", status=404)
    hub.clear_log()
    done = ways.prefetch(xet_spec(hub), args=("--json", "--no-add"), check=False)
    assert done.returncode == 0, done.stderr
    assert "gives no Xet read token for fake-org/xet-model (HTTP 404)" in done.stderr, done.stderr
    assert json.loads(done.stdout)["hash"] == with_xet["hash"]
    assert resolved(hub) == {"config.json", "legacy.bin", *XET_FILES}
    # No xetHash in the listing (which trees/<commit>.json keeps: another hash, the same files).
    write_settings(hub_root / "models" / REPO, {"revisions": {"main": "v1"}, "xet": False})
    done = ways.prefetch(xet_spec(hub), args=("--json", "--no-add"), check=False)
    assert done.returncode == 0, done.stderr
    assert "is stored with Xet (the Hub lists no xetHash)" in done.stderr, done.stderr
    assert json.loads(done.stdout)["hash"] == ways.prefetch(hf_spec(hub), args=("--json", "--no-add"))["hash"]


def test_a_wrong_hash_is_refused_by_each_way(nix, ways, hub):
    fetched = ways.refused_by_each_way(nix, dict(xet_spec(hub), hash=WRONG_HASH))["fetch"]
    assert "source.git-xet.commit" in fetched.stderr, fetched.stderr


def test_a_cache_hit_needs_no_server(nix, ways, hub):
    spec = xet_spec(hub)
    fetched = ways.prefetch(spec)
    hub.stop()
    pinned = dict(spec, hash=fetched["hash"])
    ways.found_in_the_store(nix, pinned, fetched)


def test_the_pin_holds_when_main_moves(nix, ways, hub, hub_root):
    fetched = ways.prefetch(xet_spec(hub))
    pin = fetched["report"]["pin"]
    assert pin["source"]["git-xet"]["commit"] == fetched["commit"]
    # main moves to v2, whose model.safetensors is rebuilt from two xorbs; v1 stays on the Hub.
    write_settings(hub_root / "models" / REPO, {"revisions": {"main": "v2"}, "history": ["v1"]})
    delete_path(nix, fetched["path"])
    again = ways.plugin(nix, pin)
    assert (again["hash"], again["path"], again["commit"]) == (fetched["hash"], fetched["path"], fetched["commit"])
    moved = ways.prefetch(xet_spec(hub), args=("--json", "--no-add"))
    assert moved["commit"] != fetched["commit"] and moved["hash"] != fetched["hash"]
    assert moved["hash"] == ways.prefetch(hf_spec(hub), args=("--json", "--no-add"))["hash"]
    # Without the commit, the old hash is a cache hit while its path is in the store; once gone,
    # the fetch gets what main holds now, and says which commit that is.
    delete_path(nix, fetched["path"])
    stale = ways.plugin(nix, dict(xet_spec(hub), hash=fetched["hash"]), check=False)
    assert stale.returncode != 0 and moved["commit"] in stale.stderr, stale.stderr


def test_prefetch_prints_a_pin_to_paste(nix, ways, hub, tmp_path):
    text = subprocess.run([str(ways.cli), "prefetch", f"git-xet:{hub.endpoint}/{REPO}@main", "--nix", "--no-add"],
                          capture_output=True, text=True, env=ways.env())
    assert text.returncode == 0, text.stderr
    assert 'source.git-xet = {' in text.stdout and 'rev = "main";' in text.stdout and "commit = " in text.stdout
    pasted = tmp_path / "pin.nix"
    pasted.write_text(text.stdout)
    done = nix.run("nix-instantiate", *nix.options(), "--eval", "--strict", "--json", "-E",
                   f"let m = builtins.fetchModel (import {pasted}); in m.outPath", env=ways.env())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout).endswith(FOLDER)


TOOL = REPO_ROOT / "tests" / "support" / "xet" / "tool"


def tool_stamp() -> str:
    digest = hashlib.sha256()
    for part in ("Cargo.toml", "Cargo.lock", "src/main.rs"):
        digest.update((TOOL / part).read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="session")
def xet_tool() -> Path:
    """tests/support/xet/tool's binary: $NFM_XET_TOOL, else .servers/xet-tool/bin (built there by
    cargo when missing or out of date: about 6 minutes on 2 cores, hf-xet and xet-client 1.8.0
    from crates.io)."""
    if os.environ.get("NFM_XET_TOOL"):
        return Path(os.environ["NFM_XET_TOOL"])
    home = Path(os.environ.get("NFM_SERVERS_DIR", REPO_ROOT / ".servers")) / "xet-tool"
    binary, stamp = home / "bin" / "xet-test-tool", home / "stamp"
    if binary.exists() and stamp.exists() and stamp.read_text() == tool_stamp():
        return binary
    target = home / "target"
    built = subprocess.run(["cargo", "build", "--locked"], cwd=TOOL, capture_output=True, text=True, timeout=3600,
                           env=dict(os.environ, CARGO_TARGET_DIR=str(target)))
    if built.returncode != 0:
        pytest.skip(f"xet-core's local CAS server could not be built (cargo build in {TOOL}): "
                    f"{built.stderr.strip().splitlines()[-1:]}")
    binary.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(target / "debug" / "xet-test-tool", binary)
    stamp.write_text(tool_stamp())
    shutil.rmtree(target, ignore_errors=True)
    return binary


def live_files(folder: Path) -> None:
    """Files of some size: float32 weights, incompressible bytes, and a file that repeats itself."""
    rng = random.Random(20261129)
    folder.mkdir(parents=True)
    weights = array.array("f", (math.sin(i * 0.0007) * 0.05 + rng.random() * 1e-5 for i in range(1_500_000)))
    (folder / "model.safetensors").write_bytes(b"\x08\0\0\0\0\0\0\0{}      " + weights.tobytes())
    block = rng.randbytes(3_000_000)
    (folder / "repeated.bin").write_bytes(block + rng.randbytes(500_000) + block)
    (folder / "random.bin").write_bytes(rng.randbytes(2_500_000))
    (folder / "config.json").write_text('{"model_type": "live-xet"}')


def test_against_xet_cores_own_cas_server(nix, ways, xet_tool, tmp_path):
    """Files uploaded by hf-xet to xet-core's local CAS server, which then serves them live: the
    three ways fetch them through it, to the hash source.huggingface gives."""
    repo = tmp_path / "hub" / "models" / "fake-org" / "live-xet"
    live_files(repo)
    data, index = tmp_path / "cas-data", tmp_path / "index"
    xet_files = ["model.safetensors", "random.bin", "repeated.bin"]
    uploaded = subprocess.run([str(xet_tool), "upload", str(data), *(str(repo / name) for name in xet_files)],
                              capture_output=True, text=True, timeout=600)
    assert uploaded.returncode == 0, uploaded.stderr
    index.mkdir()
    entries = [json.loads(line) for line in uploaded.stdout.splitlines()]
    (index / "index.json").write_text(json.dumps({e["sha256"]: {"xetHash": e["xetHash"], "size": e["size"]} for e in entries}))
    server = subprocess.Popen([str(xet_tool), "serve", str(data)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        cas = json.loads(server.stdout.readline())["url"]
        hub = FakeHub(tmp_path / "hub", ["--xet", str(index), "--xet-cas-url", cas])
        try:
            spec = {"source": {"git-xet": {"url": f"{hub.endpoint}/fake-org/live-xet"}}}
            fetched = ways.all_three(nix, spec)
            log = requests(hub)
            assert {p.split("/resolve/", 1)[1].split("/", 1)[1] for p in (e["path"] for e in log) if "/resolve/" in p} == {"config.json"}
            assert not any(e["origin"] == "cdn" for e in log), "the live storage served the Xet files"
            by_resolve = ways.prefetch({"source": {"huggingface": {"repo": "fake-org/live-xet"}},
                                        "network": {"endpoint": hub.endpoint}}, args=("--json", "--no-add"))
            assert (by_resolve["hash"], by_resolve["path"]) == (fetched["hash"], fetched["path"])
        finally:
            hub.stop()
    finally:
        server.stdin.close()
        server.wait(timeout=30)
