"""source.mlflow against a real `mlflow server` (PyPI mlflow 3.17.2, tests/support/servers/
mlflow_server.py): proxied artifacts (mlflow-artifacts:/), no auth, MLflow's basic-auth app, and
the auth app with a bearer-token check. A server starts in 6-16 s, so each kind is started once
for the module and every test registers models of its own names."""

from __future__ import annotations

import hashlib
import json
import secrets
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest
from huggingface_hub import hf_hub_download, snapshot_download

from conftest import delete_path, hub_cache_with, is_valid
from servers.mlflow_server import BIG_FILE_SIZE, MlflowServer
from test_ca import make_test_ca

# The NAR hash of nothing that exists: never matches.
WRONG_HASH = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
CREDENTIAL_VARIABLES = ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


@pytest.fixture(scope="module")
def server():
    with MlflowServer() as running:
        yield running


@pytest.fixture(scope="module")
def basic_server():
    with MlflowServer(auth="basic") as running:
        yield running


@pytest.fixture(scope="module")
def token_server():
    with MlflowServer(auth="token") as running:
        yield running


def unique(prefix: str) -> str:
    """A model name of this test alone (the module's tests share a server)."""
    return f"{prefix}-{secrets.token_hex(4)}"


def spec_of(server: MlflowServer, name: str, **source) -> dict:
    if not {"version", "alias", "stage"} & source.keys():
        source["alias"] = "champion"
    return {
        "source": {"mlflow": {"trackingUri": server.endpoint, "modelName": name, **source}},
        "network": {"retries": 0},
    }


def no_credentials(extra: dict | None = None) -> dict:
    """An environment without MLflow credentials (empty is unset for MLflow's client and us)."""
    return {**{name: "" for name in CREDENTIAL_VARIABLES}, **(extra or {})}


def snapshot_files(path: str, commit: str) -> dict[str, bytes]:
    snapshot = Path(path) / "snapshots" / commit
    return {str(p.relative_to(snapshot)): p.read_bytes() for p in sorted(snapshot.rglob("*")) if p.is_file()}


def test_three_ways_agree_and_huggingface_hub_reads_the_layout(nix, ways, server, tmp_path):
    name = unique("tiny")
    version = server.populate(name)
    fetched = ways.all_three(nix, spec_of(server, name), env=no_credentials())
    assert is_valid(nix, fetched["path"])
    assert fetched["report"]["pin"]["source"]["mlflow"]["version"] == "1"
    # The layout: refs/main names the one snapshot, whose files are the version's artifacts.
    root = Path(fetched["path"])
    assert (root / "refs" / "main").read_text() == fetched["commit"]
    assert [p.name for p in (root / "snapshots").iterdir()] == [fetched["commit"]]
    assert snapshot_files(fetched["path"], fetched["commit"]) == version["files"]
    big = hashlib.sha256(version["files"]["weights/model.safetensors"]).hexdigest()
    assert (root / "blobs" / big).stat().st_size == BIG_FILE_SIZE
    # huggingface_hub reads it offline as the repo mlflow/<name>, at its default revision.
    cache = hub_cache_with(tmp_path, fetched["path"], f"models--mlflow--{name}")
    config = hf_hub_download(f"mlflow/{name}", "config.json", cache_dir=cache, local_files_only=True)
    assert Path(config).read_bytes() == version["files"]["config.json"]
    snapshot = Path(snapshot_download(f"mlflow/{name}", cache_dir=cache, local_files_only=True))
    assert snapshot.name == fetched["commit"]
    assert sorted(str(p.relative_to(snapshot)) for p in snapshot.rglob("*") if not p.is_dir()) == sorted(version["files"])


def test_an_alias_a_stage_and_a_version_give_the_same_tree(ways, server):
    name = unique("same")
    server.populate(name)
    by_alias = ways.prefetch(spec_of(server, name, alias="champion"), args=("--json", "--no-add"))
    by_stage = ways.prefetch(spec_of(server, name, stage="Production"), args=("--json", "--no-add"))
    by_version = ways.prefetch(spec_of(server, name, version="1"), args=("--json", "--no-add"))
    assert by_alias["hash"] == by_stage["hash"] == by_version["hash"]
    assert by_alias["commit"] == by_stage["commit"] == by_version["commit"]
    assert by_stage["report"]["pin"]["source"]["mlflow"] == {
        "trackingUri": server.endpoint, "modelName": name, "stage": "Production", "version": "1"}
    # A version in the spec is the pin already: nothing is added to it.
    assert by_version["report"]["pin"]["source"]["mlflow"] == spec_of(server, name, version="1")["source"]["mlflow"]


def test_the_pin_holds_when_the_alias_moves(nix, ways, server, tmp_path):
    name = unique("moving")
    first = server.populate(name)
    reference = f"mlflow:{name}@champion"
    text = subprocess.run([str(ways.cli), "prefetch", reference, "--tracking-uri", server.endpoint, "--nix"],
                          capture_output=True, text=True, env=ways.env(no_credentials()))
    assert text.returncode == 0, text.stderr
    assert 'version = "1";' in text.stdout and 'alias = "champion";' in text.stdout, text.stdout
    pasted = tmp_path / "pin.nix"
    pasted.write_text(text.stdout)
    pinned = ways.prefetch(spec_of(server, name), env=no_credentials(), args=("--json", "--no-add"))
    old_path = pinned["path"]
    assert f'hash = "{pinned["hash"]}";' in text.stdout

    second = server.add_version(name, server.default_files(2), alias="champion")
    assert second["version"] == "2" and first["version"] == "1"
    # The pasted pin, fetched anew with the plugin: still version 1's files.
    delete_path(nix, old_path)
    expr = f"let m = builtins.fetchModel (import {pasted}); in {{ path = m.outPath; inherit (m) commit; }}"
    done = nix.run("nix-instantiate", *nix.options(), "--eval", "--strict", "--json", "-E", expr, env=ways.env(no_credentials()))
    assert done.returncode == 0, done.stderr
    again = json.loads(done.stdout)
    assert again == {"path": old_path, "commit": pinned["commit"]}
    assert snapshot_files(old_path, pinned["commit"]) == first["files"]
    # The fixed-output derivation of the pin agrees, downloading again.
    delete_path(nix, old_path)
    pin = pinned["report"]["pin"]
    assert ways.fod(nix, pin, env=no_credentials())["path"] == old_path
    # The alias itself now gives version 2.
    moved = ways.prefetch(spec_of(server, name), env=no_credentials())
    assert moved["hash"] != pinned["hash"] and moved["commit"] != pinned["commit"]
    assert moved["report"]["pin"]["source"]["mlflow"]["version"] == "2"
    assert snapshot_files(moved["path"], moved["commit"]) == second["files"]


def test_a_wrong_hash_is_refused_by_each_way_naming_the_version_to_pin(nix, ways, server):
    name = unique("wrong")
    server.populate(name)
    done = ways.refused_by_each_way(nix, dict(spec_of(server, name), hash=WRONG_HASH), no_credentials())
    # The alias may have moved since the hash was pinned: the message says which version to pin.
    for way in ("plugin", "fetch"):
        assert "revision 'champion' may have moved" in done[way].stderr, done[way].stderr
        assert 'source.mlflow.version = "1";' in done[way].stderr, done[way].stderr


def test_a_cache_hit_needs_no_server(nix, ways):
    with MlflowServer() as own:
        name = unique("cached")
        own.populate(name)
        spec = spec_of(own, name)
        fetched = ways.prefetch(spec, env=no_credentials())
        assert is_valid(nix, fetched["path"])
    # The server is stopped: the pinned spec is in the store already.
    pinned = dict(spec, hash=fetched["hash"])
    ways.found_in_the_store(nix, pinned, fetched, no_credentials())
    # And an unpinned one says the server cannot be reached.
    gone = ways.prefetch(dict(spec, network={"retries": 0, "timeout": 5}), env=no_credentials(), check=False)
    assert gone.returncode != 0 and "cannot reach the MLflow tracking server" in gone.stderr, gone.stderr


def test_a_logged_model_version_of_mlflow_3(ways, server):
    """MLflow 3 registers a logged model (source models:/m-...): get-download-uri says where its
    artifacts are."""
    name = unique("logged")
    version = server.add_logged_model_version(name, server.default_files(3), alias="prod")
    assert version["source"].startswith("models:/m-")
    fetched = ways.prefetch(spec_of(server, name, alias="prod"), env=no_credentials())
    assert snapshot_files(fetched["path"], fetched["commit"]) == version["files"]
    assert fetched["report"]["pin"]["source"]["mlflow"]["version"] == version["version"]


def test_artifact_path_and_globs_select_files(ways, server):
    name = unique("select")
    version = server.populate(name)
    nested = ways.prefetch(spec_of(server, name, artifactPath="tokenizer"), env=no_credentials(), args=("--json", "--no-add"))
    assert nested["report"]["files"] == ["nested/vocab.txt"]
    picked = ways.prefetch(spec_of(server, name, files=["*.json", "weights/"], exclude=["*.safetensors"]),
                           env=no_credentials(), args=("--json", "--no-add"))
    assert picked["report"]["files"] == ["config.json"]
    everything = ways.prefetch(spec_of(server, name), env=no_credentials(), args=("--json", "--no-add"))
    assert everything["report"]["files"] == sorted(version["files"])
    # A selection names the same version: the snapshot keeps its name; a sub-path is another.
    assert picked["commit"] == everything["commit"] != nested["commit"]
    nothing = ways.prefetch(spec_of(server, name, files=["*.onnx"]), env=no_credentials(), check=False)
    assert nothing.returncode != 0
    assert "no artifact of version 1" in nothing.stderr and "config.json" in nothing.stderr, nothing.stderr
    missing = ways.prefetch(spec_of(server, name, artifactPath="nope"), env=no_credentials(), check=False)
    assert "has no artifacts under artifactPath 'nope'" in missing.stderr, missing.stderr


def test_what_the_registry_lacks_is_named(ways, server):
    name = unique("lacking")
    server.populate(name)
    cases = [
        (dict(alias="nope"), "Registered model alias nope not found: check source.mlflow.modelName"),
        (dict(version="9"), "HTTP 404: Model Version (name=%s, version=9) not found" % name),
        (dict(stage="Staging"), "has no version in stage 'Staging'"),
    ]
    for source, expected in cases:
        done = ways.prefetch(spec_of(server, name, **source), env=no_credentials(), check=False)
        assert done.returncode != 0 and expected in done.stderr, (source, done.stderr)
    other = ways.prefetch(spec_of(server, name + "-none"), env=no_credentials(), check=False)
    assert "Registered Model with name=%s-none not found" % name in other.stderr, other.stderr
    not_mlflow = ways.prefetch(dict(spec_of(server, name), source={"mlflow": {
        "trackingUri": server.endpoint + "/not-here", "modelName": name, "version": "1"}}), env=no_credentials(), check=False)
    assert "no MLflow REST API answers there" in not_mlflow.stderr, not_mlflow.stderr


def test_artifacts_in_s3_are_refused_naming_the_s3_source(ways, server):
    """A version whose artifacts the tracking server does not proxy (a client that logged
    straight to S3): the error says so and what to use instead."""
    name = unique("in-s3")
    server.ensure_registered_model(name)
    server.api("POST", "/api/2.0/mlflow/model-versions/create",
               {"name": name, "source": "s3://models-bucket/1/abc/artifacts/model"})
    done = ways.prefetch(spec_of(server, name, version="1"), env=no_credentials(), check=False)
    assert done.returncode != 0
    assert "are in an S3 bucket the tracking server does not proxy (s3://models-bucket/1/abc/artifacts/model)" in done.stderr, done.stderr
    assert 'source.s3 = { bucket = "models-bucket"; prefix = "1/abc/artifacts/model"; }' in done.stderr, done.stderr


def test_basic_auth_names_the_variables_and_keeps_the_password_out(nix, ways, basic_server):
    name = unique("basic")
    basic_server.populate(name)
    spec = spec_of(basic_server, name)
    refused = ways.prefetch(spec, env=no_credentials(), check=False)
    assert refused.returncode != 0
    assert "HTTP 401" in refused.stderr and "the tracking server wants credentials: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD" in refused.stderr, refused.stderr
    user, password = basic_server.reader
    wrong = no_credentials({"MLFLOW_TRACKING_USERNAME": user, "MLFLOW_TRACKING_PASSWORD": "not-" + password})
    refused = ways.prefetch(spec, env=wrong, check=False)
    assert "refused the user and password of MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD" in refused.stderr, refused.stderr
    assert password not in refused.stderr
    # The fixed-output builder without them says where they must be set.
    in_builder = ways.fod(nix, dict(spec, hash=WRONG_HASH), env=no_credentials(), check=False)
    assert in_builder.returncode != 0
    assert "MLFLOW_TRACKING_USERNAME" in in_builder.stderr and "nix-daemon's environment" in in_builder.stderr, in_builder.stderr
    # A reader's credentials (READ is the default permission) fetch it, all three ways.
    good = no_credentials({"MLFLOW_TRACKING_USERNAME": user, "MLFLOW_TRACKING_PASSWORD": password})
    fetched = ways.all_three(nix, spec, env=good)
    nar = nix.run("nix-store", "--dump", fetched["path"], text=False).stdout
    assert password.encode() not in nar
    assert password not in json.dumps(fetched["report"])


def test_token_auth_names_the_variables(nix, ways, token_server):
    name = unique("token")
    token_server.populate(name)
    spec = spec_of(token_server, name)
    refused = ways.prefetch(spec, env=no_credentials(), check=False)
    assert refused.returncode != 0 and "HTTP 401" in refused.stderr
    assert "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD" in refused.stderr and "MLFLOW_TRACKING_TOKEN" in refused.stderr, refused.stderr
    wrong = ways.prefetch(spec, env=no_credentials({"MLFLOW_TRACKING_TOKEN": "tok-wrong"}), check=False)
    assert "refused the token of MLFLOW_TRACKING_TOKEN" in wrong.stderr, wrong.stderr
    good = no_credentials({"MLFLOW_TRACKING_TOKEN": token_server.token})
    fetched = ways.all_three(nix, spec, env=good)
    nar = nix.run("nix-store", "--dump", fetched["path"], text=False).stdout
    assert token_server.token.encode() not in nar


def test_references_need_a_version_and_a_tracking_server(ways, server):
    def prefetch(*args, env=None):
        return subprocess.run([str(ways.cli), "prefetch", *args, "--no-add"], capture_output=True, text=True,
                              env=ways.env(no_credentials({"MLFLOW_TRACKING_URI": "", **(env or {})})))

    no_version = prefetch("mlflow:tiny", "--tracking-uri", server.endpoint)
    assert "'mlflow:tiny' names no version: write mlflow:<model>@<version>" in no_version.stderr, no_version.stderr
    no_server = prefetch("mlflow:tiny@champion")
    assert "--tracking-uri URL, or set MLFLOW_TRACKING_URI" in no_server.stderr, no_server.stderr
    endpoint = prefetch("mlflow:tiny@1", "--endpoint", server.endpoint, "--tracking-uri", "databricks")
    assert "--endpoint: applies to hf: references" in endpoint.stderr, endpoint.stderr
    assert "--tracking-uri: 'databricks' is not an http:// or https:// URL" in endpoint.stderr, endpoint.stderr
    # MLFLOW_TRACKING_URI, as MLflow's client reads it; a version number after '@'.
    name = unique("by-env")
    server.populate(name)
    done = prefetch(f"mlflow:{name}@1", "--json", env={"MLFLOW_TRACKING_URI": server.endpoint})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["pin"]["source"]["mlflow"] == {"trackingUri": server.endpoint, "modelName": name, "version": "1"}
    assert report["name"] == f"models--mlflow--{name}"


class TlsTerminator:
    """HTTPS in front of the plain-HTTP MLflow server, as a TLS-terminating proxy (nginx and the
    like) puts it in production: each TLS connection is relayed byte for byte to `port`."""

    def __init__(self, cert: str, key: str, port: int):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"https://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client):
        try:
            tls = self.context.wrap_socket(client, server_side=True)
        except (ssl.SSLError, OSError):
            client.close()
            return
        upstream = socket.create_connection(("127.0.0.1", self.target))

        def pump(source, sink):
            try:
                while data := source.recv(65536):
                    sink.sendall(data)
            except OSError:
                pass
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        threading.Thread(target=pump, args=(upstream, tls), daemon=True).start()
        pump(tls, upstream)

    def close(self):
        self.listener.close()


def test_an_https_tracking_server_with_its_ca_in_mlflow_tracking_server_cert_path(ways, server, tmp_path):
    certs = make_test_ca(tmp_path / "ca")
    key = str(Path(certs["server"]).with_suffix(".key"))
    proxy = TlsTerminator(certs["server"], key, server.port)
    try:
        name = unique("tls")
        version = server.populate(name)
        spec = {"source": {"mlflow": {"trackingUri": proxy.endpoint, "modelName": name, "alias": "champion"}},
                "network": {"retries": 0}}
        env = no_credentials({"NIX_SSL_CERT_FILE": "", "SSL_CERT_FILE": ""})
        refused = ways.prefetch(spec, env=env, check=False)
        assert refused.returncode != 0
        assert "the TLS certificate of " + proxy.endpoint + " is refused" in refused.stderr, refused.stderr
        trusted = ways.prefetch(spec, env={**env, "MLFLOW_TRACKING_SERVER_CERT_PATH": certs["ca"]},
                                args=("--json", "--no-add"))
        assert trusted["report"]["files"] == sorted(version["files"])
        # The tracking server's URL is not in the pin's commit: the same version over plain HTTP
        # gives the same tree.
        plain = ways.prefetch(spec_of(server, name), env=env, args=("--json", "--no-add"))
        assert (plain["hash"], plain["commit"]) == (trusted["hash"], trusted["commit"])
        insecure = ways.prefetch(spec, env={**env, "MLFLOW_TRACKING_INSECURE_TLS": "true"}, check=False)
        assert "MLFLOW_TRACKING_INSECURE_TLS is true" in insecure.stderr, insecure.stderr
    finally:
        proxy.close()
