"""End-to-end tests of each source against its real server (tests/support/servers/): the CLI,
the plugin (on each Nix here) and the fixed-output derivation fetch the same bytes, to the same
hash and store path.

    cli   the nix-fetch-model binary: $NFM_BIN, else target/debug (built if missing)
    nix   a Nix with the plugin built for it, once per version (2.8, 2.26)
    ways  the three ways to fetch a spec (see Ways)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "support"))
sys.path.insert(0, str(REPO_ROOT / "tests" / "nix" / "plugin"))
from nix_versions import TEST_CACHE, Nix, nix_with_plugin  # noqa: E402

MODEL_NIX = REPO_ROOT / "tests" / "nix" / "lib" / "model.nix"
# What the fixed-output builder runs (tests/nix/lib/stand-ins.nix plays nixpkgs with them).
HOST_TOOLS = ["bash", "sh", "mkdir", "ln", "cat", "ls", "env", "rm", "cp"]


@pytest.fixture(scope="session")
def cli() -> Path:
    given = os.environ.get("NFM_BIN")
    binary = Path(given) if given else REPO_ROOT / "target" / "debug" / "nix-fetch-model"
    if not given:
        built = subprocess.run(["cargo", "build", "--bin", "nix-fetch-model"], cwd=REPO_ROOT, capture_output=True, text=True)
        assert built.returncode == 0, built.stderr
    assert binary.is_file(), f"no CLI at {binary}"
    return binary


@pytest.fixture(scope="session", params=["2.8", "2.26"])
def nix(request) -> Nix:
    return nix_with_plugin(request.param)


@pytest.fixture(scope="session")
def ways(cli, tmp_path_factory) -> "Ways":
    return Ways(cli, tmp_path_factory.mktemp("ways"))


class Ways:
    """The three ways to fetch a spec (the fetchModel argument as a dict). Each returns what it
    fetched: {"hash", "path", "commit"}; with check=False, the finished process instead."""

    def __init__(self, cli: Path, work: Path):
        self.cli = cli
        self.work = work
        tools = work / "tools" / "bin"
        tools.mkdir(parents=True)
        for tool in HOST_TOOLS:
            (tools / tool).symlink_to(subprocess.run(["sh", "-c", f"PATH=/usr/bin:/bin command -v {tool}"], capture_output=True, text=True, check=True).stdout.strip())
        (work / "cli" / "bin").mkdir(parents=True)
        (work / "cli" / "bin" / "nix-fetch-model").write_bytes(cli.read_bytes())
        (work / "cli" / "bin" / "nix-fetch-model").chmod(0o755)

    @staticmethod
    def env(extra: dict | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "AWS_", "NETRC"))}
        env["XDG_CACHE_HOME"] = TEST_CACHE
        env.update(extra or {})
        return env

    def prefetch(self, spec: dict, env: dict | None = None, check: bool = True, args: tuple = ("--json",)):
        """`nix-fetch-model prefetch --spec -` (adds the result to the store, as users run it)."""
        done = subprocess.run(
            [str(self.cli), "prefetch", "--spec", "-", *args],
            input=json.dumps(spec), capture_output=True, text=True, env=self.env(env), timeout=600,
        )
        if not check:
            return done
        assert done.returncode == 0, done.stderr
        if "--json" not in args:
            return done.stdout
        report = json.loads(done.stdout)
        return {"hash": report["hash"], "path": report["storePath"], "commit": report["commit"], "report": report}

    def plugin(self, nix: Nix, spec: dict, env: dict | None = None, check: bool = True):
        """builtins.fetchModel at evaluation, with the plugin built for `nix`."""
        expr = (f"(let m = builtins.fetchModel (builtins.fromJSON ''{json.dumps(spec)}''); "
                "in { inherit (m) narHash commit; path = m.outPath; })")
        done = nix.run("nix-instantiate", *nix.options(), "--eval", "--strict", "--json", "-E", expr, env=self.env(env))
        if not check:
            return done
        assert done.returncode == 0, done.stderr
        value = json.loads(done.stdout)
        return {"hash": value["narHash"], "path": value["path"], "commit": value["commit"]}

    def fod(self, nix: Nix, spec: dict, env: dict | None = None, check: bool = True):
        """lib.fetchModel without the plugin: the fixed-output derivation, built by `nix`."""
        expr = f"{{ fetch, ... }}: fetch (builtins.fromJSON ''{json.dumps(spec)}'')"
        done = nix.run(
            "nix-build", "--option", "substituters", "", *nix.build_options(), "--no-out-link", str(MODEL_NIX),
            "--argstr", "hostTools", str(self.work / "tools"), "--argstr", "cli", str(self.work / "cli"),
            "--arg", "expr", expr, env=self.env(env), timeout=600,
        )
        if not check:
            return done
        assert done.returncode == 0, done.stderr
        path = done.stdout.strip().splitlines()[-1]
        return {"hash": spec.get("hash"), "path": path, "commit": None}

    def found_in_the_store(self, nix: Nix, spec: dict, fetched: dict, env: dict | None = None) -> dict:
        """Asserts that `spec` fetched with the plugin and with the fixed-output derivation gives
        the path `fetched` added (held by the store: no server needed). Returns the plugin's."""
        by_plugin = self.plugin(nix, spec, env)
        assert by_plugin["path"] == fetched["path"]
        assert self.fod(nix, spec, env)["path"] == fetched["path"]
        return by_plugin

    def fetch(self, spec: dict, out: Path, env: dict | None = None) -> subprocess.CompletedProcess:
        """`nix-fetch-model fetch --spec - --out OUT` (the fixed-output builder's command), unchecked."""
        return subprocess.run([str(self.cli), "fetch", "--spec", "-", "--out", str(out)], input=json.dumps(spec),
                              capture_output=True, text=True, env=self.env(env), timeout=600)

    def refused_by_each_way(self, nix: Nix, spec: dict, env: dict | None = None,
                            message: str = "hash mismatch") -> dict[str, subprocess.CompletedProcess]:
        """Fetches `spec` with the plugin, the fixed-output derivation and `fetch`; asserts that
        each fails saying `message`, and that `fetch` left no output folder. Returns the three
        finished processes by way: "plugin", "fod", "fetch"."""
        out = Path(tempfile.mkdtemp(dir=self.work)) / "out"
        done = {"plugin": self.plugin(nix, spec, env, check=False), "fod": self.fod(nix, spec, env, check=False),
                "fetch": self.fetch(spec, out, env)}
        for way, process in done.items():
            assert process.returncode != 0, f"{way} did not refuse:\n{process.stderr}"
            assert message in process.stderr, f"{way}: {process.stderr}"
        assert not out.exists()
        return done

    def all_three(self, nix: Nix, spec: dict, env: dict | None = None) -> dict:
        """Prefetches `spec` (not added to the store), then fetches it pinned with the plugin,
        then, the path deleted, with the fixed-output derivation: each downloads. Asserts the
        three give the same hash and store path; returns the prefetch's."""
        first = self.prefetch(spec, env, args=("--json", "--no-add"))
        delete_path(nix, first["path"])
        pinned = dict(spec, hash=first["hash"])
        by_plugin = self.plugin(nix, pinned, env)
        assert (by_plugin["hash"], by_plugin["path"]) == (first["hash"], first["path"])
        assert by_plugin["commit"] == first["commit"]
        delete_path(nix, first["path"])
        by_fod = self.fod(nix, pinned, env)
        assert by_fod["path"] == first["path"]
        return first


def delete_path(nix: Nix, path: str) -> None:
    """Removes `path` from the store, if there, so that the next fetch of it downloads."""
    if nix.run("nix-store", "--check-validity", path).returncode != 0:
        return
    done = nix.run("nix-store", "--delete", path)
    assert done.returncode == 0, done.stderr


def is_valid(nix: Nix, path: str) -> bool:
    return nix.run("nix-store", "--check-validity", path).returncode == 0


def hub_cache_with(tmp_path: Path, store_path: str, folder: str) -> Path:
    """A Hub cache folder holding `folder` (models--x--y) as a link to `store_path`."""
    cache = tmp_path / "hub-cache"
    cache.mkdir(exist_ok=True)
    (cache / folder).symlink_to(store_path)
    return cache


@pytest.fixture
def netrc_dir():
    """A folder the build users can read (the fixed-output builder reads $NETRC)."""
    folder = Path(tempfile.mkdtemp(prefix="nfm-netrc-"))
    folder.chmod(0o755)
    yield folder
    for file in folder.iterdir():
        file.unlink()
    folder.rmdir()
