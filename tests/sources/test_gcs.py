"""source.gcs against fake-gcs-server (tests/support/servers/gcs.py), started by each test, reached
as Google's clients reach an emulator: STORAGE_EMULATOR_HOST, no credentials. fake-gcs-server
checks no credentials, so a refusal by the server cannot be tested here; what is tested is that
a credential the chain cannot use is named."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from huggingface_hub import hf_hub_download, snapshot_download

from conftest import delete_path, hub_cache_with, is_valid
from servers.gcs import FakeGcs

WRONG_HASH = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
BIG = 16 * 2**20 + 777  # two ranges of the engine's 16 MiB
REPO = "gcs/models-llm-tiny"


def model_files() -> dict[str, bytes]:
    return {
        "config.json": json.dumps({"model_type": "bert", "id": os.urandom(8).hex()}).encode(),
        "model.safetensors": os.urandom(BIG),
        "tokenizer/vocab.txt": b"[PAD]\n[UNK]\nhello\n",
    }


def populate(gcs: FakeGcs, files: dict[str, bytes]) -> None:
    gcs.create_bucket("models", versioned=True)
    for path, data in files.items():
        gcs.upload_object("models", f"llm/tiny/{path}", data)
    gcs.upload_object("models", "llm/other/config.json", b"{}")


def spec_of(**source) -> dict:
    return {"source": {"gcs": {"bucket": "models", "prefix": "llm/tiny", **source}}, "network": {"retries": 1}}


def test_three_ways_agree_and_huggingface_hub_reads_the_layout(nix, ways, tmp_path):
    files = model_files()
    with FakeGcs() as gcs:
        populate(gcs, files)
        fetched = ways.all_three(nix, spec_of(), gcs.client_env())
    assert fetched["report"]["files"] == sorted(files)
    cache = hub_cache_with(tmp_path, fetched["path"], "models--gcs--models-llm-tiny")
    config = hf_hub_download(REPO, "config.json", cache_dir=cache, local_files_only=True)
    assert Path(config).read_bytes() == files["config.json"]
    snapshot = Path(snapshot_download(REPO, cache_dir=cache, local_files_only=True))
    assert snapshot.name == fetched["commit"]
    for path, data in files.items():
        assert (snapshot / path).read_bytes() == data


def test_the_pin_holds_when_a_new_generation_is_written(nix, ways):
    files = model_files()
    with FakeGcs() as gcs:
        populate(gcs, files)
        env = gcs.client_env()
        fetched = ways.prefetch(spec_of(), env)
        pin = fetched["report"]["pin"]
        generations = pin["source"]["gcs"]["generations"]
        assert generations["config.json"] == gcs.get_metadata("models", "llm/tiny/config.json")["generation"]
        gcs.overwrite_object("models", "llm/tiny/config.json", b'{"model_type": "moved"}')
        delete_path(nix, fetched["path"])
        again = ways.plugin(nix, pin, env)
        assert (again["hash"], again["path"]) == (fetched["hash"], fetched["path"])
        delete_path(nix, fetched["path"])
        moved = ways.plugin(nix, dict(spec_of(), hash=fetched["hash"]), env, check=False)
    assert moved.returncode != 0 and "hash mismatch" in moved.stderr, moved.stderr
    assert not is_valid(nix, fetched["path"])


def test_a_cache_hit_needs_no_server(nix, ways):
    with FakeGcs() as gcs:
        populate(gcs, model_files())
        env = gcs.client_env()
        fetched = ways.prefetch(spec_of(), env)
    pin = fetched["report"]["pin"]
    ways.found_in_the_store(nix, pin, fetched, env)


def test_a_wrong_hash_is_refused_by_each_way(nix, ways):
    with FakeGcs() as gcs:
        populate(gcs, model_files())
        ways.refused_by_each_way(nix, dict(spec_of(), hash=WRONG_HASH), gcs.client_env())


def test_a_generation_that_is_gone_and_unusable_credentials_are_named(ways, tmp_path):
    with FakeGcs() as gcs:
        populate(gcs, model_files())
        spec = spec_of(generations={"config.json": "1"})
        gone = ways.prefetch(spec, gcs.client_env(), check=False)
        # No emulator variable: the credential chain runs, and GOOGLE_APPLICATION_CREDENTIALS
        # names a file that holds no credentials.
        broken = tmp_path / "key.json"
        broken.write_text('{"type": "service_account"}')
        unusable = ways.prefetch(spec_of(endpoint=gcs.endpoint),
                                 {"GOOGLE_APPLICATION_CREDENTIALS": str(broken)}, check=False)
    assert gone.returncode != 0
    assert "HTTP 404" in gone.stderr and "version 1 (source.gcs.generations)" in gone.stderr, gone.stderr
    assert unusable.returncode != 0
    assert "GOOGLE_APPLICATION_CREDENTIALS" in unusable.stderr, unusable.stderr


def test_prefetch_of_a_gs_reference_prints_a_pin_to_paste(nix, ways, tmp_path):
    with FakeGcs() as gcs:
        populate(gcs, model_files())
        env = gcs.client_env()
        text = subprocess.run([str(ways.cli), "prefetch", "gs://models/llm/tiny", "--nix", "--no-add"],
                              capture_output=True, text=True, env=ways.env(env))
        assert text.returncode == 0, text.stderr
        pasted = tmp_path / "pin.nix"
        pasted.write_text(text.stdout)
        gcs.overwrite_object("models", "llm/tiny/config.json", b"{}")
        expr = f"let m = builtins.fetchModel (import {pasted}); in m.outPath"
        done = nix.run("nix-instantiate", *nix.options(), "--eval", "--strict", "--json", "-E", expr, env=ways.env(env))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout).endswith("-models--gcs--models-llm-tiny")
    assert 'generations = { "config.json" = "' in text.stdout, text.stdout
