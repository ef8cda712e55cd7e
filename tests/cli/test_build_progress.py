"""`fetch` as the builder of the fixed-output derivation (lib.fetchModel without the plugin):
Nix shows its download as a file transfer (the builder's `@nix` lines, Nix's structured log),
and the build log gets plain progress lines, no bar frames.

Each test builds a model of its own name (so the build really runs) from a fake Hub whose link
goes at 2 MiB/s: the 12 MiB file takes at least 6 s, long enough for progress to show."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CLI, REPO_ROOT, env_for, nfm, write_repo

sys.path.insert(0, str(REPO_ROOT / "tests" / "nix" / "plugin"))
from nix_versions import NIX_BIN, Nix  # noqa: E402

MODEL_NIX = REPO_ROOT / "tests" / "nix" / "lib" / "model.nix"
# What the builder runs (tests/nix/lib/stand-ins.nix plays nixpkgs with them).
HOST_TOOLS = ["bash", "sh"]
REPO = "fake-org/slow-model"
WEIGHTS = 12 << 20
LINK_MIB_PER_S = "2"

ACT_FILE_TRANSFER = 101
ACT_BUILD = 105
RES_PROGRESS = 105


def nix_of(version: str) -> Nix:
    bin_dir = NIX_BIN[version]
    if not (bin_dir / "nix-build").exists():
        pytest.skip(f"Nix {version} is not installed ({bin_dir}): run scripts/setup-nix.sh")
    return Nix(version, bin_dir, plugin=None)


@pytest.fixture(scope="module")
def builder_tools(tmp_path_factory) -> dict[str, Path]:
    """The stand-ins' hostTools (bash from the host) and cli (this CLI) folders."""
    work = tmp_path_factory.mktemp("builder")
    tools = work / "tools" / "bin"
    tools.mkdir(parents=True)
    for tool in HOST_TOOLS:
        found = subprocess.run(["sh", "-c", f"PATH=/usr/bin:/bin command -v {tool}"],
                               capture_output=True, text=True, check=True).stdout.strip()
        (tools / tool).symlink_to(found)
    cli = work / "cli" / "bin" / "nix-fetch-model"
    cli.parent.mkdir(parents=True)
    cli.write_bytes(CLI.read_bytes())
    cli.chmod(0o755)
    return {"hostTools": work / "tools", "cli": work / "cli"}


@pytest.fixture
def slow_model(hub_root, start_hub, tmp_path) -> dict:
    """A model with a 12 MiB file on a Hub whose link goes at 2 MiB/s, and its hash (from a
    fetch through a second, unthrottled Hub over the same repos)."""
    write_repo(hub_root / "models" / REPO, {
        "config.json": '{"model_type": "slow"}',
        "model.safetensors": os.urandom(WEIGHTS),
    })
    fast = start_hub()
    out = tmp_path / "fetched"
    spec = {"source": {"huggingface": {"repo": REPO}}, "network": {"endpoint": fast.endpoint}}
    nfm("fetch", "--spec", "-", "--out", str(out), "--quiet", input=json.dumps(spec), env=env_for())
    hash_ = nfm("hash", str(out), env=env_for()).stdout.strip()
    slow = start_hub("--link-mib-per-s", LINK_MIB_PER_S)
    return {"hash": hash_, "endpoint": slow.endpoint}


def build_args(model: dict, tools: dict[str, Path], version: str) -> list[str]:
    """The file and arguments of a build of the slow model, under a name of its own."""
    name = f"slow-model-{version}-{time.time_ns()}"
    expr = (f'{{ fetch, ... }}: fetch {{ name = "{name}"; source.huggingface.repo = "{REPO}"; '
            f'hash = "{model["hash"]}"; network.concurrency = 1; }}')
    return [str(MODEL_NIX), "--argstr", "hostTools", str(tools["hostTools"]),
            "--argstr", "cli", str(tools["cli"]), "--argstr", "endpoint", model["endpoint"],
            "--arg", "expr", expr]


def json_log(stderr: str) -> list[dict]:
    """The messages of Nix's internal-json log format, in order."""
    return [json.loads(line[len("@nix "):]) for line in stderr.splitlines() if line.startswith("@nix {")]


def assert_file_transfer_progress(messages: list[dict]) -> None:
    """The log holds the builder's file-transfer activity, under the build, with progress up to
    the whole size, some of it while the download ran, and its stop."""
    starts = [m for m in messages if m["action"] == "start" and m["type"] == ACT_FILE_TRANSFER
              and f"fetching model '{REPO}'" in m["text"]]
    assert len(starts) == 1, messages
    start = starts[0]
    if "parent" in start:  # Nix 2.8 does not write it
        builds = {m["id"] for m in messages if m["action"] == "start" and m["type"] == ACT_BUILD}
        assert start["parent"] in builds, (start, builds)
    assert start["fields"] == [start["fields"][0]] and start["fields"][0].endswith(f"/{REPO}")
    progress = [m["fields"] for m in messages
                if m["action"] == "result" and m["id"] == start["id"] and m["type"] == RES_PROGRESS]
    total = progress[-1][1]
    assert total >= WEIGHTS, progress
    assert progress[-1] == [total, total, 0, 0], progress
    assert any(0 < done < total for done, *_ in progress), progress
    assert any(m["action"] == "stop" and m["id"] == start["id"] for m in messages)


# No CR, no ESC or other control character but the newline.
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


def assert_plain_build_log(log: str) -> None:
    """The build log: plain lines, the progress in human units, no bar frames."""
    bad = [line for line in log.splitlines() if CONTROL.search(line)]
    assert not bad, bad
    plain = [line for line in log.splitlines() if not line.startswith("@nix ")]
    assert "downloading 2 files, 12.00 MiB" in plain, log
    assert any(re.fullmatch(r"downloaded [\d.]+ [KM]iB of 12\.00 MiB \(\d+%\), [\d.]+ [KM]iB/s, \d of 2 files done",
                            line) for line in plain), log
    assert "downloaded model.safetensors (2 of 2 files)" in plain or \
        "downloaded model.safetensors (1 of 2 files)" in plain, log
    fetched = [line for line in plain if line.startswith(f"fetched {REPO} at main")]
    assert fetched and re.search(r": 2 files, 12\.00 MiB, into /nix/store/", fetched[0]), log


def run(nix: Nix, *args: str) -> subprocess.CompletedProcess:
    return nix.run(*args, env=env_for(), timeout=600)


def test_nix_build_2_8_shows_the_builders_file_transfer(slow_model, builder_tools):
    nix = nix_of("2.8")
    args = build_args(slow_model, builder_tools, "2.8")
    built = run(nix, "nix-build", "--option", "substituters", "", "--no-out-link",
                "--log-format", "internal-json", *args)
    assert built.returncode == 0, built.stderr
    assert_file_transfer_progress(json_log(built.stderr))

    drv = run(nix, "nix-instantiate", *args).stdout.strip()
    log = run(nix, "nix-store", "-l", drv)
    assert log.returncode == 0, log.stderr
    assert_plain_build_log(log.stdout)


def test_nix_build_2_26_shows_the_builders_file_transfer(slow_model, builder_tools):
    nix = nix_of("2.26")
    args = build_args(slow_model, builder_tools, "2.26")
    built = run(nix, "nix", *nix.new_cli(), "build", "--option", "substituters", "",
                *nix.build_options(), "--no-link", "--print-out-paths", "-L",
                "--log-format", "internal-json", "-f", *args)
    assert built.returncode == 0, built.stderr
    assert_file_transfer_progress(json_log(built.stderr))

    drv = run(nix, "nix-instantiate", *args).stdout.strip()
    log = run(nix, "nix", *nix.new_cli(), "log", drv)
    assert log.returncode == 0, log.stderr
    assert_plain_build_log(log.stdout)
