"""The fake Hub (fake_hub.py beside this file) as a child process of a Python test, with its admin API."""

from __future__ import annotations

import contextlib
import json
import select
import signal
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

FAKE_HUB = Path(__file__).resolve().parent / "fake_hub.py"
START_TIMEOUT = 60  # seconds; the hub hashes every file before it says it is ready


class FakeHub:
    """A running fake_hub.py process and its admin API."""

    def __init__(self, root: Path, args: list[str] = ()):
        self.root = Path(root)
        self.proc = subprocess.Popen(
            [sys.executable, str(FAKE_HUB), "--root", str(self.root), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], START_TIMEOUT)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.proc.kill()
            raise RuntimeError(f"fake hub did not start: {self.proc.stderr.read()}")
        info = json.loads(line)
        self.endpoint: str = info["endpoint"]
        self.cdn: str = info["cdn"]
        self.pid: int = info["pid"]

    def admin(self, method: str, path: str, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.endpoint}/_admin/{path}", data=data, method=method)
        # The admin API of a TLS hub (--tls-cert) is not what a test checks: no verification.
        context = ssl._create_unverified_context() if self.endpoint.startswith("https:") else None
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return json.load(response)

    def add_fault(self, **fault) -> dict:
        """Add a fault (see fake_hub.py), e.g. add_fault(path="*.safetensors", kind="cut", on="cdn")."""
        return self.admin("POST", "faults", fault)

    def clear_faults(self) -> None:
        self.admin("DELETE", "faults")

    def log(self) -> list[dict]:
        return self.admin("GET", "log")

    def clear_log(self) -> None:
        self.admin("DELETE", "log")

    def downloads(self, file_name: str) -> int:
        """How many GET requests fetched the body of `file_name` from the Hub, plus every body the
        CDN sent (tests that count an LFS file have only that one)."""
        return sum(
            1
            for entry in self.log()
            if entry["method"] == "GET" and entry["status"] in (200, 206) and entry["bytes_sent"] > 0
            and (entry["path"].endswith("/" + file_name) or entry["origin"] == "cdn")
        )

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Stop the hub with `sig` and return its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode


@contextlib.contextmanager
def hub_starter():
    """Yields start(root, args=()) -> FakeHub; every hub it started is stopped on exit."""
    hubs: list[FakeHub] = []

    def start(root: Path, args: list[str] = ()) -> FakeHub:
        hub = FakeHub(root, args)
        hubs.append(hub)
        return hub

    try:
        yield start
    finally:
        for hub in hubs:
            hub.stop()
