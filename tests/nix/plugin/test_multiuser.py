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
import threading
import time
import uuid
from pathlib import Path

import pytest
from calls import fetch_expr, fetch_pinned, is_valid, leftovers, spec_for

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
    """Root, then each user in turn, fetch one model, removed from the store in between: each
    opens the lock file the one before made (it was once mode 755 and owned by the first, and
    with fs.protected_regular a sticky folder refuses to O_CREAT another user's file)."""
    repo = make_model(hub_root, {"model.safetensors": 300_000})
    hub = start_hub(hub_root)
    nar_hash = pinned_hash(nix, hub, repo)
    expr = fetch_expr(spec_for(hub, repo, hash=nar_hash, name=unique("in-turn")))
    for user in ("root", ALICE, BOB, ALICE):
        proc = start_eval(nix, daemon, user, expr, shared_tmp)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{user}: {err}"
        assert "not locked" not in err, f"{user}: {err}"
        model = json.loads(out)
        assert model["narHash"] == nar_hash
        assert nix.run("nix-store", "--delete", model["path"]).returncode == 0, user


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
# daemon takes such a model as a stream while it downloads (src/fetch/nar_stream.rs).
BLOB_MB = 20


def streamed_model(make_model, hub_root, blobs: int = 2) -> tuple[str, list[str]]:
    """A model of `blobs` blobs of 20 MB, and their names in the order of the NAR (by sha256)."""
    names = [f"model-{i}.safetensors" for i in range(blobs)]
    repo = make_model(hub_root, {name: BLOB_MB * 1_000_000 for name in names})
    folder = hub_root / "models" / repo
    return repo, sorted(names, key=lambda f: hashlib.sha256((folder / f).read_bytes()).hexdigest())


def store_debris(before: set[str], nix) -> list[str]:
    """Entries of /nix/store that appeared since `before` and are no valid store path: what a
    failed addition would leave (a partly unpacked path, a temporary folder, a lock file)."""
    new = set(os.listdir("/nix/store")) - before
    return sorted(name for name in new if not is_valid(nix, f"/nix/store/{name}"))


class PeakMemory:
    """The most memory the daemon's processes hold while it runs, polled every 20 ms."""

    def __init__(self, daemon):
        self.daemon, self.peak_kib, self.running = daemon, 0, True
        self.thread = threading.Thread(target=self.poll)
        self.thread.start()

    def poll(self):
        while self.running:
            self.peak_kib = max(self.peak_kib, self.daemon.rss_kib())
            time.sleep(0.02)

    def stop(self) -> int:
        self.running = False
        self.thread.join()
        return self.peak_kib


def test_a_large_model_streams_into_the_store_through_the_daemon(
    nix, daemon, hub_root, start_hub, make_model, shared_tmp
):
    repo, _ = streamed_model(make_model, hub_root, blobs=4)
    hub = start_hub(hub_root)
    nar_hash = pinned_hash(nix, hub, repo)
    before = set(os.listdir("/nix/store"))
    idle_kib = daemon.rss_kib()
    memory = PeakMemory(daemon)
    done = eval_as(daemon, ALICE, fetch_expr(spec_for(hub, repo, hash=nar_hash, name=unique("streamed"))), shared_tmp)
    peak_kib = memory.stop()
    assert done.returncode == 0, done.stderr
    model = json.loads(done.stdout)
    assert model["narHash"] == nar_hash
    verified = nix.run("nix-store", "--verify-path", model["path"])
    assert verified.returncode == 0, verified.stderr
    assert os.stat(model["path"]).st_uid == 0, "the daemon, not the user, owns the store path"
    assert store_debris(before, nix) == []
    assert leftovers(shared_tmp) == []
    # The daemon's memory stays flat: it keeps 32 MiB of the stream and unpacks the rest as it
    # reads it, whatever the model's size (80 MB here).
    assert peak_kib > idle_kib, "the daemon's worker was never seen"
    assert peak_kib - idle_kib < 64 * 1024, f"the daemon grew by {(peak_kib - idle_kib) // 1024} MiB"


@pytest.mark.parametrize("failure", ["hash mismatch", "corrupted last blob", "corrupted first blob"])
def test_a_failed_stream_adds_nothing(nix, daemon, hub_root, start_hub, make_model, shared_tmp, failure):
    """A check fails: the NAR hash at the end of the stream, or a blob's checksum at its end,
    after the first 33 MiB are released (the last blob) or before (the first). Soon after the
    release the daemon may still have read less than it keeps in memory: the stream goes on to
    33 MiB first, then ends short, and the daemon removes what it unpacked. Before the release
    the daemon is never asked."""
    repo, order = streamed_model(make_model, hub_root)
    hub = start_hub(hub_root)
    good = pinned_hash(nix, hub, repo)
    if failure == "hash mismatch":
        pinned, needle = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "hash mismatch"
    else:
        corrupted = order[1] if failure == "corrupted last blob" else order[0]
        pinned, needle = good, f"{corrupted}: sha256 mismatch"
        hub.add_fault(path=corrupted, kind="wrong-bytes", after_bytes=1_000_000, times=10)
    name = unique("failed")
    before = set(os.listdir("/nix/store"))
    done = eval_as(daemon, ALICE, fetch_expr(spec_for(hub, repo, hash=pinned, name=name)), shared_tmp)
    assert done.returncode != 0
    assert needle in done.stderr, done.stderr
    assert "error (ignored)" not in done.stderr, "the daemon's complaint about the short stream was shown"
    assert store_debris(before, nix) == []
    assert not [p for p in os.listdir("/nix/store") if p.endswith(name)]
    assert leftovers(shared_tmp) == []


def test_ctrl_c_stops_a_streamed_fetch_and_leaves_nothing(
    nix, daemon, hub_root, start_hub, make_model, shared_tmp
):
    """Ctrl-C while the daemon reads the stream: the command stops within a second, and neither
    the store nor TMPDIR keeps anything."""
    repo, order = streamed_model(make_model, hub_root, blobs=3)
    hub = start_hub(hub_root)
    # The blob last in the NAR downloads slowly, so Ctrl-C comes while the first ones stream.
    hub.add_fault(path=order[-1], kind="slow", delay=60, times=10)
    before = set(os.listdir("/nix/store"))
    proc = daemon.popen(ALICE, "nix-instantiate", "--eval", "--strict", "-E",
                        fetch_expr(spec_for(hub, repo, name=unique("interrupted"))), env={"TMPDIR": str(shared_tmp)})
    deadline = time.monotonic() + 60
    while not any(entry["path"].endswith(order[-1]) for entry in hub.log()):
        assert time.monotonic() < deadline and proc.poll() is None, "the download did not start"
        time.sleep(0.1)
    time.sleep(1)
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C reaches its foreground commands
    _, stderr = proc.communicate(timeout=30)
    stopped_after = time.monotonic() - sent
    assert proc.returncode != 0
    assert stopped_after < 1.0, f"took {stopped_after:.2f} s to stop"
    assert "error (ignored)" not in stderr, stderr
    deadline = time.monotonic() + 10
    while store_debris(before, nix) and time.monotonic() < deadline:
        time.sleep(0.2)  # the daemon's worker sees the stream end and removes its folder
    assert store_debris(before, nix) == []
    assert leftovers(shared_tmp) == []


def prefetch_as(daemon, nix, user: str, cli: Path, *args: str) -> dict:
    """`nix-fetch-model prefetch ARGS --json` run by `user`, its store reached through the daemon
    (`nix-store` of this Nix in PATH), its memory in the user's own ~/.cache."""
    home = Path("/root") if user == "root" else Path("/home") / user
    variables = {"PATH": f"{nix.bin_dir}:/usr/bin:/bin", "HOME": str(home), "USER": user, "TMPDIR": "/tmp",
                 "NIX_REMOTE": "daemon", "NIX_DAEMON_SOCKET_PATH": str(daemon.socket)}
    command = ["runuser", "-u", user, "--", "env", "-i", *(f"{k}={v}" for k, v in variables.items()),
               str(cli), "--quiet", "prefetch", *args, "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{user}: {done.stderr}"
    return json.loads(done.stdout)


def test_prefetch_remembers_for_a_user_of_the_daemon(nix, daemon, hub_root, start_hub, make_model):
    """A user's prefetch adds the model through the daemon; the next one finds it valid there and
    downloads nothing (the user's memory), and another user with --hash neither."""
    cli = daemon.folder / f"nix-fetch-model-{uuid.uuid4().hex[:8]}"
    shutil.copy(os.environ.get("NFM_BIN", Path(__file__).resolve().parents[3] / "target/debug/nix-fetch-model"), cli)
    cli.chmod(0o755)
    repo = make_model(hub_root, {"model.safetensors": 200_000})
    hub = start_hub(hub_root)
    reference = (f"hf:{repo}", "--endpoint", hub.endpoint)
    first = prefetch_as(daemon, nix, ALICE, cli, *reference)
    assert first["addedToStore"] and first["downloaded"], first
    assert is_valid(nix, first["storePath"])
    downloads = hub.downloads("model.safetensors")
    again = prefetch_as(daemon, nix, ALICE, cli, *reference)
    by_hash = prefetch_as(daemon, nix, BOB, cli, *reference, "--hash", first["hash"])
    for report in (again, by_hash):
        assert not report["downloaded"], report
        assert (report["hash"], report["storePath"]) == (first["hash"], first["storePath"])
    assert hub.downloads("model.safetensors") == downloads
    assert nix.run("nix-store", "--delete", first["storePath"]).returncode == 0
    gone = prefetch_as(daemon, nix, ALICE, cli, *reference)
    assert gone["downloaded"] and gone["storePath"] == first["storePath"], gone
