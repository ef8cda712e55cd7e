"""Smoke tests of the real servers (scripts/setup-servers.sh installs them): each starts, takes
data through its own API, serves it back over plain HTTP (Range included), and checks (or not)
credentials as README.md says.

    .venv/bin/pytest tests/support/servers -q
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket

import pytest

from ._common import ServerStartError, http
from .azure import Azurite
from .gcs import FakeGcs
from .registry import MANIFEST_V2, OLLAMA_LICENSE, OLLAMA_MODEL, OLLAMA_PARAMS, OLLAMA_TEMPLATE, \
    DockerRegistry, sha256_digest
from .s3 import MotoS3

V1 = b"first version of the weights\n" * 100
V2 = b"second version, longer than the first\n" * 100
KEY = "llm/tiny model+v1.bin"  # a space and a plus: keys are percent-encoded on the wire


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def listens(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


# --- the shared process handling


def test_stop_ends_the_process_and_frees_the_port():
    with DockerRegistry() as registry:
        port, proc, data_dir = registry.port, registry.proc, registry.data_dir
        assert listens(port)
        assert data_dir.is_dir()
    assert proc.poll() is not None
    assert not listens(port)
    assert not data_dir.exists()


def test_a_server_that_cannot_start_reports_its_stderr():
    class BrokenRegistry(DockerRegistry):
        def command(self):
            argv = super().command()
            self.config_path.write_text("version: 0.1\nstorage: {nonsense_driver: {}}\n")
            return argv

    with pytest.raises(ServerStartError) as raised:
        with BrokenRegistry():
            pass
    message = str(raised.value)
    assert "exited with status" in message
    assert "nonsense_driver" in message  # the registry's own complaint, from its stderr


# --- S3: moto


def test_s3_versioned_bucket_reads_back():
    with MotoS3() as s3:
        s3.create_bucket("models", versioned=True)
        v1 = s3.put_object("models", KEY, V1)
        v2 = s3.overwrite_object("models", KEY, V2)
        assert v1 and v2 and v1 != v2

        [listed] = s3.list_objects("models", prefix="llm/")
        assert listed == {"key": KEY, "size": len(V2), "etag": f'"{hashlib.md5(V2).hexdigest()}"'}
        versions = s3.list_versions("models")
        assert {(v["version_id"], v["size"], v["is_latest"]) for v in versions} == {
            (v1, len(V1), False), (v2, len(V2), True)}

        latest = s3.get_object("models", KEY)
        assert (latest.status, latest.body, latest.headers["x-amz-version-id"]) == (200, V2, v2)
        old = s3.get_object("models", KEY, version_id=v1)
        assert (old.status, old.body) == (200, V1)
        part = s3.get_object("models", KEY, byte_range="bytes=10-19")
        assert part.status == 206
        assert part.headers["Content-Range"] == f"bytes 10-19/{len(V2)}"
        assert part.body == V2[10:20]

        marker = s3.delete_object("models", KEY)
        assert marker and marker not in (v1, v2)
        assert s3.get_object("models", KEY).status == 404
        assert s3.get_object("models", KEY, version_id=v1).body == V1


def test_s3_checks_signatures_and_keys():
    with MotoS3(auth=True) as s3:
        assert s3.access_key.startswith("AKIA") and s3.access_key != "testing"
        s3.create_bucket("models")
        s3.put_object("models", KEY, V1)
        url = s3.url("models", KEY)

        assert s3.request("GET", url).body == V1
        assert s3.request("GET", url, unsigned_payload=True).body == V1

        wrong_secret = s3.request("GET", url, secret_key="not-the-secret")
        assert wrong_secret.status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in wrong_secret.body
        unknown_key = s3.request("GET", url, access_key="AKIAUNKNOWNUNKNOWN00")
        assert unknown_key.status == 403 and b"<Code>InvalidAccessKeyId</Code>" in unknown_key.body
        assert http("GET", url).status == 403  # anonymous
        # moto's checking reads the Authorization header, which a presigned URL has not: it fails
        # with 500 (moto 5.2.5). Presigned URLs work with auth=False (next test).
        assert http("GET", s3.presign("models", KEY)).status == 500


def test_s3_without_auth_checks_no_signature_but_refuses_anonymous_reads():
    with MotoS3(auth=False) as s3:
        s3.create_bucket("models", versioned=True)
        v1 = s3.put_object("models", KEY, V1)
        s3.put_object("models", KEY, V2)
        url = s3.url("models", KEY)

        assert s3.request("GET", url, secret_key="anything").body == V2
        assert http("GET", url).status == 403  # anonymous: the object is private
        presigned = http("GET", s3.presign("models", KEY))
        assert (presigned.status, presigned.body) == (200, V2)
        assert http("GET", s3.presign("models", KEY, version_id=v1)).body == V1
        ranged = http("GET", s3.presign("models", KEY), headers={"Range": "bytes=0-4"})
        assert (ranged.status, ranged.body) == (206, V2[:5])


# --- GCS: fake-gcs-server


def test_gcs_generations_listing_and_range():
    with FakeGcs() as gcs:
        gcs.create_bucket("models", versioned=True)
        first = gcs.upload_object("models", KEY, V1)
        second = gcs.overwrite_object("models", KEY, V2)
        assert int(second["generation"]) > int(first["generation"])
        assert (second["size"], second["md5Hash"]) == (str(len(V2)), md5_b64(V2))

        [listed] = gcs.list_objects("models", prefix="llm/")
        assert (listed["name"], listed["size"], listed["md5Hash"], listed["generation"]) == (
            KEY, str(len(V2)), md5_b64(V2), second["generation"])
        generations = {(o["generation"], o["size"]) for o in gcs.list_objects("models", versions=True)}
        assert generations == {(first["generation"], str(len(V1))), (second["generation"], str(len(V2)))}

        latest = gcs.get_object("models", KEY)
        assert (latest.status, latest.body) == (200, V2)
        assert latest.headers["X-Goog-Generation"] == second["generation"]
        assert gcs.get_object("models", KEY, generation=first["generation"]).body == V1
        part = gcs.get_object("models", KEY, byte_range="bytes=10-19")
        assert part.status == 206
        assert part.headers["Content-Range"] == f"bytes 10-19/{len(V2)}"
        assert part.body == V2[10:20]
        assert gcs.get_object("models", "llm/missing.bin").status == 404


def test_gcs_checks_no_credentials():
    with FakeGcs() as gcs:
        gcs.create_bucket("models")
        gcs.upload_object("models", KEY, V1)
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            response = http("GET", gcs.object_url("models", KEY), headers=headers)
            assert (response.status, response.body) == (200, V1)
        assert gcs.client_env() == {"STORAGE_EMULATOR_HOST": gcs.endpoint}


# --- Azure Blob: Azurite


def test_azure_blob_reads_back_with_shared_key():
    with Azurite() as azure:
        azure.create_container("models")
        first = azure.upload_blob("models", KEY, V1)
        second = azure.overwrite_blob("models", KEY, V2)
        assert first["etag"] != second["etag"]
        assert second["content_md5"] == md5_b64(V2)

        [listed] = azure.list_blobs("models", prefix="llm/")
        assert listed["name"] == KEY and listed["size"] == len(V2)
        assert listed["content_md5"] == md5_b64(V2)

        latest = azure.get_blob("models", KEY)
        assert (latest.status, latest.body) == (200, V2)
        assert latest.headers["ETag"] == second["etag"]
        assert "x-ms-version-id" not in latest.headers  # Azurite keeps no blob versions
        for header in ("x-ms-range", "Range"):
            part = azure.request("GET", azure.blob_url("models", KEY), headers={header: "bytes=10-19"})
            assert part.status == 206, header
            assert part.headers["Content-Range"] == f"bytes 10-19/{len(V2)}"
            assert part.body == V2[10:20]


def test_azure_checks_shared_key_and_sas():
    with Azurite() as azure:
        azure.create_container("models")
        azure.create_container("public", public_access="blob")
        azure.upload_blob("models", KEY, V1)
        azure.upload_blob("public", KEY, V2)
        url = azure.blob_url("models", KEY)
        wrong_key = base64.b64encode(b"x" * 64).decode()

        bad = azure.request("GET", url, key_b64=wrong_key)
        assert bad.status == 403 and b"<Code>AuthorizationFailure</Code>" in bad.body
        assert http("GET", url).status == 403  # anonymous, private container
        assert http("GET", azure.blob_url("public", KEY)).body == V2  # anonymous, public container

        sas = http("GET", f"{url}?{azure.container_sas('models')}", headers={"Range": "bytes=0-4"})
        assert (sas.status, sas.body) == (206, V1[:5])
        assert http("GET", f"{url}?{azure.container_sas('models', key_b64=wrong_key)}").status == 403
        assert http("GET", f"{url}?{azure.container_sas('models', permissions='l')}").status == 403


# --- Ollama-style registry: docker-registry


def test_registry_serves_an_ollama_model():
    with DockerRegistry() as registry:
        pushed = registry.push_ollama_model(
            "library", "tiny", "latest", V1, template="{{ .Prompt }}",
            params={"stop": ["<|end|>"], "temperature": 0.2}, license="MIT License")
        assert [layer["mediaType"] for layer in pushed["layers"]] == [
            OLLAMA_MODEL, OLLAMA_TEMPLATE, OLLAMA_PARAMS, OLLAMA_LICENSE]
        assert pushed["manifest_digest"] == sha256_digest(pushed["manifest"])

        for reference in ("latest", pushed["manifest_digest"]):
            manifest = registry.get_manifest("library/tiny", reference)
            assert manifest.status == 200
            assert manifest.headers["Content-Type"] == MANIFEST_V2
            assert manifest.headers["Docker-Content-Digest"] == pushed["manifest_digest"]
            assert manifest.body == pushed["manifest"]
        config = json.loads(registry.get_blob("library/tiny", pushed["config_digest"]).body)
        assert config["rootfs"]["diff_ids"] == [layer["digest"] for layer in pushed["layers"]]

        model = pushed["layers"][0]
        full = registry.get_blob("library/tiny", model["digest"])
        assert (full.status, full.body) == (200, V1)
        assert full.headers["Docker-Content-Digest"] == model["digest"] == sha256_digest(V1)
        part = registry.get_blob("library/tiny", model["digest"], "bytes=10-19")
        assert part.status == 206
        assert part.headers["Content-Range"] == f"bytes 10-19/{len(V1)}"
        assert part.body == V1[10:20]

        missing = registry.get_manifest("library/other", "latest")
        assert missing.status == 404 and b"MANIFEST_UNKNOWN" in missing.body
        unknown_blob = registry.get_blob("library/tiny", sha256_digest(b"never pushed"))
        assert unknown_blob.status == 404


def test_registry_with_htpasswd_checks_basic_auth():
    with DockerRegistry(auth=True) as registry:
        pushed = registry.push_ollama_model("library", "tiny", "latest", V1)
        url = f"{registry.endpoint}/v2/library/tiny/manifests/latest"
        accept = {"Accept": MANIFEST_V2}

        anonymous = http("GET", url, headers=accept)
        assert anonymous.status == 401
        assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="nfm-test-registry"'
        wrong = http("GET", url, headers={**accept, **registry.auth_headers(password="wrong")})
        assert wrong.status == 401
        right = http("GET", url, headers={**accept, **registry.auth_headers()})
        assert right.status == 200 and right.body == pushed["manifest"]


def listening_addresses(port: int) -> set[str]:
    """The local addresses of sockets listening on `port` (/proc/net/tcp and tcp6, hex)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    found.add(address)
    return found


@pytest.mark.parametrize("server", [MotoS3, FakeGcs, Azurite, DockerRegistry])
def test_servers_listen_on_loopback_only(server):
    with server() as running:
        assert running.base_url == f"http://127.0.0.1:{running.port}"
        assert listening_addresses(running.port) == {"0100007F"}  # 127.0.0.1, nothing else
