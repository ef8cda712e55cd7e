"""The Nix versions the plugin is built and tested for here, and their commands with the plugin
loaded: for the plugin's tests and benchmarks (benches/plugin_eval.py)."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

NIX_BIN = {"2.8": Path("/usr/bin"), "2.26": Path("/opt/nix-2.26/bin")}
# What unpinned fetches remember (src/ffi/memo.rs), kept out of the user's ~/.cache.
TEST_CACHE = tempfile.mkdtemp(prefix="nfm-test-cache-")
atexit.register(shutil.rmtree, TEST_CACHE, ignore_errors=True)


class Nix:
    """One Nix version's commands, with the plugin loaded and substituters off by default."""

    def __init__(self, version: str, bin_dir: Path, plugin: Path):
        self.version = version
        self.bin_dir = bin_dir
        self.plugin = plugin

    def options(self, substituters: str = "", **settings: str) -> list[str]:
        return self.options_for(self.plugin, substituters, **settings)

    def options_for(self, plugin: Path, substituters: str = "", **settings: str) -> list[str]:
        """The options that load `plugin`, with substituters off unless given, and `settings`."""
        args = ["--option", "plugin-files", str(plugin), "--option", "substituters", substituters]
        for name, value in settings.items():
            args += ["--option", name.replace("_", "-"), value]
        return args

    def command(self, tool: str, *args: str) -> list[str]:
        """The command line of `tool` of this Nix (options are the caller's)."""
        return [str(self.bin_dir / tool), *args]

    def env(self, extra: dict | None = None) -> dict[str, str]:
        """This process's environment without the user's Hub settings (HF_*, HUGGING*), with a
        cache of the tests' own (what unpinned fetches remember), plus `extra`."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
        env["XDG_CACHE_HOME"] = TEST_CACHE
        env.update(extra or {})
        return env

    def run(
        self, tool: str, *args: str, env: dict | None = None, timeout: float = 300, text: bool = True
    ) -> subprocess.CompletedProcess:
        """Runs `tool` in `env()`, its output captured (as bytes if not `text`)."""
        return subprocess.run(
            self.command(tool, *args), capture_output=True, text=text, env=self.env(env), timeout=timeout
        )

    def build_options(self) -> list[str]:
        """Nix 2.26 refuses to build without seccomp, which this machine's kernel does not offer."""
        return ["--option", "filter-syscalls", "false"] if self.version != "2.8" else []

    def new_cli(self) -> list[str]:
        """`nix` with the new CLI enabled."""
        return ["--extra-experimental-features", "nix-command"]


BUILD_PLUGIN = Path(__file__).resolve().parents[3] / "scripts" / "build-plugin.sh"


def nix_with_plugin(version: str) -> Nix:
    """Nix `version` with the plugin built for it (scripts/build-plugin.sh); skips (pytest) if
    either is missing."""
    import pytest

    bin_dir = NIX_BIN[version]
    if not (bin_dir / "nix-instantiate").exists():
        pytest.skip(f"Nix {version} is not installed ({bin_dir}): run scripts/setup-nix.sh")
    built = subprocess.run(["bash", str(BUILD_PLUGIN), version], capture_output=True, text=True)
    if built.returncode != 0:
        message = built.stderr.strip().splitlines()[-1] if built.stderr.strip() else "no output"
        if "setup-nix.sh" in built.stderr:
            pytest.skip(f"no Nix {version} headers: {message}")
        pytest.fail(f"building the plugin for Nix {version} failed:\n{built.stderr}")
    return Nix(version, bin_dir, Path(built.stdout.strip().splitlines()[-1]))
