"""S3: moto's server (PyPI `moto[server]`, in .servers/s3), path-style on 127.0.0.1.

    with MotoS3() as s3:                          # auth=True: moto checks every signature
        s3.create_bucket("models", versioned=True)
        v1 = s3.put_object("models", "llm/model.bin", b"...")
        v2 = s3.put_object("models", "llm/model.bin", b"...")   # a new version
        os.environ.update(s3.client_env())         # AWS_ACCESS_KEY_ID, ..., AWS_ENDPOINT_URL

Requests are signed with AWS Signature V4 written here with the standard library (no boto3 in the
tests' venv). With auth=True (the default) moto runs in its IAM mode: a user with an s3:* policy
is created through moto's IAM API, then /moto-api/reset-auth switches checking on, so a wrong
secret key gets 403 SignatureDoesNotMatch and an unknown key 403 InvalidAccessKeyId. With
auth=False moto accepts any signature (but still refuses anonymous GETs of private objects).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
import sys
import urllib.parse
import xml.etree.ElementTree as ET
from typing import Mapping

from ._common import Response, ServerProcess, http, require, servers_dir

REGION = "us-east-1"
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _quote(value: str, safe: str = "-_.~") -> str:
    return urllib.parse.quote(value, safe=safe)


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def _signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(("AWS4" + secret_key).encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def sign_v4(method: str, url: str, headers: Mapping[str, str], payload_sha256: str, access_key: str,
            secret_key: str, region: str = REGION, service: str = "s3",
            now: datetime.datetime | None = None) -> dict[str, str]:
    """The headers of `url` signed with AWS SigV4 (Authorization, X-Amz-Date, X-Amz-Content-Sha256,
    Host added). `url` must already be percent-encoded the way it is sent."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    parts = urllib.parse.urlsplit(url)
    signed = {k.lower(): str(v).strip() for k, v in headers.items()}
    signed["host"] = parts.netloc
    signed["x-amz-date"] = amz_date
    signed["x-amz-content-sha256"] = payload_sha256
    # Only host and x-amz-* are signed (Range, Content-Type... may be changed by nobody here anyway).
    names = sorted(k for k in signed if k == "host" or k.startswith("x-amz-"))
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    canonical_query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(query))
    canonical_request = "\n".join([
        method, parts.path or "/", canonical_query,
        "".join(f"{k}:{signed[k]}\n" for k in names), ";".join(names), payload_sha256])
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                                hashlib.sha256(canonical_request.encode()).hexdigest()])
    signature = hmac.new(_signing_key(secret_key, date, region, service), string_to_sign.encode(),
                         hashlib.sha256).hexdigest()
    result = {k: v for k, v in headers.items()}
    result["Host"] = parts.netloc
    result["X-Amz-Date"] = amz_date
    result["X-Amz-Content-Sha256"] = payload_sha256
    result["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                               f"SignedHeaders={';'.join(names)}, Signature={signature}")
    return result


def presign_v4(method: str, url: str, access_key: str, secret_key: str, expires: int = 3600,
               region: str = REGION, service: str = "s3",
               now: datetime.datetime | None = None) -> str:
    """`url` with a SigV4 query-string signature (a presigned URL, host the only signed header)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    parts = urllib.parse.urlsplit(url)
    scope = f"{date}/{region}/{service}/aws4_request"
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True) + [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", f"{access_key}/{scope}"),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", str(expires)),
        ("X-Amz-SignedHeaders", "host"),
    ]
    canonical_query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(query))
    canonical_request = "\n".join([method, parts.path or "/", canonical_query,
                                   f"host:{parts.netloc}\n", "host", "UNSIGNED-PAYLOAD"])
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                                hashlib.sha256(canonical_request.encode()).hexdigest()])
    signature = hmac.new(_signing_key(secret_key, date, region, service), string_to_sign.encode(),
                         hashlib.sha256).hexdigest()
    return (f"{parts.scheme}://{parts.netloc}{parts.path}?{canonical_query}"
            f"&X-Amz-Signature={signature}")


class S3Error(RuntimeError):
    def __init__(self, what: str, response: Response):
        super().__init__(f"{what}: {response}")
        self.response = response


class MotoS3(ServerProcess):
    """moto's server, S3 on http://127.0.0.1:<port> (path-style: <endpoint>/<bucket>/<key>)."""

    name = "moto-s3"
    IAM_USER = "nfm-test"

    def __init__(self, auth: bool = True):
        super().__init__()
        self.auth = auth
        self.region = REGION
        # With auth=False any key pair is accepted; with auth=True after_start sets moto's own.
        self.access_key = "testing"
        self.secret_key = "testing"

    def command(self) -> list[str]:
        python = require(servers_dir() / "s3" / "bin" / "python", "moto (S3)")
        return [str(python), "-m", "moto.server", "-H", self.host, "-p", str(self.port)]

    def env(self) -> dict[str, str]:
        env = super().env()
        for name in [k for k in env if k.startswith(("AWS_", "MOTO_"))]:
            del env[name]
        env["AWS_DEFAULT_REGION"] = REGION
        return env

    def ready(self) -> bool:
        return http("GET", f"{self.base_url}/moto-api/data.json", timeout=2).status == 200

    def after_start(self) -> None:
        if not self.auth:
            return
        # IAM's query API; unsigned calls pass while checking is off (moto's default).
        policy = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*",'
                  '"Resource":"*"}]}')
        self._iam({"Action": "CreateUser", "UserName": self.IAM_USER})
        self._iam({"Action": "PutUserPolicy", "UserName": self.IAM_USER, "PolicyName": "s3-all",
                   "PolicyDocument": policy})
        created = self._iam({"Action": "CreateAccessKey", "UserName": self.IAM_USER})
        self.access_key = re.search(r"<AccessKeyId>([^<]+)<", created).group(1)
        self.secret_key = re.search(r"<SecretAccessKey>([^<]+)<", created).group(1)
        # From now on every request is checked (the count of unchecked requests is 0).
        response = http("POST", f"{self.base_url}/moto-api/reset-auth", body=b"0")
        if response.status != 200:
            raise S3Error("moto reset-auth", response)

    def _iam(self, params: dict[str, str]) -> str:
        body = urllib.parse.urlencode({**params, "Version": "2010-05-08"}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        # moto_server routes by the credential scope's service: sign for "iam".
        signed = sign_v4("POST", self.base_url + "/", headers, hashlib.sha256(body).hexdigest(),
                         "AKIDEXAMPLE", "secret", service="iam")
        response = http("POST", self.base_url + "/", body=body, headers=signed)
        if response.status != 200:
            raise S3Error(f"moto IAM {params['Action']}", response)
        return response.text()

    # -- what a client needs

    @property
    def endpoint(self) -> str:
        return self.base_url

    def client_env(self) -> dict[str, str]:
        """The environment of an S3 client of this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
        }

    def url(self, bucket: str, key: str = "", **query: str) -> str:
        path = f"/{bucket}" + (f"/{_quote(key, safe='-_.~/')}" if key else "")
        if query:
            path += "?" + "&".join(f"{_quote(k)}={_quote(v)}" if v is not None else _quote(k)
                                   for k, v in query.items())
        return self.base_url + path

    # -- signed requests

    def request(self, method: str, url: str, body: bytes = b"", headers: Mapping[str, str] = None,
                access_key: str | None = None, secret_key: str | None = None,
                unsigned_payload: bool = False) -> Response:
        """`url` (from self.url) signed with this server's keys, or the ones given; the payload's
        SHA-256 is signed unless `unsigned_payload` (X-Amz-Content-Sha256: UNSIGNED-PAYLOAD)."""
        payload = "UNSIGNED-PAYLOAD" if unsigned_payload else hashlib.sha256(body).hexdigest()
        signed = sign_v4(method, url, dict(headers or {}), payload,
                         access_key or self.access_key, secret_key or self.secret_key, self.region)
        return http(method, url, body=body if body or method in ("PUT", "POST") else None,
                    headers=signed)

    def presign(self, bucket: str, key: str, expires: int = 3600, version_id: str | None = None,
                access_key: str | None = None, secret_key: str | None = None) -> str:
        url = self.url(bucket, key, **({"versionId": version_id} if version_id else {}))
        return presign_v4("GET", url, access_key or self.access_key, secret_key or self.secret_key,
                          expires, self.region)

    def _ok(self, what: str, response: Response) -> Response:
        if response.status // 100 != 2:
            raise S3Error(what, response)
        return response

    def create_bucket(self, bucket: str, versioned: bool = False) -> None:
        self._ok(f"create bucket {bucket}", self.request("PUT", self.url(bucket)))
        if versioned:
            config = (b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                      b"<Status>Enabled</Status></VersioningConfiguration>")
            self._ok(f"enable versioning of {bucket}",
                     self.request("PUT", self.url(bucket, versioning=None), config))

    def put_object(self, bucket: str, key: str, data: bytes,
                   content_type: str = "application/octet-stream") -> str | None:
        """Upload `data`; returns the new version's id (None in an unversioned bucket)."""
        response = self._ok(f"put {bucket}/{key}", self.request(
            "PUT", self.url(bucket, key), data, {"Content-Type": content_type}))
        return response.headers.get("x-amz-version-id")

    overwrite_object = put_object  # in a versioned bucket, the old data stays as a version

    def delete_object(self, bucket: str, key: str, version_id: str | None = None) -> str | None:
        """Delete `key` (a delete marker in a versioned bucket) or one version of it; returns the
        x-amz-version-id the server answered (the delete marker's id)."""
        url = self.url(bucket, key, **({"versionId": version_id} if version_id else {}))
        response = self._ok(f"delete {bucket}/{key}", self.request("DELETE", url))
        return response.headers.get("x-amz-version-id")

    def get_object(self, bucket: str, key: str, version_id: str | None = None,
                   byte_range: str | None = None) -> Response:
        url = self.url(bucket, key, **({"versionId": version_id} if version_id else {}))
        return self.request("GET", url, headers={"Range": byte_range} if byte_range else {})

    def list_objects(self, bucket: str, prefix: str = "") -> list[dict]:
        """ListObjectsV2, one page: [{key, size, etag}]."""
        response = self._ok(f"list {bucket}", self.request(
            "GET", self.url(bucket, **{"list-type": "2", "prefix": prefix})))
        root = ET.fromstring(response.body)
        return [{"key": c.findtext(f"{S3_NS}Key"), "size": int(c.findtext(f"{S3_NS}Size")),
                 "etag": c.findtext(f"{S3_NS}ETag")} for c in root.iter(f"{S3_NS}Contents")]

    def list_versions(self, bucket: str, prefix: str = "") -> list[dict]:
        """ListObjectVersions: [{key, version_id, is_latest, size, etag}] (no delete markers)."""
        response = self._ok(f"list versions of {bucket}", self.request(
            "GET", self.url(bucket, versions=None, prefix=prefix)))
        root = ET.fromstring(response.body)
        return [{"key": v.findtext(f"{S3_NS}Key"), "version_id": v.findtext(f"{S3_NS}VersionId"),
                 "is_latest": v.findtext(f"{S3_NS}IsLatest") == "true",
                 "size": int(v.findtext(f"{S3_NS}Size")), "etag": v.findtext(f"{S3_NS}ETag")}
                for v in root.iter(f"{S3_NS}Version")]


if __name__ == "__main__":  # python -m servers.s3: start one and wait (Ctrl-C stops it)
    import time
    with MotoS3(auth="--no-auth" not in sys.argv) as server:
        print(server.client_env(), flush=True)
        while True:
            time.sleep(3600)
