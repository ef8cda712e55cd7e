"""Fail unless $src is one repo folder of the Hugging Face cache: blobs/, one snapshots/<commit>/
whose entries are relative links into blobs/, and refs/ files holding that commit."""
import os
import re
import sys

src = os.environ["src"]
blobs = os.path.realpath(os.path.join(src, "blobs"))
problems = []
commits = sorted(os.listdir(os.path.join(src, "snapshots"))) if os.path.isdir(os.path.join(src, "snapshots")) else []
if not os.path.isdir(blobs):
    problems.append("no blobs/ folder")
if len(commits) != 1 or not re.fullmatch(r"[0-9a-f]{40}", commits[0]):
    problems.append(f"snapshots/ should hold one folder named by a 40-hex commit, holds {commits}")
else:
    snapshot = os.path.join(src, "snapshots", commits[0])
    for root, dirs, files in os.walk(snapshot):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            path = os.path.join(root, name)
            shown = os.path.relpath(path, snapshot)
            if not os.path.islink(path):
                problems.append(f"{shown}: not a link into blobs/")
                continue
            target = os.readlink(path)
            resolved = os.path.realpath(path)
            if target.startswith("/"):
                problems.append(f"{shown}: absolute link {target}")
            elif os.path.dirname(resolved) != blobs or not os.path.isfile(resolved):
                problems.append(f"{shown}: links to {target}, not to a file in blobs/")
    refs = os.path.join(src, "refs")
    for root, dirs, files in os.walk(refs):
        for name in files:
            with open(os.path.join(root, name)) as f:
                text = f.read()
            if text != commits[0]:
                problems.append(f"refs/{os.path.relpath(os.path.join(root, name), refs)}: holds {text!r}, not the commit {commits[0]}")
if problems:
    print("not the Hugging Face cache layout:")
    print("\n".join(problems))
    sys.exit(1)
print(f"layout of commit {commits[0]}")
