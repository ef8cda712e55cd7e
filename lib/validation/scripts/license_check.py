"""Fail unless the snapshot (the working directory) declares a license: `license:` in the README's
front matter, or a LICENSE/COPYING file."""
import os
import re
import sys

found = [n for n in sorted(os.listdir(".")) if re.match(r"(LICEN[CS]E|COPYING)", n, re.I)]
if os.path.exists("README.md"):
    with open("README.md", encoding="utf-8", errors="replace") as f:
        text = f.read()
    front = re.match(r"---\n(.*?)\n---", text, re.S)
    if front:
        m = re.search(r"^license:\s*(\S.*)$", front.group(1), re.M)
        if m:
            found.insert(0, f"license: {m.group(1).strip()}")
if not found:
    sys.exit("no license declared: no 'license:' in README.md's front matter and no LICENSE file; check the terms before use")
print("; ".join(found))
