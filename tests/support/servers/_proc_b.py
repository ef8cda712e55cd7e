"""Child processes for the test servers of mlflow_server.py and git_lfs.py: free ports, waiting
until a server answers, and stopping a server with every process it started.

Each server runs in a session (and process group) of its own, so that stopping it reaches the
workers it forked too (mlflow's uvicorn, gunicorn's workers): SIGTERM to the group, then SIGKILL
to whatever is left after a grace period.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

try:
    from ._common import free_port  # noqa: F401 (the servers' modules take it from here too)
except ImportError:
    from _common import free_port  # noqa: F401

REPO = Path(__file__).resolve().parents[3]
SERVERS = REPO / ".servers"
LOOPBACK = "127.0.0.1"


class ServerError(RuntimeError):
    """A server could not be found, did not start, or died."""


def venv_bin(name: str, program: str) -> Path:
    """`program` in the venv .servers/<name>/bin (made by scripts/setup-servers.sh)."""
    path = SERVERS / name / "bin" / program
    if not path.exists():
        raise ServerError(
            f"{path} is missing: install it with scripts/setup-servers.sh "
            f"(requirements in tests/support/servers/{name}.requirements.txt)"
        )
    return path


def system_bin(program: str, *candidates: str) -> str:
    """A program from Debian's packages: the first candidate path that exists, else PATH."""
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(program)
    if not found:
        raise ServerError(f"{program} is not installed (see tests/support/servers/*.apt)")
    return found


class Process:
    """One server process (and its process group), its output in a log file."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict | None = None, cwd: Path | None = None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log)
        self._log = open(self.log_path, "ab")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        self.ready_after: float | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_http(self, port: int, path: str = "/", timeout: float = 120, ok=lambda status: True) -> float:
        """Poll http://127.0.0.1:port/path until it answers with a status that `ok` accepts.
        Returns the seconds since start; raises ServerError (with the log's tail) if the process
        dies or the time is up."""
        deadline = self.started + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(
                    f"{self.name} exited with {self.proc.returncode} before it was ready:\n{self.log_tail()}"
                )
            try:
                conn = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
                conn.request("GET", path)
                status = conn.getresponse().status
                conn.close()
                if ok(status):
                    self.ready_after = time.monotonic() - self.started
                    return self.ready_after
                last = f"status {status}"
            except OSError as error:
                last = str(error)
            time.sleep(0.1)
        self.stop()
        raise ServerError(f"{self.name} not ready after {timeout}s ({last}):\n{self.log_tail()}")

    def stop(self, grace: float = 10) -> int | None:
        """SIGTERM to the process group, SIGKILL after `grace` seconds; returns the exit status."""
        if self.proc.poll() is None or _group_alive(self.proc.pid):
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
            deadline = time.monotonic() + grace
            while _group_alive(self.proc.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _group_alive(self.proc.pid) or self.proc.poll() is None:
                _signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
