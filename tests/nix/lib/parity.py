"""Compares what the library and the CLI say of each spec of the table with the table.

    python3 parity.py TABLE LIBRARY_JSON CLI SPEC_FILE

LIBRARY_JSON: [{heading, problems}] from the library, one per case; CLI: the nix-fetch-model
binary ("" to skip it), run as `fetch --spec SPEC_FILE` on each refused spec (a valid one would
fetch). Prints `pass NAME` / `fail NAME DETAIL` lines for run.sh to evaluate.
"""

import json
import shlex
import subprocess
import sys


def cli_says(cli: str, spec, spec_file: str) -> dict:
    with open(spec_file, "w") as f:
        json.dump(spec, f)
    out = subprocess.run([cli, "--quiet", "fetch", "--spec", spec_file, "--out", spec_file + ".out"],
                         capture_output=True, text=True, timeout=60)
    lines = out.stderr.splitlines()
    if out.returncode == 0 or not lines or not lines[0].startswith("error: ") or not lines[0].endswith(":"):
        return {"heading": None, "problems": [], "stderr": out.stderr}
    return {"heading": lines[0][len("error: "):-1], "problems": [line[len("  - "):] for line in lines[1:]],
            "stderr": out.stderr}


def report(who: str, mismatches: list, count: int) -> None:
    if not mismatches:
        print(f"pass {shlex.quote(f'parity: {who} gives the problems of the table for its {count} specs')}")
    for name, want, got in mismatches:
        detail = f"expected: {json.dumps(want, indent=1)}\ngot:      {json.dumps(got, indent=1)}"
        print(f"fail {shlex.quote(f'parity: {who}: {name}')} {shlex.quote(detail)}")


def main(table_path: str, library_json: str, cli: str, spec_file: str) -> None:
    cases = json.load(open(table_path))["cases"]
    library = json.loads(library_json)
    mismatches = []
    for case, said in zip(cases, library, strict=True):
        want = {"heading": case["heading"], "problems": case["problems"]}
        if said != want:
            mismatches.append((case["name"], want, said))
    report("the library", mismatches, len(cases))
    if not cli:
        return
    refused = [case for case in cases if case["problems"]]
    mismatches = []
    for case in refused:
        want = {"heading": case["heading"], "problems": case["problems"]}
        said = cli_says(cli, case["spec"], spec_file)
        if {k: said[k] for k in want} != want:
            mismatches.append((case["name"], want, said))
    report("the CLI (fetch --spec)", mismatches, len(refused))


if __name__ == "__main__":
    main(*sys.argv[1:])
