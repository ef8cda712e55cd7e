"""`lock` and `update`: many models in a lock file, against the fake Hub; and the library's
`fromLock`, which builds them from the lock (fixed-output derivation and plugin) with the Hub
stopped."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import CLI, REPO_ROOT, env_for, move_branch, nfm, write_repo

sys.path.insert(0, str(REPO_ROOT / "tests" / "nix" / "plugin"))
from nix_versions import nix_with_plugin  # noqa: E402

MODELS_TOML = """\
[alpha]
ref = "hf:org/alpha@main"

[beta]
ref = "hf:org/beta"
include = ["*.json"]

[gamma]
ref = "hf:org/gamma@main"
exclude = ["*.md"]
"""
# What the fixed-output builder runs (tests/nix/lib/stand-ins.nix plays nixpkgs with them).
HOST_TOOLS = ["bash", "sh", "mkdir", "ln", "cat", "ls", "env", "rm", "cp"]
NIX_STORE = "/usr/bin/nix-store"


class Models:
    """Three repos of the fake Hub (their content unique to this test, so that their store
    paths are its own), a models file naming them, and the CLI run in that folder."""

    def __init__(self, tmp_path: Path, hub_root: Path, start_hub):
        self.nonce = uuid.uuid4().hex
        self.repos = {}
        for name in ("alpha", "beta", "gamma"):
            self.repos[name] = write_repo(hub_root / "models" / "org" / name, {
                "config.json": json.dumps({"model": name, "nonce": self.nonce}),
                "tokenizer.json": '{"version": "1.0"}',
                "model.safetensors": name.encode() * 1000,
                "README.md": f"# {name}\n",
            })
        self.hub = start_hub()
        self.dir = tmp_path / "project"
        self.dir.mkdir()
        self.models = self.dir / "models.toml"
        self.models.write_text(MODELS_TOML)
        self.lock_file = self.dir / "models.lock.json"
        self.env = env_for(self.hub, XDG_CACHE_HOME=str(tmp_path / "cache"))

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return nfm(*args, env=self.env, check=check, cwd=self.dir)

    def lock(self) -> dict:
        return json.loads(self.lock_file.read_text())

    def paths(self) -> set[str]:
        return {store_path(entry) for entry in self.lock()["models"].values()}


def store_path(entry: dict) -> str:
    """The fixed-output store path of a lock entry: its pin's name and hash."""
    digest = base64.b64decode(entry["hash"].removeprefix("sha256-")).hex()
    done = subprocess.run([NIX_STORE, "--print-fixed-path", "--recursive", "sha256", digest, entry["pin"]["name"]],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def is_valid(path: str) -> bool:
    return subprocess.run([NIX_STORE, "--check-validity", path], capture_output=True).returncode == 0


def delete(paths) -> None:
    # Outputs first: Nix keeps the derivation of a path that is still there.
    for path in sorted(paths, key=lambda path: path.endswith(".drv")):
        if is_valid(path):
            subprocess.run([NIX_STORE, "--delete", path], capture_output=True, check=True)


def downloads(hub) -> list[str]:
    """The file bodies the hub sent since its log was cleared (resolve and CDN requests)."""
    return [entry["path"] for entry in hub.log()
            if entry["origin"] == "cdn" or "/resolve/" in entry["path"]]


@pytest.fixture
def models(tmp_path, hub_root, start_hub):
    """The three models, locked; their store paths removed at the end."""
    made = Models(tmp_path, hub_root, start_hub)
    made.paths_made = set()
    yield made
    if made.lock_file.exists():
        made.paths_made |= made.paths()
    delete(made.paths_made)


def lock_all(models: Models) -> dict:
    done = models.run("lock")
    lock = models.lock()
    models.paths_made |= models.paths()
    return {"stdout": done.stdout, "lock": lock}


def test_lock_fetches_every_entry_into_the_store_and_writes_the_lock(models):
    done = lock_all(models)
    lines = done["stdout"].splitlines()
    assert sorted(line.split(":")[0] for line in lines[:3]) == ["locked alpha", "locked beta", "locked gamma"]
    assert lines[3] == "models.lock.json: 3 models, written"
    lock = done["lock"]
    assert lock["version"] == 1
    assert sorted(lock["models"]) == ["alpha", "beta", "gamma"]
    beta = lock["models"]["beta"]
    assert beta["ref"] == "hf:org/beta" and beta["include"] == ["*.json"] and "exclude" not in beta
    assert beta["spec"] == {"source": {"huggingface": {"repo": "org/beta", "revision": "main", "files": ["*.json"]}}}
    assert beta["revision"] == "main" and len(beta["commit"]) == 40
    assert beta["files"] == 2
    assert beta["size"] == len(json.dumps({"model": "beta", "nonce": models.nonce})) + len('{"version": "1.0"}')
    assert beta["pin"] == {
        "name": "models--org--beta",
        "source": {"huggingface": {"repo": "org/beta", "revision": "main", "commit": beta["commit"], "files": ["*.json"]}},
        "hash": beta["hash"],
    }
    assert lock["models"]["gamma"]["exclude"] == ["*.md"] and lock["models"]["gamma"]["files"] == 3
    # Each line names what it locked, as the lock holds it.
    for name, entry in lock["models"].items():
        line = next(line for line in lines if line.startswith(f"locked {name}:"))
        assert f"main at {entry['commit'][:12]}" in line and line.endswith(entry["hash"])
    # Each entry's hash is that of a prefetch of its reference, and its path is in the store.
    prefetched = json.loads(models.run("prefetch", "hf:org/gamma", "--exclude", "*.md", "--json", "--no-add").stdout)
    assert prefetched["hash"] == lock["models"]["gamma"]["hash"]
    assert prefetched["pin"] == lock["models"]["gamma"]["pin"]
    assert all(is_valid(path) for path in models.paths())
    # Sorted, two-space indents, a final newline: the bytes json.dumps gives with sorted keys.
    assert models.lock_file.read_text() == json.dumps(lock, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    # Written through a temporary file beside it, which is gone.
    assert sorted(p.name for p in models.dir.iterdir()) == ["models.lock.json", "models.toml"]


def test_lock_again_does_nothing_and_asks_nothing(models):
    lock_all(models)
    before = models.lock_file.read_bytes()
    mtime = models.lock_file.stat().st_mtime_ns
    models.hub.clear_log()
    done = models.run("lock")
    assert done.stdout == "models.lock.json: 3 models, up to date\n"
    assert models.lock_file.read_bytes() == before
    assert models.lock_file.stat().st_mtime_ns == mtime
    assert models.hub.log() == []


def test_a_changed_or_removed_entry_is_locked_again_or_dropped_and_the_others_stay(models):
    lock_all(models)
    before = models.lock()["models"]
    models.models.write_text(MODELS_TOML.replace('include = ["*.json"]', 'include = ["config.json"]')
                             .replace('[gamma]\nref = "hf:org/gamma@main"\nexclude = ["*.md"]\n', ""))
    models.hub.clear_log()
    done = models.run("lock")
    lines = done.stdout.splitlines()
    assert lines[0] == "removed gamma: no longer in models.toml"
    assert lines[1].startswith("locked beta: main at ")
    after = models.lock()["models"]
    models.paths_made |= models.paths()
    assert sorted(after) == ["alpha", "beta"]
    assert after["alpha"] == before["alpha"]
    assert after["beta"]["include"] == ["config.json"] and after["beta"]["files"] == 1
    assert after["beta"]["hash"] != before["beta"]["hash"]
    assert not any("/org/alpha/" in path for path in downloads(models.hub))


def test_update_moves_only_the_moved_entry_and_says_what_changed(models):
    lock_all(models)
    before = models.lock()["models"]
    move_branch(models.repos["alpha"], "main", {
        "config.json": json.dumps({"model": "alpha", "nonce": models.nonce, "v": 2}),
        "model.safetensors": b"alpha2" * 1000,
    })
    models.hub.clear_log()
    done = models.run("update")
    after = models.lock()["models"]
    models.paths_made |= models.paths()
    old, new = before["alpha"], after["alpha"]
    assert new["commit"] != old["commit"] and new["hash"] != old["hash"]
    config = json.dumps({"model": "alpha", "nonce": models.nonce, "v": 2})
    assert (new["size"], new["files"]) == (len(config) + len(b"alpha2" * 1000), 2)
    assert after["beta"] == before["beta"] and after["gamma"] == before["gamma"]
    assert f"""moved alpha: main
  commit: {old['commit']} -> {new['commit']}
  hash:   {old['hash']} -> {new['hash']}
  size:   {human(old['size'])} (4 files) -> {human(new['size'])} (2 files)
""" in done.stdout
    assert f"unchanged beta: main at {old_commit(before, 'beta')}\n" in done.stdout
    assert f"unchanged gamma: main at {old_commit(before, 'gamma')}\n" in done.stdout
    assert done.stdout.endswith("models.lock.json: 3 models, written\n")
    # Only the moved entry downloaded; the others asked where main points, nothing more.
    fetched = downloads(models.hub)
    assert fetched and not any("/org/beta/" in p or "/org/gamma/" in p for p in fetched), fetched
    assert all(is_valid(path) for path in models.paths())

    # update NAME of an unchanged entry: reported, no download, the lock's bytes the same.
    text = models.lock_file.read_bytes()
    models.hub.clear_log()
    done = models.run("update", "beta")
    assert done.stdout == (f"unchanged beta: main at {old_commit(after, 'beta')}\n"
                           "models.lock.json: 3 models, up to date\n")
    assert downloads(models.hub) == []
    assert models.lock_file.read_bytes() == text


def old_commit(models: dict, name: str) -> str:
    return models[name]["commit"][:12]


def human(size: int) -> str:
    """indicatif's HumanBytes, for the sizes of these tests."""
    return f"{size} B" if size < 1024 else f"{size / 1024:.2f} KiB"


def test_update_of_an_unknown_name_lists_the_names(models):
    lock_all(models)
    done = models.run("update", "beta", "delta", "zeta", check=False)
    assert done.returncode == 1
    assert done.stderr == ("error: nix-fetch-model update:\n"
                           "  - no entry delta, zeta in models.toml; its entries: alpha, beta, gamma\n")


def test_a_failing_entry_is_named_and_the_others_are_written(models):
    models.models.write_text(MODELS_TOML + '\n[missing]\nref = "hf:org/missing"\n\n[bad]\nref = "hf:a/b/c"\n')
    done = models.run("lock", check=False)
    assert done.returncode == 1
    assert "error: missing: repo org/missing (model) not found on" in done.stderr
    assert "error: bad: nix-fetch-model prefetch:\n    - hf:a/b/c: repo 'a/b/c' is not 'org/name'" in done.stderr
    assert done.stderr.endswith(
        "error: 2 entries of models.toml could not be locked (bad, missing): models.lock.json holds "
        "the others; run the command again to try again\n")
    assert sorted(models.lock()["models"]) == ["alpha", "beta", "gamma"]
    models.paths_made |= models.paths()
    # Run again, the good ones are not fetched again.
    models.hub.clear_log()
    assert models.run("lock", check=False).returncode == 1
    assert downloads(models.hub) == []


def test_a_lock_file_of_another_version_is_refused(models):
    models.lock_file.write_text('{"version": 2, "models": {}}\n')
    done = models.run("lock", check=False)
    assert done.returncode == 1
    assert "models.lock.json:\n  - is a lock file of format version 2, and this nix-fetch-model reads version 1 only" in done.stderr
    assert models.hub.log() == []


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory) -> list[str]:
    """The arguments of tests/nix/lib/stand-ins.nix: host tools and the CLI as nixpkgs."""
    work = tmp_path_factory.mktemp("stand-ins")
    (work / "tools" / "bin").mkdir(parents=True)
    for tool in HOST_TOOLS:
        (work / "tools" / "bin" / tool).symlink_to(shutil.which(tool, path="/usr/bin:/bin"))
    (work / "cli" / "bin").mkdir(parents=True)
    shutil.copy(CLI, work / "cli" / "bin" / "nix-fetch-model")
    return [f"hostTools = {work / 'tools'};", f"cli = {work / 'cli'};"]


def from_lock(stand_ins: list[str], lock_file: Path, plugin: bool) -> str:
    """lib.fromLock of `lock_file`, with the stand-in pkgs; without `plugin`, the library's
    fixed-output derivations even if the plugin is loaded."""
    library = "{ }" if plugin else "{ builtinFetchModel = null; }"
    return (f"let pkgs = import {REPO_ROOT}/tests/nix/lib/stand-ins.nix {{ {' '.join(stand_ins)} }}; "
            f"lib = import {REPO_ROOT}/lib {library}; in lib.fromLock pkgs {lock_file}")


def test_the_library_builds_every_entry_from_the_lock_with_the_hub_stopped(models, stand_ins):
    lock_all(models)
    move_branch(models.repos["alpha"], "main", {"config.json": json.dumps({"moved": models.nonce})})
    models.run("update", "alpha")
    models.paths_made |= models.paths()
    entries = models.lock()["models"]
    expected = {name: store_path(entry) for name, entry in entries.items()}

    # The fixed-output derivation of a pin fetches what the lock says: alpha's path, removed,
    # is built again from the Hub (its commit, not where main points).
    delete([expected["alpha"]])
    build = ["/usr/bin/nix-build", "--option", "substituters", "", "--no-out-link", "-E"]
    done = subprocess.run([*build, from_lock(stand_ins, models.lock_file, plugin=False), "-A", "alpha"],
                          capture_output=True, text=True, env=models.env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [expected["alpha"]]

    models.hub.stop()
    done = subprocess.run([*build, from_lock(stand_ins, models.lock_file, plugin=False)],
                          capture_output=True, text=True, env=models.env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [expected[name] for name in sorted(entries)]
    # The derivations the builds wrote go with the test's store paths.
    drvs = subprocess.run(["/usr/bin/nix-instantiate", "-E", from_lock(stand_ins, models.lock_file, plugin=False)],
                          capture_output=True, text=True, env=models.env, check=True).stdout.split()
    assert len(drvs) == 3
    models.paths_made |= set(drvs)

    for version in ("2.8", "2.26"):
        nix = nix_with_plugin(version)
        expr = f"builtins.mapAttrs (_: m: m.outPath) ({from_lock(stand_ins, models.lock_file, plugin=True)})"
        done = nix.run("nix-instantiate", *nix.options(), "--eval", "--strict", "--json", "-E", expr,
                       env={"HF_ENDPOINT": models.env["HF_ENDPOINT"], "XDG_CACHE_HOME": models.env["XDG_CACHE_HOME"]})
        assert done.returncode == 0, f"Nix {version}: {done.stderr}"
        assert json.loads(done.stdout) == expected, f"Nix {version}"


FLAKE_FILES = ["flake.nix", "lib", "models", "nix", "Cargo.lock", "tests/nix/lib/flake-outputs.nix",
               "tests/nix/lib/stand-in-nixpkgs", "tests/nix/lib/stand-ins.nix"]


def test_the_flake_models_come_from_models_lock_json_beside_the_definitions(models, tmp_path):
    """The flake's models.<system> adds the entries of models/models.lock.json: a copy of the
    flake with the lock there (a flake sees only its own files)."""
    lock_all(models)
    flake = tmp_path / "flake"
    for name in FLAKE_FILES:
        source, target = REPO_ROOT / name, flake / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    shutil.copy(models.lock_file, flake / "models" / "models.lock.json")
    expr = (f"let o = import {flake}/tests/nix/lib/flake-outputs.nix; in "
            "builtins.mapAttrs (_: m: m.outPath) o.models.x86_64-linux")
    done = subprocess.run(["/usr/bin/nix-instantiate", "--eval", "--strict", "--json", "-E", expr],
                          capture_output=True, text=True, env=models.env, timeout=300)
    assert done.returncode == 0, done.stderr
    outputs = json.loads(done.stdout)
    entries = models.lock()["models"]
    assert sorted(outputs) == sorted(["fake-org-tiny-model", *entries])
    assert {name: outputs[name] for name in entries} == {name: store_path(e) for name, e in entries.items()}


def wait_for(condition, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.05)


def test_an_interrupted_lock_keeps_what_finished_and_leaves_nothing_half_written(models, tmp_path):
    write_repo(models.hub.root / "models" / "org" / "delta", {"held.safetensors": b"delta" * 1000})
    models.models.write_text(MODELS_TOML + '\n[delta]\nref = "hf:org/delta"\n')
    models.hub.add_fault(path="held.safetensors", kind="hold", after_bytes=10)
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = dict(models.env, TMPDIR=str(temp))
    lock = subprocess.Popen([str(CLI), "lock"], cwd=models.dir, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        locked = [lock.stdout.readline() for _ in range(3)]
        assert sorted(line.split(":")[0] for line in locked) == ["locked alpha", "locked beta", "locked gamma"]
        wait_for(lambda: models.hub.admin("GET", "held")["held"] == 1, "delta's download to be held")
        lock.send_signal(signal.SIGINT)
        rest, stderr = lock.communicate(timeout=60)
    finally:
        if lock.poll() is None:
            lock.kill()
        models.hub.admin("POST", "release")
    assert lock.returncode == 130, stderr
    assert stderr == "error: interrupted by SIGINT\n"
    assert rest == ""
    assert sorted(models.lock()["models"]) == ["alpha", "beta", "gamma"]
    models.paths_made |= models.paths()
    assert list(temp.iterdir()) == []
    assert sorted(p.name for p in models.dir.iterdir()) == ["models.lock.json", "models.toml"]


def test_a_closed_stdout_stops_the_lock_and_keeps_what_finished(models):
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([str(CLI), "lock"], cwd=models.dir, env=models.env, stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=600)
    finally:
        os.close(write)
    assert done.returncode == -signal.SIGPIPE, done.stderr
    assert done.stderr == ""
    kept = models.lock()["models"]
    models.paths_made |= models.paths()
    assert kept, "the entry whose line could not be printed is in the lock"
    assert all(is_valid(store_path(entry)) for entry in kept.values())
    models.hub.clear_log()
    again = models.run("lock")
    assert sorted(models.lock()["models"]) == ["alpha", "beta", "gamma"]
    assert again.stdout.count("locked ") == 3 - len(kept)
    assert not any(f"/org/{name}/" in path for name in kept for path in downloads(models.hub))
