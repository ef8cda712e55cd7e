"""Smoke tests of the real servers in mlflow_server.py and git_lfs.py: each starts the server,
populates it, and reads back over plain HTTP (and with the products' own clients: MLflow's Python
client from the server venv, Debian's git and git-lfs).

    /work/main/.venv/bin/pytest tests/support/servers/test_servers_b.py -q
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import servers_dir  # noqa: E402
from git_lfs import GitLfsServer, lfs_oid, lfs_pointer, make_jwt  # noqa: E402
from mlflow_server import HttpError, MlflowServer  # noqa: E402

MODEL = "tiny"
BIG = "weights/model.safetensors"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- MLflow ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlflow_plain():
    with MlflowServer() as server:
        v1 = server.populate(MODEL)
        v2 = server.add_version(MODEL, server.default_files(2), alias="champion")
        v3 = server.add_logged_model_version(MODEL, server.default_files(3), alias="logged")
        yield server, v1, v2, v3


def mlflow_client(server: MlflowServer, env: dict, code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run `code` with MLflow's own Python client (server venv) and `env`."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    full_env.update(env, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true",
                    MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")
    return subprocess.run([str(servers_dir() / "mlflow" / "bin" / "python"), "-c", code], env=full_env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=180)


def test_mlflow_model_version_get_list_download(mlflow_plain):
    server, v1, v2, v3 = mlflow_plain
    version = server.api("GET", "/api/2.0/mlflow/model-versions/get",
                         query={"name": MODEL, "version": "1"})["model_version"]
    assert version["source"] == v1["source"]
    assert version["source"].startswith("mlflow-artifacts:/") and version["source"].endswith("/artifacts/model")
    assert version["current_stage"] == "Production"
    assert version["status"] == "READY"
    uri = server.api("GET", "/api/2.0/mlflow/model-versions/get-download-uri",
                     query={"name": MODEL, "version": "1"})["artifact_uri"]
    assert uri == version["source"]

    top = server.list_artifacts(uri)
    assert {entry["path"]: entry["is_dir"] for entry in top} == {
        "MLmodel": False, "config.json": False, "tokenizer": True, "weights": True}
    listed = server.walk_artifacts(uri)
    assert listed == {rel: len(content) for rel, content in v1["files"].items()}
    assert listed[BIG] > 1024 * 1024

    status, headers, body = server.download(uri, BIG)
    assert status == 200
    assert sha256(body) == sha256(v1["files"][BIG])
    assert int(headers["Content-Length"]) == len(body)

    # The artifacts are on disk under --artifacts-destination, as the server wrote them.
    on_disk = server.artifacts_dir / server.artifact_path(uri) / BIG
    assert on_disk.read_bytes() == v1["files"][BIG]


def test_mlflow_artifact_download_honours_range(mlflow_plain):
    server, v1, _, _ = mlflow_plain
    content = v1["files"][BIG]
    status, headers, body = server.download(v1["source"], BIG, headers={"Range": "bytes=1048570-1048589"})
    assert status == 206
    assert headers["Content-Range"] == f"bytes 1048570-1048589/{len(content)}"
    assert body == content[1048570:1048590]
    # The UI's route for a model version's files honours Range too.
    status, headers, body = server.request(
        "GET", "/model-versions/get-artifact", query={"name": MODEL, "version": "1", "path": BIG},
        headers={"Range": "bytes=10-19"})
    assert status == 206 and body == content[10:20]


def test_mlflow_alias_moves_to_the_later_version(mlflow_plain):
    server, v1, v2, _ = mlflow_plain
    assert v2["version"] == "2" and v2["aliases"] == ["champion"]
    by_alias = server.api("GET", "/api/2.0/mlflow/registered-models/alias",
                          query={"name": MODEL, "alias": "champion"})["model_version"]
    assert by_alias["version"] == "2"
    assert by_alias["source"] == v2["source"] != v1["source"]
    _, _, body = server.download(by_alias["source"], "config.json")
    assert json.loads(body)["version"] == 2
    # Version 1 keeps its files and its stage.
    _, _, body = server.download(v1["source"], "config.json")
    assert json.loads(body)["version"] == 1
    latest = server.api("POST", "/api/2.0/mlflow/registered-models/get-latest-versions",
                        {"name": MODEL, "stages": ["Production"]})["model_versions"]
    assert [v["version"] for v in latest] == ["1"]


def test_mlflow_logged_model_version(mlflow_plain):
    """MLflow 3: source models:/m-<id>; get-download-uri resolves it to the logged model's
    artifact location, which lists and downloads like a run's artifacts."""
    server, _, _, v3 = mlflow_plain
    version = server.api("GET", "/api/2.0/mlflow/model-versions/get",
                         query={"name": MODEL, "version": v3["version"]})["model_version"]
    assert version["source"] == f"models:/{v3['model_id']}"
    uri = server.api("GET", "/api/2.0/mlflow/model-versions/get-download-uri",
                     query={"name": MODEL, "version": v3["version"]})["artifact_uri"]
    assert uri.startswith("mlflow-artifacts:/") and f"/models/{v3['model_id']}/artifacts" in uri
    assert server.walk_artifacts(uri) == {rel: len(c) for rel, c in v3["files"].items()}
    logged = server.api("GET", f"/api/2.0/mlflow/logged-models/{v3['model_id']}")["model"]["info"]
    assert logged["artifact_uri"] == uri and logged["status"] == "LOGGED_MODEL_READY"
    _, _, body = server.download(uri, BIG)
    assert body == v3["files"][BIG]


def test_mlflow_own_client_reads_the_populated_registry(mlflow_plain, tmp_path):
    """MLflow's own client (the judge that our REST-only populating is genuine) downloads
    models:/tiny@champion and models:/tiny/1."""
    server, v1, v2, _ = mlflow_plain
    code = (
        "import json, mlflow.artifacts as a\n"
        "for uri, dst in [('models:/tiny@champion', 'c'), ('models:/tiny/1', 'one')]:\n"
        "    print(a.download_artifacts(artifact_uri=uri, dst_path=dst))\n"
    )
    result = mlflow_client(server, server.client_env(), code, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    for dst, expected in (("c", v2["files"]), ("one", v1["files"])):
        got = {str(p.relative_to(tmp_path / dst)): p.read_bytes()
               for p in (tmp_path / dst).rglob("*") if p.is_file()}
        # The client writes a file of its own beside the artifacts: which version it resolved.
        meta = got.pop("registered_model_meta")
        assert f"model_version: '{expected is v2['files'] and 2 or 1}'".encode() in meta
        assert got == expected


@pytest.fixture(scope="module")
def mlflow_basic():
    with MlflowServer(auth="basic") as server:
        yield server, server.populate(MODEL)


def test_mlflow_basic_auth_is_enforced(mlflow_basic):
    server, v1 = mlflow_basic
    path = "/api/2.0/mlflow/model-versions/get"
    query = {"name": MODEL, "version": "1"}
    for who in (None, ("admin", "wrong-password"), ("nobody", "x"), ("bearer", "anything")):
        with pytest.raises(HttpError) as caught:
            server.api("GET", path, query=query, who=who)
        assert caught.value.status == 401, who
        assert caught.value.headers["WWW-Authenticate"].startswith("Basic")
    # The artifact proxy is behind the same check.
    with pytest.raises(HttpError) as caught:
        server.download(v1["source"], "config.json", who=("admin", "wrong-password"))
    assert caught.value.status == 401
    # The READ-only user may read and download, not upload.
    assert server.api("GET", path, query=query, who="reader")["model_version"]["source"] == v1["source"]
    _, _, body = server.download(v1["source"], BIG, who="reader")
    assert body == v1["files"][BIG]
    with pytest.raises(HttpError) as caught:
        server.upload(v1["source"], {"extra.txt": b"x"}, who="reader")
    assert caught.value.status == 403


def test_mlflow_client_env_username_password(mlflow_basic, tmp_path):
    server, v1 = mlflow_basic
    code = "import mlflow.artifacts as a; print(a.download_artifacts(artifact_uri='models:/tiny/1', dst_path='d'))"
    ok = mlflow_client(server, server.client_env("reader"), code, tmp_path)
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert (tmp_path / "d" / BIG).read_bytes() == v1["files"][BIG]
    wrong = {**server.client_env("reader"), "MLFLOW_TRACKING_PASSWORD": "wrong"}
    bad = mlflow_client(server, wrong, code.replace("'d'", "'e'"), tmp_path)
    assert bad.returncode != 0
    assert "401" in bad.stderr or "not authenticated" in bad.stderr.lower(), bad.stderr[-3000:]


def test_mlflow_token_auth(tmp_path):
    with MlflowServer(auth="token") as server:
        v1 = server.populate(MODEL)  # with the bearer token
        path = "/api/2.0/mlflow/model-versions/get"
        query = {"name": MODEL, "version": "1"}
        for who in (None, ("bearer", "wrong-token"), server.admin):
            with pytest.raises(HttpError) as caught:
                server.api("GET", path, query=query, who=who)
            assert caught.value.status == 401, who
        assert server.api("GET", path, query=query)["model_version"]["source"] == v1["source"]
        code = "import mlflow.artifacts as a; print(a.download_artifacts(artifact_uri='models:/tiny@champion', dst_path='d'))"
        ok = mlflow_client(server, server.client_env(), code, tmp_path)
        assert ok.returncode == 0, ok.stderr[-3000:]
        assert (tmp_path / "d" / BIG).read_bytes() == v1["files"][BIG]
        bad = mlflow_client(server, {**server.client_env(), "MLFLOW_TRACKING_TOKEN": "wrong"},
                            code.replace("'d'", "'e'"), tmp_path)
        assert bad.returncode != 0


# -- git + LFS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def git_plain():
    with GitLfsServer() as server:
        yield server


def clone(server: GitLfsServer, url: str, dest: Path, *options, env=None, check=True):
    return server.git("clone", "--quiet", *options, url, dest, env=env, check=check)


def test_git_clone_smudges_lfs_content(git_plain, tmp_path):
    server = git_plain
    repo = server.create_repo("org/smudge")
    files = repo["files"]
    dest = tmp_path / "clone"
    clone(server, repo["url"], dest)
    for rel, content in files.items():
        assert (dest / rel).read_bytes() == content, rel
    assert server.git("rev-parse", "HEAD", cwd=dest).stdout.strip() == repo["sha"]
    # In git: the weights are an LFS pointer, config.json and the nested file are plain blobs.
    show = lambda rel: server.git("cat-file", "blob", f"HEAD:{rel}", cwd=dest).stdout.encode()
    assert show("model.safetensors") == lfs_pointer(files["model.safetensors"])
    assert show("config.json") == files["config.json"]
    assert show("tokenizer/nested/vocab.txt") == files["tokenizer/nested/vocab.txt"]
    lfsconfig_url = server.git("config", "-f", ".lfsconfig", "lfs.url", cwd=dest).stdout.strip()
    assert lfsconfig_url == repo["lfs_url"] == f"{server.lfs_base}/org/smudge.git/info/lfs"
    # The object is in giftless's local storage, put there by git-lfs's own upload.
    stored = server.root / "lfs-storage" / "org" / "smudge" / lfs_oid(files["model.safetensors"])
    assert stored.read_bytes() == files["model.safetensors"]


def test_git_pin_holds_when_main_moves(git_plain, tmp_path):
    server = git_plain
    first = server.create_repo("org/moving")
    second = server.commit("org/moving", {"config.json": b'{"version": 2}\n',
                                          "model.safetensors": b"new weights" * 200000})
    assert second != first["sha"]
    remote = server.git("ls-remote", first["url"], "refs/heads/main").stdout.split()[0]
    assert remote == second == server.remote_head("org/moving")
    # The first commit can still be fetched by its sha, with its LFS content.
    dest = tmp_path / "pinned"
    server.git("init", "--quiet", dest)
    server.git("remote", "add", "origin", first["url"], cwd=dest)
    server.git("fetch", "--quiet", "--depth", "1", "origin", first["sha"], cwd=dest)
    server.git("checkout", "--quiet", "FETCH_HEAD", cwd=dest)
    assert (dest / "model.safetensors").read_bytes() == first["files"]["model.safetensors"]
    assert (dest / "config.json").read_bytes() == first["files"]["config.json"]


def test_lfs_batch_gives_a_download_href(git_plain):
    server = git_plain
    repo = server.create_repo("org/batch")
    content = repo["files"]["model.safetensors"]
    status, answer = server.lfs_batch("org/batch", [{"oid": lfs_oid(content), "size": len(content)}])
    assert status == 200
    assert answer["transfer"] == "basic"
    [obj] = answer["objects"]
    assert obj["oid"] == lfs_oid(content) and obj["size"] == len(content)
    download = obj["actions"]["download"]
    assert download["href"].startswith(server.lfs_base + "/org/batch.git/info/lfs/objects/storage/")
    request = urllib.request.Request(download["href"], headers=download.get("header", {}))
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.read() == content
    # A missing object: a per-object error, not an href.
    status, answer = server.lfs_batch("org/batch", [{"oid": "0" * 64, "size": 1}])
    assert status in (200, 404)
    if status == 200:
        assert answer["objects"][0]["error"]["code"] == 404


def test_lfs_download_range(git_plain):
    """giftless's local storage ignores Range: the answer is 200 with the whole object."""
    server = git_plain
    repo = server.create_repo("org/range")
    content = repo["files"]["model.safetensors"]
    _, answer = server.lfs_batch("org/range", [{"oid": lfs_oid(content), "size": len(content)}])
    download = answer["objects"][0]["actions"]["download"]
    request = urllib.request.Request(download["href"], headers={**download.get("header", {}),
                                                                 "Range": "bytes=100-199"})
    with urllib.request.urlopen(request, timeout=60) as response:
        status, body = response.status, response.read()
    if status == 206:
        assert body == content[100:200]
    else:
        assert status == 200 and body == content


def test_lfs_default_endpoint_through_the_git_origin(git_plain, tmp_path):
    """No .lfsconfig: git-lfs uses <remote>/info/lfs, which lighttpd passes to giftless."""
    server = git_plain
    repo = server.create_repo("org/default-endpoint", lfsconfig=False)
    assert repo["lfs_url"] == repo["url"] + "/info/lfs"
    dest = tmp_path / "clone"
    clone(server, repo["url"], dest)
    assert not (dest / ".lfsconfig").exists()
    assert (dest / "model.safetensors").read_bytes() == repo["files"]["model.safetensors"]
    content = repo["files"]["model.safetensors"]
    status, answer = server.lfs_batch("org/default-endpoint",
                                      [{"oid": lfs_oid(content), "size": len(content)}], direct=False)
    assert status == 200
    assert answer["objects"][0]["actions"]["download"]["href"].startswith(
        server.git_base.removesuffix("/git") + "/org/default-endpoint.git/info/lfs/")


@pytest.fixture(scope="module")
def git_auth():
    with GitLfsServer(auth=True) as server:
        yield server, server.create_repo("org/private")


def test_git_http_basic_auth(git_auth, tmp_path):
    server, repo = git_auth
    no_helper = ("-c", "credential.helper=")
    # No credentials at all, and a wrong password: 401 from lighttpd, clone fails.
    result = server.git(*no_helper, "clone", repo["url"], tmp_path / "a", check=False)
    assert result.returncode != 0
    wrong = repo["url"].replace("http://", f"http://{server.git_user}:wrong@")
    result = server.git(*no_helper, "clone", wrong, tmp_path / "b", check=False)
    assert result.returncode != 0 and "Authentication failed" in result.stderr
    refs = urllib.request.Request(repo["url"] + "/info/refs?service=git-upload-pack")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(refs, timeout=30)
    assert caught.value.code == 401
    assert caught.value.headers["WWW-Authenticate"].startswith("Basic")
    # With the credential store (git's and giftless's credentials), clone and smudge work.
    clone(server, repo["url"], tmp_path / "c")
    assert (tmp_path / "c" / "model.safetensors").read_bytes() == repo["files"]["model.safetensors"]


def test_lfs_auth(git_auth, tmp_path):
    server, repo = git_auth
    content = repo["files"]["model.safetensors"]
    objects = [{"oid": lfs_oid(content), "size": len(content)}]
    for who in (None, ("_jwt", make_jwt("not-the-key")), (server.git_user, server.git_password),
                ("someone", server.lfs_token)):
        status, _ = server.lfs_batch("org/private", objects, who=who)
        assert status == 401, who
    for who in ("token", "basic"):
        status, answer = server.lfs_batch("org/private", objects, who=who)
        assert status == 200 and "download" in answer["objects"][0]["actions"], who
    # git with the right git password but no LFS credentials: the smudge fails, the clone too.
    with_git_password = server.repo_url("org/private", credentials=True)
    result = server.git("-c", "credential.helper=", "clone", with_git_password, tmp_path / "d", check=False)
    assert result.returncode != 0
    assert "smudge" in result.stderr.lower() or "lfs" in result.stderr.lower(), result.stderr
