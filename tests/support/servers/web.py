"""Plain web servers for the `url` source: Debian's lighttpd (Range, a redirect, basic auth
on /private/) and Python's own http.server (no Range: it answers every request whole).

    with Lighttpd(root) as web:       # root: the folder served
        web.base_url + "/files/model.bin"      # 206 to a Range request
        web.base_url + "/moved/model.bin"      # 301 to /files/model.bin
        web.base_url + "/private/model.bin"    # 401 without web.username / web.password

    with PlainHttpServer(root) as web: ...     # 200 and the whole file, whatever the Range
"""

from __future__ import annotations

import secrets
import sys
import urllib.request
from pathlib import Path

from ._common import ServerProcess, require

LIGHTTPD = "/usr/sbin/lighttpd"


def answers(base_url: str) -> bool:
    """Whether a web server answers at `base_url`, with any status (a connection refused raises)."""
    try:
        urllib.request.urlopen(base_url + "/", timeout=1)
    except urllib.error.HTTPError:
        pass
    return True


class Lighttpd(ServerProcess):
    name = "lighttpd"

    def __init__(self, root: Path, username: str = "nfm"):
        super().__init__()
        self.root = Path(root)
        self.username = username
        self.password = secrets.token_urlsafe(12)

    def command(self) -> list[str]:
        require(Path(LIGHTTPD), "lighttpd (apt-get install lighttpd)")
        users = self.data_dir / "users"
        users.write_text(f"{self.username}:{self.password}\n")
        config = self.data_dir / "lighttpd.conf"
        config.write_text(f"""
server.document-root = "{self.root}"
server.bind = "{self.host}"
server.port = {self.port}
server.modules = ("mod_redirect", "mod_auth", "mod_authn_file")
server.errorlog = "{self.data_dir}/error.log"
mimetype.assign = ("" => "application/octet-stream")
url.redirect = ("^/moved/(.*)$" => "/files/$1")
auth.backend = "plain"
auth.backend.plain.userfile = "{users}"
auth.require = ("/private/" => ("method" => "basic", "realm" => "models", "require" => "valid-user"))
""")
        return [LIGHTTPD, "-D", "-f", str(config)]

    def ready(self) -> bool:
        return answers(self.base_url)


class PlainHttpServer(ServerProcess):
    """`python3 -m http.server`, which ignores Range."""

    name = "http.server"

    def __init__(self, root: Path):
        super().__init__()
        self.root = Path(root)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "http.server", str(self.port), "--bind", self.host,
                "--directory", str(self.root)]

    def ready(self) -> bool:
        return answers(self.base_url)
