"""builtins.fetchModel on a multi-user Nix (every NixOS machine): non-root users whose store is
reached through a nix-daemon, one after the other, at once, and next to root on the local store.

    .venv/bin/pytest tests/nix/plugin/test_multiuser.py      (as root: it starts the daemon)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from calls import fetch_expr, fetch_pinned, is_valid, spec_for

ALICE, BOB = "nfm-alice", "nfm-bob"


@pytest.fixture
def shared_tmp():
    """A fresh folder like /tmp (world-writable, sticky), the TMPDIR every user of a test shares."""
    folder = Path(tempfile.mkdtemp(prefix="nfm-shared-tmp-", dir="/tmp"))
    folder.chmod(0o1777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def eval_as(daemon, user: str, expr: str, tmp: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return daemon.run(user, "nix-instantiate", "--eval", "--strict", "--json", "-E", expr,
                      env={"TMPDIR": str(tmp), **(env or {})})


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def pinned_hash(nix, hub, repo: str) -> str:
    """The model's hash, learned by root under another name (so the users' fetches miss)."""
    return fetch_pinned(nix, hub, repo, name=unique("probe"))["narHash"]


def root_has_fetched(nix, hub, repo: str, tmp: Path) -> None:
    """A pinned fetch by root, as on a machine where root has used the plugin: it makes the lock
    folder that all users share."""
    expr = fetch_expr(spec_for(hub, repo, hash=pinned_hash(nix, hub, repo), name=unique("root")))
    done = nix.run("nix-instantiate", *nix.options(), "--eval", "--strict", "--json", "-E", expr,
                   env={"TMPDIR": str(tmp)})
    assert done.returncode == 0, done.stderr


def test_users_fetch_one_after_the_other(nix, daemon, hub_root, start_hub, make_model, shared_tmp):
    """The first user's lock folder must not lock the others out (it did: mode 755, owned by
    the first user)."""
    repo = make_model(hub_root, {"model.safetensors": 300_000})
    hub = start_hub(hub_root)
    nar_hash = pinned_hash(nix, hub, repo)
    for user in (ALICE, BOB, ALICE):
        done = eval_as(daemon, user, fetch_expr(spec_for(hub, repo, hash=nar_hash, name=unique(user))), shared_tmp)
        assert done.returncode == 0, f"{user}: {done.stderr}"
        model = json.loads(done.stdout)
        assert is_valid(nix, model["path"]), user
        assert model["narHash"] == nar_hash


def start_eval(nix, daemon, who: str, expr: str, tmp: Path) -> subprocess.Popen:
    """`expr` evaluated by `who`: root on the local store, a user through the daemon."""
    args = ("--eval", "--strict", "--json", "-E", expr)
    if who != "root":
        return daemon.popen(who, "nix-instantiate", *args, env={"TMPDIR": str(tmp)})
    return subprocess.Popen(nix.command("nix-instantiate", *nix.options(), *args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=nix.env({"TMPDIR": str(tmp)}))


@pytest.mark.parametrize("who", [(ALICE, BOB), ("root", ALICE)], ids=["two users", "a user next to root"])
def test_at_once_the_model_is_downloaded_once(nix, daemon, hub_root, start_hub, make_model, shared_tmp, who):
    repo = make_model(hub_root, {"model.safetensors": 500_000})
    hub = start_hub(hub_root)
    nar_hash = pinned_hash(nix, hub, repo)
    root_has_fetched(nix, hub, make_model(hub_root), shared_tmp)
    downloads = hub.downloads("model.safetensors")
    hub.add_fault(path="model.safetensors", kind="slow", delay=2, times=10)
    expr = fetch_expr(spec_for(hub, repo, hash=nar_hash, name=unique("at-once")))
    procs = [start_eval(nix, daemon, each, expr, shared_tmp) for each in who]
    results = [proc.communicate(timeout=120) for proc in procs]
    for proc, (_, stderr) in zip(procs, results):
        assert proc.returncode == 0, stderr
    assert len({json.loads(out)["path"] for out, _ in results}) == 1
    assert hub.downloads("model.safetensors") == downloads + 1, f"{' and '.join(who)} both downloaded"


def test_lock_folders_planted_by_another_user_are_not_followed(
    nix, daemon, hub_root, start_hub, make_model, shared_tmp
):
    """Another user made the shared lock folder and put a link where Bob's own would be: Bob's
    fetch neither uses nor follows them, and still succeeds."""
    repo = make_model(hub_root)
    hub = start_hub(hub_root)
    nar_hash = pinned_hash(nix, hub, repo)
    bob_uid = int(subprocess.run(["id", "-u", BOB], capture_output=True, text=True).stdout)
    target = shared_tmp / "alice-target"
    plant = (
        f"mkdir -m 1777 {shared_tmp}/nix-fetch-model-locks && mkdir -m 777 {target}"
        f" && ln -s {target} {shared_tmp}/nix-fetch-model-locks-{bob_uid}"
    )
    planted = subprocess.run(["runuser", "-u", ALICE, "--", "sh", "-c", plant], capture_output=True, text=True)
    assert planted.returncode == 0, planted.stderr
    done = eval_as(daemon, BOB, fetch_expr(spec_for(hub, repo, hash=nar_hash, name=unique("bob"))), shared_tmp)
    assert done.returncode == 0, done.stderr
    assert "lock" in done.stderr, "a warning should say the fetch is not locked, and why"
    assert os.listdir(target) == [] and os.listdir(shared_tmp / "nix-fetch-model-locks") == []
    assert is_valid(nix, json.loads(done.stdout)["path"])


# Larger than the first 33 MiB the plugin holds back before the daemon may read the NAR: the
# daemon takes this one as a stream while it downloads (src/fetch/nar_stream.rs).
STREAMED_MODEL = {"model-0.safetensors": 40_000_000, "model-1.safetensors": 30_000_000}


def store_debris(before: set[str], nix) -> list[str]:
    """Entries of /nix/store that appeared since `before` and are no valid store path: what a
    failed addition would leave (a partly unpacked path, a temporary folder, a lock file)."""
    new = set(os.listdir("/nix/store")) - before
    return sorted(name for name in new if not is_valid(nix, f"/nix/store/{name}"))


def test_a_large_model_streams_into_the_store_through_the_daemon(
    nix, daemon, hub_root, start_hub, make_model, shared_tmp
):
    repo = make_model(hub_root, STREAMED_MODEL)
    hub = start_hub(hub_root)
    nar_hash = pinned_hash(nix, hub, repo)
    before = set(os.listdir("/nix/store"))
    rss_before = daemon.rss_kib()
    done = eval_as(daemon, ALICE, fetch_expr(spec_for(hub, repo, hash=nar_hash, name=unique("streamed"))), shared_tmp)
    assert done.returncode == 0, done.stderr
    model = json.loads(done.stdout)
    assert model["narHash"] == nar_hash
    verified = nix.run("nix-store", "--verify-path", model["path"])
    assert verified.returncode == 0, verified.stderr
    assert os.stat(model["path"]).st_uid == 0, "the daemon, not the user, owns the store path"
    assert store_debris(before, nix) == []
    assert [p for p in os.listdir(shared_tmp) if not p.startswith("nix-fetch-model-locks")] == []
    # The daemon's own memory stays flat: it unpacks the stream as it reads it.
    assert daemon.rss_kib() - rss_before < 64 * 1024


@pytest.mark.parametrize("failure", ["hash mismatch", "corrupted blob"])
def test_a_failed_stream_adds_nothing(nix, daemon, hub_root, start_hub, make_model, shared_tmp, failure):
    """The daemon has read more than it keeps in memory when a check fails: the stream ends
    short, and the daemon removes what it unpacked."""
    repo = make_model(hub_root, STREAMED_MODEL)
    hub = start_hub(hub_root)
    good = pinned_hash(nix, hub, repo)
    if failure == "hash mismatch":
        pinned = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        needle = "hash mismatch"
    else:
        pinned = good
        needle = "model-1.safetensors: sha256 mismatch"
        hub.add_fault(path="model-1.safetensors", kind="wrong-bytes", after_bytes=1_000_000, times=10)
    name = unique("failed")
    before = set(os.listdir("/nix/store"))
    done = eval_as(daemon, ALICE, fetch_expr(spec_for(hub, repo, hash=pinned, name=name)), shared_tmp)
    assert done.returncode != 0
    assert needle in done.stderr, done.stderr
    assert "error (ignored)" not in done.stderr, "the daemon's complaint about the short stream was shown"
    assert store_debris(before, nix) == []
    assert not [p for p in os.listdir("/nix/store") if p.endswith(name)]
    assert [p for p in os.listdir(shared_tmp) if not p.startswith("nix-fetch-model-locks")] == []


def test_ctrl_c_stops_a_streamed_fetch_and_leaves_nothing(
    nix, daemon, hub_root, start_hub, make_model, shared_tmp
):
    """Ctrl-C while the daemon reads the stream: the command stops within a second, and neither
    the store nor TMPDIR keeps anything."""
    repo = make_model(hub_root, {"model-0.safetensors": 40_000_000, "model-1.safetensors": 40_000_000})
    # The blob last in the NAR downloads slowly, so Ctrl-C comes while the first one streams.
    folder = hub_root / "models" / repo
    last = max(("model-0.safetensors", "model-1.safetensors"),
               key=lambda f: hashlib.sha256((folder / f).read_bytes()).hexdigest())
    hub = start_hub(hub_root)
    hub.add_fault(path=last, kind="slow", delay=60, times=10)
    before = set(os.listdir("/nix/store"))
    proc = daemon.popen(ALICE, "nix-instantiate", "--eval", "--strict", "-E",
                        fetch_expr(spec_for(hub, repo, name=unique("interrupted"))), env={"TMPDIR": str(shared_tmp)})
    deadline = time.monotonic() + 60
    while not any(entry["path"].endswith(last) for entry in hub.log()):
        assert time.monotonic() < deadline and proc.poll() is None, "the download did not start"
        time.sleep(0.1)
    time.sleep(1)
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C reaches its foreground commands
    proc.communicate(timeout=30)
    stopped_after = time.monotonic() - sent
    assert proc.returncode != 0
    assert stopped_after < 1.0, f"took {stopped_after:.2f} s to stop"
    deadline = time.monotonic() + 10
    while store_debris(before, nix) and time.monotonic() < deadline:
        time.sleep(0.2)  # the daemon's worker sees the stream end and removes its folder
    assert store_debris(before, nix) == []
    assert [p for p in os.listdir(shared_tmp) if not p.startswith("nix-fetch-model-locks")] == []
