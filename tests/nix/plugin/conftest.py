"""Fixtures for the plugin tests: the plugin built for each Nix version, and fake Hubs.

    nix        a Nix (2.8 from Debian, 2.26 from ../shared/nix) with the plugin built for it;
               the tests run once per version and skip, saying why, where one is missing
    every_nix  {version: Nix} of all of them at once (skips unless all are there)
    start_hub  start_hub(root) -> a running tests/support/fake_hub.py serving `root`
    daemon     a nix-daemon of that Nix version with two non-root users (multiuser.py)
    hub_root   a fresh hub root holding the fixture repos
    make_model make_model(hub_root, files) -> the id of a new model with unique content
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "support"))
from hub_process import hub_starter  # noqa: E402
from multiuser import Daemon  # noqa: E402
from nix_versions import NIX_BIN, Nix, nix_with_plugin  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[3]
FIXTURES = REPO_ROOT / "tests" / "support" / "fixtures"

@pytest.fixture(scope="session", params=["2.8", "2.26"])
def nix(request) -> Nix:
    return nix_with_plugin(request.param)


@pytest.fixture(scope="session")
def every_nix() -> dict[str, Nix]:
    """Every Nix version here, each with its plugin built: for tests that load one's build into another."""
    return {version: nix_with_plugin(version) for version in NIX_BIN}


@pytest.fixture(scope="session")
def daemon(nix):
    """Users reaching the store through a nix-daemon, as on every NixOS machine."""
    if os.geteuid() != 0:
        pytest.skip("starting a nix-daemon and creating users needs root")
    running = Daemon(nix)
    yield running
    running.stop()


@pytest.fixture
def hub_root(tmp_path) -> Path:
    root = tmp_path / "hub"
    shutil.copytree(FIXTURES / "models", root / "models")
    return root


@pytest.fixture
def start_hub():
    with hub_starter() as start:
        yield start


@pytest.fixture
def make_model():
    return new_model


def new_model(root: Path, files: dict[str, bytes | int] | None = None) -> str:
    """A model with unique content (so a fresh store path) under `root`; returns its repo id.
    A file given as an int is that many random bytes."""
    name = f"m-{uuid.uuid4().hex[:12]}"
    folder = root / "models" / "test-org" / name
    folder.mkdir(parents=True)
    files = files or {}
    files.setdefault("config.json", json.dumps({"model": name}).encode())
    for path, content in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(os.urandom(content) if isinstance(content, int) else content)
    return f"test-org/{name}"
