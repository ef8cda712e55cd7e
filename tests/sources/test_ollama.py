"""source.ollama against a real registry: Debian's docker-registry (CNCF distribution 2.8), holding
models pushed by the tests through the registry API with Ollama's media types.

The judge of the layout: no Ollama binary runs here, so `OllamaModels` re-derives, as Ollama's
code does (types/model/name.go ParseName and Filepath, manifest/paths.go PathForName and
BlobsPath, manifest/manifest.go Manifests), where Ollama reads the manifest of a name and the
blob of each digest, and the test checks that the store path holds them there, byte for byte."""

from __future__ import annotations

import base64
import glob
import hashlib
import http.server
import json
import os
import re
import secrets
import stat
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path


from conftest import MODEL_NIX, delete_path, is_valid
from servers.registry import DockerRegistry

# The NAR hash of nothing that exists: never matches.
WRONG_HASH = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
BIG = 16 * 2**20 + 3_000_001  # two ranges of the engine's 16 MiB


def push(registry: DockerRegistry, tag: str = "v1", model: str = "tiny", namespace: str = "library") -> dict:
    """A model with unique weights (larger than one range), a template, params and a license."""
    return registry.push_ollama_model(
        namespace, model, tag, os.urandom(BIG),
        template="{{ .System }} {{ .Prompt }}", params={"stop": ["<|end|>"], "id": os.urandom(4).hex()},
        license="MIT, for the tests",
    )


def spec_of(registry: DockerRegistry, model: str = "tiny:v1", **source) -> dict:
    """`model` named as on registry.ollama.ai (the default registry, so the manifest is where
    `ollama run <model>` reads it), fetched from the test's registry (network.endpoint)."""
    return {"source": {"ollama": {"model": model, **source}},
            "network": {"endpoint": registry.endpoint, "retries": 0}}


class OllamaModels:
    """An OLLAMA_MODELS folder as Ollama's code reads it (re-derived here, not copied)."""

    def __init__(self, root: Path):
        self.root = root

    @staticmethod
    def parse_name(name: str) -> tuple[str, str, str, str]:
        """ParseName: the tag after the last ':' if after the last '/', then model, namespace and
        host from the right; defaults registry.ollama.ai, library, latest; the scheme dropped."""
        tag = ""
        if name.rfind(":") > name.rfind("/"):
            name, tag = name.rsplit(":", 1)
        parts = name.split("/")
        model = parts[-1]
        namespace = parts[-2] if len(parts) > 1 else ""
        host = "/".join(parts[:-2]) if len(parts) > 2 else ""
        host = host.split("://", 1)[-1]
        return (host or "registry.ollama.ai", namespace or "library", model, tag or "latest")

    def manifest_file(self, name: str) -> Path:
        """PathForName: <models>/manifests/<host>/<namespace>/<model>/<tag>."""
        return self.root.joinpath("manifests", *self.parse_name(name))

    def blob_file(self, digest: str) -> Path:
        """BlobsPath: only a sha256 digest, ':' made '-'."""
        assert re.fullmatch(r"sha256[:-][0-9a-fA-F]{64}", digest), digest
        return self.root / "blobs" / digest.replace(":", "-")

    def names(self) -> list[tuple[str, ...]]:
        """Manifests: the files at manifests/*/*/*/*, each a 4-part name."""
        found = glob.glob(str(self.root / "manifests" / "*" / "*" / "*" / "*"))
        return sorted(tuple(Path(p).relative_to(self.root / "manifests").parts) for p in found if not os.path.isdir(p))

    def blobs_of(self, name: str) -> list[dict]:
        """The layers of the name's manifest, and its config, as GetModel/PullModel read them."""
        manifest = json.loads(self.manifest_file(name).read_bytes())
        return manifest["layers"] + ([manifest["config"]] if manifest["config"].get("digest") else [])


def check_ollama_reads(path: str, name: str, pushed: dict) -> None:
    """The store path is a models folder from which Ollama reads `name` as pushed."""
    models = OllamaModels(Path(path))
    assert models.names() == [models.parse_name(name)]
    manifest = models.manifest_file(name)
    assert manifest.read_bytes() == pushed["manifest"]
    blobs = models.blobs_of(name)
    assert {b["digest"] for b in blobs} == {l["digest"] for l in pushed["layers"]} | {pushed["config_digest"]}
    for blob in blobs:
        data = models.blob_file(blob["digest"]).read_bytes()
        assert len(data) == blob["size"]
        assert "sha256:" + hashlib.sha256(data).hexdigest() == blob["digest"]
    # Nothing else: Ollama would prune a blob that no manifest names.
    assert sorted(p.name for p in Path(path).iterdir()) == ["blobs", "manifests"]
    assert sorted(p.name for p in (Path(path) / "blobs").iterdir()) == sorted(
        {models.blob_file(b["digest"]).name for b in blobs})
    # Regular files Ollama reads, none executable (Ollama writes them 0644).
    for file in [manifest, *(Path(path) / "blobs").iterdir()]:
        mode = file.lstat().st_mode
        assert stat.S_ISREG(mode) and mode & 0o111 == 0 and mode & 0o444 == 0o444, (file, oct(mode))


def test_three_ways_agree_and_ollama_reads_the_layout(nix, ways):
    with DockerRegistry() as registry:
        pushed = push(registry)
        fetched = ways.all_three(nix, spec_of(registry))
        log = registry.log()
    assert fetched["commit"] == pushed["manifest_digest"]
    check_ollama_reads(fetched["path"], "tiny:v1", pushed)
    assert fetched["path"].endswith("-ollama-tiny-v1")
    # The 19 MiB blob came in byte ranges (206), asked by the engine.
    assert re.search(r'http.request.uri="/v2/library/tiny/blobs/sha256:[0-9a-f]{64}"[^\n]*http.response.status=206',
                     log), log[-3000:]


def test_a_whole_name_lays_out_under_its_registry(ways, tmp_path):
    target = tmp_path / "models"
    with DockerRegistry() as registry:
        pushed = push(registry, model="m.v2", namespace="team", tag="q4_0")
        # http://127.0.0.1:<port>/team/m.v2:q4_0, read from manifests/127.0.0.1:<port>/team/m.v2/q4_0.
        name = f"{registry.endpoint}/team/m.v2:q4_0"
        spec = {"source": {"ollama": {"model": name}}}
        fetched = ways.prefetch(spec, args=("--json", "--no-add"))
        done = subprocess.run([str(ways.cli), "fetch", "--spec", "-", "--out", str(target)],
                              input=json.dumps(spec), capture_output=True, text=True, env=ways.env())
    assert done.returncode == 0, done.stderr
    check_ollama_reads(str(target), name, pushed)
    assert OllamaModels(target).names() == [(f"127.0.0.1:{registry.port}", "team", "m.v2", "q4_0")]
    assert fetched["report"]["subject"] == f"127.0.0.1:{registry.port}/team/m.v2:q4_0"
    assert fetched["path"].endswith("-ollama-m.v2-q4_0")


def test_a_cache_hit_needs_no_server(nix, ways):
    with DockerRegistry() as registry:
        pushed = push(registry)
        spec = spec_of(registry)
        fetched = ways.prefetch(spec)
    pinned = dict(spec, hash=fetched["hash"])
    by_plugin = ways.found_in_the_store(nix, pinned, fetched)
    # The pin read back from the store: the digest of its manifest.
    assert by_plugin["commit"] == pushed["manifest_digest"]
    # An Ollama folder has no Hub snapshot: the result names none.
    expr = f"(builtins.fetchModel (builtins.fromJSON ''{json.dumps(pinned)}'')) ? snapshot"
    done = nix.run("nix-instantiate", *nix.options(), "--eval", "--json", "-E", expr, env=ways.env())
    assert (done.returncode, done.stdout.strip()) == (0, "false"), done.stderr


def test_a_wrong_hash_is_refused_by_each_way(nix, ways):
    with DockerRegistry() as registry:
        push(registry)
        fetched = ways.refused_by_each_way(nix, dict(spec_of(registry), hash=WRONG_HASH))["fetch"]
    # No digest pinned: the message says how to pin the manifest fetched.
    assert 'source.ollama.digest = "sha256:' in fetched.stderr, fetched.stderr


def test_the_pin_holds_when_the_tag_moves(nix, ways):
    with DockerRegistry() as registry:
        first = push(registry)
        spec = spec_of(registry)
        fetched = ways.prefetch(spec)
        pin = fetched["report"]["pin"]
        assert pin["source"]["ollama"]["digest"] == first["manifest_digest"]
        moved = push(registry)  # new weights, the same tag
        assert moved["manifest_digest"] != first["manifest_digest"]
        delete_path(nix, fetched["path"])
        # The pinned digest is asked for by digest: the old manifest, whatever the tag holds.
        again = ways.plugin(nix, dict(pin, network=spec["network"]))
        assert (again["path"], again["commit"]) == (fetched["path"], first["manifest_digest"])
        # Unpinned, the same hash now fails, and says what the tag holds.
        unpinned = dict(spec, hash=fetched["hash"])
        delete_path(nix, fetched["path"])
        done = ways.plugin(nix, unpinned, check=False)
    assert done.returncode != 0
    assert "hash mismatch" in done.stderr and moved["manifest_digest"] in done.stderr, done.stderr
    assert f'source.ollama.digest = "{moved["manifest_digest"]}";' in done.stderr
    assert not is_valid(nix, fetched["path"])


def test_a_pinned_digest_the_registry_lacks_is_named(ways):
    with DockerRegistry() as registry:
        push(registry)
        spec = spec_of(registry, digest="sha256:" + "0" * 64)
        done = ways.prefetch(spec, check=False)
    assert done.returncode != 0
    assert "HTTP 404" in done.stderr and "MANIFEST_UNKNOWN" in done.stderr, done.stderr
    assert "no model tiny:v1 (or no manifest of that digest)" in done.stderr, done.stderr


def test_a_blob_that_is_not_its_digest_is_refused(ways):
    with DockerRegistry() as registry:
        pushed = push(registry)
        # Corrupt the registry's copy of the template layer (same size, other bytes).
        template = next(l for l in pushed["layers"] if l["mediaType"].endswith(".template"))
        hexdigest = template["digest"].split(":", 1)[1]
        data = registry.data_dir / "storage/docker/registry/v2/blobs/sha256" / hexdigest[:2] / hexdigest / "data"
        data.write_bytes(b"X" * template["size"])
        done = ways.prefetch(spec_of(registry), check=False, args=("--json", "--no-add"))
    assert done.returncode != 0
    assert f"blobs/sha256-{hexdigest}: sha256 mismatch" in done.stderr, done.stderr


def test_basic_credentials_come_from_netrc_and_stay_out_of_the_store(nix, ways, netrc_dir):
    with DockerRegistry(auth=True) as registry:
        push(registry)
        spec = spec_of(registry)
        refused = ways.prefetch(spec, check=False)
        assert refused.returncode != 0
        assert "HTTP 401" in refused.stderr and "the registry wants credentials for tiny:v1" in refused.stderr, refused.stderr
        assert "netrc" in refused.stderr and "machine 127.0.0.1" in refused.stderr, refused.stderr

        wrong = netrc_dir / "wrong"
        wrong.write_text(f"machine 127.0.0.1 login {registry.username} password not-{registry.password}\n")
        refused = ways.prefetch(spec, env={"NETRC": str(wrong)}, check=False)
        assert refused.returncode != 0
        assert "HTTP 401" in refused.stderr and f"refused the credentials {wrong} holds" in refused.stderr, refused.stderr

        good = netrc_dir / "netrc"
        good.write_text(f"machine 127.0.0.1 login {registry.username} password {registry.password}\n")
        good.chmod(0o644)
        fetched = ways.all_three(nix, spec, env={"NETRC": str(good)})
    nar = nix.run("nix-store", "--dump", fetched["path"], text=False).stdout
    assert registry.password.encode() not in nar
    assert registry.password not in json.dumps(fetched["report"])


class TokenService:
    """The token service of Docker's token authentication, which docker-registry's `auth.token`
    needs beside it (none is packaged here): GET /token?service=..&scope=.. with basic
    credentials answers {"token": <JWT>} granting the scopes asked, signed RS256 with a key whose
    self-signed certificate (in the JWT's x5c) the registry trusts (`rootcertbundle`). The
    registry checks each token itself: issuer, audience, times, signature, and the access."""

    issuer = "nfm-test-issuer"
    service = "nfm-test-registry"

    def __init__(self, work: Path):
        self.username, self.password = "nfm", secrets.token_urlsafe(12)
        self.key, self.cert = work / "token.key", work / "token.crt"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.key),
                        "-out", str(self.cert), "-days", "1", "-subj", "/CN=nfm-token-service"],
                       check=True, capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", str(self.cert), "-outform", "DER"],
                             check=True, capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.asked: list[dict] = []  # the query of each request, and whether its credentials passed
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                expected = "Basic " + base64.b64encode(f"{service.username}:{service.password}".encode()).decode()
                granted = self.headers.get("Authorization") == expected
                service.asked.append({"query": query, "granted": granted})
                if not granted:
                    body, status = b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}', 401
                else:
                    body, status = json.dumps({"token": service.token(query.get("scope", []))}).encode(), 200
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, scopes: list[str]) -> str:
        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
        access = []
        for scope in scopes:
            kind, rest = scope.split(":", 1)
            name, actions = rest.rsplit(":", 1)
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {"iss": self.issuer, "sub": self.username, "aud": self.service, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": secrets.token_hex(8), "access": access}
        signed = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)], input=signed.encode(),
                                   check=True, capture_output=True).stdout
        return f"{signed}.{b64(signature)}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class TokenRegistry(DockerRegistry):
    """docker-registry with token authentication by `tokens`; the helpers push with a token
    for push and pull."""

    def __init__(self, tokens: TokenService):
        super().__init__()
        self.tokens = tokens

    def command(self) -> list[str]:
        argv = super().command()
        config = json.loads(self.config_path.read_text())
        config["auth"] = {"token": {"realm": self.tokens.realm, "service": self.tokens.service,
                                    "issuer": self.tokens.issuer, "rootcertbundle": str(self.tokens.cert)}}
        self.config_path.write_text(json.dumps(config, indent=2))
        return argv

    def auth_headers(self, username=None, password=None) -> dict:
        return {"Authorization": "Bearer " + self.tokens.token(["repository:library/tiny:pull,push"])}


def test_bearer_tokens_from_the_registrys_token_service(nix, ways, netrc_dir, tmp_path):
    tokens = TokenService(tmp_path)
    try:
        with TokenRegistry(tokens) as registry:
            pushed = push(registry)
            spec = spec_of(registry)
            anonymous = registry.request("GET", "/v2/library/tiny/manifests/v1", headers={"Authorization": ""})
            assert anonymous.status == 401 and "Bearer realm=" in anonymous.headers["WWW-Authenticate"]
            refused = ways.prefetch(spec, check=False)
            assert refused.returncode != 0
            assert f"{tokens.realm} answered HTTP 401: UNAUTHORIZED: bad credentials" in refused.stderr, refused.stderr
            assert "machine 127.0.0.1 login <user>" in refused.stderr, refused.stderr
            good = netrc_dir / "netrc"
            good.write_text(f"machine 127.0.0.1 login {tokens.username} password {tokens.password}\n")
            good.chmod(0o644)
            fetched = ways.all_three(nix, spec, env={"NETRC": str(good)})
    finally:
        tokens.stop()
    check_ollama_reads(fetched["path"], "tiny:v1", pushed)
    # What the token service was asked, as Ollama asks it: the challenge's service and scope, ts, nonce.
    query = tokens.asked[-1]["query"]
    assert query["service"] == [tokens.service] and query["scope"] == ["repository:library/tiny:pull"], query
    assert query["ts"][0].isdigit() and len(query["nonce"][0]) == 22, query


def test_prefetch_prints_a_pin_to_paste(nix, ways, tmp_path):
    with DockerRegistry() as registry:
        pushed = push(registry, tag="latest")
        reference = f"ollama:{registry.endpoint}/library/tiny"
        text = subprocess.run([str(ways.cli), "prefetch", reference, "--nix", "--no-add"],
                              capture_output=True, text=True, env=ways.env())
        assert text.returncode == 0, text.stderr
        pasted = tmp_path / "pin.nix"
        pasted.write_text(text.stdout)
        # (An attrset with outPath would print as that string.)
        expr = f"let m = builtins.fetchModel (import {pasted}); in {{ path = m.outPath; inherit (m) commit; }}"
        done = nix.run("nix-instantiate", *nix.options(), "--eval", "--strict", "--json", "-E", expr, env=ways.env())
        # @digest on the command line pins the same.
        pinned = subprocess.run(
            [str(ways.cli), "prefetch", f"{reference}@{pushed['manifest_digest']}", "--json", "--no-add"],
            capture_output=True, text=True, env=ways.env())
    assert done.returncode == 0, done.stderr
    value = json.loads(done.stdout)
    assert value["path"].endswith("-ollama-tiny-latest")
    assert value["commit"] == pushed["manifest_digest"]
    assert f'digest = "{pushed["manifest_digest"]}";' in text.stdout
    assert pinned.returncode == 0, pinned.stderr
    assert json.loads(pinned.stdout)["storePath"] == value["path"]


def test_several_models_make_one_models_folder(nix, ways):
    with DockerRegistry() as registry:
        pushed = {"tiny:v1": push(registry), "other:latest": push(registry, model="other", tag="latest")}
        specs = {name: spec_of(registry, model=name) for name in pushed}
        # Added to the store by prefetch: the build below needs no registry.
        pinned = [dict(spec, hash=ways.prefetch(spec)["hash"]) for spec in specs.values()]
    fetches = " ".join(f"(fetch (builtins.fromJSON ''{json.dumps(spec)}''))" for spec in pinned)
    done = nix.run(
        "nix-build", "--option", "substituters", "", *nix.build_options(), "--no-out-link", str(MODEL_NIX),
        "--argstr", "hostTools", str(ways.work / "tools"), "--argstr", "cli", str(ways.work / "cli"),
        "--arg", "expr", f"{{ lib, pkgs, fetch, ... }}: lib.mkOllamaModels pkgs [ {fetches} ]",
        env=ways.env())
    assert done.returncode == 0, done.stderr
    models = OllamaModels(Path(done.stdout.strip().splitlines()[-1]))
    assert models.names() == sorted(models.parse_name(name) for name in pushed)
    for name, model in pushed.items():
        assert models.manifest_file(name).read_bytes() == model["manifest"]
        for blob in models.blobs_of(name):
            data = models.blob_file(blob["digest"]).read_bytes()
            assert "sha256:" + hashlib.sha256(data).hexdigest() == blob["digest"]


def test_bad_references_are_named(ways):
    done = subprocess.run([str(ways.cli), "prefetch", "ollama:-x/m!:8b", "--include", "*.gguf"],
                          capture_output=True, text=True, env=ways.env())
    assert done.returncode != 0
    assert "--include: applies to hf: references only" in done.stderr, done.stderr
    assert "ollama:-x/m!:8b: model '-x/m!:8b': its namespace '-x' is not valid" in done.stderr, done.stderr
