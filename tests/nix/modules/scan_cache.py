"""Judge a Hub cache with huggingface_hub: scan_cache_dir must see exactly the repos given
(TYPE:ORG/NAME), report no problem, and hf_hub_download must read each --file offline.

    python scan_cache.py [--file TYPE:ORG/NAME:PATH=EXPECTED_FILE]... TYPE:ORG/NAME...

The cache is huggingface_hub's default one ($HF_HUB_CACHE, else $HF_HOME/hub, else
$XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub)."""
import argparse
import os
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
from huggingface_hub import hf_hub_download, scan_cache_dir, constants  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--file", action="append", default=[])
parser.add_argument("repos", nargs="*")
args = parser.parse_args()

scan = scan_cache_dir()
seen = sorted(f"{r.repo_type}:{r.repo_id}" for r in scan.repos)
problems = []
if seen != sorted(args.repos):
    problems.append(f"scan_cache_dir sees {seen}, expected {sorted(args.repos)}")
if scan.warnings:
    problems.append(f"scan_cache_dir warns: {[str(w) for w in scan.warnings]}")
for spec in args.file:
    what, expected = spec.split("=", 1)
    repo_type, repo_id, path = what.split(":", 2)
    got = hf_hub_download(repo_id, path, repo_type=repo_type)
    if open(got, "rb").read() != open(expected, "rb").read():
        problems.append(f"{repo_id}/{path} differs from {expected}")
if problems:
    sys.exit("\n".join(problems))
print(f"{constants.HF_HUB_CACHE}: {', '.join(seen)}; no warnings")
