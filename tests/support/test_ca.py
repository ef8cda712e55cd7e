#!/usr/bin/env python3
"""A certificate authority for tests, made with Debian's `openssl` at test time.

    python3 test_ca.py DIR      writes into DIR and prints {"ca": PATH, "server": PATH, ...}

Files (PEM, keys unencrypted, valid for 2 days from now):
    ca.pem, ca.key                  the test CA, a root no system trusts
    other-ca.pem, other-ca.key      another CA, which signed nothing here
    server.pem, server.key          signed by it, for 127.0.0.1 and localhost (what fake_hub.py
                                    --tls-cert/--tls-key serve)
    wrong-host.pem, wrong-host.key  signed by it, for other.invalid only
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DAYS = "2"
EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def leaf(folder: Path, name: str, alt_names: str, serial: str) -> None:
    """`name`.pem and `name`.key: a server certificate for `alt_names`, signed by the CA."""
    extensions = folder / f"{name}.ext"
    extensions.write_text(
        f"subjectAltName={alt_names}\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    openssl("req", *EC_KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN={name}", cwd=folder)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-set_serial", serial, "-days", DAYS, "-extfile", extensions.name,
            "-out", f"{name}.pem", cwd=folder)


def root(folder: Path, name: str, common_name: str) -> None:
    openssl("req", "-x509", *EC_KEY, "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", DAYS,
            "-subj", f"/CN={common_name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)


def make_test_ca(folder: Path) -> dict[str, str]:
    """Writes the files into `folder`; answers the path of each certificate by name."""
    folder.mkdir(parents=True, exist_ok=True)
    root(folder, "ca", "nix-fetch-model test CA")
    root(folder, "other-ca", "nix-fetch-model other test CA")
    leaf(folder, "server", "IP:127.0.0.1,DNS:localhost", "2")
    leaf(folder, "wrong-host", "DNS:other.invalid", "3")
    names = ("ca", "other-ca", "server", "wrong-host")
    return {name: str(folder.resolve() / f"{name}.pem") for name in names}


if __name__ == "__main__":
    print(json.dumps(make_test_ca(Path(sys.argv[1]))))
