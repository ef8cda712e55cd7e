"""Our CLI under test, and tree snapshots to compare Hub cache folders."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI = Path(os.environ.get("NFM_BIN", REPO_ROOT / "target" / "debug" / "nix-fetch-model"))
FIXTURES = REPO_ROOT / "tests" / "support" / "fixtures"


def fetch(endpoint: str, repo: str, out: Path, revision: str | None = None, repo_type: str | None = None,
          **source) -> subprocess.CompletedProcess:
    """`nix-fetch-model fetch` of a Hugging Face repo into `out`; raises with stderr on failure."""
    hf = {"repo": repo, **source}
    if revision:
        hf["revision"] = revision
    if repo_type:
        hf["repoType"] = repo_type
    spec = {"source": {"huggingface": hf}, "network": {"endpoint": endpoint}}
    spec_file = out.parent / f"{out.name}.spec.json"
    spec_file.write_text(json.dumps(spec))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    result = subprocess.run([str(CLI), "--quiet", "fetch", "--spec", str(spec_file), "--out", str(out)],
                            env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise AssertionError(f"nix-fetch-model fetch {repo} failed:\n{result.stderr}")
    return result


def run(*args: str) -> subprocess.CompletedProcess:
    """The CLI with `args`, without the host's HF_* variables; never raises on failure."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    return subprocess.run([str(CLI), "--quiet", *args], env=env, capture_output=True, text=True, timeout=600)


def fetch_spec(spec: dict, out: Path) -> subprocess.CompletedProcess:
    """`nix-fetch-model fetch` of a whole spec into `out`; the result, failed or not."""
    spec_file = out.parent / f"{out.name}.spec.json"
    spec_file.write_text(json.dumps(spec))
    return run("fetch", "--spec", str(spec_file), "--out", str(out))


def prefetch(endpoint: str, reference: str) -> dict:
    """`nix-fetch-model prefetch --json` of `reference` (not added to the store)."""
    result = run("prefetch", reference, "--endpoint", endpoint, "--no-add", "--json")
    if result.returncode != 0:
        raise AssertionError(f"nix-fetch-model prefetch {reference} failed:\n{result.stderr}")
    return json.loads(result.stdout)


def nar_hash(path: Path) -> str:
    """`nix-fetch-model hash`: the NAR hash of `path`, SRI."""
    return run("hash", str(path)).stdout.strip()


def tree(root: Path) -> dict[str, str]:
    """Every entry under `root`: 'dir', 'link -> target' or 'file <sha256>'."""
    entries = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            relative = str(path.relative_to(root))
            if path.is_symlink():
                entries[relative] = f"link -> {os.readlink(path)}"
            elif path.is_dir():
                entries[relative] = "dir"
            else:
                entries[relative] = f"file {hashlib.sha256(path.read_bytes()).hexdigest()}"
    return entries


def repo_files(folder: Path) -> dict[str, Path]:
    """Repo path -> file, for the files a fixture folder serves (all but its own _hub.json), sorted."""
    files = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}
    files.pop("_hub.json", None)
    return files


def fixture_files(folder: Path) -> dict[str, bytes]:
    """The files a fixture revision folder holds, by repo path."""
    return {rel: p.read_bytes() for rel, p in repo_files(folder).items()}
