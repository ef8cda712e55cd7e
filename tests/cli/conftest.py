"""Fixtures of the CLI's tests: the CLI as users run it, against the fake Hub (tests/support),
judged by huggingface_hub where a Hub cache is involved."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "support"))

from hub_process import FakeHub  # noqa: E402

CLI = Path(os.environ.get("NFM_BIN", REPO_ROOT / "target" / "debug" / "nix-fetch-model"))


def write_repo(folder: Path, files: dict[str, bytes | str]) -> Path:
    """A repo folder of the fake Hub holding `files` (path -> content)."""
    for path, content in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)
    return folder


def move_branch(repo: Path, branch: str, files: dict[str, bytes | str]) -> None:
    """Points `branch` of the fake Hub's repo folder `repo` at a new commit holding `files`;
    the commits it pointed at stay served by their sha, as on the Hub."""
    hub_json = repo / "_hub.json"
    config = json.loads(hub_json.read_text()) if hub_json.exists() else {}
    revisions = config.setdefault("revisions", {})
    if not revisions:
        first = repo / "rev-0"
        first.mkdir()
        for entry in list(repo.iterdir()):
            if entry.name not in ("rev-0", "_hub.json"):
                shutil.move(str(entry), first / entry.name)
        revisions[branch] = "rev-0"
    old = revisions.get(branch)
    new = f"rev-{len(list(repo.glob('rev-*')))}"
    write_repo(repo / new, files)
    revisions[branch] = new
    if old:
        config.setdefault("history", []).append(old)
    hub_json.write_text(json.dumps(config))


@pytest.fixture
def hub_root(tmp_path) -> Path:
    """The fake Hub's root: repos are ROOT/models/ORG/NAME, ROOT/datasets/..., ROOT/spaces/..."""
    root = tmp_path / "hub"
    root.mkdir()
    return root


@pytest.fixture
def start_hub(hub_root):
    """Factory: start_hub(*args) starts the fake Hub over `hub_root`; stopped at the end."""
    hubs: list[FakeHub] = []

    def start(*args: str) -> FakeHub:
        hub = FakeHub(hub_root, list(args))
        hubs.append(hub)
        return hub

    yield start
    for hub in hubs:
        hub.stop()


def env_for(hub: FakeHub | None = None, **extra: str) -> dict[str, str]:
    """The environment of a CLI run: the host's without HF_* variables, HF_ENDPOINT the hub's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    if hub is not None:
        env["HF_ENDPOINT"] = hub.endpoint
    env.update(extra)
    return env


def nfm(*args: str, env: dict[str, str], check: bool = True, timeout: int = 600,
        **kwargs) -> subprocess.CompletedProcess:
    """The CLI with `args` in `env`; with `check`, raises with its stderr when it fails."""
    result = subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True,
                            timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"nix-fetch-model {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stderr}")
    return result
