"""A multi-user Nix for the plugin tests, as on every NixOS machine: a nix-daemon started for the
tests (root, the store's owner) and non-root users in `nix-users` whose Nix commands reach the
store through it.

The daemon listens on a socket of its own (NIX_DAEMON_SOCKET_PATH), so a daemon the machine may
run is left alone. Users are created once (useradd) and kept: they are plain accounts with a home.
While the daemon runs, the kernel's link protections are on, as Debian and NixOS set them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

USERS = ("nfm-alice", "nfm-bob")
GROUP = "nix-users"
# The link protections Debian 12 (systemd's 99-protect-links.conf) and NixOS turn on, and the
# kernel leaves off: with them, a sticky folder refuses O_CREAT on another user's file.
PROTECTIONS = {"fs/protected_regular": "2", "fs/protected_symlinks": "1", "fs/protected_hardlinks": "1"}


def ensure_user(name: str) -> None:
    """A non-root account in `nix-users`, as NixOS makes for a person."""
    if subprocess.run(["id", "-u", name], capture_output=True).returncode == 0:
        return
    if subprocess.run(["getent", "group", GROUP], capture_output=True).returncode != 0:
        subprocess.run(["groupadd", "--system", GROUP], check=True)
    subprocess.run(["useradd", "--create-home", "--groups", GROUP, "--shell", "/bin/sh", name], check=True)


def set_sysctl(name: str, value: str) -> str:
    """Sets the kernel setting /proc/sys/`name`; answers the value it had."""
    path = Path("/proc/sys") / name
    before = path.read_text().strip()
    path.write_text(value)
    return before


def copy_plugin(plugin: Path, folder: Path) -> Path:
    """The plugin file (the loader) and the builds it loads, from nix-fetch-model/ beside its
    folder, copied into `folder` laid out the same way; returns the copied plugin file."""
    (folder / "plugins").mkdir(parents=True)
    shutil.copy2(plugin, folder / "plugins" / plugin.name)
    builds = plugin.parent.parent / "nix-fetch-model"
    if builds.is_dir():
        shutil.copytree(builds, folder / builds.name)
    return folder / "plugins" / plugin.name


class Daemon:
    """A running nix-daemon of one Nix version, and Nix commands run as users through it."""

    def __init__(self, nix):
        for user in USERS:
            ensure_user(user)
        self.protections = {name: set_sysctl(name, value) for name, value in PROTECTIONS.items()}
        self.nix = nix
        # Users must reach the socket and the plugin: a world-readable folder outside root's
        # private temporary folders.
        self.folder = Path(tempfile.mkdtemp(prefix="nfm-daemon-", dir="/tmp"))
        self.folder.chmod(0o755)
        self.socket = self.folder / "socket"
        self.plugin = copy_plugin(nix.plugin, self.folder / "plugin")
        for folder, _, _ in os.walk(self.folder):
            os.chmod(folder, 0o755)
        self.log_path = self.folder / "daemon.log"
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            nix.command("nix-daemon", *nix.build_options()),
            env=self.env(), stdout=log, stderr=log, start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nix-daemon did not start: {self.log_path.read_text()}")
            time.sleep(0.05)

    def env(self, extra: dict | None = None) -> dict[str, str]:
        return self.nix.env({"NIX_DAEMON_SOCKET_PATH": str(self.socket), **(extra or {})})

    def command(self, user: str, tool: str, *args: str, env: dict | None = None) -> list[str]:
        """`tool` run as `user` through this daemon, with the plugin loaded; a clean environment
        with the user's HOME and the shared /tmp, as a login gives."""
        home = Path("/root") if user == "root" else Path("/home") / user
        variables = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "USER": user,
            "TMPDIR": "/tmp",
            "NIX_REMOTE": "daemon",
            "NIX_DAEMON_SOCKET_PATH": str(self.socket),
            **(env or {}),
        }
        assignments = [f"{name}={value}" for name, value in variables.items()]
        nix_args = self.nix.options_for(self.plugin)
        return ["runuser", "-u", user, "--", "env", "-i", *assignments, *self.nix.command(tool, *nix_args, *args)]

    def run(self, user: str, tool: str, *args: str, env: dict | None = None, timeout: float = 300):
        return subprocess.run(
            self.command(user, tool, *args, env=env), capture_output=True, text=True, timeout=timeout
        )

    def popen(self, user: str, tool: str, *args: str, env: dict | None = None) -> subprocess.Popen:
        """`tool` started as `user` in a session of its own, so a test can signal it as a terminal
        signals its foreground commands (os.killpg)."""
        return subprocess.Popen(
            self.command(user, tool, *args, env=env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )

    def rss_kib(self) -> int:
        """The resident memory of the daemon and its workers (one forked a connection), in KiB."""
        pids = [self.proc.pid] + [
            int(p) for p in subprocess.run(
                ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True
            ).stdout.split()
        ]
        total = 0
        for pid in pids:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except FileNotFoundError:
                continue
            rss = [line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")]
            total += int(rss[0]) if rss else 0  # a worker that has just exited holds none
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
        for name, value in self.protections.items():
            set_sysctl(name, value)
