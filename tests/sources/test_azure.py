"""source.azure against Azurite's blob service (tests/support/servers/azure.py), started by each
test: SharedKey (AZURE_STORAGE_ACCOUNT_KEY), a service SAS (AZURE_STORAGE_SAS_TOKEN), a
connection string, and anonymous reads of a public container, each checked by Azurite. Azurite
keeps no blob versions: an overwrite replaces the blob, and the hash refuses it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from huggingface_hub import hf_hub_download, snapshot_download

from conftest import delete_path, hub_cache_with, is_valid
from servers.azure import Azurite

WRONG_HASH = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
BIG = 16 * 2**20 + 4097  # two ranges of the engine's 16 MiB
REPO = "azure/models-llm-tiny"


def model_files() -> dict[str, bytes]:
    return {
        "config.json": json.dumps({"model_type": "bert", "id": os.urandom(8).hex()}).encode(),
        "model.safetensors": os.urandom(BIG),
        "tokenizer/vocab.txt": b"[PAD]\n[UNK]\nhello\n",
    }


def populate(azure: Azurite, files: dict[str, bytes], container: str = "models", public: str | None = None) -> None:
    azure.create_container(container, public_access=public)
    for path, data in files.items():
        azure.upload_blob(container, f"llm/tiny/{path}", data)
    azure.upload_blob(container, "llm/other/config.json", b"{}")


def key_env(azure: Azurite) -> dict[str, str]:
    return {"AZURE_STORAGE_ACCOUNT_KEY": azure.account_key}


def spec_of(azure: Azurite, container: str = "models", **source) -> dict:
    return {"source": {"azure": {"account": azure.account, "container": container, "prefix": "llm/tiny",
                                 "endpoint": azure.endpoint, **source}},
            "network": {"retries": 1}}


def test_three_ways_agree_and_huggingface_hub_reads_the_layout(nix, ways, tmp_path):
    files = model_files()
    with Azurite() as azure:
        populate(azure, files)
        fetched = ways.all_three(nix, spec_of(azure), key_env(azure))
    assert fetched["report"]["files"] == sorted(files)
    cache = hub_cache_with(tmp_path, fetched["path"], "models--azure--models-llm-tiny")
    config = hf_hub_download(REPO, "config.json", cache_dir=cache, local_files_only=True)
    assert Path(config).read_bytes() == files["config.json"]
    snapshot = Path(snapshot_download(REPO, cache_dir=cache, local_files_only=True))
    assert snapshot.name == fetched["commit"]
    for path, data in files.items():
        assert (snapshot / path).read_bytes() == data


def test_a_sas_a_connection_string_and_a_public_container_work(ways):
    files = model_files()
    with Azurite() as azure:
        populate(azure, files)
        by_key = ways.prefetch(spec_of(azure), key_env(azure), args=("--json", "--no-add"))
        by_sas = ways.prefetch(spec_of(azure), {"AZURE_STORAGE_SAS_TOKEN": azure.container_sas("models")},
                               args=("--json", "--no-add"))
        by_string = ways.prefetch(spec_of(azure), {"AZURE_STORAGE_CONNECTION_STRING": azure.connection_string},
                                  args=("--json", "--no-add"))
        # Unsigned, the listing too: a container whose public access includes listing.
        populate(azure, files, container="open", public="container")
        anonymous = ways.prefetch(spec_of(azure, container="open"), {"AZURE_SKIP_SIGNATURE": "true"},
                                  args=("--json", "--no-add"))
    assert by_key["hash"] == by_sas["hash"] == by_string["hash"]
    # Other blobs (other ETags, so another commit), the same files.
    assert anonymous["report"]["files"] == by_key["report"]["files"] == sorted(files)
    assert "versionIds" not in by_key["report"]["pin"]["source"]["azure"]


def test_refused_credentials_say_what_to_set(ways):
    with Azurite() as azure:
        populate(azure, model_files())
        wrong = ways.prefetch(spec_of(azure), {"AZURE_STORAGE_ACCOUNT_KEY": "d3Jvbmcga2V5"}, check=False)
        read_only_listing = azure.container_sas("models", permissions="l")
        no_read = ways.prefetch(spec_of(azure), {"AZURE_STORAGE_SAS_TOKEN": read_only_listing}, check=False)
        anonymous = ways.prefetch(spec_of(azure), {"AZURE_SKIP_SIGNATURE": "true"}, check=False)
    assert wrong.returncode != 0
    assert "HTTP 403" in wrong.stderr and "check AZURE_STORAGE_ACCOUNT_KEY" in wrong.stderr, wrong.stderr
    assert "d3Jvbmcga2V5" not in wrong.stderr
    assert no_read.returncode != 0 and "HTTP 403" in no_read.stderr, no_read.stderr
    assert "sig=" not in no_read.stderr  # the SAS never shows
    assert anonymous.returncode != 0
    assert "wants credentials, and none are sent" in anonymous.stderr, anonymous.stderr


def test_an_overwritten_blob_is_refused_by_the_hash(nix, ways):
    files = model_files()
    with Azurite() as azure:
        populate(azure, files)
        env = key_env(azure)
        fetched = ways.prefetch(spec_of(azure), env)
        pin = fetched["report"]["pin"]
        assert "versionIds" not in pin["source"]["azure"]  # Azurite keeps no versions
        # Still in the store: the pin needs no server.
        assert ways.plugin(nix, pin, env)["path"] == fetched["path"]
        azure.overwrite_blob("models", "llm/tiny/config.json", b'{"model_type": "moved"}')
        delete_path(nix, fetched["path"])
        moved = ways.plugin(nix, pin, env, check=False)
        now = ways.prefetch(spec_of(azure), env, args=("--json", "--no-add"))
    assert moved.returncode != 0 and "hash mismatch" in moved.stderr, moved.stderr
    assert not is_valid(nix, fetched["path"])
    assert now["commit"] != fetched["commit"]


def test_a_cache_hit_needs_no_server(nix, ways):
    with Azurite() as azure:
        populate(azure, model_files())
        env = key_env(azure)
        fetched = ways.prefetch(spec_of(azure), env)
    pin = fetched["report"]["pin"]
    ways.found_in_the_store(nix, pin, fetched, env)


def test_a_wrong_hash_is_refused_by_each_way(nix, ways):
    with Azurite() as azure:
        populate(azure, model_files())
        ways.refused_by_each_way(nix, dict(spec_of(azure), hash=WRONG_HASH), key_env(azure))


def test_prefetch_of_an_azure_reference_prints_a_pin_to_paste(nix, ways, tmp_path):
    with Azurite() as azure:
        populate(azure, model_files())
        env = {**key_env(azure), "AZURE_STORAGE_ACCOUNT_NAME": azure.account}
        text = subprocess.run([str(ways.cli), "prefetch", "az://models/llm/tiny", "--endpoint", azure.endpoint,
                               "--nix", "--no-add"], capture_output=True, text=True, env=ways.env(env))
        assert text.returncode == 0, text.stderr
        pasted = tmp_path / "pin.nix"
        pasted.write_text(text.stdout)
        expr = f"let m = builtins.fetchModel (import {pasted}); in m.outPath"
        done = nix.run("nix-instantiate", *nix.options(), "--eval", "--strict", "--json", "-E", expr, env=ways.env(env))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout).endswith("-models--azure--models-llm-tiny")
    assert f'account = "{azure.account}";' in text.stdout and 'container = "models";' in text.stdout, text.stdout
