"""builtins.fetchModel with the real Nix (2.8 and 2.26) against the fake Hub.

Each test makes a model with unique content, so its store path is new in the shared /nix/store.

    .venv/bin/pytest tests/nix/plugin
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from calls import (
    WRONG_HASH,
    call_expr,
    eval_json,
    fetch_expr,
    fetch_pinned,
    fixed_path,
    is_valid,
    leftovers,
    spec_for,
    store_name,
)


@pytest.fixture
def nix_tmp(tmp_path) -> Path:
    """An empty folder, for the TMPDIR of a Nix command."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    return tmp


def test_first_fetch_gives_the_hub_cache_layout(nix, hub_root, start_hub, make_model):
    repo = make_model(hub_root, {"model.safetensors": 300_000, "nested/notes.txt": b"notes\n"})
    hub = start_hub(hub_root)
    done = eval_json(nix, fetch_expr(spec_for(hub, repo)), check=False)
    assert done.returncode == 0, done.stderr
    model = json.loads(done.stdout)
    assert "fetching model" in done.stderr and "to pin it, add hash" in done.stderr
    out = Path(model["path"])
    assert out.name.split("-", 1)[1] == store_name(repo)
    assert is_valid(nix, str(out))
    snapshot = Path(model["snapshot"])
    assert snapshot == out / "snapshots" / model["commit"]
    assert (snapshot / "config.json").read_text() == (hub_root / "models" / repo / "config.json").read_text()
    assert (snapshot / "model.safetensors").is_symlink()
    assert model["narHash"].startswith("sha256-")
    assert str(out) == fixed_path(nix, model["narHash"], out.name.split("-", 1)[1])


def test_cache_hit_needs_no_network(nix, hub_root, start_hub, make_model):
    repo = make_model(hub_root)
    hub = start_hub(hub_root)
    first = fetch_pinned(nix, hub, repo)
    hub.stop()
    # A fresh process, the Hub gone: the pinned path is returned from the store.
    pinned = spec_for(hub, repo, hash=first["narHash"])
    again = eval_json(nix, f"[ {fetch_expr(pinned)} {fetch_expr(pinned)} ]")
    assert [m["path"] for m in again] == [first["path"]] * 2
    assert again[0]["commit"] == first["commit"]


def test_cache_hit_reads_name_and_hash_as_fetchurl_reads_name_and_sha256(nix, hub_root, start_hub, make_model):
    repo = make_model(hub_root)
    hub = start_hub(hub_root)
    first = fetch_pinned(nix, hub, repo)
    hub.stop()
    name = Path(first["path"]).name.split("-", 1)[1]
    # A pinned hash names its content, whatever the source says (here a repo never served), as
    # fetchurl's pinned `sha256` does whatever its `url`: the rest is checked when it fetches.
    moved = spec_for(hub, "other/never-served", hash=first["narHash"], name=name)
    assert eval_json(nix, fetch_expr(moved)) == first
    # What a cache hit still refuses, with the errors of a fetch.
    for bad, needle in [
        ({"hashh": first["narHash"]}, "hashh"),
        ({"hash": "sha256-short"}, "hash 'sha256-short'"),
        ({"name": "has space"}, "name 'has space'"),
    ]:
        spec = spec_for(hub, repo, **{"hash": first["narHash"], "name": name, **bad})
        done = eval_json(nix, call_expr(spec), check=False)
        assert done.returncode != 0 and needle in done.stderr, (bad, done.stderr)


def test_store_path_is_nix_fixed_output_path(nix, hub_root, start_hub, make_model):
    repo = make_model(hub_root)
    hub = start_hub(hub_root)
    first = fetch_pinned(nix, hub, repo)
    for form in hash_forms(nix, first["narHash"]):
        model = eval_json(nix, fetch_expr(spec_for(hub, repo, hash=form, name="renamed")))
        assert model["path"] == fixed_path(nix, first["narHash"], "renamed"), form


def hash_forms(nix, sri: str) -> list[str]:
    """The SRI hash as sha256:nix32, sha256:base16 and sha256:base64 (Nix's forms)."""
    forms = [sri]
    for base in ("--to-base32", "--to-base16"):
        done = nix.run("nix-hash", "--type", "sha256", base, sri)
        assert done.returncode == 0, done.stderr
        forms.append("sha256:" + done.stdout.strip())
    forms.append("sha256:" + sri.removeprefix("sha256-"))
    return forms


def test_derivation_reads_a_model_file(nix, hub_root, start_hub, make_model):
    repo = make_model(hub_root)
    hub = start_hub(hub_root)
    m = call_expr(spec_for(hub, repo))
    expr = (
        f"let m = {m}; in derivation {{ name = \"reads-model\"; system = builtins.currentSystem;"
        f" builder = \"/bin/sh\"; args = [ \"-c\" \"/bin/cat ${{m.snapshot}}/config.json > $out\" ]; }}"
    )
    done = nix.run("nix-build", *nix.options(), *nix.build_options(), "--no-out-link", "-E", expr)
    assert done.returncode == 0, done.stderr
    out = Path(done.stdout.strip().splitlines()[-1])
    assert out.read_text() == (hub_root / "models" / repo / "config.json").read_text()


def test_nix_eval_and_import_from_the_model(nix, hub_root, start_hub, make_model):
    repo = make_model(hub_root, {"default.nix": b'{ answer = 42; }\n'})
    hub = start_hub(hub_root)
    first = fetch_pinned(nix, hub, repo)
    pinned = call_expr(spec_for(hub, repo, hash=first["narHash"]))
    expr = f"let m = {pinned}; in [ (import (m.snapshot + \"/default.nix\")).answer (builtins.readFile \"${{m.snapshot}}/config.json\") ]"
    done = nix.run("nix", *nix.new_cli(), *nix.options(), "eval", "--json", "--expr", expr)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0] == 42
    # The same in restricted mode: the fetched path is allowed.
    restricted = eval_json(nix, expr, "--option", "restrict-eval", "true", "--option", "allowed-uris", hub.endpoint)
    assert restricted[0] == 42


def test_pure_mode_requires_a_hash(nix, hub_root, start_hub, make_model):
    repo = make_model(hub_root)
    hub = start_hub(hub_root)
    done = eval_json(nix, fetch_expr(spec_for(hub, repo)), "--option", "pure-eval", "true", check=False)
    assert done.returncode != 0
    assert "in pure evaluation mode, 'builtins.fetchModel' requires a 'hash' argument" in done.stderr
    first = fetch_pinned(nix, hub, repo)
    pinned = spec_for(hub, repo, hash=first["narHash"])
    model = eval_json(nix, call_expr(pinned) + ".outPath", "--option", "pure-eval", "true")
    assert model == first["path"]


def test_pure_mode_with_a_hash_fetches(nix, hub_root, start_hub, make_model):
    repo = make_model(hub_root)
    hub = start_hub(hub_root)
    # Learn the hash from a copy under another name, so the pure fetch below downloads.
    first = fetch_pinned(nix, hub, repo, name="probe")
    pinned = spec_for(hub, repo, hash=first["narHash"])
    model = eval_json(nix, fetch_expr(pinned), "--option", "pure-eval", "true")
    assert model["path"] == fixed_path(nix, first["narHash"], store_name(repo))
    assert is_valid(nix, model["path"])


def test_restricted_mode_checks_the_endpoint(nix, hub_root, start_hub, make_model):
    repo = make_model(hub_root)
    hub = start_hub(hub_root)
    restricted = ["--option", "restrict-eval", "true"]
    done = eval_json(
        nix, fetch_expr(spec_for(hub, repo)), *restricted, "--option", "allowed-uris", "https://huggingface.co",
        check=False,
    )
    assert done.returncode != 0
    assert hub.endpoint in done.stderr and "forbidden in restricted mode" in done.stderr, done.stderr
    assert hub.downloads("config.json") == 0
    model = eval_json(nix, fetch_expr(spec_for(hub, repo)), *restricted, "--option", "allowed-uris", hub.endpoint)
    assert is_valid(nix, model["path"])


def test_hash_mismatch_adds_nothing(nix, hub_root, start_hub, make_model, nix_tmp):
    repo = make_model(hub_root, {"model.safetensors": 100_000})
    hub = start_hub(hub_root)
    done = eval_json(nix, fetch_expr(spec_for(hub, repo, hash=WRONG_HASH)), env={"TMPDIR": str(nix_tmp)}, check=False)
    assert done.returncode != 0
    assert "hash mismatch" in done.stderr
    assert f"specified: {WRONG_HASH}" in done.stderr
    got = done.stderr.split("got:")[1].split()[0]
    name = store_name(repo)
    assert not is_valid(nix, fixed_path(nix, got, name))
    assert not is_valid(nix, fixed_path(nix, WRONG_HASH, name))
    assert leftovers(nix_tmp) == []
    # No commit is pinned, so the branch may have moved: the error names the commit to pin.
    commit = eval_json(nix, fetch_expr(spec_for(hub, repo, name="probe")))["commit"]
    assert "may have moved" in done.stderr and f'source.huggingface.commit = "{commit}";' in done.stderr


def test_retries_and_waits_are_warnings(nix, hub_root, start_hub, make_model):
    """A server that asks to wait: the wait is shown as Nix shows its own retries."""
    repo = make_model(hub_root)
    hub = start_hub(hub_root)
    hub.add_fault(path="config.json", kind="status", status=429, retry_after=1, times=1)
    spec = {**spec_for(hub, repo), "network": {"endpoint": hub.endpoint, "retries": 2}}
    done = eval_json(nix, fetch_expr(spec), check=False)
    assert done.returncode == 0, done.stderr
    assert re.search(r"warning: fetchModel: config.json: HTTP 429.*retrying in 1(\.0)? s", done.stderr), done.stderr


def test_corrupted_download_of_a_pinned_model_names_the_file(nix, hub_root, start_hub, make_model, nix_tmp):
    """Wrong bytes from the CDN fail the fetch with the core's error naming the file, not a bare
    hash mismatch, and nothing reaches the store."""
    repo = make_model(hub_root, {"model.safetensors": 300_000})
    hub = start_hub(hub_root)
    good = fetch_pinned(nix, hub, repo)
    nix.run("nix-store", "--delete", good["path"])
    hub.add_fault(path="model.safetensors", kind="wrong-bytes", after_bytes=1000, times=10)
    done = eval_json(
        nix, fetch_expr(spec_for(hub, repo, hash=good["narHash"])), env={"TMPDIR": str(nix_tmp)}, check=False
    )
    assert done.returncode != 0
    assert "model.safetensors: sha256 mismatch" in done.stderr, done.stderr
    assert not is_valid(nix, good["path"])
    assert leftovers(nix_tmp) == []


def test_substitutes_from_a_binary_cache(nix, hub_root, start_hub, make_model, tmp_path):
    repo = make_model(hub_root)
    hub = start_hub(hub_root)
    first = fetch_pinned(nix, hub, repo)
    cache = f"file://{tmp_path / 'cache'}"
    copied = nix.run("nix", *nix.new_cli(), "copy", "--to", cache, first["path"])
    assert copied.returncode == 0, copied.stderr
    deleted = nix.run("nix-store", "--delete", first["path"])
    assert deleted.returncode == 0, deleted.stderr
    assert not is_valid(nix, first["path"])
    hub.stop()
    pinned = spec_for(hub, repo, hash=first["narHash"])
    model = eval_json(nix, fetch_expr(pinned), "--option", "require-sigs", "false", substituters=cache)
    assert model["path"] == first["path"]
    assert is_valid(nix, first["path"])


@pytest.mark.parametrize(
    "repo, env, needle",
    [
        ("fake-org/gated-model", {}, "is gated: accept its license"),
        ("fake-org/private-model", {}, "not found on"),
        ("fake-org/no-such-model", {}, "not found on"),
        ("fake-org/gated-model", {"HF_TOKEN": "hf_wrong"}, "has no access to gated repo"),
    ],
)
def test_hub_errors_are_the_core_errors(nix, hub_root, start_hub, repo, env, needle):
    hub = start_hub(hub_root)
    done = eval_json(nix, fetch_expr(spec_for(hub, repo)), env=env, check=False)
    assert done.returncode != 0
    assert needle in done.stderr, done.stderr
    assert "builtins.fetchModel" in done.stderr
    assert "«string»:1:" in done.stderr, "the error names the position of the call"


def test_private_repo_with_the_users_token(nix, hub_root, start_hub):
    hub = start_hub(hub_root)
    model = eval_json(nix, fetch_expr(spec_for(hub, "fake-org/private-model")), env={"HF_TOKEN": "hf_fake_token"})
    assert is_valid(nix, model["path"])


def test_sigint_stops_the_download_and_leaves_nothing(nix, hub_root, start_hub, make_model, nix_tmp):
    repo = make_model(hub_root, {"model.safetensors": 2_000_000})
    hub = start_hub(hub_root)
    hub.add_fault(path="model.safetensors", kind="slow", delay=60, times=10)
    proc = subprocess.Popen(
        nix.command("nix-instantiate", *nix.options(), "--eval", "--strict", "-E", fetch_expr(spec_for(hub, repo))),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=nix.env({"TMPDIR": str(nix_tmp)}),
    )
    deadline = time.monotonic() + 30
    while not any(e["path"].endswith("model.safetensors") or e["origin"] == "cdn" for e in hub.log()):
        assert time.monotonic() < deadline and proc.poll() is None, "the download did not start"
        time.sleep(0.1)
    time.sleep(0.5)
    assert any(p.name.startswith("nix-fetch-model-") for p in nix_tmp.iterdir()), "no fetch directory in TMPDIR"
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    stopped_after = time.monotonic() - sent
    assert proc.returncode != 0
    assert stopped_after < 1.0, f"took {stopped_after:.2f} s to stop"
    assert leftovers(nix_tmp) == []
    store = [p.name for p in Path("/nix/store").iterdir() if p.name.endswith(repo.split("/")[1])]
    assert store == [], f"left in the store: {store}"


def test_two_evaluations_at_once_download_once(nix, hub_root, start_hub, make_model):
    repo = make_model(hub_root, {"model.safetensors": 500_000})
    hub = start_hub(hub_root)
    # Learn the hash under another name, then fetch the real name twice at once.
    probe = fetch_pinned(nix, hub, repo, name="probe")
    assert hub.downloads("model.safetensors") == 1
    hub.add_fault(path="model.safetensors", kind="slow", delay=2, times=10)
    pinned = spec_for(hub, repo, hash=probe["narHash"])
    command = nix.command(
        "nix-instantiate", *nix.options(), "--eval", "--strict", "--json", "-E", call_expr(pinned) + ".outPath"
    )
    procs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=nix.env())
        for _ in range(2)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    for proc, (_, stderr) in zip(procs, results):
        assert proc.returncode == 0, stderr
    assert len({json.loads(out) for out, _ in results}) == 1
    assert hub.downloads("model.safetensors") == 2, "the second evaluation downloaded again"


@pytest.mark.parametrize("tmpdir_on", ["the store's filesystem", "another filesystem"])
def test_fetched_path_is_registered_as_nix_adds_paths(nix, hub_root, start_hub, make_model, nix_tmp, tmpdir_on):
    """On the store's filesystem the fetched folder is moved into the store and registered with
    the NAR hash and size computed during the download; elsewhere Nix's addToStore copies it.
    Either way Nix's own checks agree and the metadata is canonical."""
    store_dev = os.stat("/nix/store").st_dev
    if tmpdir_on == "the store's filesystem":
        tmp = nix_tmp
        if os.stat(tmp).st_dev != store_dev:
            pytest.skip(f"{tmp} is not on the store's filesystem")
    else:
        shm = Path("/dev/shm")
        if not shm.is_dir() or os.stat(shm).st_dev == store_dev or not os.access(shm, os.W_OK):
            pytest.skip("no writable /dev/shm on another filesystem than /nix/store")
        tmp = Path(tempfile.mkdtemp(dir=shm, prefix="nfm-test-"))
    try:
        repo = make_model(hub_root, {"model.safetensors": 300_000, "nested/notes.txt": b"notes\n"})
        hub = start_hub(hub_root)
        model = eval_json(nix, fetch_expr(spec_for(hub, repo)), env={"TMPDIR": str(tmp)})
        assert leftovers(tmp) == []
    finally:
        if tmpdir_on != "the store's filesystem":
            shutil.rmtree(tmp, ignore_errors=True)
    path = model["path"]
    verified = nix.run("nix-store", "--verify-path", path)
    assert verified.returncode == 0, verified.stderr
    nix32 = nix.run("nix-hash", "--type", "sha256", "--to-base32", model["narHash"]).stdout.strip()
    assert nix.run("nix-store", "-q", "--hash", path).stdout.strip() == f"sha256:{nix32}"
    dumped = nix.run("nix-store", "--dump", path, text=False)
    assert dumped.returncode == 0, dumped.stderr
    assert int(nix.run("nix-store", "-q", "--size", path).stdout) == len(dumped.stdout)
    for folder, dirs, files in os.walk(path):
        for name in [".", *dirs, *files]:
            st = os.lstat(os.path.join(folder, name))
            if not stat.S_ISLNK(st.st_mode):
                assert st.st_mtime == 1 and stat.S_IMODE(st.st_mode) in (0o444, 0o555), (folder, name)


def test_cache_hits_of_two_models_in_one_evaluation_give_their_own_commits(nix, hub_root, start_hub, make_model):
    """The commit of a cache hit is remembered per NAR hash within an evaluation."""
    hub = start_hub(hub_root)
    repos = [make_model(hub_root) for _ in range(2)]
    firsts = [fetch_pinned(nix, hub, repo) for repo in repos]
    hub.stop()
    pinned = [fetch_expr(spec_for(hub, repo, hash=first["narHash"])) for repo, first in zip(repos, firsts)]
    got = eval_json(nix, "[ " + " ".join(pinned * 2) + " ]")
    assert [m["commit"] for m in got] == [f["commit"] for f in firsts] * 2
    assert [m["path"] for m in got] == [f["path"] for f in firsts] * 2


def test_an_unpinned_fetch_is_remembered_for_tarball_ttl(nix, hub_root, start_hub, make_model, tmp_path):
    """As fetchTarball remembers what a URL gave: evaluating the same unpinned call again asks
    the Hub nothing while tarball-ttl lasts and the path is in the store."""
    repo = make_model(hub_root, {"model.safetensors": 100_000})
    hub = start_hub(hub_root)
    cache = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    expr = fetch_expr(spec_for(hub, repo))
    first = eval_json(nix, expr, env=cache)
    asked = len(hub.log())
    again = eval_json(nix, expr, env=cache, check=False)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == first
    assert len(hub.log()) == asked, "the Hub was asked again"
    assert "to pin it, add hash" in again.stderr
    refreshed = eval_json(nix, expr, "--option", "tarball-ttl", "0", env=cache)
    assert refreshed == first and hub.downloads("model.safetensors") == 2
    assert nix.run("nix-store", "--delete", first["path"]).returncode == 0
    assert eval_json(nix, expr, env=cache) == first
    assert hub.downloads("model.safetensors") == 3, "a path gone from the store is fetched again"


def test_an_https_hub_is_trusted_through_nix_s_ssl_cert_file(nix, hub_root, start_hub, make_model, tmp_path):
    """A Hub behind a private CA (a mirror, a TLS-inspecting proxy): refused without its root,
    naming the problem and the settings; trusted through Nix's own ssl-cert-file (Nix 2.26's
    option; Nix 2.8 has no option and takes NIX_SSL_CERT_FILE)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "support"))
    from test_ca import make_test_ca

    certs = make_test_ca(tmp_path / "ca")
    repo = make_model(hub_root)
    hub = start_hub(hub_root, ["--tls-cert", certs["server"], "--tls-key", str(tmp_path / "ca" / "server.key")])
    assert hub.endpoint.startswith("https://")
    expr = fetch_expr(spec_for(hub, repo))
    refused = eval_json(nix, expr, check=False)
    assert refused.returncode != 0
    assert "certificate" in refused.stderr and "ssl-cert-file" in refused.stderr, refused.stderr
    if nix.version == "2.8":
        trusted = eval_json(nix, expr, env={"NIX_SSL_CERT_FILE": certs["ca"]})
    else:
        trusted = eval_json(nix, expr, "--option", "ssl-cert-file", certs["ca"],
                            env={"NIX_SSL_CERT_FILE": "", "SSL_CERT_FILE": ""})
    assert is_valid(nix, trusted["path"])


def test_the_next_fetch_removes_what_a_killed_one_left(nix, hub_root, start_hub, make_model, nix_tmp):
    """kill -9 leaves the fetch folder in TMPDIR (nothing runs to remove it); the next fetch
    removes it, as it removes every such folder whose process is gone."""
    slow = make_model(hub_root, {"model.safetensors": 2_000_000})
    hub = start_hub(hub_root)
    hub.add_fault(path="model.safetensors", kind="slow", delay=60, times=1)
    proc = subprocess.Popen(
        nix.command("nix-instantiate", *nix.options(), "--eval", "--strict", "-E", fetch_expr(spec_for(hub, slow))),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=nix.env({"TMPDIR": str(nix_tmp)}),
    )
    deadline = time.monotonic() + 30
    while not leftovers(nix_tmp):
        assert time.monotonic() < deadline and proc.poll() is None, "no fetch folder appeared"
        time.sleep(0.1)
    proc.kill()
    proc.communicate()
    left = leftovers(nix_tmp)
    assert left, "kill -9 left nothing to clean up"
    eval_json(nix, fetch_expr(spec_for(hub, make_model(hub_root))), env={"TMPDIR": str(nix_tmp)})
    assert leftovers(nix_tmp) == [], f"left: {left}"
