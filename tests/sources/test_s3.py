"""source.s3 against moto's S3 server (tests/support/servers/s3.py), started by each test with
its signature checks on (auth=True): the listing, the HEADs and every download (each byte range,
each try) are signed with SigV4 and checked by moto."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

from huggingface_hub import hf_hub_download, snapshot_download

from conftest import delete_path, hub_cache_with, is_valid
from servers.s3 import MotoS3

WRONG_HASH = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
BIG = 16 * 2**20 + 1_000_003  # two ranges of the engine's 16 MiB
REPO = "s3/models-llm-tiny"  # the default repo of bucket models, prefix llm/tiny


def model_files() -> dict[str, bytes]:
    return {
        "config.json": json.dumps({"model_type": "bert", "id": os.urandom(8).hex()}).encode(),
        "model.safetensors": os.urandom(BIG),
        "tokenizer/vocab.txt": b"[PAD]\n[UNK]\nhello\n",
        "onnx/model.onnx": b"onnx",
    }


def populate(s3: MotoS3, files: dict[str, bytes], versioned: bool = True) -> None:
    s3.create_bucket("models", versioned=versioned)
    for path, data in files.items():
        s3.put_object("models", f"llm/tiny/{path}", data)
    s3.put_object("models", "llm/other/config.json", b"{}")  # beside the prefix: not fetched
    s3.put_object("models", "llm/tiny-v2/config.json", b"{}")  # a longer name, not below it


def env_of(s3: MotoS3, **extra: str) -> dict[str, str]:
    # No instance role is looked for: this machine is no EC2 instance.
    return {**s3.client_env(), "AWS_EC2_METADATA_DISABLED": "true", **extra}


def spec_of(s3: MotoS3, **source) -> dict:
    return {"source": {"s3": {"bucket": "models", "prefix": "llm/tiny/", "endpoint": s3.endpoint,
                              "exclude": ["onnx/"], **source}},
            "network": {"retries": 1}}


def test_three_ways_agree_and_huggingface_hub_reads_the_layout(nix, ways, tmp_path):
    files = model_files()
    with MotoS3() as s3:
        populate(s3, files)
        fetched = ways.all_three(nix, spec_of(s3), env_of(s3))
    report = fetched["report"]
    assert report["files"] == ["config.json", "model.safetensors", "tokenizer/vocab.txt"]
    assert report["revision"] == "main" and len(report["commit"]) == 40
    cache = hub_cache_with(tmp_path, fetched["path"], "models--s3--models-llm-tiny")
    config = hf_hub_download(REPO, "config.json", cache_dir=cache, local_files_only=True)
    assert Path(config).read_bytes() == files["config.json"]
    snapshot = Path(snapshot_download(REPO, cache_dir=cache, local_files_only=True))
    assert snapshot.name == fetched["commit"]
    for path in report["files"]:
        assert (snapshot / path).read_bytes() == files[path]
    blob = hashlib.sha256(files["model.safetensors"]).hexdigest()
    assert (Path(fetched["path"]) / "blobs" / blob).stat().st_size == BIG
    assert (Path(fetched["path"]) / "refs" / "main").read_text() == fetched["commit"]


def test_the_pin_holds_when_objects_are_overwritten(nix, ways):
    files = model_files()
    with MotoS3() as s3:
        populate(s3, files)
        env = env_of(s3)
        fetched = ways.prefetch(spec_of(s3), env)
        pin = fetched["report"]["pin"]
        versions = pin["source"]["s3"]["versionIds"]
        assert sorted(versions) == ["config.json", "model.safetensors", "tokenizer/vocab.txt"]
        listed = {v["key"]: v["version_id"] for v in s3.list_versions("models", "llm/tiny/")}
        assert versions["config.json"] == listed["llm/tiny/config.json"]
        # A new version of a file, and a new file below the prefix.
        s3.overwrite_object("models", "llm/tiny/config.json", b'{"model_type": "moved"}')
        s3.put_object("models", "llm/tiny/extra.bin", b"new")
        delete_path(nix, fetched["path"])
        again = ways.plugin(nix, pin, env)
        assert (again["hash"], again["path"], again["commit"]) == (fetched["hash"], fetched["path"], fetched["commit"])
        # The prefix as it is now: other content, so the old hash refuses it.
        delete_path(nix, fetched["path"])
        unpinned = dict(spec_of(s3), hash=fetched["hash"])
        moved = ways.plugin(nix, unpinned, env, check=False)
        assert moved.returncode != 0
        assert "hash mismatch" in moved.stderr, moved.stderr
        now = ways.prefetch(spec_of(s3), env, args=("--json", "--no-add"))
    assert now["commit"] != fetched["commit"]
    assert "extra.bin" in now["report"]["files"]


def test_a_version_that_is_gone_is_named(ways):
    with MotoS3() as s3:
        populate(s3, model_files())
        env = env_of(s3)
        pin = ways.prefetch(spec_of(s3), env, args=("--json", "--no-add"))["report"]["pin"]
        version = pin["source"]["s3"]["versionIds"]["config.json"]
        s3.delete_object("models", "llm/tiny/config.json", version_id=version)
        done = ways.prefetch(pin, env, check=False)
    assert done.returncode != 0
    assert "HTTP 404" in done.stderr and f"version {version} (source.s3.versionIds)" in done.stderr, done.stderr


def test_a_cache_hit_needs_no_server(nix, ways):
    with MotoS3() as s3:
        populate(s3, model_files())
        env = env_of(s3)
        fetched = ways.prefetch(spec_of(s3), env)
    pin = fetched["report"]["pin"]
    ways.found_in_the_store(nix, pin, fetched, env)


def test_a_wrong_hash_is_refused_by_each_way(nix, ways):
    with MotoS3() as s3:
        populate(s3, model_files())
        ways.refused_by_each_way(nix, dict(spec_of(s3), hash=WRONG_HASH), env_of(s3))


def test_refused_credentials_say_what_to_set(ways):
    # (Unsigned requests are not tried here: moto answers them 500 when it checks signatures;
    # test_azure.py checks the message of a store that wants credentials none were sent for.)
    with MotoS3() as s3:
        populate(s3, model_files())
        spec = spec_of(s3)
        wrong = ways.prefetch(spec, env_of(s3, AWS_SECRET_ACCESS_KEY="not-" + s3.secret_key), check=False)
        unknown = ways.prefetch(spec, env_of(s3, AWS_ACCESS_KEY_ID="AKIAUNKNOWN0000000000"), check=False)
        no_keys = {k: v for k, v in env_of(s3).items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        missing = ways.prefetch(spec, {**no_keys, "HOME": tempfile.mkdtemp()}, check=False)
    assert wrong.returncode != 0
    assert "HTTP 403 (SignatureDoesNotMatch)" in wrong.stderr, wrong.stderr
    assert "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in wrong.stderr
    assert s3.secret_key not in wrong.stderr
    assert unknown.returncode != 0 and "HTTP 403 (InvalidAccessKeyId)" in unknown.stderr, unknown.stderr
    assert missing.returncode != 0 and "no AWS credentials were found" in missing.stderr, missing.stderr


def test_keys_from_a_profile_and_never_in_the_output(nix, ways, tmp_path):
    files = model_files()
    with MotoS3() as s3:
        populate(s3, files)
        credentials = tmp_path / "credentials"
        credentials.write_text(f"[default]\naws_access_key_id = nope\naws_secret_access_key = nope\n\n"
                               f"[models]\naws_access_key_id = {s3.access_key}\n"
                               f"aws_secret_access_key = {s3.secret_key}\n")
        no_keys = {k: v for k, v in env_of(s3).items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        env = {**no_keys, "AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_PROFILE": "models"}
        fetched = ways.prefetch(spec_of(s3), env)
        other = ways.prefetch(spec_of(s3), {**env, "AWS_PROFILE": "absent"}, check=False)
    assert other.returncode != 0 and "AWS_PROFILE names the profile 'absent'" in other.stderr, other.stderr
    nar = nix.run("nix-store", "--dump", fetched["path"], text=False).stdout
    assert s3.secret_key.encode() not in nar and s3.access_key.encode() not in nar
    assert s3.secret_key not in json.dumps(fetched["report"])


def test_an_uploaded_sha256_checksum_is_the_digest(ways):
    data = os.urandom(100_000)
    checksum = lambda content: base64.b64encode(hashlib.sha256(content).digest()).decode()
    with MotoS3() as s3:
        s3.create_bucket("models")
        for key, given in (("good/weights.bin", checksum(data)), ("bad/weights.bin", checksum(b"other"))):
            # As the AWS SDKs upload with a checksum; moto keeps the one it is given, right or wrong.
            headers = {"x-amz-sdk-checksum-algorithm": "SHA256", "x-amz-checksum-sha256": given}
            response = s3.request("PUT", s3.url("models", key), data, headers)
            assert response.status == 200, response
        spec = lambda prefix: {"source": {"s3": {"bucket": "models", "prefix": prefix, "endpoint": s3.endpoint}}}
        fetched = ways.prefetch(spec("good"), env_of(s3))
        refused = ways.prefetch(spec("bad"), env_of(s3), check=False)
    # An unversioned bucket: no version to pin, the hash does.
    assert "versionIds" not in fetched["report"]["pin"]["source"]["s3"]
    assert (Path(fetched["path"]) / "blobs" / hashlib.sha256(data).hexdigest()).stat().st_size == len(data)
    # The checksum is what the download is checked against, before any NAR hash.
    assert refused.returncode != 0
    assert "weights.bin: sha256 mismatch" in refused.stderr, refused.stderr


def test_an_unversioned_bucket_is_pinned_by_the_hash(nix, ways):
    with MotoS3() as s3:
        populate(s3, model_files(), versioned=False)
        env = env_of(s3)
        fetched = ways.prefetch(spec_of(s3), env)
        assert "versionIds" not in fetched["report"]["pin"]["source"]["s3"]
        s3.overwrite_object("models", "llm/tiny/config.json", b'{"model_type": "moved"}')
        delete_path(nix, fetched["path"])
        moved = ways.plugin(nix, fetched["report"]["pin"], env, check=False)
    assert moved.returncode != 0 and "hash mismatch" in moved.stderr, moved.stderr
    assert not is_valid(nix, fetched["path"])


def test_prefetch_of_an_s3_reference_prints_a_pin_to_paste(nix, ways, tmp_path):
    with MotoS3() as s3:
        populate(s3, model_files())
        env = env_of(s3)
        text = subprocess.run([str(ways.cli), "prefetch", "s3://models/llm/tiny", "--endpoint", s3.endpoint,
                               "--exclude", "onnx/", "--nix", "--no-add"],
                              capture_output=True, text=True, env=ways.env(env))
        assert text.returncode == 0, text.stderr
        pasted = tmp_path / "pin.nix"
        pasted.write_text(text.stdout)
        s3.overwrite_object("models", "llm/tiny/config.json", b"{}")
        expr = f"let m = builtins.fetchModel (import {pasted}); in m.outPath"
        done = nix.run("nix-instantiate", *nix.options(), "--eval", "--strict", "--json", "-E", expr, env=ways.env(env))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout).endswith("-models--s3--models-llm-tiny")
    assert 'versionIds = { "config.json" = "' in text.stdout, text.stdout
    assert 'region = "us-east-1";' in text.stdout
