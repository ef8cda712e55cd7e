"""Git over smart HTTP plus a real Git LFS server, as child processes of a test.

- git: Debian's `git http-backend` (CGI) behind Debian's `lighttpd`, on 127.0.0.1:<port>, repos
  at  http://127.0.0.1:<port>/git/<name>.git  (bare repos under <root>/repos).
- LFS: `giftless` (PyPI, venv .servers/giftless, run by gunicorn) with its local storage backend,
  batch API at  http://127.0.0.1:<port>/<name>.git/info/lfs/objects/batch.
  lighttpd also proxies  /git/<name>.git/info/lfs/...  to giftless, so Git LFS's default endpoint
  (<remote>/info/lfs) works too when a repo has no .lfsconfig.

Repos are made by Debian's `git` and `git-lfs`: LFS objects reach giftless through git-lfs's own
pre-push upload (batch API, then PUT, then verify), exactly as for a real remote.

auth=False   anyone may read and push (giftless: allow_anon:read_write).
auth=True    lighttpd asks HTTP Basic (git_user / git_password) for git; giftless asks a JWT
             (HS256, signed with lfs_secret) as `Authorization: Bearer <jwt>` or as HTTP Basic
             with user `_jwt` and the JWT as password. Both answer 401 otherwise.

    with GitLfsServer() as server:
        first = server.create_repo("org/tiny")                 # main -> first["sha"]
        second = server.commit("org/tiny", {"config.json": b"{}"})  # main moves; first still fetchable
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

try:
    from ._common import LOOPBACK, Process, ServerStartError, free_port, system_bin, venv_bin
except ImportError:
    from _common import LOOPBACK, Process, ServerStartError, free_port, system_bin, venv_bin

START_TIMEOUT = 60
BIG_FILE_SIZE = 1536 * 1024 + 3  # over 1 MiB
LFS_MEDIA_TYPE = "application/vnd.git-lfs+json"


def pseudo_random_bytes(size: int, seed: str) -> bytes:
    """Deterministic bytes (sha256 in counter mode)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def lfs_oid(content: bytes) -> str:
    """The LFS object id of `content` (sha256 hex)."""
    return hashlib.sha256(content).hexdigest()


def lfs_pointer(content: bytes) -> bytes:
    """The pointer file that git stores for an LFS-tracked `content`."""
    return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{lfs_oid(content)}\n"
            f"size {len(content)}\n").encode()


def make_jwt(secret: str, scopes=("obj:*",), lifetime: int = 86400, subject: str = "tester") -> str:
    """An HS256 JWT that giftless's JWT authenticator accepts when `secret` is its key."""
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    now = int(time.time())
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps({"sub": subject, "iat": now, "nbf": now - 5, "exp": now + lifetime,
                              "scopes": list(scopes)}).encode())
    signature = b64(hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}"


class GitError(RuntimeError):
    def __init__(self, argv, result: subprocess.CompletedProcess):
        self.result = result
        super().__init__(f"{' '.join(map(str, argv))} exited with {result.returncode}:\n"
                         f"{result.stdout}\n{result.stderr}")


class GitLfsServer:
    """lighttpd + git http-backend and giftless on loopback; a context manager."""

    def __init__(self, root: Path | None = None, auth: bool = False, start_timeout: float = START_TIMEOUT):
        self.auth = auth
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="git-lfs-server-")) if root is None else Path(root)
        for sub in ("repos", "lfs-storage", "www", "home", "work"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.git_bin = system_bin("git", "/usr/bin/git")
        self.git_lfs_bin = system_bin("git-lfs", "/usr/bin/git-lfs")
        self.http_backend = system_bin("git-http-backend", "/usr/lib/git-core/git-http-backend")
        self.lighttpd_bin = system_bin("lighttpd", "/usr/sbin/lighttpd")
        self.git_port = free_port()
        self.lfs_port = free_port()
        while self.lfs_port == self.git_port:
            self.lfs_port = free_port()
        self.git_base = f"http://{LOOPBACK}:{self.git_port}/git"
        self.lfs_base = f"http://{LOOPBACK}:{self.lfs_port}"
        self.git_user = "git-user" if auth else None
        self.git_password = "git-" + secrets.token_hex(8) if auth else None
        self.lfs_secret = "lfs-" + secrets.token_hex(16) if auth else None
        self.lfs_token = make_jwt(self.lfs_secret) if auth else None
        self.giftless: Process | None = None
        self.lighttpd: Process | None = None
        self.start_seconds: dict[str, float] = {}
        try:
            self._start_giftless(start_timeout)
            self._start_lighttpd(start_timeout)
            self._setup_git_home()
        except BaseException:
            self.stop()
            raise

    # -- processes -------------------------------------------------------------------------

    def _start_giftless(self, timeout: float) -> None:
        if self.auth:
            jwt = {"factory": "giftless.auth.jwt:factory",
                   "options": {"algorithm": "HS256", "private_key": self.lfs_secret}}
            providers = [jwt]
        else:
            jwt = {"factory": "giftless.auth.jwt:factory",
                   "options": {"algorithm": "HS256", "private_key": "pre-authorized-" + secrets.token_hex(8)}}
            providers = ["giftless.auth.allow_anon:read_write"]
        config = {
            "LEGACY_ENDPOINTS": False,
            "AUTH_PROVIDERS": providers,
            # Signs the short-lived tokens put in upload/download/verify actions.
            "PRE_AUTHORIZED_ACTION_PROVIDER": jwt,
            "TRANSFER_ADAPTERS": {
                "basic": {
                    "factory": "giftless.transfer.basic_streaming:factory",
                    "options": {
                        "storage_class": "giftless.storage.local_storage:LocalStorage",
                        "storage_options": {"path": str(self.root / "lfs-storage")},
                    },
                }
            },
        }
        config_path = self.root / "giftless.yaml"
        config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIFTLESS_")}
        env["GIFTLESS_CONFIG_FILE"] = str(config_path)
        argv = [venv_bin("giftless", "gunicorn"), "--bind", f"{LOOPBACK}:{self.lfs_port}",
                "--workers", "1", "--threads", "4", "--timeout", "120",
                "giftless.wsgi_entrypoint:app"]
        self.giftless = Process("giftless", argv, self.root / "giftless.log", env=env, cwd=self.root)
        self.start_seconds["giftless"] = self.giftless.wait_http(self.lfs_port, "/", timeout)

    def _start_lighttpd(self, timeout: float) -> None:
        root = self.root
        auth_block = ""
        if self.auth:
            (root / "lighttpd-users").write_text(f"{self.git_user}:{self.git_password}\n")
            auth_block = (
                '    auth.require = ( "" => ( "method" => "basic", "realm" => "git",'
                ' "require" => "valid-user" ) )\n'
            )
        conf = f"""
server.modules = ( "mod_auth", "mod_authn_file", "mod_alias", "mod_setenv", "mod_cgi", "mod_proxy", "mod_accesslog" )
server.document-root = "{root / 'www'}"
server.bind = "{LOOPBACK}"
server.port = {self.git_port}
server.errorlog = "{root / 'lighttpd-error.log'}"
accesslog.filename = "{root / 'lighttpd-access.log'}"
server.max-request-size = 0
auth.backend = "plain"
auth.backend.plain.userfile = "{root / 'lighttpd-users'}"
$HTTP["url"] =~ "^/.+\\.git/info/lfs(/|$)" {{
    # Git LFS's default endpoint <remote>/info/lfs, to giftless without the /git prefix (the
    # same objects as giftless's own URL); giftless checks its own credentials. Its hrefs
    # then name /<org>/<repo>.git/info/lfs/... on this origin, which lands here too.
    proxy.server = ( "" => ( ( "host" => "{LOOPBACK}", "port" => {self.lfs_port} ) ) )
    proxy.header = ( "map-urlpath" => ( "/git/" => "/" ) )
}}
else $HTTP["url"] =~ "^/git/" {{
{auth_block}    alias.url = ( "/git/" => "{self.http_backend}/" )
    cgi.assign = ( "" => "" )
    setenv.add-environment = ( "GIT_PROJECT_ROOT" => "{root / 'repos'}", "GIT_HTTP_EXPORT_ALL" => "1" )
}}
"""
        (root / "lighttpd-users").touch()
        conf_path = root / "lighttpd.conf"
        conf_path.write_text(conf)
        check = subprocess.run([self.lighttpd_bin, "-tt", "-f", conf_path], capture_output=True, text=True)
        if check.returncode != 0:
            raise ServerStartError(f"lighttpd rejects {conf_path}: {check.stderr}{check.stdout}")
        self.lighttpd = Process("lighttpd", [self.lighttpd_bin, "-D", "-f", conf_path],
                                root / "lighttpd.log", cwd=root)
        self.start_seconds["lighttpd"] = self.lighttpd.wait_http(self.git_port, "/", timeout)

    def _setup_git_home(self) -> None:
        home = self.root / "home"
        self.gitconfig = home / "gitconfig"
        self.gitconfig.touch()
        self.git("lfs", "install", "--skip-repo")  # filter.lfs.* into our global config
        self.git("config", "--global", "user.name", "nix-fetch-model tests")
        self.git("config", "--global", "user.email", "tests@invalid")
        self.git("config", "--global", "init.defaultBranch", "main")
        self.git("config", "--global", "lfs.locksverify", "false")  # giftless has no locks API
        if self.auth:
            store = home / "git-credentials"
            store.write_text(
                f"http://{self.git_user}:{self.git_password}@{LOOPBACK}%3a{self.git_port}\n"
                f"http://_jwt:{self.lfs_token}@{LOOPBACK}%3a{self.lfs_port}\n"
            )
            store.chmod(0o600)
            self.git("config", "--global", "credential.helper", f"store --file={store}")

    def stop(self) -> None:
        for process in (self.lighttpd, self.giftless):
            if process:
                process.stop()

    def __enter__(self) -> "GitLfsServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- git -------------------------------------------------------------------------------

    def env(self, extra: dict | None = None) -> dict:
        """The environment for git and git-lfs as this server's client: a global config of its
        own (LFS filters, and in auth mode a credential store with both credentials), no system
        config, no prompts."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "LFS_"))}
        env.update(
            GIT_CONFIG_GLOBAL=str(self.root / "home" / "gitconfig"),
            GIT_CONFIG_NOSYSTEM="1",
            GIT_TERMINAL_PROMPT="0",
            GIT_ASKPASS="/bin/false",
            SSH_ASKPASS="/bin/false",
            PATH=os.pathsep.join([str(Path(self.git_lfs_bin).parent), str(Path(self.git_bin).parent),
                                  env.get("PATH", "")]),
        )
        env.update(extra or {})
        return env

    def git(self, *args, cwd: Path | None = None, check: bool = True, env: dict | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        argv = [self.git_bin, *map(str, args)]
        result = subprocess.run(argv, cwd=cwd, env=self.env(env), capture_output=True, text=True,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise GitError(argv, result)
        return result

    def repo_url(self, name: str, credentials: bool = False) -> str:
        """The clone URL of repo `name` ("org/model"); with credentials=True (auth mode) the git
        user and password are in it."""
        if credentials and self.auth:
            return f"http://{self.git_user}:{self.git_password}@{LOOPBACK}:{self.git_port}/git/{name}.git"
        return f"{self.git_base}/{name}.git"

    def lfs_url(self, name: str, direct: bool = True) -> str:
        """The LFS endpoint of `name`: giftless itself (direct) or through lighttpd
        (<remote>/info/lfs, Git LFS's default)."""
        return f"{self.lfs_base}/{name}.git/info/lfs" if direct else f"{self.repo_url(name)}/info/lfs"

    @staticmethod
    def default_files(version: int = 1) -> dict[str, bytes]:
        """config.json (plain git), model.safetensors (> 1 MiB, LFS), a nested plain file."""
        return {
            "config.json": json.dumps({"model_type": "tiny", "version": version}).encode() + b"\n",
            "model.safetensors": pseudo_random_bytes(BIG_FILE_SIZE, f"git-lfs-weights-v{version}"),
            "tokenizer/nested/vocab.txt": f"[PAD]\n[UNK]\nv{version}\n".encode(),
        }

    def worktree(self, name: str) -> Path:
        return self.root / "work" / name

    def create_repo(self, name: str, files: dict[str, bytes] | None = None,
                    lfs_patterns=("*.safetensors",), lfsconfig: bool = True,
                    message: str = "first commit") -> dict:
        """A bare repo `name` on the server and a first commit of `files` pushed to its main.
        LFS tracks `lfs_patterns`; with lfsconfig=True the commit has a .lfsconfig whose lfs.url
        is giftless itself, else git-lfs uses <remote>/info/lfs (through lighttpd; needs
        auth=False, as the git credentials are not giftless's). Returns {"sha", "url",
        "lfs_url", "files", "worktree"}."""
        if not lfsconfig and self.auth:
            raise ValueError("the proxied LFS endpoint shares the git origin's credentials: use lfsconfig=True with auth")
        files = self.default_files() if files is None else files
        bare = self.root / "repos" / f"{name}.git"
        if bare.exists():
            raise ValueError(f"repo {name} exists")
        bare.parent.mkdir(parents=True, exist_ok=True)
        self.git("init", "--quiet", "--bare", "-b", "main", bare)
        self.git("config", "http.receivepack", "true", cwd=bare)
        self.git("config", "uploadpack.allowReachableSHA1InWant", "true", cwd=bare)
        work = self.worktree(name)
        work.mkdir(parents=True)
        self.git("init", "--quiet", "-b", "main", cwd=work)
        if lfs_patterns:
            self.git("lfs", "track", *lfs_patterns, cwd=work)
        if lfsconfig:
            self.git("config", "-f", ".lfsconfig", "lfs.url", self.lfs_url(name), cwd=work)
        self.git("remote", "add", "origin", self.repo_url(name), cwd=work)
        sha = self._commit_and_push(work, files, (), message)
        return {"sha": sha, "url": self.repo_url(name), "files": dict(files), "worktree": work,
                "lfs_url": self.lfs_url(name, direct=lfsconfig)}

    def commit(self, name: str, files: dict[str, bytes] | None = None, remove=(),
               message: str = "next commit") -> str:
        """A new commit on `name`'s main (write `files`, delete `remove`), pushed: main moves.
        Returns the new sha."""
        return self._commit_and_push(self.worktree(name), files or {}, remove, message)

    def _commit_and_push(self, work: Path, files: dict[str, bytes], remove, message: str) -> str:
        for rel, content in files.items():
            path = work / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        for rel in remove:
            self.git("rm", "--quiet", "-r", rel, cwd=work)
        self.git("add", "--all", cwd=work)
        self.git("commit", "--quiet", "--allow-empty", "-m", message, cwd=work)
        self.git("push", "--quiet", "origin", "HEAD:refs/heads/main", cwd=work)
        return self.git("rev-parse", "HEAD", cwd=work).stdout.strip()

    def remote_head(self, name: str, ref: str = "refs/heads/main") -> str:
        """What the server's repo says `ref` is (read from the bare repo)."""
        return self.git("rev-parse", ref, cwd=self.root / "repos" / f"{name}.git").stdout.strip()

    # -- LFS over plain HTTP ---------------------------------------------------------------

    def lfs_authorization(self, who="token") -> dict:
        """Authorization header for the LFS server: "token" (Bearer JWT, auth mode), "basic"
        (user _jwt, JWT as password), None, or an explicit (user, password) pair."""
        if who is None or (not self.auth and who in ("token", "basic")):
            return {}
        if who == "token":
            return {"Authorization": f"Bearer {self.lfs_token}"}
        if who == "basic":
            who = ("_jwt", self.lfs_token)
        raw = f"{who[0]}:{who[1]}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    def lfs_batch(self, name: str, objects: list[dict], operation: str = "download",
                  who="token", direct: bool = True):
        """POST <lfs_url>/objects/batch; returns (status, decoded JSON)."""
        body = json.dumps({"operation": operation, "transfers": ["basic"], "ref": {"name": "refs/heads/main"},
                           "objects": objects, "hash_algo": "sha256"}).encode()
        headers = {"Accept": LFS_MEDIA_TYPE, "Content-Type": LFS_MEDIA_TYPE, **self.lfs_authorization(who)}
        request = urllib.request.Request(f"{self.lfs_url(name, direct)}/objects/batch", data=body,
                                          headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                return error.code, json.loads(raw)
            except ValueError:
                return error.code, {"raw": raw.decode(errors="replace")}
