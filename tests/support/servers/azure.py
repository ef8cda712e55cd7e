"""Azure Blob: Azurite (npm `azurite`, in .servers/azure), its blob service alone, on 127.0.0.1,
with the emulator's default account devstoreaccount1 and its well-known key.

    with Azurite() as azure:
        azure.create_container("models")                  # private: SharedKey or SAS needed
        azure.upload_blob("models", "llm/model.bin", b"...")
        os.environ.update(azure.client_env())  # AZURE_STORAGE_ACCOUNT_NAME/_KEY, ..._CONNECTION_STRING

Blob URLs are path-style: http://127.0.0.1:<port>/devstoreaccount1/<container>/<blob>. Requests
here are signed with SharedKey (HMAC-SHA256, standard library); `container_sas` makes a service
SAS. Azurite checks both: a wrong key gets 403 AuthorizationFailure, and so does an anonymous
read of a private container (a container created with public_access="blob" can be read
anonymously). Azurite does not keep blob versions: an overwrite replaces the blob (new ETag).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import urllib.parse
import xml.etree.ElementTree as ET
from email.utils import formatdate
from typing import Mapping

from ._common import Response, ServerProcess, http, require, servers_dir

ACCOUNT = "devstoreaccount1"
# The well-known key of Azurite's and the Storage Emulator's default account (public, not a secret).
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
API_VERSION = "2021-08-06"  # x-ms-version of the requests made here (Azurite 3.35 knows it)


def _hmac_b64(key_b64: str, text: str) -> str:
    digest = hmac.new(base64.b64decode(key_b64), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def shared_key_authorization(method: str, url: str, headers: Mapping[str, str], account: str,
                             key_b64: str) -> str:
    """The Authorization header of a Blob service request (SharedKey, versions since 2015-02-21)."""
    h = {k.lower(): str(v).strip() for k, v in headers.items()}
    length = h.get("content-length", "")
    parts = urllib.parse.urlsplit(url)
    string_to_sign = "\n".join([
        method.upper(), h.get("content-encoding", ""), h.get("content-language", ""),
        "" if length == "0" else length, h.get("content-md5", ""), h.get("content-type", ""),
        "",  # Date: x-ms-date is used instead
        h.get("if-modified-since", ""), h.get("if-match", ""), h.get("if-none-match", ""),
        h.get("if-unmodified-since", ""), h.get("range", ""),
    ]) + "\n"
    string_to_sign += "".join(f"{k}:{h[k]}\n" for k in sorted(h) if k.startswith("x-ms-"))
    resource = f"/{account}{parts.path}"  # the path as sent (percent-encoded), like Azure's SDKs
    query: dict[str, list[str]] = {}
    for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        query.setdefault(k.lower(), []).append(v)
    resource += "".join(f"\n{k}:{','.join(sorted(query[k]))}" for k in sorted(query))
    return f"SharedKey {account}:{_hmac_b64(key_b64, string_to_sign + resource)}"


class AzureError(RuntimeError):
    def __init__(self, what: str, response: Response):
        super().__init__(f"{what}: {response}")
        self.response = response


class Azurite(ServerProcess):
    """Azurite's blob service on http://127.0.0.1:<port>/devstoreaccount1."""

    name = "azurite"

    def __init__(self, skip_api_version_check: bool = True, in_memory: bool = False):
        super().__init__()
        self.account = ACCOUNT
        self.account_key = ACCOUNT_KEY
        self.skip_api_version_check = skip_api_version_check
        self.in_memory = in_memory

    def command(self) -> list[str]:
        main = require(servers_dir() / "azure" / "node_modules" / "azurite" / "dist" / "src" / "blob"
                       / "main.js", "Azurite (Azure Blob)")
        argv = ["node", str(main), "--blobHost", self.host, "--blobPort", str(self.port),
                "--location", str(self.data_dir / "storage"), "--disableTelemetry",
                "--debug", str(self.data_dir / "azurite.debug.log")]
        if self.skip_api_version_check:  # clients newer than this Azurite still get answers
            argv.append("--skipApiVersionCheck")
        if self.in_memory:
            argv.append("--inMemoryPersistence")
        return argv

    def ready(self) -> bool:
        # Any HTTP answer means it listens (an unsigned request gets an error status).
        http("GET", f"{self.endpoint}?comp=list", timeout=2)
        return True

    # -- what a client needs

    @property
    def endpoint(self) -> str:
        """The account's blob endpoint (what a connection string calls BlobEndpoint)."""
        return f"{self.base_url}/{self.account}"

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={self.account};"
                f"AccountKey={self.account_key};BlobEndpoint={self.endpoint};")

    def client_env(self) -> dict[str, str]:
        return {"AZURE_STORAGE_ACCOUNT_NAME": self.account,
                "AZURE_STORAGE_ACCOUNT_KEY": self.account_key,
                "AZURE_STORAGE_CONNECTION_STRING": self.connection_string,
                "AZURE_STORAGE_BLOB_ENDPOINT": self.endpoint}

    def blob_url(self, container: str, blob: str = "", **query: str) -> str:
        url = f"{self.endpoint}/{container}" + (f"/{urllib.parse.quote(blob, safe='/')}" if blob else "")
        return url + ("?" + urllib.parse.urlencode(query) if query else "")

    # -- signed requests

    def request(self, method: str, url: str, body: bytes = b"", headers: Mapping[str, str] = None,
                key_b64: str | None = None) -> Response:
        """`url` with SharedKey auth (this account's key, or `key_b64`)."""
        h = {"x-ms-date": formatdate(usegmt=True), "x-ms-version": API_VERSION, **(headers or {})}
        if body or method in ("PUT", "POST"):
            h["Content-Length"] = str(len(body))
        h["Authorization"] = shared_key_authorization(method, url, h, self.account,
                                                      key_b64 or self.account_key)
        return http(method, url, body=body if body or method in ("PUT", "POST") else None, headers=h)

    def container_sas(self, container: str, permissions: str = "rl", hours: float = 1.0,
                      key_b64: str | None = None) -> str:
        """A service SAS for the container (the query string, without "?")."""
        expiry = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=hours))
        fields = {"sp": permissions, "st": "", "se": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "sv": API_VERSION, "sr": "c", "spr": "http"}
        string_to_sign = "\n".join([
            fields["sp"], fields["st"], fields["se"], f"/blob/{self.account}/{container}",
            "",  # signedIdentifier
            "",  # signedIP
            fields["spr"], fields["sv"], fields["sr"],
            "",  # signedSnapshotTime
            "",  # signedEncryptionScope
            "", "", "", "", "",  # rscc, rscd, rsce, rscl, rsct
        ])
        fields["sig"] = _hmac_b64(key_b64 or self.account_key, string_to_sign)
        return urllib.parse.urlencode({k: v for k, v in fields.items() if v})

    def _ok(self, what: str, response: Response) -> Response:
        if response.status // 100 != 2:
            raise AzureError(what, response)
        return response

    def create_container(self, container: str, public_access: str | None = None) -> None:
        """public_access: None (private), "blob" (anonymous blob reads) or "container"."""
        headers = {"x-ms-blob-public-access": public_access} if public_access else {}
        self._ok(f"create container {container}", self.request(
            "PUT", self.blob_url(container, restype="container"), headers=headers))

    def upload_blob(self, container: str, blob: str, data: bytes,
                    content_type: str = "application/octet-stream") -> dict:
        """Put Blob (a block blob); returns {"etag", "content_md5", "last_modified"}."""
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        response = self._ok(f"upload {container}/{blob}", self.request(
            "PUT", self.blob_url(container, blob), data,
            {"x-ms-blob-type": "BlockBlob", "Content-Type": content_type, "Content-MD5": md5}))
        return {"etag": response.headers.get("etag"), "content_md5": response.headers.get("content-md5"),
                "last_modified": response.headers.get("last-modified")}

    overwrite_blob = upload_blob  # replaces the blob: a new ETag, no version kept

    def delete_blob(self, container: str, blob: str) -> None:
        self._ok(f"delete {container}/{blob}", self.request("DELETE", self.blob_url(container, blob)))

    def get_blob(self, container: str, blob: str, byte_range: str | None = None) -> Response:
        return self.request("GET", self.blob_url(container, blob),
                            headers={"x-ms-range": byte_range} if byte_range else {})

    def list_blobs(self, container: str, prefix: str = "") -> list[dict]:
        """List Blobs, every page: [{name, size, etag, content_md5}]."""
        result, marker = [], ""
        while True:
            query = {"restype": "container", "comp": "list", "prefix": prefix,
                     **({"marker": marker} if marker else {})}
            response = self._ok(f"list {container}", self.request(
                "GET", self.blob_url(container, **query)))
            root = ET.fromstring(response.body)
            for b in root.iter("Blob"):
                props = b.find("Properties")
                result.append({"name": b.findtext("Name"),
                               "size": int(props.findtext("Content-Length")),
                               "etag": props.findtext("Etag"),
                               "content_md5": props.findtext("Content-MD5")})
            marker = root.findtext("NextMarker") or ""
            if not marker:
                return result
