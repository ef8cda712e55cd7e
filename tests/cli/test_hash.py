"""`nix-fetch-model hash DIR --format F`: every format equals what Nix's own tools print for the
same folder (nix-hash of Nix 2.8, and `nix hash path` of every Nix found here)."""

import subprocess
from pathlib import Path

import pytest

from conftest import env_for, nfm, write_repo

# Nix 2.8 (Debian's) and Nix 2.26, both installed by scripts/setup.sh.
NIX_BIN_DIRS = ["/usr/bin", "/opt/nix-2.26/bin"]

# `nix hash path` flag of each format (SRI is its default).
NIX_HASH_PATH_FLAG = {"sri": [], "nix32": ["--base32"], "base16": ["--base16"], "base64": ["--base64"]}


def run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def folder(tmp_path) -> Path:
    """A folder with what a NAR holds: files, an executable, a nested folder, a symlink."""
    root = write_repo(tmp_path / "model", {"config.json": '{"a": 1}', "nested/weights.bin": b"\0\1\2" * 1000})
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    (root / "nested" / "link").symlink_to("../config.json")
    return root


def ours(folder: Path, fmt: str) -> str:
    return nfm("hash", str(folder), "--format", fmt, env=env_for()).stdout.strip()


def test_base16_and_nix32_equal_nix_hash(folder):
    assert ours(folder, "base16") == run("nix-hash", "--type", "sha256", str(folder))
    assert ours(folder, "nix32") == run("nix-hash", "--type", "sha256", "--base32", str(folder))


@pytest.mark.parametrize("fmt", sorted(NIX_HASH_PATH_FLAG))
def test_every_format_equals_nix_hash_path(folder, fmt):
    for nix_bin in NIX_BIN_DIRS:
        theirs = run(f"{nix_bin}/nix", "--extra-experimental-features", "nix-command",
                     "hash", "path", *NIX_HASH_PATH_FLAG[fmt], str(folder))
        assert ours(folder, fmt) == theirs, nix_bin


def test_the_default_is_sri(folder):
    assert nfm("hash", str(folder), env=env_for()).stdout.strip() == ours(folder, "sri")
    assert ours(folder, "sri").startswith("sha256-")


def test_help_names_what_each_format_matches_and_no_sri_option_of_nix_hash():
    text = nfm("hash", "--help", env=env_for()).stdout
    assert "--sri" not in text
    for line in ("sri:", "nix32:", "base16:", "base64:", "<DIR>"):
        assert line in text
    # <DIR> has a description of its own under Arguments.
    arguments = text.split("Arguments:")[1].split("Options:")[0]
    assert len(arguments.strip().splitlines()) >= 2, arguments
