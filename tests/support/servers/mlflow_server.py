"""A real `mlflow server` (PyPI `mlflow`, venv .servers/mlflow) as a child process of a test.

Backend store: sqlite in a temp dir. Artifacts: `--serve-artifacts` with a local
`--artifacts-destination`, so runs get `mlflow-artifacts:/<experiment>/<run>/artifacts` URIs and
every artifact goes through the server's proxied artifact API
(`/api/2.0/mlflow-artifacts/artifacts/<path>`).

auth=None       no authentication.
auth="basic"    MLflow's own auth app (`--app-name basic-auth`): HTTP Basic, checked against its
                user store (admin created from our auth config, plus a READ-only user `reader`).
auth="token"    the same auth app with its documented `authorization_function` hook pointed at
                mlflow_token_auth.py: only `Authorization: Bearer <token>` (what MLflow clients send
                for MLFLOW_TRACKING_TOKEN) is accepted. Stock MLflow has no token check of its own.

Populating uses the REST API only, with urllib (no mlflow client, no torch), so it runs under the
tests' interpreter:

    with MlflowServer() as server:
        v1 = server.populate("tiny")          # version 1, alias "champion", stage "Production"
        v2 = server.add_version("tiny", server.default_files(2), alias="champion")  # alias moves
        server.api("GET", "/api/2.0/mlflow/model-versions/get", query={"name": "tiny", "version": "1"})
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

try:
    from ._common import LOOPBACK, Process, ServerStartError, free_port, venv_bin
except ImportError:
    from _common import LOOPBACK, Process, ServerStartError, free_port, venv_bin

HERE = Path(__file__).resolve().parent
START_TIMEOUT = 180  # seconds; a start imports mlflow's whole server (6-16 s measured here)
BIG_FILE_SIZE = 1536 * 1024 + 7  # over 1 MiB, not a multiple of any block size

ADMIN_USER = "admin"
READER_USER = "reader"


def pseudo_random_bytes(size: int, seed: str) -> bytes:
    """Deterministic bytes (sha256 in counter mode): the same seed gives the same file."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


class HttpError(Exception):
    """A non-2xx answer of the server."""

    def __init__(self, status: int, body: bytes, headers):
        self.status = status
        self.body = body
        self.headers = headers
        super().__init__(f"HTTP {status}: {body[:300]!r}")

    def json(self):
        return json.loads(self.body)


class MlflowServer:
    """`mlflow server` on 127.0.0.1:<free port>; a context manager (stops it and, if it made the
    temp dir, removes that on exit)."""

    def __init__(self, root: Path | None = None, auth: str | None = None, start_timeout: float = START_TIMEOUT):
        if auth not in (None, "basic", "token"):
            raise ValueError(f"auth must be None, 'basic' or 'token', not {auth!r}")
        self.auth = auth
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="mlflow-server-")) if root is None else Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.artifacts_dir = self.root / "artifacts"
        self.port = free_port()
        self.endpoint = f"http://{LOOPBACK}:{self.port}"
        self.admin = (ADMIN_USER, "admin-" + secrets.token_hex(8))
        self.reader = (READER_USER, "reader-" + secrets.token_hex(8)) if auth == "basic" else None
        self.token = "tok-" + secrets.token_hex(16) if auth == "token" else None
        self.process: Process | None = None
        self.start_seconds: float | None = None
        try:
            self._start(start_timeout)
        except BaseException:
            self.stop()  # the temp dir stays, with mlflow-server.log
            raise

    # -- process ---------------------------------------------------------------------------

    def _start(self, timeout: float) -> None:
        mlflow = venv_bin("mlflow", "mlflow")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env.update(
            MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",  # no huey job runner (7 more processes)
            MLFLOW_DISABLE_TELEMETRY="true",
            DO_NOT_TRACK="true",
        )
        argv = [
            mlflow, "server",
            "--host", LOOPBACK,
            "--port", str(self.port),
            "--workers", "1",
            "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
            "--serve-artifacts",
            "--artifacts-destination", str(self.artifacts_dir),
        ]
        if self.auth:
            auth_ini = self.root / "basic_auth.ini"
            function = (
                "mlflow.server.auth:authenticate_request_basic_auth"
                if self.auth == "basic"
                else "mlflow_token_auth:authenticate_request_bearer"
            )
            auth_ini.write_text(
                "[mlflow]\n"
                "default_permission = READ\n"
                f"database_uri = sqlite:///{self.root / 'basic_auth.db'}\n"
                f"admin_username = {self.admin[0]}\n"
                f"admin_password = {self.admin[1]}\n"
                f"authorization_function = {function}\n"
                # No auth_cache_ttl_seconds: with that cache on, mlflow 3.17.2 answers 500 (not
                # 401) to `Authorization: Bearer ...`; the stock setting (off) is what we test.
            )
            env.update(
                MLFLOW_AUTH_CONFIG_PATH=str(auth_ini),
                MLFLOW_FLASK_SERVER_SECRET_KEY=secrets.token_hex(16),
            )
            argv += ["--app-name", "basic-auth"]
            if self.auth == "token":
                env["PYTHONPATH"] = str(HERE)
                env["NFM_TEST_MLFLOW_TOKEN"] = self.token
                env["NFM_TEST_MLFLOW_TOKEN_USER"] = self.admin[0]
        self.process = Process("mlflow server", argv, self.root / "mlflow-server.log", env=env, cwd=self.root)
        # /health answers without credentials in the auth app too.
        self.start_seconds = self.process.wait_http(self.port, "/health", timeout, ok=lambda s: s == 200)
        if self.reader:
            self.api("POST", "/api/2.0/mlflow/users/create",
                     {"username": self.reader[0], "password": self.reader[1]})

    def stop(self) -> None:
        if self.process:
            self.process.stop()

    def __enter__(self) -> "MlflowServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- credentials -----------------------------------------------------------------------

    def auth_header(self, who: str | tuple | None = "admin") -> dict:
        """The Authorization header for `who`: "admin", "reader", None (none at all), a
        (user, password) pair (HTTP Basic), or ("bearer", token)."""
        if who is None or self.auth is None and who in ("admin", "reader"):
            return {}
        if who == "admin":
            who = ("bearer", self.token) if self.auth == "token" else self.admin
        elif who == "reader":
            if not self.reader:
                raise ValueError("only the basic-auth server has a reader")
            who = self.reader
        if who[0] == "bearer":
            return {"Authorization": f"Bearer {who[1]}"}
        raw = f"{who[0]}:{who[1]}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    def client_env(self, who: str | None = "admin") -> dict:
        """Environment variables that MLflow clients read: MLFLOW_TRACKING_URI and, per auth,
        MLFLOW_TRACKING_USERNAME/PASSWORD or MLFLOW_TRACKING_TOKEN."""
        env = {"MLFLOW_TRACKING_URI": self.endpoint}
        if who is None or self.auth is None:
            return env
        if self.auth == "token":
            env["MLFLOW_TRACKING_TOKEN"] = self.token
        else:
            user, password = self.admin if who == "admin" else self.reader
            env["MLFLOW_TRACKING_USERNAME"] = user
            env["MLFLOW_TRACKING_PASSWORD"] = password
        return env

    # -- HTTP ------------------------------------------------------------------------------

    def request(self, method: str, path: str, data: bytes | None = None, headers: dict | None = None,
                query: dict | None = None, who="admin", timeout: float = 60):
        """One HTTP request; returns (status, headers, body). Raises HttpError on non-2xx."""
        url = self.endpoint + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        all_headers = {**self.auth_header(who), **(headers or {})}
        req = urllib.request.Request(url, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            raise HttpError(error.code, error.read(), error.headers) from None

    def api(self, method: str, path: str, body: dict | None = None, query: dict | None = None, who="admin"):
        """A JSON REST call; returns the decoded JSON answer."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        _, _, raw = self.request(method, path, data=data, headers=headers, query=query, who=who)
        return json.loads(raw) if raw else {}

    @staticmethod
    def artifact_path(uri: str) -> str:
        """`mlflow-artifacts:/1/<run>/artifacts/x` -> `1/<run>/artifacts/x`, the path under
        /api/2.0/mlflow-artifacts/artifacts/."""
        parsed = urllib.parse.urlparse(uri)
        if parsed.scheme != "mlflow-artifacts":
            raise ValueError(f"not an mlflow-artifacts URI: {uri}")
        return parsed.path.lstrip("/")

    def upload(self, artifact_uri: str, files: dict[str, bytes], who="admin") -> None:
        """PUT each file through the proxied artifact API under `artifact_uri`."""
        base = self.artifact_path(artifact_uri).rstrip("/")
        for rel, content in files.items():
            quoted = urllib.parse.quote(f"{base}/{rel}")
            self.request("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{quoted}", data=content,
                         headers={"Content-Type": "application/octet-stream"}, who=who)

    def download(self, artifact_uri: str, rel: str, headers: dict | None = None, who="admin"):
        """GET one artifact through the proxied artifact API: (status, headers, body)."""
        quoted = urllib.parse.quote(f"{self.artifact_path(artifact_uri).rstrip('/')}/{rel}")
        return self.request("GET", f"/api/2.0/mlflow-artifacts/artifacts/{quoted}", headers=headers, who=who)

    def list_artifacts(self, artifact_uri: str, rel: str = "", who="admin") -> list[dict]:
        """GET /api/2.0/mlflow-artifacts/artifacts?path=...: one directory level,
        [{"path": name, "is_dir": bool, "file_size": int (files only)}]."""
        path = self.artifact_path(artifact_uri).rstrip("/")
        if rel:
            path += "/" + rel
        return self.api("GET", "/api/2.0/mlflow-artifacts/artifacts", query={"path": path}, who=who).get("files", [])

    def walk_artifacts(self, artifact_uri: str, rel: str = "", who="admin") -> dict[str, int]:
        """Every file under artifact_uri: {relative path: size}."""
        out = {}
        for entry in self.list_artifacts(artifact_uri, rel, who=who):
            child = f"{rel}/{entry['path']}" if rel else entry["path"]
            if entry["is_dir"]:
                out.update(self.walk_artifacts(artifact_uri, child, who=who))
            else:
                out[child] = int(entry["file_size"])
        return out

    # -- populating ------------------------------------------------------------------------

    @staticmethod
    def default_files(version: int = 1) -> dict[str, bytes]:
        """A small model's files: top-level files, a nested folder, a file over 1 MiB. Each
        version differs in config.json and in the big file's bytes."""
        return {
            "MLmodel": b"artifact_path: model\nflavors: {}\nmodel_size_bytes: 0\n",
            "config.json": json.dumps({"model_type": "tiny", "version": version}).encode() + b"\n",
            "weights/model.safetensors": pseudo_random_bytes(BIG_FILE_SIZE, f"mlflow-weights-v{version}"),
            "tokenizer/nested/vocab.txt": f"[PAD]\n[UNK]\nv{version}\n".encode(),
        }

    def experiment(self, name: str = "nix-fetch-model-tests") -> str:
        """The id of the experiment `name`, created if missing."""
        try:
            return self.api("GET", "/api/2.0/mlflow/experiments/get-by-name",
                            query={"experiment_name": name})["experiment"]["experiment_id"]
        except HttpError as error:
            if error.status != 404:
                raise
        return self.api("POST", "/api/2.0/mlflow/experiments/create", {"name": name})["experiment_id"]

    def create_run(self, experiment_id: str, run_name: str = "populate") -> dict:
        """POST runs/create; returns the run's info (run_id, artifact_uri = mlflow-artifacts:/...)."""
        body = {"experiment_id": experiment_id, "run_name": run_name, "start_time": int(time.time() * 1000)}
        return self.api("POST", "/api/2.0/mlflow/runs/create", body)["run"]["info"]

    def finish_run(self, run_id: str) -> None:
        self.api("POST", "/api/2.0/mlflow/runs/update",
                 {"run_id": run_id, "status": "FINISHED", "end_time": int(time.time() * 1000)})

    def ensure_registered_model(self, name: str) -> None:
        try:
            self.api("POST", "/api/2.0/mlflow/registered-models/create", {"name": name})
        except HttpError as error:
            if error.status != 400 or b"RESOURCE_ALREADY_EXISTS" not in error.body:
                raise

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.api("POST", "/api/2.0/mlflow/registered-models/alias",
                 {"name": name, "alias": alias, "version": str(version)})

    def transition_stage(self, name: str, version: str, stage: str) -> dict:
        return self.api("POST", "/api/2.0/mlflow/model-versions/transition-stage",
                        {"name": name, "version": str(version), "stage": stage,
                         "archive_existing_versions": False})["model_version"]

    def add_version(self, name: str, files: dict[str, bytes] | None = None, alias: str | None = None,
                    stage: str | None = None, artifact_subdir: str = "model") -> dict:
        """A new run with `files` uploaded under <run artifacts>/<artifact_subdir>, registered as
        the next version of `name` (source = that artifact URI). Returns the model version JSON
        (after alias/stage) plus "files" (what was uploaded) and "artifact_uri"."""
        files = self.default_files() if files is None else files
        self.ensure_registered_model(name)
        run = self.create_run(self.experiment(), run_name=f"{name}-{artifact_subdir}")
        source = f"{run['artifact_uri'].rstrip('/')}/{artifact_subdir}"
        self.upload(source, files)
        self.finish_run(run["run_id"])
        version = self.api("POST", "/api/2.0/mlflow/model-versions/create",
                           {"name": name, "source": source, "run_id": run["run_id"]})["model_version"]
        return self._finish_version(name, version, files, source, alias, stage)

    def add_logged_model_version(self, name: str, files: dict[str, bytes] | None = None,
                                 alias: str | None = None, stage: str | None = None) -> dict:
        """MLflow 3's way: a "logged model" (POST /api/2.0/mlflow/logged-models, id m-...) whose
        artifacts live at mlflow-artifacts:/<exp>/models/<m-id>/artifacts, registered with
        source = models:/<m-id>. The version's JSON then has that source and no artifact path;
        get-download-uri gives the logged model's artifact location."""
        files = self.default_files() if files is None else files
        self.ensure_registered_model(name)
        experiment_id = self.experiment()
        run = self.create_run(experiment_id, run_name=f"{name}-logged-model")
        model = self.api("POST", "/api/2.0/mlflow/logged-models",
                         {"experiment_id": experiment_id, "name": name, "source_run_id": run["run_id"]})
        info = model["model"]["info"]
        self.upload(info["artifact_uri"], files)
        self.api("PATCH", f"/api/2.0/mlflow/logged-models/{info['model_id']}",
                 {"model_id": info["model_id"], "status": "LOGGED_MODEL_READY"})
        self.finish_run(run["run_id"])
        version = self.api("POST", "/api/2.0/mlflow/model-versions/create",
                           {"name": name, "source": f"models:/{info['model_id']}",
                            "model_id": info["model_id"], "run_id": run["run_id"]})["model_version"]
        result = self._finish_version(name, version, files, info["artifact_uri"], alias, stage)
        result["model_id"] = info["model_id"]
        return result

    def _finish_version(self, name, version, files, artifact_uri, alias, stage) -> dict:
        number = version["version"]
        if alias:
            self.set_alias(name, alias, number)
        if stage:
            self.transition_stage(name, number, stage)
        current = self.api("GET", "/api/2.0/mlflow/model-versions/get",
                           query={"name": name, "version": number})["model_version"]
        return {**current, "files": files, "artifact_uri": artifact_uri}

    def populate(self, name: str = "tiny-model", alias: str = "champion", stage: str = "Production") -> dict:
        """Version 1 of `name` with default_files(1), alias `alias`, stage `stage`. Register a
        second version later with add_version(name, default_files(2), alias=alias) to move the
        alias."""
        return self.add_version(name, self.default_files(1), alias=alias, stage=stage)
