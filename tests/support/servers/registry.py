"""An Ollama-style model registry: Debian's `docker-registry` (CNCF distribution 2.8.2, the
Docker Registry HTTP API V2, the protocol Ollama's registry speaks), on 127.0.0.1 with
filesystem storage in the server's temporary directory; optionally with htpasswd basic auth.

    with DockerRegistry() as registry:
        pushed = registry.push_ollama_model("library", "tiny", "latest", b"GGUF...",
                                            template="{{ .Prompt }}", params={"stop": ["<|end|>"]})
        # GET <endpoint>/v2/library/tiny/manifests/latest, then /v2/library/tiny/blobs/<digest>

    with DockerRegistry(auth=True) as registry:   # 401 + WWW-Authenticate: Basic without
        registry.username, registry.password        # credentials or with wrong ones

Ollama's manifests are Docker image manifests (schema 2) whose layers carry Ollama's media
types (application/vnd.ollama.image.model, .template, .params, .license, .system...). The
registry serves blobs from its filesystem storage itself (no redirect), with Range (206).
The htpasswd file is bcrypt (the only hash distribution accepts), made by `htpasswd -B` from
Debian's apache2-utils.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import subprocess
import urllib.parse
from pathlib import Path

from ._common import Response, ServerProcess, http, require

DOCKER_REGISTRY = "/usr/bin/docker-registry"
HTPASSWD = "/usr/bin/htpasswd"

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_V1 = "application/vnd.docker.container.image.v1+json"
OLLAMA_MODEL = "application/vnd.ollama.image.model"
OLLAMA_TEMPLATE = "application/vnd.ollama.image.template"
OLLAMA_PARAMS = "application/vnd.ollama.image.params"
OLLAMA_LICENSE = "application/vnd.ollama.image.license"
OLLAMA_SYSTEM = "application/vnd.ollama.image.system"


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class RegistryError(RuntimeError):
    def __init__(self, what: str, response: Response):
        super().__init__(f"{what}: {response}")
        self.response = response


class DockerRegistry(ServerProcess):
    """docker-registry on http://127.0.0.1:<port> (the API is under /v2/)."""

    name = "docker-registry"

    def __init__(self, auth: bool = False, username: str = "nfm", password: str | None = None):
        super().__init__()
        self.auth = auth
        self.username = username
        self.password = password or secrets.token_urlsafe(12)
        self.config_path = self.data_dir / "config.yml"

    def command(self) -> list[str]:
        binary = require(Path(DOCKER_REGISTRY),
                         "docker-registry (Debian package docker-registry)")
        config = {
            "version": 0.1,
            "log": {"level": "info", "accesslog": {"disabled": False}},
            "storage": {"filesystem": {"rootdirectory": str(self.data_dir / "storage")},
                        "delete": {"enabled": True},
                        "maintenance": {"uploadpurging": {"enabled": False}}},
            "http": {"addr": f"{self.host}:{self.port}", "secret": secrets.token_hex(16)},
        }
        if self.auth:
            htpasswd = require(Path(HTPASSWD), "htpasswd (Debian package apache2-utils)")
            line = subprocess.run([str(htpasswd), "-nbB", self.username, self.password],
                                  check=True, capture_output=True, text=True).stdout.strip()
            (self.data_dir / "htpasswd").write_text(line + "\n")
            config["auth"] = {"htpasswd": {"realm": "nfm-test-registry",
                                           "path": str(self.data_dir / "htpasswd")}}
        # JSON is YAML: no YAML writer needed.
        self.config_path.write_text(json.dumps(config, indent=2))
        return [str(binary), "serve", str(self.config_path)]

    def ready(self) -> bool:
        return http("GET", f"{self.base_url}/v2/", timeout=2).status in (200, 401)

    # -- what a client needs

    @property
    def endpoint(self) -> str:
        return self.base_url

    def auth_headers(self, username: str | None = None, password: str | None = None) -> dict:
        """Basic auth with this registry's user (or the given one); nothing when auth is off."""
        if not self.auth and username is None:
            return {}
        token = f"{username or self.username}:{password or self.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(token).decode()}

    def request(self, method: str, path_or_url: str, body: bytes | None = None,
                headers: dict | None = None) -> Response:
        url = path_or_url if path_or_url.startswith("http") else self.base_url + path_or_url
        return http(method, url, body=body, headers={**self.auth_headers(), **(headers or {})})

    # -- pushing

    def push_blob(self, repository: str, data: bytes) -> str:
        """A monolithic upload (POST .../blobs/uploads/, then PUT <Location>&digest=); returns the
        blob's digest. A blob the repository has already is not sent again."""
        digest = sha256_digest(data)
        if self.request("HEAD", f"/v2/{repository}/blobs/{digest}").status == 200:
            return digest
        started = self.request("POST", f"/v2/{repository}/blobs/uploads/", b"")
        if started.status != 202:
            raise RegistryError(f"start upload to {repository}", started)
        location = urllib.parse.urljoin(self.base_url + "/", started.headers["Location"])
        location += ("&" if "?" in location else "?") + "digest=" + urllib.parse.quote(digest)
        done = self.request("PUT", location, data, {"Content-Type": "application/octet-stream",
                                                    "Content-Length": str(len(data))})
        if done.status != 201:
            raise RegistryError(f"finish upload of {digest} to {repository}", done)
        return digest

    def push_manifest(self, repository: str, reference: str, manifest: dict | bytes,
                      media_type: str = MANIFEST_V2) -> str:
        """PUT /v2/<repository>/manifests/<reference>; returns the manifest's digest (the
        registry's Docker-Content-Digest, checked against the bytes sent)."""
        body = manifest if isinstance(manifest, bytes) else json.dumps(manifest, indent=3).encode()
        response = self.request("PUT", f"/v2/{repository}/manifests/{reference}", body,
                                {"Content-Type": media_type})
        if response.status != 201:
            raise RegistryError(f"push manifest {repository}:{reference}", response)
        digest = response.headers.get("Docker-Content-Digest")
        if digest != sha256_digest(body):
            raise RuntimeError(f"registry says manifest digest {digest}, expected {sha256_digest(body)}")
        return digest

    def push_ollama_model(self, namespace: str, model: str, tag: str, weights: bytes, *,
                          template: str | None = None, params: dict | None = None,
                          license: str | None = None, system: str | None = None,
                          config: dict | None = None) -> dict:
        """Push a model the way `ollama push` lays it out: one blob per layer, a config blob, and
        a schema-2 manifest at /v2/<namespace>/<model>/manifests/<tag>. Returns
        {"repository", "manifest_digest", "manifest" (bytes), "config_digest", "layers"
        ([{mediaType, digest, size}])}."""
        repository = f"{namespace}/{model}"
        parts = [(OLLAMA_MODEL, weights)]
        if template is not None:
            parts.append((OLLAMA_TEMPLATE, template.encode()))
        if system is not None:
            parts.append((OLLAMA_SYSTEM, system.encode()))
        if params is not None:
            parts.append((OLLAMA_PARAMS, json.dumps(params).encode()))
        if license is not None:
            parts.append((OLLAMA_LICENSE, license.encode()))
        layers = [{"mediaType": media_type, "digest": self.push_blob(repository, data),
                   "size": len(data)} for media_type, data in parts]
        config_body = json.dumps(config or {
            "model_format": "gguf", "model_family": "llama", "model_families": ["llama"],
            "model_type": "tiny", "file_type": "F16", "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
        }).encode()
        config_digest = self.push_blob(repository, config_body)
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST_V2,
                    "config": {"mediaType": CONFIG_V1, "digest": config_digest,
                               "size": len(config_body)},
                    "layers": layers}
        body = json.dumps(manifest, indent=3).encode()
        digest = self.push_manifest(repository, tag, body)
        return {"repository": repository, "manifest_digest": digest, "manifest": body,
                "config_digest": config_digest, "layers": layers}

    # -- reading back

    def get_manifest(self, repository: str, reference: str, accept: str = MANIFEST_V2) -> Response:
        return self.request("GET", f"/v2/{repository}/manifests/{reference}", headers={"Accept": accept})

    def get_blob(self, repository: str, digest: str, byte_range: str | None = None) -> Response:
        return self.request("GET", f"/v2/{repository}/blobs/{digest}",
                            headers={"Range": byte_range} if byte_range else {})

    def delete_manifest(self, repository: str, digest: str) -> None:
        response = self.request("DELETE", f"/v2/{repository}/manifests/{digest}")
        if response.status != 202:
            raise RegistryError(f"delete manifest {repository}@{digest}", response)

