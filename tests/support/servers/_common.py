"""What the servers of tests/support/servers share: where they are installed, a free loopback
port, a child process with its own data directory that is waited for and stopped cleanly, and a
plain HTTP client (standard library only: the tests' venv must not grow for these helpers)."""

from __future__ import annotations

import http.client as httplib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Mapping

REPO_ROOT = Path(__file__).resolve().parents[3]
START_TIMEOUT = 60.0  # seconds; every server here starts in under 3 s on the 2-core test machine
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL


class ServerNotInstalled(RuntimeError):
    """A server's package is missing: scripts/setup-servers.sh installs it."""


class ServerStartError(RuntimeError):
    """A server exited, or did not answer, before START_TIMEOUT."""


def servers_dir() -> Path:
    """Where scripts/setup-servers.sh installs the servers: $NFM_SERVERS_DIR or <repo>/.servers."""
    return Path(os.environ.get("NFM_SERVERS_DIR") or REPO_ROOT / ".servers")


def require(path: Path, what: str) -> Path:
    if not path.exists():
        raise ServerNotInstalled(f"{what} is not installed ({path} is missing): run scripts/setup-servers.sh")
    return path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Response:
    status: int
    headers: Message  # case-insensitive: response.headers["content-range"]
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def __str__(self) -> str:
        return f"HTTP {self.status}: {self.text()[:500]}"


def http(method: str, url: str, body: bytes | None = None, headers: Mapping[str, str] | None = None,
         timeout: float = 30.0) -> Response:
    """One HTTP request, whatever its status (no exception for 4xx/5xx, no redirect followed)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http":
        raise ValueError(f"only http:// here: {url}")
    conn = httplib.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        conn.request(method, target, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        data = response.read()
        return Response(response.status, response.headers, data)
    finally:
        conn.close()


class ServerProcess:
    """A server as a child process of the test: a temporary data directory, its output in log files
    there, `wait_ready` polling until the server answers, and `stop` (SIGTERM, then SIGKILL).

    Subclasses set `name`, build the command in `command()` and say when the server is ready in
    `ready()`; `__enter__` starts the server and `__exit__` stops it and removes its data."""

    name = "server"

    def __init__(self) -> None:
        self.port = free_port()
        self.host = "127.0.0.1"
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"nfm-{self.name}-"))
        self.proc: subprocess.Popen | None = None
        self.start_seconds: float | None = None  # measured by start()

    # -- what subclasses provide

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def ready(self) -> bool:
        """True once the server answers; exceptions (connection refused...) count as not ready."""
        raise NotImplementedError

    def after_start(self) -> None:
        """Set-up done through the server's own API once it is ready."""

    # -- the process

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log(self) -> str:
        """What the server wrote to its stdout and stderr so far."""
        parts = []
        for stream in ("stdout", "stderr"):
            path = self.data_dir / f"{self.name}.{stream}"
            if path.exists():
                parts.append(f"--- {stream}:\n{path.read_text(errors='replace')[-8000:]}")
        return "\n".join(parts)

    def start(self) -> None:
        argv = self.command()
        started = time.monotonic()
        with open(self.data_dir / f"{self.name}.stdout", "wb") as out, \
                open(self.data_dir / f"{self.name}.stderr", "wb") as err:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         env=self.env(), cwd=self.data_dir, start_new_session=True)
        self.wait_ready(argv, started)
        self.start_seconds = time.monotonic() - started
        self.after_start()

    def wait_ready(self, argv: list[str], started: float) -> None:
        deadline = started + START_TIMEOUT
        last_error: BaseException | None = None
        while True:
            if self.proc.poll() is not None:
                raise ServerStartError(
                    f"{self.name} exited with status {self.proc.returncode} before it was ready\n"
                    f"command: {' '.join(argv)}\n{self.log()}")
            try:
                if self.ready():
                    return
            except (OSError, httplib.HTTPException) as error:
                last_error = error
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(
                    f"{self.name} did not answer on {self.base_url} within {START_TIMEOUT:.0f} s "
                    f"(last error: {last_error!r})\ncommand: {' '.join(argv)}\n{self.log()}")
            time.sleep(0.05)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT; returns the exit status."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                proc.wait()
        # Whatever the server left behind in its session (it was started as the session leader).
        self._signal(signal.SIGKILL, group_only=True)
        return proc.returncode

    def _signal(self, sig: int, group_only: bool = False) -> None:
        try:
            os.killpg(self.proc.pid, sig)  # our child's own process group (start_new_session)
        except ProcessLookupError:
            if not group_only and self.proc.poll() is None:
                self.proc.send_signal(sig)

    def cleanup(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        self.cleanup()

