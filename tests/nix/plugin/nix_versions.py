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
