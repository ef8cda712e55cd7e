"""The expressions the plugin tests evaluate, and what they ask of Nix about the results."""

from __future__ import annotations

import json
from pathlib import Path

# sha256 of the NAR of nothing that exists: a hash that never matches.
WRONG_HASH = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


def spec_expr(spec: dict) -> str:
    return f"(builtins.fromJSON ''{json.dumps(spec)}'')"


def call_expr(spec: dict) -> str:
    return f"(builtins.fetchModel {spec_expr(spec)})"


def fetch_expr(spec: dict) -> str:
    """The call, its result as JSON can show it (`toJSON` prints an attribute set with `outPath`
    as that one string): outPath becomes `path`."""
    return f"(let m = {call_expr(spec)}; in {{ inherit (m) narHash commit snapshot; path = m.outPath; }})"


def spec_for(hub, repo: str, **extra) -> dict:
    spec = {"source": {"huggingface": {"repo": repo}}, "network": {"endpoint": hub.endpoint, "retries": 0}}
    spec.update(extra)
    return spec


def eval_json(nix, expr: str, *options: str, env: dict | None = None, check: bool = True, substituters: str = ""):
    """nix-instantiate --eval --strict --json; returns the value, or the process if not `check`."""
    done = nix.run(
        "nix-instantiate", *nix.options(substituters), *options, "--eval", "--strict", "--json", "-E", expr, env=env
    )
    if not check:
        return done
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def is_valid(nix, path: str) -> bool:
    return nix.run("nix-store", "--check-validity", path).returncode == 0


def fixed_path(nix, nar_hash: str, name: str) -> str:
    done = nix.run("nix-store", "--print-fixed-path", "--recursive", "sha256", nar_hash, name)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def fetch_pinned(nix, hub, repo: str, **extra) -> dict:
    """Fetches `repo` unpinned (`extra` as spec_for's) and returns the result (its narHash pins it
    from then on)."""
    return eval_json(nix, fetch_expr(spec_for(hub, repo, **extra)))


def store_name(repo: str) -> str:
    """The name of a model's store path: its Hub cache folder's."""
    return "models--" + repo.replace("/", "--")


def leftovers(tmp: Path) -> list[str]:
    """Fetch directories left in TMPDIR (the lock folders of pinned fetches stay)."""
    return [p.name for p in tmp.iterdir() if not p.name.startswith("nix-fetch-model-locks")]
