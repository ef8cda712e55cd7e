"""builtins.fetchModel checks its argument as the library does: every problem at once, in the
library's words (tests/support/bad_specs.json, the table the library's and the CLI's checks are
held to), on a cache hit as on a miss; and a Nix path in the argument is refused before anything
is copied into the store.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from calls import call_expr, fetch_pinned, store_name

REPO_ROOT = Path(__file__).resolve().parents[3]
TABLE = json.loads((REPO_ROOT / "tests" / "support" / "bad_specs.json").read_text())
REFUSED = [case for case in TABLE["cases"] if case["problems"]]


def reported(stderr: str, heading: str) -> list[str]:
    """The problem lines under `heading:` in an error Nix printed (it indents them)."""
    lines = stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.rstrip().endswith(heading + ":"))
    problems = []
    for line in lines[start + 1:]:
        match = re.match(r"\s*- (.*)$", line)
        if not match:
            break
        problems.append(match.group(1))
    return problems


def refused(nix, expr: str, *options: str):
    done = nix.run("nix-instantiate", *nix.options(), *options, "--eval", "--strict", "-E", expr)
    assert done.returncode != 0, f"accepted: {expr}"
    return done.stderr


@pytest.fixture
def pinned_model(nix, hub_root, start_hub, make_model):
    """The hash and name of a model in the store: with them, a call is a cache hit."""
    repo = make_model(hub_root)
    hub = start_hub(hub_root)
    model = fetch_pinned(nix, hub, repo)
    hub.stop()
    return {"hash": model["narHash"], "name": store_name(repo)}


def test_every_problem_in_the_librarys_words(nix):
    for case in REFUSED:
        stderr = refused(nix, call_expr(case["spec"]))
        assert case["heading"] + ":" in stderr, f"{case['name']}: {stderr}"
        assert reported(stderr, case["heading"]) == case["problems"], case["name"]


def test_a_cache_hit_refuses_what_a_fetch_refuses(nix, pinned_model):
    """With the `hash` and `name` of a model in the store, a spec with a mistake elsewhere is
    refused all the same (the mistake would fail on a machine without the model)."""
    checked = 0
    for case in REFUSED:
        spec = case["spec"]
        if not isinstance(spec, dict) or "hash" in spec or "name" in spec:
            continue
        stderr = refused(nix, call_expr({**spec, **pinned_model}))
        assert reported(stderr, case["heading"]) == case["problems"], case["name"]
        checked += 1
    assert checked > 40


def nix_paths_expr(token_file: Path) -> str:
    """A spec with Nix paths in it, as a user might write one: the token file and the name."""
    return (
        f"{{ source.huggingface.repo = \"org/name\"; auth.tokenFile = {token_file};"
        f" name = {token_file.parent}; network.retries = 0; }}"
    )


def test_a_nix_path_is_refused_before_it_is_copied(nix, tmp_path):
    """A token file given as a Nix path would be copied into the world-readable store when the
    argument is turned into JSON (Nix 2.8's builtins.toJSON does, silently under nix-build).
    The builtin refuses it with the library's words, and nothing reaches the store."""
    token_file = tmp_path / f"token-{uuid.uuid4().hex}"
    token_file.write_text("hf_secret_never_in_the_store\n")
    spec = nix_paths_expr(token_file)
    # Not --eval: nix-instantiate in read-write mode, where toJSON copies paths into the store.
    done = nix.run("nix-instantiate", *nix.options(), "-E",
                   f"builtins.seq (builtins.fetchModel {spec}) (derivation {{ name = \"x\"; system = \"x\"; builder = \"x\"; }})")
    assert done.returncode != 0
    for copied in (token_file.name, token_file.parent.name):
        assert not list(Path("/nix/store").glob(f"*-{copied}")), f"{copied} was copied into the store"
    library = nix.run("nix-instantiate", "--eval", "--strict", "--json", "-E",
                      f"(import {REPO_ROOT}/lib/types.nix).validateConfigWith {{ hashRequired = false; }} {spec}")
    assert library.returncode == 0, library.stderr
    expected = json.loads(library.stdout)["errors"]
    assert "auth.tokenFile is a Nix path, which would copy the token into the world-readable store" in expected[-1]
    assert reported(done.stderr, "fetchModel (org/name)") == expected


def test_a_float_stays_a_float(nix):
    """`concurrency = 4.0` is refused as the library refuses it (Nix 2.8's toJSON prints 4)."""
    stderr = refused(nix, '(builtins.fetchModel { source.huggingface.repo = "org/name"; network.concurrency = 4.0; })')
    assert reported(stderr, "fetchModel (org/name)") == ["network.concurrency must be a whole number from 1 to 256"]


def test_values_json_cannot_hold_are_named_as_the_library_names_them(nix, tmp_path):
    """An infinite float and a string that is not UTF-8 (builtins.readFile of any bytes)."""
    stderr = refused(nix, '(builtins.fetchModel { source.huggingface.repo = "org/name"; network.timeout = 1.0e308 * 10.0; })')
    assert reported(stderr, "fetchModel (org/name)") == ["network.timeout must be a positive number of seconds, at most 86400"]
    latin1 = tmp_path / "name"
    latin1.write_bytes(b"caf\xe9")
    stderr = refused(nix, f'(builtins.fetchModel {{ source.huggingface.repo = "org/name"; name = builtins.readFile {latin1}; }})')
    assert "not UTF-8" in stderr and "«string»:1:" in stderr, stderr
