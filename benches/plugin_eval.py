#!/usr/bin/env python3
"""Benchmarks of the Nix plugin, for each Nix version it is built for (scripts/build-plugin.sh):

1. Cache hits: one evaluation of 100 `builtins.fetchModel` calls whose store paths are valid,
   against one of 100 `builtins.fetchurl` calls whose paths are valid; and each builtin's own
   cost, its evaluation minus one that builds and forces the same 100 arguments without the
   calls, in time and (with valgrind) in instructions; and the instructions Nix takes to parse
   each builtin's argument. Target: fetchModel no slower than fetchurl.
2. End to end: `builtins.fetchModel` of a model from the fake Hub (download, NAR hash, store
   import) against the CLI's `fetch` of the same model into a folder. Target: under 30 % more.
   Three times: at loopback speed, where the download is as fast as the CPU lets it be (on 2
   cores the fake Hub, the download and the hashes share them); over an emulated link of
   --link-mib-per-s (default 300 MiB/s, about 2.5 Gbit/s); and from a server that gives each
   connection --connection-mib-per-s (default 50), as a CDN does, where parallel requests
   pay off (the plugin starts with one and adds more while its NAR hasher waits for bytes).
3. Through a nix-daemon (every NixOS machine; needs root, which starts the daemon and runs as
   a user): `builtins.fetchModel` of a --daemon-model-mb model (default 1024) by a non-root user
   whose store is the daemon's, against the CLI's `fetch` and against root's plugin on the local
   store, side by side; and the most memory the daemon's processes held meanwhile. Target: the
   user within 1.5x of the CLI, the daemon's memory flat.

    python3 benches/plugin_eval.py [--versions 2.8,2.26] [--parts cache,e2e,daemon] [--runs 5]
                                   [--model-mb 256] [--daemon-model-mb 1024]
                                   [--link-mib-per-s 300] [--connection-mib-per-s 50]

Prints a table per version; exits 1 if a version cannot run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests/support"))
sys.path.insert(0, str(REPO / "tests/nix/plugin"))
from hub_process import hub_starter  # noqa: E402
from multiuser import Daemon  # noqa: E402
from nix_versions import NIX_BIN, Nix  # noqa: E402
CALLS = 100


def run(*args, env=None, check=True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env)
    if check and done.returncode != 0:
        sys.exit(f"{' '.join(map(str, args))[:200]} failed:\n{done.stderr}")
    return done


def interleaved_medians(commands: dict[str, list], runs: int) -> dict[str, float]:
    """The median wall time of each command over `runs` rounds, in seconds. Each round runs
    every command once, in turn, so that what else the machine does weighs on all alike."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            start = time.perf_counter()
            run(*command)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(measured) for name, measured in times.items()}


def instructions(*args) -> int | None:
    """Instructions `args` executes, counted by callgrind (the same from run to run, unlike
    times); None without valgrind. Under valgrind the CPU has no SHA extensions: Nix and the
    plugin both hash in software there."""
    if shutil.which("valgrind") is None:
        return None
    done = run("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *args)
    collected = [line for line in done.stderr.splitlines() if "Collected :" in line]
    return int(collected[-1].rsplit(":", 1)[1])


def make_model(root: Path, size_mb: int) -> str:
    """A model of `size_mb` MiB of random weights in 4 LFS files plus a config."""
    repo = f"bench/m-{uuid.uuid4().hex[:8]}"
    folder = root / "models" / repo
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"bench": true}\n')
    for i in range(4):
        with open(folder / f"model-{i}.safetensors", "wb") as f:
            for _ in range(size_mb // 4):
                f.write(os.urandom(1 << 20))
    return repo


def spec(endpoint: str, repo: str, **extra) -> dict:
    return {"source": {"huggingface": {"repo": repo}}, "network": {"endpoint": endpoint}, **extra}


def to_nix(value) -> str:
    """A JSON-like value as a Nix expression (a literal, as users write the call)."""
    if isinstance(value, dict):
        return "{ " + " ".join(f"{k} = {to_nix(v)};" for k, v in value.items()) + " }"
    return json.dumps(value)


def nix_call(spec_value: dict) -> str:
    return f"(builtins.fetchModel {to_nix(spec_value)})"


def cache_hits(bin_dir: Path, plugin: Path, endpoint: str, repo: str, work: Path, runs: int):
    opts = ["--option", "plugin-files", plugin, "--option", "substituters", ""]
    first = run(bin_dir / "nix-instantiate", *opts, "--eval", "--json", "--strict", "-E",
                f"let m = {nix_call(spec(endpoint, repo))}; in [ m.narHash m.outPath ]")
    nar_hash, model = json.loads(first.stdout)
    model = Path(model)
    # 100 valid model paths: the model under 100 names.
    copies = work / "models"
    copies.mkdir()
    for i in range(CALLS):
        shutil.copytree(model, copies / f"bench-model-{i}", symlinks=True)
    run(bin_dir / "nix-store", "--add-fixed", "--recursive", "sha256", *sorted(copies.iterdir()))
    # 100 valid fetchurl paths: 100 small files added flat.
    files = work / "files"
    files.mkdir()
    for i in range(CALLS):
        (files / f"bench-file-{i}").write_text(f"file {i} {uuid.uuid4()}\n")
    run(bin_dir / "nix-store", "--add-fixed", "sha256", *sorted(files.iterdir()))
    file_hashes = [run(bin_dir / "nix-hash", "--type", "sha256", "--flat", "--base32", f).stdout.strip()
                   for f in sorted(files.iterdir(), key=lambda p: int(p.name.rsplit("-", 1)[1]))]

    # A pinned call as users write one: name, hash and repo (the endpoint is the default; a hit
    # does not reach it).
    def pinned(i: int) -> dict:
        return {"source": {"huggingface": {"repo": repo}}, "name": f"bench-model-{i}", "hash": nar_hash}

    models = " ".join(nix_call(pinned(i)) + ".outPath" for i in range(CALLS))
    urls = " ".join(
        f'(builtins.fetchurl {{ url = "{endpoint}/none/bench-file-{i}"; name = "bench-file-{i}"; sha256 = "{h}"; }})'
        for i, h in enumerate(file_hashes))
    # The same argument attrsets, built and forced without the call: what is left is the
    # builtin's own cost (the two builtins take arguments of different sizes).
    model_args = " ".join(to_nix(pinned(i)) for i in range(CALLS))
    url_args = " ".join(
        f'{{ url = "{endpoint}/none/bench-file-{i}"; name = "bench-file-{i}"; sha256 = "{h}"; }}'
        for i, h in enumerate(file_hashes))

    def write(name: str, body: str) -> Path:
        (work / name).write_text(f"builtins.deepSeq [ {body} ] null\n")
        return work / name

    exprs = {"fetchModel": write("models.nix", models), "fetchModel arguments": write("model-args.nix", model_args),
             "fetchurl": write("urls.nix", urls), "fetchurl arguments": write("url-args.nix", url_args)}
    rounds = 20 * runs
    times = interleaved_medians({name: [bin_dir / "nix-instantiate", *opts, "--eval", path]
                                 for name, path in exprs.items()}, rounds)
    # Parsing alone: the arguments in a list that is counted, not forced.
    parsed = {"fetchModel arguments, parsed": model_args, "fetchurl arguments, parsed": url_args, "nothing": ""}
    for name, body in parsed.items():
        (work / f"{name}.nix").write_text(f"builtins.length [ {body} ]\n")
    counts = {name: instructions(bin_dir / "nix-instantiate", *opts, "--eval", path)
              for name, path in [*exprs.items(), *((n, work / f"{n}.nix") for n in parsed)]}
    model_cost = times["fetchModel"] - times["fetchModel arguments"]
    url_cost = times["fetchurl"] - times["fetchurl arguments"]
    print(f"  {CALLS} calls with valid paths, one evaluation each (median of {rounds}, interleaved):")
    for name, seconds in times.items():
        print(f"    {name:26} {seconds * 1000:8.1f} ms")
    print(f"    fetchModel's own cost      {model_cost * 1000 / CALLS:8.3f} ms a call")
    print(f"    fetchurl's own cost        {url_cost * 1000 / CALLS:8.3f} ms a call")
    print(f"    ratio of the evaluations   {times['fetchModel'] / times['fetchurl']:8.2f}  (target <= 1.1)")
    print(f"    ratio of own costs         {model_cost / url_cost if url_cost > 0 else float('nan'):8.2f}")
    if None in counts.values():
        print("    instructions: SKIP, valgrind is not installed (apt-get install valgrind)")
    else:
        model_count = (counts["fetchModel"] - counts["fetchModel arguments"]) / CALLS
        url_count = (counts["fetchurl"] - counts["fetchurl arguments"]) / CALLS
        print("    instructions a call (callgrind, own cost):")
        print(f"      fetchModel {model_count / 1000:6.1f}k  fetchurl {url_count / 1000:6.1f}k  "
              f"ratio {model_count / url_count:5.2f}  (target <= 1.1)")
        model_parse = (counts["fetchModel arguments, parsed"] - counts["nothing"]) / CALLS
        url_parse = (counts["fetchurl arguments, parsed"] - counts["nothing"]) / CALLS
        print("    instructions to parse one argument (callgrind):")
        print(f"      fetchModel {model_parse / 1000:6.1f}k  fetchurl {url_parse / 1000:6.1f}k")
    added = json.loads(run(bin_dir / "nix-instantiate", *opts, "--eval", "--json", "--strict", "-E",
                           f"[ {models} {urls} ]").stdout)
    run(bin_dir / "nix-store", "--delete", *added, check=False)


def end_to_end(bin_dir: Path, plugin: Path, endpoint: str, repo: str, size_mb: int,
               work: Path, runs: int, link: str):
    cli = REPO / "target" / "release" / "nix-fetch-model"
    spec_file = work / "spec.json"
    spec_file.write_text(json.dumps(spec(endpoint, repo)))
    cli_times, plugin_times = [], []
    for i in range(runs):
        out = work / f"cli-{i}"
        start = time.perf_counter()
        run(cli, "fetch", "--quiet", "--spec", spec_file, "--out", out)
        cli_times.append(time.perf_counter() - start)
        shutil.rmtree(out)
        name = f"bench-e2e-{uuid.uuid4().hex[:8]}"
        start = time.perf_counter()
        done = run(bin_dir / "nix-instantiate", "--option", "plugin-files", plugin, "--option", "substituters", "",
                   "--eval", "--json", "-E", nix_call(spec(endpoint, repo, name=name)) + ".outPath")
        plugin_times.append(time.perf_counter() - start)
        run(bin_dir / "nix-store", "--delete", json.loads(done.stdout))
    cli_s, plugin_s = statistics.median(cli_times), statistics.median(plugin_times)
    print(f"  end to end, {size_mb} MiB model, 5 files, {link} (median of {runs}):")
    print(f"    CLI fetch into a folder    {cli_s:8.2f} s  ({size_mb / cli_s:.0f} MiB/s)")
    print(f"    builtins.fetchModel        {plugin_s:8.2f} s  ({size_mb / plugin_s:.0f} MiB/s)")
    print(f"    store import adds          {(plugin_s / cli_s - 1) * 100:8.1f} %  (target < 30 %)")


def through_daemon(nix: Nix, endpoint: str, repo: str, size_mb: int, work: Path, runs: int, link: str):
    if os.geteuid() != 0:
        print("  through a nix-daemon: SKIP, starting a daemon and running as a user needs root")
        return
    cli = REPO / "target" / "release" / "nix-fetch-model"
    spec_file = work / "daemon-spec.json"
    spec_file.write_text(json.dumps(spec(endpoint, repo)))
    daemon = Daemon(nix)
    times: dict[str, list[float]] = {"CLI fetch into a folder": [], "plugin, root, local store": [],
                                     "plugin, a user, daemon": []}
    idle_kib = daemon.rss_kib()
    # The daemon's memory is sampled all along, so the sampling weighs on all three alike.
    peak_kib = [idle_kib]
    sampling = threading.Event()

    def sample():
        while not sampling.wait(0.02):
            peak_kib[0] = max(peak_kib[0], daemon.rss_kib())

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        for _ in range(runs):
            out = work / "daemon-cli"
            start = time.perf_counter()
            run(cli, "fetch", "--quiet", "--spec", spec_file, "--out", out)
            times["CLI fetch into a folder"].append(time.perf_counter() - start)
            shutil.rmtree(out)
            for who in ("root", "nfm-alice"):
                expr = nix_call(spec(endpoint, repo, name=f"bench-daemon-{uuid.uuid4().hex[:8]}")) + ".outPath"
                if who == "root":
                    command = nix.command("nix-instantiate", *nix.options(), "--eval", "--json", "-E", expr)
                    env = nix.env()
                else:
                    command = daemon.command(who, "nix-instantiate", "--eval", "--json", "-E", expr)
                    env = None
                start = time.perf_counter()
                done = subprocess.run(command, capture_output=True, text=True, env=env)
                elapsed = time.perf_counter() - start
                if done.returncode != 0:
                    sys.exit(f"the plugin as {who} failed:\n{done.stderr}")
                times["plugin, root, local store" if who == "root" else "plugin, a user, daemon"].append(elapsed)
                run(nix.bin_dir / "nix-store", "--delete", json.loads(done.stdout))
    finally:
        sampling.set()
        sampler.join()
        daemon.stop()
    medians = {name: statistics.median(measured) for name, measured in times.items()}
    cli_s = medians["CLI fetch into a folder"]
    print(f"  through a nix-daemon, {size_mb} MiB model, 5 files, {link} (median of {runs}, interleaved):")
    for name, seconds in medians.items():
        print(f"    {name:26} {seconds:8.2f} s  ({size_mb / seconds:.0f} MiB/s)")
    print(f"    a user, to the CLI         {medians['plugin, a user, daemon'] / cli_s:8.2f}  (target <= 1.5)")
    print(f"    daemon's memory            {idle_kib / 1024:8.1f} MiB idle, {peak_kib[0] / 1024:.1f} MiB at most")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", default="2.8,2.26")
    parser.add_argument("--parts", default="cache,e2e,daemon")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--model-mb", type=int, default=256)
    parser.add_argument("--daemon-model-mb", type=int, default=1024)
    parser.add_argument("--link-mib-per-s", type=float, default=300)
    parser.add_argument("--connection-mib-per-s", type=float, default=50)
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    run("cargo", "build", "--quiet", "--release", "--manifest-path", REPO / "Cargo.toml")
    status = 0
    with tempfile.TemporaryDirectory(prefix="nfm-bench-") as tmp:
        work = Path(tmp)
        with hub_starter() as start_hub:
            endpoint = start_hub(work / "hub").endpoint
            linked_endpoint = start_hub(work / "hub", [f"--link-mib-per-s={args.link_mib_per_s}"]).endpoint
            capped_endpoint = start_hub(work / "hub", [f"--connection-mib-per-s={args.connection_mib_per_s}"]).endpoint
            small = make_model(work / "hub", 0)
            big = make_model(work / "hub", args.model_mb) if "e2e" in parts else None
            biggest = make_model(work / "hub", args.daemon_model_mb) if "daemon" in parts else None
            for version in args.versions.split(","):
                built = run("bash", REPO / "scripts/build-plugin.sh", version, check=False)
                if built.returncode != 0:
                    print(f"Nix {version}: SKIP, the plugin does not build: {built.stderr.strip()[-300:]}")
                    status = 1
                    continue
                plugin = Path(built.stdout.strip().splitlines()[-1])
                bin_dir = NIX_BIN[version]
                print(f"Nix {version} ({run(bin_dir / 'nix-instantiate', '--version').stdout.strip()})")
                version_work = work / version
                version_work.mkdir()
                if "cache" in parts:
                    cache_hits(bin_dir, plugin, endpoint, small, version_work, args.runs)
                if "e2e" in parts:
                    for at, setting in [(endpoint, "loopback speed"),
                                        (linked_endpoint, f"{args.link_mib_per_s:.0f} MiB/s link"),
                                        (capped_endpoint, f"{args.connection_mib_per_s:.0f} MiB/s a connection")]:
                        end_to_end(bin_dir, plugin, at, big, args.model_mb, version_work, args.runs, setting)
                if "daemon" in parts:
                    for at, setting in [(endpoint, "loopback speed"),
                                        (linked_endpoint, f"{args.link_mib_per_s:.0f} MiB/s link"),
                                        (capped_endpoint, f"{args.connection_mib_per_s:.0f} MiB/s a connection")]:
                        through_daemon(Nix(version, bin_dir, plugin), at, biggest, args.daemon_model_mb,
                                       version_work, args.runs, setting)
    return status


if __name__ == "__main__":
    sys.exit(main())
