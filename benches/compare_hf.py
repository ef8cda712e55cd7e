#!/usr/bin/env python3
"""Benchmark: our `fetch` against huggingface_hub's `snapshot_download`, same fake Hub, same run.

    .venv/bin/python benches/compare_hf.py [--big-files 4] [--big-mib 1024] [--small-files 30] [--rounds 1]

Builds a synthetic repo (big LFS files served through the CDN redirect, plus small git files),
serves it with tests/support/fake_hub.py on loopback, then times, round after round (the order
alternating, the page cache's dirty pages written back before each run):
  - ours:   target/release/nix-fetch-model fetch (parallel ranges, streaming sha256/sha1 checks)
  - theirs: huggingface_hub.snapshot_download (default 8 workers, no verification of content)
and prints MB/s of each, the ratio, and the peak RSS of each process (from wait4).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "support"))
from hub_process import hub_starter  # noqa: E402
REPO_ID = "bench/synthetic"
MIB = 1 << 20


def make_repo(root: Path, big_files: int, big_mib: int, small_files: int) -> int:
    """Writes the synthetic repo; returns its size in bytes. Each file's content is distinct."""
    repo = root / "models" / REPO_ID
    repo.mkdir(parents=True)
    block = os.urandom(16 * MIB)
    total = 0
    for index in range(big_files):
        with open(repo / f"model-{index:05d}-of-{big_files:05d}.safetensors", "wb") as f:
            f.write(index.to_bytes(8, "little"))
            for _ in range(big_mib // 16):
                f.write(block)
        total += 8 + (big_mib // 16) * 16 * MIB
    for index in range(small_files):
        data = json.dumps({"file": index, "payload": "x" * (1000 + 97 * index)}).encode()
        (repo / "configs").mkdir(exist_ok=True)
        (repo / "configs" / f"config-{index}.json").write_bytes(data)
        total += len(data)
    os.sync()
    return total


def run_measured(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Runs argv; returns (seconds, peak RSS in KiB) of that process alone."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[0]} failed with status {status}")
    return elapsed, usage.ru_maxrss


def ours(cli: Path, endpoint: str, work: Path) -> tuple[float, int]:
    spec = work / "spec.json"
    spec.write_text(json.dumps({"source": {"huggingface": {"repo": REPO_ID}}, "network": {"endpoint": endpoint}}))
    out = work / "ours"
    result = run_measured([str(cli), "--quiet", "fetch", "--spec", str(spec), "--out", str(out)], dict(os.environ))
    shutil.rmtree(out)
    os.sync()
    return result


def theirs(endpoint: str, work: Path) -> tuple[float, int]:
    cache = work / "hf-cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=endpoint, HF_HUB_CACHE=str(cache), HF_HOME=str(work / "hf-home"),
               HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_PROGRESS_BARS="1", HF_HUB_DISABLE_TELEMETRY="1")
    code = f"import huggingface_hub; huggingface_hub.snapshot_download({REPO_ID!r})"
    result = run_measured([sys.executable, "-c", code], env)
    shutil.rmtree(cache)
    os.sync()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-files", type=int, default=4)
    parser.add_argument("--big-mib", type=int, default=1024, help="size of each big file, a multiple of 16")
    parser.add_argument("--small-files", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--cli", type=Path, default=REPO_ROOT / "target" / "release" / "nix-fetch-model")
    parser.add_argument("--workdir", type=Path, default=None, help="where the repo and downloads go (default: a temp dir)")
    args = parser.parse_args()
    if not args.cli.exists():
        raise SystemExit(f"{args.cli} is missing: run `cargo build --release` first")

    work = Path(tempfile.mkdtemp(prefix="nfm-bench-", dir=args.workdir))
    try:
        with hub_starter() as start_hub:
            size = make_repo(work / "root", args.big_files, args.big_mib, args.small_files)
            print(f"repo: {args.big_files} x {args.big_mib} MiB + {args.small_files} small files = {size / MIB:.0f} MiB")
            endpoint = start_hub(work / "root").endpoint
            rows = []
            runners = [("nix-fetch-model", lambda: ours(args.cli, endpoint, work)),
                       ("huggingface_hub", lambda: theirs(endpoint, work))]
            for round_ in range(1, args.rounds + 1):
                for name, run in runners if round_ % 2 else runners[::-1]:
                    seconds, rss_kib = run()
                    rows.append((name, seconds, rss_kib))
                    print(f"round {round_}  {name:16} {seconds:7.2f} s  {size / MIB / seconds:8.0f} MiB/s  "
                          f"peak RSS {rss_kib / 1024:6.1f} MiB", flush=True)
            best = {name: min(s for n, s, _ in rows if n == name) for name in ("nix-fetch-model", "huggingface_hub")}
            peak = max(r for n, _, r in rows if n == "nix-fetch-model")
            print(f"best: nix-fetch-model {size / MIB / best['nix-fetch-model']:.0f} MiB/s, "
                  f"huggingface_hub {size / MIB / best['huggingface_hub']:.0f} MiB/s, "
                  f"ratio {best['huggingface_hub'] / best['nix-fetch-model']:.2f}x; "
                  f"our peak RSS {peak / 1024:.1f} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
