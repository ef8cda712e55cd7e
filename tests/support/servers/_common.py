"""What the servers of tests/support/servers share: where they are installed, a free loopback
port, a child process that is waited for and stopped with everything it started, a server with a
data directory of its own, and a plain HTTP client (standard library only: the tests' venv must
not grow for these helpers)."""

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
from typing import Callable, Mapping

REPO_ROOT = Path(__file__).resolve().parents[3]
LOOPBACK = "127.0.0.1"
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


def venv_bin(name: str, program: str) -> Path:
    """`program` of the venv .servers/<name> (requirements in tests/support/servers/<name>.requirements.txt)."""
    return require(servers_dir() / name / "bin" / program, f"{program} of .servers/{name}")


def system_bin(program: str, *candidates: str) -> str:
    """A program from Debian's packages: the first candidate path that exists, else PATH."""
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(program)
    if not found:
        raise ServerNotInstalled(f"{program} is not installed (see tests/support/servers/*.apt)")
    return found


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


class Process:
    """A child process in a session of its own, so that stopping it reaches the workers it forked
    too (mlflow's uvicorn, gunicorn's workers); its stdout and stderr go to one log file."""

    def __init__(self, name: str, argv: list, log: Path, env: dict | None = None, cwd: Path | None = None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log)
        self.started = time.monotonic()
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                         start_new_session=True)
        self.ready_after: float | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, chars: int = 8000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_until(self, ready: Callable[[], bool], what: str, timeout: float = START_TIMEOUT) -> float:
        """Polls `ready` (an exception counts as not ready) until it is true; returns the seconds
        since the start. Raises ServerStartError, with the log's tail, if the process exits first
        or the time is up (the process is stopped then)."""
        deadline = self.started + timeout
        last_error: BaseException | None = None
        while True:
            if self.proc.poll() is not None:
                raise ServerStartError(
                    f"{self.name} exited with status {self.proc.returncode} before it was ready\n"
                    f"command: {' '.join(self.argv)}\n{self.log_tail()}")
            try:
                if ready():
                    self.ready_after = time.monotonic() - self.started
                    return self.ready_after
            except (OSError, httplib.HTTPException) as error:
                last_error = error
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(
                    f"{self.name} did not answer on {what} within {timeout:.0f} s "
                    f"(last error: {last_error!r})\ncommand: {' '.join(self.argv)}\n{self.log_tail()}")
            time.sleep(0.05)

    def wait_http(self, port: int, path: str = "/", timeout: float = START_TIMEOUT,
                  ok: Callable[[int], bool] = lambda status: True) -> float:
        """wait_until http://127.0.0.1:port/path answers with a status that `ok` accepts."""
        url = f"http://{LOOPBACK}:{port}{path}"
        return self.wait_until(lambda: ok(http("GET", url, timeout=5).status), url, timeout)

    def stop(self, grace: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM to the process group, SIGKILL to whatever is left after `grace` seconds;
        returns the exit status."""
        if self.proc.poll() is None or _group_alive(self.proc.pid):
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
            deadline = time.monotonic() + grace
            while _group_alive(self.proc.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            _signal_group(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
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


class ServerProcess:
    """A server as a child process of the test: a temporary data directory, its output in a log
    file there, `start` waiting until the server answers, and `stop` (SIGTERM, then SIGKILL).

    Subclasses set `name`, build the command in `command()` and say when the server is ready in
    `ready()`; `__enter__` starts the server and `__exit__` stops it and removes its data."""

    name = "server"

    def __init__(self) -> None:
        self.port = free_port()
        self.host = LOOPBACK
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"nfm-{self.name}-"))
        self.process: Process | None = None
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

    @property
    def proc(self) -> subprocess.Popen | None:
        return self.process.proc if self.process else None

    def log(self) -> str:
        """What the server wrote to its stdout and stderr so far."""
        return self.process.log_tail() if self.process else ""

    def start(self) -> None:
        self.process = Process(self.name, self.command(), self.data_dir / f"{self.name}.log",
                               env=self.env(), cwd=self.data_dir)
        self.start_seconds = self.process.wait_until(self.ready, self.base_url)
        self.after_start()

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT; returns the exit status."""
        return self.process.stop() if self.process else None

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
