#!/usr/bin/env python3
"""A fake Hugging Face Hub for tests: loopback only, Python standard library only.

Run:
    python3 fake_hub.py --root DIR [--repo TYPE:ORG/NAME=PATH ...] [--host 127.0.0.1]
                        [--port 0] [--cdn-port 0] [--page-size 50] [--lfs-threshold BYTES]
                        [--link-mib-per-s RATE] [--connection-mib-per-s RATE]
                        [--tls-cert PEM --tls-key PEM] [--xet DIR [--xet-cas-url URL]]

When ready it prints one JSON line, {"endpoint": URL, "cdn": URL, "pid": N}, and serves until
SIGTERM or SIGINT (then it exits with status 0). Two origins: the Hub ("endpoint") and a CDN.
With --link-mib-per-s, file bodies share a link of that many MiB/s, as a real network's would
(for benchmarks: on loopback the network is as fast as the CPU). With --connection-mib-per-s,
each file body goes at most that fast, as a CDN that limits each connection serves it. With
--tls-cert and --tls-key (a certificate for the host, e.g. from test_ca.py beside this file),
both origins speak HTTPS, and their URLs start with https://.

Repos live in ROOT/models/ORG/NAME, ROOT/datasets/ORG/NAME and ROOT/spaces/ORG/NAME, or where a
--repo option says. A repo folder holds the files of `main`, or a `_hub.json`:
    {"private": bool, "gated": bool, "tokens": ["hf_..."], "xet": bool,
     "revisions": {"main": "rev-main", "v1.0": "rev-v1", "refs/pr/1": "rev-pr1"},
     "history": ["rev-old"],
     "extra_tree_entries": [{"type": "file", "path": "../evil", ...}],
     "tree_next_link": "?recursive=true"}
where each revision names the subfolder holding its files ("revisions" defaults to the repo
folder itself, "tokens" to ["hf_fake_token"]; "history" lists subfolders of earlier commits,
which no revision names but which are still served by their commit sha, as a branch's old
commits are on the Hub; "extra_tree_entries" are appended as they are to the root's tree
listing, and "tree_next_link" is sent as it is as the `Link: <...>; rel="next"` of the last
page of every tree listing, to play a hostile or broken Hub: a relative link back to the first
page makes the pagination loop, an absolute one sends it to another host; "{n}" in it becomes a
new number each time, for a pagination that goes round with ever new links). `_hub.json` is read
again for every request: a test moves a branch by rewriting it (e.g. "main" to a new folder,
the old one into "history"). Regular files are listed sorted and recursively;
symlinks, `__pycache__` folders and `*.pyc` files are skipped.

Files: git blob oid = sha1(b"blob <size>\\0" + bytes). A file is LFS if its extension is in
LFS_EXTENSIONS or its size >= --lfs-threshold; its tree oid is then the git oid of its LFS
pointer text and its ETag is its sha256. A revision's commit is the git commit object over its
git tree and the repo id, so it is stable across runs; a 40-hex commit is accepted as a revision.

Hub origin:
    GET  /api/{models|datasets|spaces}/ORG/NAME[/revision/REV]   repo info (?blobs=true, ?expand=)
    GET  /api/{models|datasets|spaces}/ORG/NAME/tree/REV[/PATH]  ?recursive=, paginated with
         --page-size entries a page and a `Link: <url&cursor=..>; rel="next"` header
    HEAD|GET /[datasets/|spaces/]ORG/NAME/resolve/REV/PATH
         regular file: 200/206 with X-Repo-Commit, ETag "<git oid>", Accept-Ranges;
         LFS file: 302 to CDN/repos/<sha256>?X-Amz-Signature=fake with X-Linked-Etag, X-Linked-Size.
    REV may be percent-encoded (refs%2Fpr%2F1) or not. Errors carry X-Error-Code, X-Error-Message
    and {"error": ...}: RepoNotFound (404; 401 for a private repo without an allowed token),
    GatedRepo (401 without a token, 403 with a token not allowed; only file downloads are
    gated, as on the Hub), RevisionNotFound (404), EntryNotFound (404). Auth: `Bearer <token>`.
CDN origin:
    HEAD|GET /repos/<sha256>   bytes, single Range (a-b, a-, -n; 206 / 416); 400 for any request
                               carrying Authorization, as S3 does for a presigned URL.

Xet (with --xet DIR, a folder as tests/support/fixtures/xet/cas: index.json mapping a file's
sha256 to its {"xetHash", "size"}, reconstructions/<xetHash>.json, xorbs/<xorb hash>): an LFS file
whose sha256 the index holds is stored with Xet, unless its repo's `_hub.json` says "xet": false.
    tree API entries carry "xetHash"; the 302 of `resolve` carries X-Xet-Hash and
    `Link: <{endpoint}/api/{type}s/ORG/NAME/xet-read-token/{commit}>; rel="xet-auth"`, as the Hub's.
    GET /api/{models|datasets|spaces}/ORG/NAME/xet-read-token/REV   (Hub origin; access as for
         the repo's files; 404 without Xet) {"casUrl": CDN, "accessToken": XET_TOKEN, "exp": now +
         1 h}, also as the headers X-Xet-Cas-Url, X-Xet-Access-Token, X-Xet-Token-Expiration.
    GET /v1/reconstructions/<xetHash>   (CDN origin, playing the CAS) the recorded reconstruction,
         each fetch_info URL made CDN/xorbs/<xorb>?X-Amz-Signature=fake (byte ranges as recorded);
         401 without `Authorization: Bearer XET_TOKEN`; 404 for an unknown hash. /v2/: 404 (clients
         then use v1, as xet-core does).
    HEAD|GET /xorbs/<xorb hash>   (CDN origin) the xorb's bytes, as /repos/ serves a blob; its
         faults match the path "xorbs/<xorb hash>".
    With --xet-cas-url URL the token route gives URL as casUrl: a live Xet storage (xet-core's
    local CAS server holding the files of the index) instead of the recorded one.

Admin API on the Hub origin (not logged):
    GET /_admin/health; GET|DELETE /_admin/log; GET|POST|DELETE /_admin/faults;
    GET /_admin/held ({"held": N}: bodies a "hold" fault holds now); POST /_admin/release
    (every body held so far goes on).
    A fault (POST JSON) is {"path": glob,
    "kind": "status"|"redirect"|"cut"|"wrong-bytes"|"slow"|"hold"|"ignore-range",
    "on": "resolve"|"cdn"|"any"|"api" (default "any"), "times": N (default 1),
    "status": 429|500|503 (default 503), "retry_after": s, "ratelimit": bool,
    "after_bytes": N (default 0), "delay": s, "location": URL}.
    Faults hit GET requests for file bodies (resolve and CDN), matched by repo file path; with
    "on": "api" a status or redirect fault matches the URL path of a GET /api/ request instead.
    Kinds:
      status       answer `status` (+ Retry-After, + `RateLimit: "api";r=0;t=<retry_after>`)
      redirect     answer 302 with `Location: <location>` (any URL, e.g. file:///etc/passwd)
      cut          send the headers and `after_bytes` bytes of the body, then close the connection
      wrong-bytes  flip (xor 0xff) the body byte at offset `after_bytes`
      slow         spread the body over `delay` seconds in total (20 slices)
      hold         send the headers and `after_bytes` bytes of the body, then wait for
                   POST /_admin/release before the rest (a download caught in the middle, for
                   as long as a test needs, without timing)
      ignore-range send the whole file with 200, whatever the Range header asks (a server or
                   a proxy that does not serve byte ranges)
    Offsets count from the first byte of the response body (so from the Range start).
    The log is a list of {"origin", "method", "path", "query", "range", "auth", "status",
    "bytes_sent", "started", "ended"}, the last two from the system's monotonic clock (Python's
    time.monotonic()), in seconds.
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import glob
import hashlib
import http.server
import ipaddress
import itertools
import json
import os
import re
import signal
import socket
import ssl
import stat
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

LFS_EXTENSIONS = frozenset(
    "safetensors bin pt pth onnx gguf h5 msgpack ckpt pkl npz model ot tflite zip tar gz".split()
)
DEFAULT_TOKEN = "hf_fake_token"
XET_TOKEN = "xet_fake_read_token"  # the Xet read token the token route gives
HEX64_RE = re.compile(r"[0-9a-f]{64}")
DEFAULT_LFS_THRESHOLD = 10 * 1024 * 1024
FIXED_DATE = "2024-01-01T00:00:00.000Z"
REPO_TYPE_BY_PLURAL = {"models": "model", "datasets": "dataset", "spaces": "space"}
RESOLVE_PREFIXES = {"datasets": "dataset", "spaces": "space"}
COMMIT_RE = re.compile(r"[0-9a-f]{40}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
SLOW_SLICES = 20


# ---------------------------------------------------------------------------------------------
# Hashing


def git_object_id(kind: str, data: bytes) -> str:
    return hashlib.sha1(b"%s %d\0" % (kind.encode(), len(data)) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


class HashCache:
    """File digests keyed by (path, mtime, size, kind): a big file is hashed once per server life."""

    def __init__(self) -> None:
        self._digests: dict[tuple, str] = {}
        self._lock = threading.Lock()

    def digest(self, path: str, st: os.stat_result, kind: str) -> str:
        """kind "git" gives the git blob sha1, "sha256" the plain sha256."""
        key = (path, st.st_mtime_ns, st.st_size, kind)
        with self._lock:
            if key in self._digests:
                return self._digests[key]
        seed = hashlib.sha1(b"blob %d\0" % st.st_size) if kind == "git" else hashlib.sha256()
        with open(path, "rb") as f:
            value = hashlib.file_digest(f, seed.copy).hexdigest()
        with self._lock:
            self._digests[key] = value
        return value


# ---------------------------------------------------------------------------------------------
# Repo model


@dataclass(frozen=True)
class RepoFile:
    path: str  # inside the repo, "/"-separated
    abspath: str
    size: int
    git_oid: str  # oid in the git tree: of the content, or of the LFS pointer
    sha256: str | None  # set for LFS files only
    xet_hash: str | None = None  # set for LFS files stored with Xet (--xet)

    @property
    def etag(self) -> str:
        return self.sha256 or self.git_oid

    def tree_entry(self) -> dict:
        entry = {"type": "file", "oid": self.git_oid, "size": self.size, "path": self.path}
        if self.sha256:
            pointer_size = len(lfs_pointer(self.sha256, self.size))
            entry["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": pointer_size}
        if self.xet_hash:
            entry["xetHash"] = self.xet_hash
        return entry

    def sibling(self, blobs: bool) -> dict:
        sibling = {"rfilename": self.path}
        if blobs:
            sibling.update(size=self.size, blobId=self.git_oid)
            if self.sha256:
                pointer_size = len(lfs_pointer(self.sha256, self.size))
                sibling["lfs"] = {"size": self.size, "sha256": self.sha256, "pointerSize": pointer_size}
        return sibling


@dataclass(frozen=True)
class Snapshot:
    """The files of one revision, with git tree oids for its folders and its commit sha."""

    commit: str
    files: dict[str, RepoFile]
    dirs: dict[str, str]  # folder path -> git tree oid

    def listing(self, folder: str, recursive: bool) -> list[dict] | None:
        """Tree API entries under `folder` ("" for the root), depth first; None if no such folder."""
        if folder and folder not in self.dirs:
            return None
        prefix = folder + "/" if folder else ""
        entries = [{"type": "directory", "oid": oid, "size": 0, "path": p} for p, oid in self.dirs.items()]
        entries += [f.tree_entry() for f in self.files.values()]
        entries = [
            e
            for e in entries
            if e["path"].startswith(prefix) and (recursive or "/" not in e["path"][len(prefix) :])
        ]
        return sorted(entries, key=lambda e: e["path"].split("/"))


def git_trees(files: list[RepoFile]) -> tuple[str, dict[str, str]]:
    """Git tree oids: (root oid, {folder path: oid})."""
    root: dict = {}
    for f in files:
        *parents, name = f.path.split("/")
        node = root
        for part in parents:
            node = node.setdefault(part, {})
        node[name] = f
    dirs: dict[str, str] = {}

    def tree_oid(node: dict, path: str) -> str:
        entries = []
        for name, child in node.items():
            if isinstance(child, dict):
                oid = tree_oid(child, f"{path}/{name}" if path else name)
                entries.append((name + "/", b"40000", name, oid))
            else:
                entries.append((name, b"100644", name, child.git_oid))
        entries.sort(key=lambda e: e[0].encode())
        data = b"".join(m + b" " + n.encode() + b"\0" + bytes.fromhex(o) for _, m, n, o in entries)
        oid = git_object_id("tree", data)
        if path:
            dirs[path] = oid
        return oid

    root_oid = tree_oid(root, "")
    return root_oid, dict(sorted(dirs.items()))


def commit_sha(repo_key: str, root_tree: str) -> str:
    who = "fake-hub <fake-hub@localhost> 0 +0000"
    text = f"tree {root_tree}\nauthor {who}\ncommitter {who}\n\n{repo_key}\n"
    return git_object_id("commit", text.encode())


def walk_regular_files(folder: str, skip: frozenset[str]) -> list[tuple[str, str, os.stat_result]]:
    """(repo path, absolute path, stat) of the regular files under folder, sorted by repo path."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in filenames:
            abspath = os.path.join(dirpath, name)
            rel = os.path.relpath(abspath, folder).replace(os.sep, "/")
            st = os.lstat(abspath)
            if name.endswith(".pyc") or rel in skip or not stat.S_ISREG(st.st_mode):
                continue
            found.append((rel, abspath, st))
    return sorted(found)


@dataclass(frozen=True)
class Repo:
    type: str  # model | dataset | space
    id: str  # ORG/NAME
    folder: str
    private: bool
    gated: bool
    tokens: tuple[str, ...]
    revisions: dict[str, str]  # revision name -> folder of its files
    xet: bool = True  # its LFS files the --xet index holds are stored with Xet
    history: tuple[str, ...] = ()  # folders of commits no revision names, served by sha
    extra_tree_entries: tuple[dict, ...] = ()  # listed as they are, to test hostile listings
    tree_next_link: str | None = None  # the next-page link of the last page, to test broken ones

    @classmethod
    def load(cls, repo_type: str, repo_id: str, folder: str) -> Repo:
        settings_path = os.path.join(folder, "_hub.json")
        settings = {}
        if os.path.isfile(settings_path):
            with open(settings_path, encoding="utf-8") as f:
                settings = json.load(f)
        revisions = {
            name: os.path.normpath(os.path.join(folder, sub))
            for name, sub in settings.get("revisions", {"main": "."}).items()
        }
        history = tuple(os.path.normpath(os.path.join(folder, sub)) for sub in settings.get("history", []))
        for name, rev_folder in [*revisions.items(), *(("history", h) for h in history)]:
            if not os.path.isdir(rev_folder):
                raise HubError(500, f"fake-hub: folder of revision {name!r} missing: {rev_folder}")
        return cls(
            type=repo_type,
            id=repo_id,
            folder=folder,
            private=bool(settings.get("private", False)),
            gated=bool(settings.get("gated", False)),
            tokens=tuple(settings.get("tokens", [DEFAULT_TOKEN])),
            revisions=revisions,
            xet=bool(settings.get("xet", True)),
            history=history,
            extra_tree_entries=tuple(settings.get("extra_tree_entries", [])),
            tree_next_link=settings.get("tree_next_link"),
        )

    @property
    def key(self) -> str:
        return f"{self.type}s/{self.id}"

    def names_revision(self, rev: str) -> bool:
        return rev in self.revisions or COMMIT_RE.fullmatch(rev) is not None

    def commit_folders(self) -> list[str]:
        """Every folder whose commit is served: the revisions', then the history's."""
        return [*self.revisions.values(), *self.history]


class XetCas:
    """Recorded Xet storage (--xet): which files it holds, their reconstructions, the xorbs."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        with open(os.path.join(folder, "index.json"), encoding="utf-8") as f:
            self.index: dict[str, dict] = json.load(f)

    def xet_hash(self, sha256: str) -> str | None:
        entry = self.index.get(sha256)
        return entry["xetHash"] if entry else None

    def reconstruction(self, xet_hash: str, cdn: str) -> dict | None:
        """The recorded answer for `xet_hash`, its URLs made those of the CDN's /xorbs/."""
        path = os.path.join(self.folder, "reconstructions", f"{xet_hash}.json")
        if not HEX64_RE.fullmatch(xet_hash) or not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8") as f:
            answer = json.load(f)
        for xorb, fetches in answer["fetch_info"].items():
            for fetch in fetches:
                fetch["url"] = f"{cdn}/xorbs/{xorb}?X-Amz-Signature=fake"
        return answer

    def xorb(self, xorb_hash: str) -> str | None:
        path = os.path.join(self.folder, "xorbs", xorb_hash)
        return path if HEX64_RE.fullmatch(xorb_hash) and os.path.isfile(path) else None


class Hub:
    """Finds repos on disk and describes their revisions; knows which blob a CDN sha256 names."""

    def __init__(self, root: str, extra_repos: dict, page_size: int, lfs_threshold: int,
                 xet: XetCas | None = None) -> None:
        self.root = root
        self.xet = xet
        self.extra_repos = extra_repos  # (type, id) -> folder
        self.page_size = page_size
        self.lfs_threshold = lfs_threshold
        self.hashes = HashCache()
        self.pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
        self._blobs: dict[str, tuple[str, set[str]]] = {}  # sha256 -> (abspath, repo paths)
        self._blobs_lock = threading.Lock()

    def find_repo(self, repo_type: str, repo_id: str) -> Repo | None:
        folder = self.extra_repos.get((repo_type, repo_id))
        if folder is None:
            folder = os.path.join(self.root, repo_type + "s", *repo_id.split("/"))
        return Repo.load(repo_type, repo_id, folder) if os.path.isdir(folder) else None

    def all_repos(self) -> list[Repo]:
        keys = set(self.extra_repos)
        for plural, repo_type in REPO_TYPE_BY_PLURAL.items():
            for repo_dir in sorted(glob.glob(os.path.join(glob.escape(self.root), plural, "*", "*"))):
                if os.path.isdir(repo_dir):
                    keys.add((repo_type, "/".join(repo_dir.split(os.sep)[-2:])))
        return [repo for key in sorted(keys) if (repo := self.find_repo(*key)) is not None]

    def snapshot(self, repo: Repo, rev: str) -> Snapshot | None:
        """The revision named `rev` (branch, tag, ref or commit sha), or None."""
        if rev in repo.revisions:
            return self._snapshot_of_folder(repo, repo.revisions[rev])
        if COMMIT_RE.fullmatch(rev):
            for folder in repo.commit_folders():
                snap = self._snapshot_of_folder(repo, folder)
                if snap.commit == rev:
                    return snap
        return None

    def _snapshot_of_folder(self, repo: Repo, folder: str) -> Snapshot:
        skip = frozenset({"_hub.json"}) if folder == os.path.normpath(repo.folder) else frozenset()
        found = walk_regular_files(folder, skip)
        files = list(self.pool.map(lambda item: self._describe(*item, xet=repo.xet), found))
        root_tree, dirs = git_trees(files)
        return Snapshot(commit_sha(repo.key, root_tree), {f.path: f for f in files}, dirs)

    def _describe(self, path: str, abspath: str, st: os.stat_result, xet: bool = True) -> RepoFile:
        is_lfs = path.rsplit(".", 1)[-1] in LFS_EXTENSIONS or st.st_size >= self.lfs_threshold
        if not is_lfs:
            return RepoFile(path, abspath, st.st_size, self.hashes.digest(abspath, st, "git"), None)
        sha256 = self.hashes.digest(abspath, st, "sha256")
        with self._blobs_lock:
            paths = self._blobs.get(sha256, (abspath, set()))[1]
            paths.add(path)
            self._blobs[sha256] = (abspath, paths)  # the latest file of these bytes: still there
        xet_hash = self.xet.xet_hash(sha256) if xet and self.xet else None
        pointer = git_object_id("blob", lfs_pointer(sha256, st.st_size))
        return RepoFile(path, abspath, st.st_size, pointer, sha256, xet_hash)

    def warm_up(self) -> None:
        """Hash every file of every revision now, so first requests are fast."""
        for repo in self.all_repos():
            for folder in repo.commit_folders():
                self._snapshot_of_folder(repo, folder)

    def find_blob(self, sha256: str) -> tuple[str, list[str]] | None:
        """(absolute path, repo paths) of the LFS file with this sha256."""
        for attempt in range(2):
            with self._blobs_lock:
                abspath, paths = self._blobs.get(sha256, ("", set()))
                if os.path.isfile(abspath):
                    return abspath, sorted(paths)
            if attempt == 0:
                # A repo written after start-up, a file moved since (a test moved a branch), or
                # the server restarted.
                self.warm_up()
        return None


# ---------------------------------------------------------------------------------------------
# Faults and request log

FAULT_KINDS = ("status", "redirect", "cut", "wrong-bytes", "slow", "hold", "ignore-range")
ANSWER_FAULT_KINDS = ("status", "redirect")
FAULT_TARGETS = ("resolve", "cdn", "any", "api")
BODY_FAULT_KINDS = ("cut", "wrong-bytes", "slow", "hold")


@dataclass
class Fault:
    id: int
    path: str
    kind: str
    on: str = "any"
    times: int = 1
    status: int = 503
    retry_after: int | None = None
    ratelimit: bool = False
    after_bytes: int = 0
    delay: float = 0.0
    location: str | None = None

    @classmethod
    def from_json(cls, fault_id: int, data: dict) -> Fault:
        if not isinstance(data, dict):
            raise ValueError("a fault is a JSON object")
        unknown = set(data) - {f for f in cls.__dataclass_fields__ if f != "id"}
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        fault = cls(id=fault_id, **data)
        if not isinstance(fault.path, str):
            raise ValueError("path must be a string (a glob)")
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {FAULT_KINDS}")
        if fault.on not in FAULT_TARGETS:
            raise ValueError(f"on must be one of {FAULT_TARGETS}")
        if fault.on == "api" and fault.kind not in ANSWER_FAULT_KINDS:
            raise ValueError(f'only {ANSWER_FAULT_KINDS} faults can target "api"')
        if (fault.kind == "redirect") != (fault.location is not None):
            raise ValueError('a "redirect" fault, and only it, has a "location"')
        if fault.times < 1 or fault.after_bytes < 0 or fault.delay < 0:
            raise ValueError("times must be >= 1, after_bytes and delay >= 0")
        return fault

    def matches(self, target: str, paths: list[str], kinds: tuple[str, ...]) -> bool:
        targets = ("api",) if target == "api" else (target, "any")
        if self.kind not in kinds or self.on not in targets:
            return False
        return any(fnmatch.fnmatchcase(p, self.path) for p in paths)


class FaultTable:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._next_id = 1
        self._lock = threading.Lock()

    def add(self, data: dict) -> Fault:
        with self._lock:
            fault = Fault.from_json(self._next_id, data)
            self._next_id += 1
            self._faults.append(fault)
            return fault

    def clear(self) -> int:
        with self._lock:
            count, self._faults = len(self._faults), []
            return count

    def list(self) -> list[dict]:
        with self._lock:
            return [asdict(f) for f in self._faults]

    def take(self, target: str, paths: list[str], kinds: tuple[str, ...]) -> Fault | None:
        """The first fault matching this request, counting one hit against it."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(target, paths, kinds):
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None


class RequestLog:
    def __init__(self) -> None:
        self._entries: list[dict] = []
        self._lock = threading.Lock()

    def append(self, entry: dict) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[dict]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class Link:
    """A rate of `bytes_per_s` that bodies keep to: a link every body shares, or one body's
    connection; None: loopback speed."""

    SLICE = 256 * 1024

    def __init__(self, bytes_per_s: float | None) -> None:
        self.bytes_per_s = bytes_per_s
        self._free_at = 0.0
        self._lock = threading.Lock()

    def wait_for_room(self, count: int) -> None:
        """Waits until `count` more bytes fit in the link's rate."""
        if self.bytes_per_s is None:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._free_at)
            self._free_at = start + count / self.bytes_per_s
        if start > now:
            time.sleep(start - now)


class Holds:
    """Bodies that "hold" faults keep waiting until the next release."""

    def __init__(self) -> None:
        self._released = 0  # releases so far
        self._held = 0
        self._changed = threading.Condition()

    def hold(self) -> None:
        with self._changed:
            release = self._released
            self._held += 1
            self._changed.wait_for(lambda: self._released != release)
            self._held -= 1

    def held(self) -> int:
        with self._changed:
            return self._held

    def release(self) -> None:
        with self._changed:
            self._released += 1
            self._changed.notify_all()


@dataclass
class App:
    """What both origins share."""

    hub: Hub
    faults: FaultTable
    log: RequestLog
    link: Link = field(default_factory=lambda: Link(None))
    connection_bytes_per_s: float | None = None
    endpoint: str = ""
    cdn: str = ""
    xet_cas_url: str | None = None  # --xet-cas-url
    holds: Holds = field(default_factory=Holds)
    # Numbers the next-page links that ask for one ("{n}" in "tree_next_link").
    next_link_numbers: Iterator[int] = field(default_factory=itertools.count)


# ---------------------------------------------------------------------------------------------
# HTTP


class HubError(Exception):
    """An error answered as the Hub does: X-Error-Code, X-Error-Message, {"error": message}."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers = headers or {}

    def render(self) -> tuple[int, dict, bytes, str]:
        headers = dict(self.headers, **{"X-Error-Message": self.message})
        if self.code:
            headers["X-Error-Code"] = self.code
        return self.status, headers, json.dumps({"error": self.message}).encode(), "application/json"


class S3Error(HubError):
    """An error answered as S3 does, in XML."""

    def render(self) -> tuple[int, dict, bytes, str]:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{self.code}</Code><Message>{self.message}</Message></Error>\n"
        )
        return self.status, self.headers, body.encode(), "application/xml"


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, length) for a single `bytes=` range, None to send the whole file."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header or "")
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    else:
        start, end = max(size - int(last), 0), size - 1
    if start >= size or end < start:
        raise S3Error(416, "The requested range is not satisfiable", "InvalidRange",
                      {"Content-Range": f"bytes */{size}"})
    return start, end - start + 1


class BaseHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-hub"
    origin = ""

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()  # here, in the request's thread, not in accept()
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args) -> None:  # the request log replaces the access log
        pass

    @property
    def app(self) -> App:
        return self.server.app

    def do_GET(self) -> None:
        self.dispatch()

    do_HEAD = do_POST = do_DELETE = do_GET

    def dispatch(self) -> None:
        url = urlsplit(self.path)
        self.status, self.bytes_sent = 0, 0
        self.started = time.monotonic()
        self.body_link = Link(self.app.connection_bytes_per_s)
        self.request_body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            self.route(url.path, [unquote(s) for s in url.path.split("/")[1:]], dict(parse_qsl(url.query)))
        except HubError as error:
            self.respond(*error.render())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            if not url.path.startswith("/_admin/"):
                self.app.log.append({
                    "origin": self.origin,
                    "method": self.command,
                    "path": url.path,
                    "query": url.query,
                    "range": self.headers.get("Range"),
                    "auth": "Authorization" in self.headers,
                    "status": self.status,
                    "bytes_sent": self.bytes_sent,
                    "started": self.started,
                    "ended": time.monotonic(),
                })

    def route(self, raw_path: str, segments: list[str], query: dict) -> None:
        raise NotImplementedError

    # -- responses

    def send_head(self, status: int, headers: dict, length: int, content_type: str) -> None:
        self.status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def respond(self, status: int, headers: dict, body: bytes, content_type: str) -> None:
        self.send_head(status, headers, len(body), content_type)
        if self.command != "HEAD":
            self.wfile.write(body)
            self.bytes_sent = len(body)

    def respond_json(self, value, status: int = 200, headers: dict | None = None) -> None:
        self.respond(status, headers or {}, json.dumps(value).encode(), "application/json")

    @staticmethod
    def fault_error(fault: Fault) -> HubError:
        """The answer of a "status" or "redirect" fault."""
        if fault.kind == "redirect":
            return HubError(302, f"fake-hub: injected fault #{fault.id}", headers={"Location": fault.location})
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        if fault.ratelimit:
            headers["RateLimit"] = f'"api";r=0;t={fault.retry_after or 0}'
            headers["RateLimit-Policy"] = '"fixed window";"api";q=500;w=300'
        return HubError(fault.status, f"fake-hub: injected fault #{fault.id}", headers=headers)

    def serve_file(self, abspath: str, headers: dict, target: str, paths: list[str]) -> None:
        """Send a file with Range support, through sendfile, applying any body fault."""
        try:
            f = open(abspath, "rb")
        except FileNotFoundError:
            raise HubError(404, f"fake-hub: file vanished: {abspath}", "EntryNotFound") from None
        with f:
            size = os.fstat(f.fileno()).st_size
            ignores_range = self.command == "GET" and self.app.faults.take(target, paths, ("ignore-range",))
            byte_range = None if ignores_range else parse_range(self.headers.get("Range"), size)
            start, length = byte_range or (0, size)
            headers = dict(headers, **{"Accept-Ranges": "bytes"})
            if byte_range:
                headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
            fault = self.app.faults.take(target, paths, BODY_FAULT_KINDS) if self.command == "GET" else None
            self.send_head(206 if byte_range else 200, headers, length, "application/octet-stream")
            if self.command == "GET":
                self.send_body(f, start, length, fault)

    def send_body(self, f, start: int, length: int, fault: Fault | None) -> None:
        if fault is None:
            self.send_range(f, start, length)
        elif fault.kind == "cut":
            self.send_range(f, start, min(fault.after_bytes, length))
            self.close_connection = True
        elif fault.kind == "wrong-bytes" and fault.after_bytes < length:
            offset = fault.after_bytes
            self.send_range(f, start, offset)
            f.seek(start + offset)
            self.wfile.write(bytes([f.read(1)[0] ^ 0xFF]))
            self.bytes_sent += 1
            self.send_range(f, start + offset + 1, length - offset - 1)
        elif fault.kind == "hold":
            sent = min(fault.after_bytes, length)
            self.send_range(f, start, sent)
            self.wfile.flush()
            self.app.holds.hold()
            self.send_range(f, start + sent, length - sent)
        elif fault.kind == "slow":
            for i in range(SLOW_SLICES):
                time.sleep(fault.delay / SLOW_SLICES)
                begin, end = length * i // SLOW_SLICES, length * (i + 1) // SLOW_SLICES
                self.send_range(f, start + begin, end - begin)
        else:  # wrong-bytes past the end of this body: nothing to flip
            self.send_range(f, start, length)

    def send_range(self, f, offset: int, count: int) -> None:
        links = [link for link in (self.app.link, self.body_link) if link.bytes_per_s is not None]
        if not links:
            if count > 0:
                self.bytes_sent += self.connection.sendfile(f, offset, count)
            return
        for begin in range(offset, offset + count, Link.SLICE):
            size = min(Link.SLICE, offset + count - begin)
            for link in links:
                link.wait_for_room(size)
            self.bytes_sent += self.connection.sendfile(f, begin, size)


class HubHandler(BaseHandler):
    origin = "hub"

    def route(self, raw_path: str, segments: list[str], query: dict) -> None:
        if raw_path.startswith("/_admin/"):
            self.route_admin(segments[1:])
        elif self.command not in ("GET", "HEAD"):
            raise HubError(405, "Method not allowed")
        elif segments[0] == "api":
            self.route_api(raw_path, segments[1:], query)
        else:
            self.route_resolve(segments)

    # -- admin

    def route_admin(self, segments: list[str]) -> None:
        action = (self.command, "/".join(segments))
        app = self.app
        if action == ("GET", "health"):
            self.respond_json({"ok": True})
        elif action == ("GET", "log"):
            self.respond_json(app.log.entries())
        elif action == ("DELETE", "log"):
            app.log.clear()
            self.respond_json({"ok": True})
        elif action == ("GET", "held"):
            self.respond_json({"held": app.holds.held()})
        elif action == ("POST", "release"):
            app.holds.release()
            self.respond_json({"ok": True})
        elif action == ("GET", "faults"):
            self.respond_json(app.faults.list())
        elif action == ("DELETE", "faults"):
            self.respond_json({"cleared": app.faults.clear()})
        elif action == ("POST", "faults"):
            try:
                fault = app.faults.add(json.loads(self.request_body or b"null"))
            except (ValueError, TypeError) as error:
                raise HubError(400, f"bad fault: {error}") from None
            self.respond_json(asdict(fault))
        else:
            raise HubError(404, f"no admin action {action[0]} /_admin/{action[1]}")

    # -- repos and access

    def find_repo(self, repo_type: str, org: str, name: str) -> Repo:
        repo = None
        if NAME_RE.fullmatch(org) and NAME_RE.fullmatch(name):
            repo = self.app.hub.find_repo(repo_type, f"{org}/{name}")
        if repo is None or (repo.private and self.token() not in repo.tokens):
            status = 401 if repo is not None else 404
            raise HubError(status, "Repository not found", "RepoNotFound")
        return repo

    def token(self) -> str | None:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None

    def check_gate(self, repo: Repo) -> None:
        token = self.token()
        if not repo.gated or token in repo.tokens:
            return
        if token is None:
            message = (
                f"Access to {repo.type} {repo.id} is restricted. You must have access to it and be "
                "authenticated to access it. Please log in."
            )
            raise HubError(401, message, "GatedRepo")
        message = (
            f"Access to {repo.type} {repo.id} is restricted and you are not in the authorized list. "
            f"Visit https://huggingface.co/{repo.id} to ask for access."
        )
        raise HubError(403, message, "GatedRepo")

    def snapshot(self, repo: Repo, rev: str) -> Snapshot:
        snap = self.app.hub.snapshot(repo, rev)
        if snap is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return snap

    @staticmethod
    def split_revision(repo: Repo, segments: list[str], min_rest: int) -> tuple[str, list[str]]:
        """Revision and the segments after it; a revision sent unencoded may span segments."""
        for cut in range(len(segments) - min_rest, 0, -1):
            rev = "/".join(segments[:cut])
            if repo.names_revision(rev):
                return rev, segments[cut:]
        if len(segments) <= min_rest:
            raise HubError(404, "Sorry, we can't find the page you are looking for.")
        return segments[0], segments[1:]

    # -- API

    def route_api(self, raw_path: str, segments: list[str], query: dict) -> None:
        fault = self.app.faults.take("api", [raw_path, unquote(raw_path)], ANSWER_FAULT_KINDS)
        if fault:
            raise self.fault_error(fault)
        if len(segments) < 3 or segments[0] not in REPO_TYPE_BY_PLURAL:
            raise HubError(404, "Sorry, we can't find the page you are looking for.")
        repo = self.find_repo(REPO_TYPE_BY_PLURAL[segments[0]], segments[1], segments[2])
        rest = segments[3:]
        if not rest:
            self.api_repo_info(repo, "main", query)
        elif rest[0] == "revision" and len(rest) > 1:
            self.api_repo_info(repo, "/".join(rest[1:]), query)
        elif rest[0] == "tree" and len(rest) > 1:
            rev, path = self.split_revision(repo, rest[1:], 0)
            self.api_tree(raw_path, repo, rev, "/".join(path), query)
        elif rest[0] == "xet-read-token" and len(rest) > 1:
            self.api_xet_read_token(repo, unquote("/".join(rest[1:])))
        else:
            raise HubError(404, "Sorry, we can't find the page you are looking for.")

    def api_repo_info(self, repo: Repo, rev: str, query: dict) -> None:
        snap = self.snapshot(repo, rev)
        blobs = query.get("blobs", "").lower() in ("true", "1")
        info = {
            "_id": hashlib.sha1(repo.key.encode()).hexdigest()[:24],
            "id": repo.id,
            "author": repo.id.split("/")[0],
            "sha": snap.commit,
            "private": repo.private,
            "gated": "auto" if repo.gated else False,
            "disabled": False,
            "lastModified": FIXED_DATE,
            "createdAt": FIXED_DATE,
            "tags": [],
            "downloads": 0,
            "likes": 0,
            "siblings": [f.sibling(blobs) for f in snap.files.values()],
        }
        if repo.type == "model":
            info["modelId"] = repo.id
        expand = [v for k, v in parse_qsl(urlsplit(self.path).query) if k in ("expand", "expand[]")]
        if expand:
            info = {k: v for k, v in info.items() if k in ("_id", "id", *expand)}
        self.respond_json(info)

    def api_tree(self, raw_path: str, repo: Repo, rev: str, folder: str, query: dict) -> None:
        snap = self.snapshot(repo, rev)
        recursive = query.get("recursive", "").lower() in ("true", "1")
        entries = snap.listing(folder, recursive)
        if entries is None:
            raise HubError(404, f"Entry not found: {folder} in revision {rev}", "EntryNotFound")
        if not folder:
            entries += repo.extra_tree_entries
        start = self.decode_cursor(query.get("cursor"))
        end = start + self.app.hub.page_size
        headers = {}
        if end < len(entries):
            params = dict(query, cursor=base64.urlsafe_b64encode(str(end).encode()).decode())
            headers["Link"] = f'<{self.app.endpoint}{raw_path}?{urlencode(params)}>; rel="next"'
        elif repo.tree_next_link is not None:
            link = repo.tree_next_link.replace("{n}", str(next(self.app.next_link_numbers)))
            headers["Link"] = f'<{link}>; rel="next"'
        self.respond_json(entries[start:end], headers=headers)

    def api_xet_read_token(self, repo: Repo, rev: str) -> None:
        if self.app.hub.xet is None or not repo.xet:
            raise HubError(404, "Sorry, we can't find the page you are looking for.")
        self.check_gate(repo)
        self.snapshot(repo, rev)
        exp = int(time.time()) + 3600
        cas = self.app.xet_cas_url or self.app.cdn
        headers = {"X-Xet-Cas-Url": cas, "X-Xet-Access-Token": XET_TOKEN, "X-Xet-Token-Expiration": str(exp)}
        self.respond_json({"casUrl": cas, "accessToken": XET_TOKEN, "exp": exp}, headers=headers)

    @staticmethod
    def decode_cursor(cursor: str | None) -> int:
        if cursor is None:
            return 0
        try:
            return int(base64.urlsafe_b64decode(cursor.encode()).decode())
        except ValueError:
            raise HubError(400, f"Invalid cursor: {cursor}") from None

    # -- resolve

    def route_resolve(self, segments: list[str]) -> None:
        repo_type = RESOLVE_PREFIXES.get(segments[0], "model")
        if repo_type != "model":
            segments = segments[1:]
        if len(segments) < 5 or segments[2] != "resolve":
            raise HubError(404, "Sorry, we can't find the page you are looking for.")
        repo = self.find_repo(repo_type, segments[0], segments[1])
        rev, rest = self.split_revision(repo, segments[3:], 1)
        path = "/".join(rest)
        fault = self.app.faults.take("resolve", [path], ANSWER_FAULT_KINDS) if self.command == "GET" else None
        if fault:
            raise self.fault_error(fault)
        self.check_gate(repo)
        snap = self.snapshot(repo, rev)
        file = snap.files.get(path)
        headers = {"X-Repo-Commit": snap.commit}
        if file is None:
            raise HubError(404, "Entry not found", "EntryNotFound", headers)
        headers["ETag"] = f'"{file.etag}"'
        if file.sha256 is None:
            self.serve_file(file.abspath, headers, "resolve", [path])
            return
        headers.update({
            "Location": f"{self.app.cdn}/repos/{file.sha256}?X-Amz-Signature=fake",
            "X-Linked-Etag": f'"{file.sha256}"',
            "X-Linked-Size": str(file.size),
        })
        if file.xet_hash:
            token_route = f"{self.app.endpoint}/api/{repo.type}s/{repo.id}/xet-read-token/{snap.commit}"
            headers.update({"X-Xet-Hash": file.xet_hash, "Link": f'<{token_route}>; rel="xet-auth"'})
        self.respond(302, headers, b"", "text/plain")


class CdnHandler(BaseHandler):
    origin = "cdn"

    def route(self, raw_path: str, segments: list[str], query: dict) -> None:
        if self.command not in ("GET", "HEAD"):
            raise S3Error(405, "The specified method is not allowed against this resource.", "MethodNotAllowed")
        if len(segments) == 3 and segments[1] == "reconstructions" and segments[0] in ("v1", "v2"):
            self.route_reconstruction(segments[0], segments[2])
            return
        if "Authorization" in self.headers:
            raise S3Error(
                400,
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
                "string parameter or the Authorization header should be specified. (fake-hub CDN: this is a "
                "presigned URL; a client must drop the Authorization header when a redirect changes host)",
                "InvalidArgument",
            )
        xet = self.app.hub.xet
        if len(segments) == 2 and segments[0] == "xorbs" and xet and (xorb := xet.xorb(segments[1])):
            paths = [f"xorbs/{segments[1]}"]
            fault = self.app.faults.take("cdn", paths, ANSWER_FAULT_KINDS) if self.command == "GET" else None
            if fault:
                raise self.fault_error(fault)
            self.serve_file(xorb, {"ETag": f'"{segments[1]}"'}, "cdn", paths)
            return
        blob = None
        if len(segments) == 2 and segments[0] == "repos" and SHA256_RE.fullmatch(segments[1]):
            blob = self.app.hub.find_blob(segments[1])
        if blob is None:
            raise S3Error(404, "The specified key does not exist.", "NoSuchKey")
        abspath, paths = blob
        fault = self.app.faults.take("cdn", paths, ANSWER_FAULT_KINDS) if self.command == "GET" else None
        if fault:
            raise self.fault_error(fault)
        self.serve_file(abspath, {"ETag": f'"{segments[1]}"'}, "cdn", paths)


    def route_reconstruction(self, version: str, xet_hash: str) -> None:
        """The CAS's reconstruction API (--xet), as xet-core's local CAS server recorded it."""
        xet = self.app.hub.xet
        if xet is None or version != "v1":
            raise HubError(404, "Not found")
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() != XET_TOKEN:
            raise HubError(401, "Unauthorized: a Xet read token is needed")
        fault = self.app.faults.take("cdn", [f"reconstructions/{xet_hash}"], ANSWER_FAULT_KINDS)
        if fault:
            raise self.fault_error(fault)
        answer = xet.reconstruction(xet_hash, self.app.cdn)
        if answer is None:
            raise HubError(404, f"No file {xet_hash}")
        self.respond_json(answer)


# ---------------------------------------------------------------------------------------------
# Main


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, host: str, port: int, handler: type, app: App, tls: ssl.SSLContext | None) -> None:
        super().__init__((host, port), handler)
        self.app = app
        self.scheme = "https" if tls else "http"
        if tls:
            self.socket = tls.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], (ssl.SSLError, ConnectionError)):
            super().handle_error(request, client_address)  # a client refusing the certificate is no news


def parse_repo_option(value: str) -> tuple[tuple[str, str], str]:
    match = re.fullmatch(r"(model|dataset|space):([^/=]+/[^/=]+)=(.+)", value)
    if not match:
        raise argparse.ArgumentTypeError(f"expected TYPE:ORG/NAME=PATH, got {value!r}")
    repo_type, repo_id, path = match.groups()
    if not os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"not a folder: {path}")
    return (repo_type, repo_id), os.path.abspath(path)


def loopback_host(value: str) -> str:
    if not ipaddress.ip_address(socket.gethostbyname(value)).is_loopback:
        raise argparse.ArgumentTypeError(f"{value} is not a loopback address; the fake hub serves loopback only")
    return value


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Fake Hugging Face Hub for tests (loopback only).")
    parser.add_argument("--root", required=True, help="folder with models/, datasets/, spaces/")
    parser.add_argument("--repo", action="append", type=parse_repo_option, default=[],
                        metavar="TYPE:ORG/NAME=PATH", help="serve PATH as a repo")
    parser.add_argument("--host", type=loopback_host, default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cdn-port", type=int, default=0)
    parser.add_argument("--page-size", type=int, default=50, help="tree API entries per page")
    parser.add_argument("--lfs-threshold", type=int, default=DEFAULT_LFS_THRESHOLD,
                        help="files this big or bigger are LFS files")
    parser.add_argument("--link-mib-per-s", type=float, default=None,
                        help="file bodies share a link of this many MiB/s (default: no limit)")
    parser.add_argument("--connection-mib-per-s", type=float, default=None,
                        help="each file body goes at most this many MiB/s (default: no limit)")
    parser.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM), with --tls-key")
    parser.add_argument("--tls-key", help="the key of --tls-cert (PEM)")
    parser.add_argument("--xet", help="serve the recorded Xet storage in this folder (see the docstring)")
    parser.add_argument("--xet-cas-url", help="with --xet: the Xet storage the token route names (default: the CDN's)")
    args = parser.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    if args.xet_cas_url and not args.xet:
        parser.error("--xet-cas-url goes with --xet")
    if args.page_size < 1:
        parser.error("--page-size must be at least 1")
    for option in ("link_mib_per_s", "connection_mib_per_s"):
        if getattr(args, option) is not None and getattr(args, option) <= 0:
            parser.error(f"--{option.replace('_', '-')} must be positive")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # threads inherit it; sigwait below gets them
    xet = XetCas(os.path.abspath(args.xet)) if args.xet else None
    hub = Hub(os.path.abspath(args.root), dict(args.repo), args.page_size, args.lfs_threshold, xet)
    link_rate = args.link_mib_per_s * (1 << 20) if args.link_mib_per_s else None
    connection_rate = args.connection_mib_per_s * (1 << 20) if args.connection_mib_per_s else None
    app = App(hub, FaultTable(), RequestLog(), Link(link_rate), connection_rate, xet_cas_url=args.xet_cas_url)
    tls = None
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    servers = [
        Server(args.host, args.port, HubHandler, app, tls),
        Server(args.host, args.cdn_port, CdnHandler, app, tls),
    ]
    app.endpoint, app.cdn = servers[0].url(), servers[1].url()
    hub.warm_up()
    for server in servers:
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    print(json.dumps({"endpoint": app.endpoint, "cdn": app.cdn, "pid": os.getpid()}), flush=True)
    signal.sigwait(stop_signals)
    for server in servers:
        server.shutdown()
        server.server_close()
    hub.pool.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
