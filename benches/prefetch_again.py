#!/usr/bin/env python3
"""Benchmark: what `prefetch` costs when the store already holds the model, and `import` of a
Hub cache against a download.

    .venv/bin/python benches/prefetch_again.py [--big-files 2] [--big-mib 256] [--small-files 10]

Builds a synthetic repo (as compare_hf.py does), serves it with tests/support/fake_hub.py on
loopback, then times, one after the other, with target/release/nix-fetch-model:
  - prefetch            the first: plans, downloads, hashes, adds to the Nix store
  - prefetch again      the store holds the commit's path: the plan only (the memory answers)
  - prefetch --hash H   the store holds H's path: the Hub is not asked
  - prefetch --refresh  downloads again
  - import              huggingface_hub's snapshot_download of the repo (not timed), imported:
                        every blob copied and checked, nothing downloaded
and prints the seconds of each (MiB/s where the repo's bytes were written), and how many bytes
the fake Hub sent for each.
The store paths it adds are deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from compare_hf import MIB, REPO_ID, make_repo, run_measured

REPO_ROOT = Path(__file__).resolve().parents[1]


def bytes_sent(hub) -> int:
    return sum(entry["bytes_sent"] for entry in hub.log() if entry["method"] == "GET")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-files", type=int, default=2)
    parser.add_argument("--big-mib", type=int, default=256, help="size of each big file, a multiple of 16")
    parser.add_argument("--small-files", type=int, default=10)
    parser.add_argument("--cli", type=Path, default=REPO_ROOT / "target" / "release" / "nix-fetch-model")
    args = parser.parse_args()
    if not args.cli.exists():
        raise SystemExit(f"{args.cli} is missing: run `cargo build --release` first")
    sys.path.insert(0, str(REPO_ROOT / "tests" / "support"))
    from hub_process import hub_starter

    work = Path(tempfile.mkdtemp(prefix="nfm-bench-"))
    added: set[str] = set()
    try:
        with hub_starter() as start_hub:
            size = make_repo(work / "root", args.big_files, args.big_mib, args.small_files)
            print(f"repo: {args.big_files} x {args.big_mib} MiB + {args.small_files} small files = "
                  f"{size / MIB:.0f} MiB")
            hub = start_hub(work / "root")
            env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
            env.update(HF_ENDPOINT=hub.endpoint, XDG_CACHE_HOME=str(work / "xdg-cache"),
                       HF_HUB_CACHE=str(work / "hf-cache"), HF_HOME=str(work / "hf-home"),
                       HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
            report = work / "report.json"

            def prefetch(label: str, *extra: str) -> dict:
                hub.clear_log()
                argv = [str(args.cli), "--quiet", "prefetch", f"hf:{REPO_ID}", "--json", *extra]
                seconds, _ = run_measured(["sh", "-c", '"$@" > "$0"', str(report), *argv], env)
                result = json.loads(report.read_text())
                added.add(result["storePath"])
                sent = bytes_sent(hub)
                rate = f"{size / MIB / seconds:9.0f} MiB/s" if result["downloaded"] else " " * 15
                print(f"{label:20} {seconds:7.2f} s  {rate}  {sent / MIB:8.1f} MiB from the Hub  "
                      f"downloaded: {result['downloaded']}", flush=True)
                return result

            first = prefetch("prefetch")
            prefetch("prefetch again")
            prefetch("prefetch --hash", "--hash", first["hash"])
            prefetch("prefetch --refresh", "--refresh")

            code = f"import huggingface_hub; huggingface_hub.snapshot_download({REPO_ID!r})"
            subprocess.run([sys.executable, "-c", code], env=env, check=True)
            subprocess.run(["nix-store", "--delete", first["storePath"]], capture_output=True)
            imported = prefetch_import(args.cli, env, hub, report, size)
            added.add(imported["storePath"])
            if imported["hash"] != first["hash"]:
                raise SystemExit(f"import gave {imported['hash']}, prefetch {first['hash']}")
    finally:
        for path in added:
            subprocess.run(["nix-store", "--delete", path], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def prefetch_import(cli: Path, env: dict, hub, report: Path, size: int) -> dict:
    hub.clear_log()
    argv = [str(cli), "--quiet", "import", f"hf:{REPO_ID}", "--json"]
    seconds, _ = run_measured(["sh", "-c", '"$@" > "$0"', str(report), *argv], env)
    result = json.loads(report.read_text())
    print(f"{'import':20} {seconds:7.2f} s  {size / MIB / seconds:9.0f} MiB/s  "
          f"{bytes_sent(hub) / MIB:8.1f} MiB from the Hub", flush=True)
    return result


if __name__ == "__main__":
    main()
