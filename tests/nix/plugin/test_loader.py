"""The file plugin-files names is a loader that any Nix can load: it loads the plugin's build for
the running Nix from <prefix>/lib/nix/nix-fetch-model/, or warns once and adds nothing.

Each test installs builds as a user does (`meson install` of the build folder of each Nix version,
into one prefix) and loads them with the real Nix 2.8 and 2.26: its own build, the other's, both.

    .venv/bin/pytest tests/nix/plugin/test_loader.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
LOADER = "lib/nix/plugins/libnix_fetch_model.so"
BUILDS = "lib/nix/nix-fetch-model"
STAND_INS = REPO_ROOT / "tests" / "nix" / "lib" / "stand-ins.nix"


def install(nixes, root: Path) -> Path:
    """`meson install`s the plugin built for each of `nixes` into one prefix under `root` (as
    DESTDIR); returns that prefix."""
    for nix in nixes:
        build_folder = next(folder for folder in nix.plugin.parents if (folder / "meson-info").is_dir())
        done = subprocess.run(
            ["meson", "install", "-C", str(build_folder), "--no-rebuild", "--quiet", "--destdir", str(root)],
            capture_output=True, text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    loaders = list(root.glob(f"**/{LOADER}"))
    assert len(loaders) == 1, f"no single {LOADER} under {root}: {loaders}"
    return Path(str(loaders[0]).removesuffix("/" + LOADER))


def builds_in(prefix: Path) -> list[Path]:
    """The builds installed in `prefix`, one for each Nix version."""
    folder = prefix / BUILDS
    assert folder.is_dir(), f"no folder of builds, {folder}"
    return sorted(folder.iterdir())


def version_of(nix) -> str:
    done = nix.run("nix-instantiate", "--eval", "--json", "-E", "builtins.nixVersion")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def other_than(nix, every_nix):
    (other,) = [each for each in every_nix.values() if each.version != nix.version]
    return other


def has_fetch_model(nix, plugin: Path) -> subprocess.CompletedProcess:
    return nix.run("nix-instantiate", *nix.options_for(plugin), "--eval", "-E", "builtins ? fetchModel")


def loads_fetch_model(nix, plugin: Path) -> None:
    done = has_fetch_model(nix, plugin)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "true", f"Nix {nix.version}: {done.stderr}"
    assert "nix-fetch-model" not in done.stderr


def the_one_warning(stderr: str) -> str:
    """The warning that is all of `stderr`, one line."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: nix-fetch-model: "), stderr
    return lines[0]


@pytest.fixture
def other_build_only(nix, every_nix, tmp_path) -> Path:
    """A prefix with the plugin built for the other Nix only, as after an upgrade without a rebuild."""
    return install([other_than(nix, every_nix)], tmp_path / "root")


def test_the_loader_needs_nothing_of_nix(nix):
    needed = subprocess.run(["readelf", "--dynamic", "--wide", str(nix.plugin)], capture_output=True, text=True)
    assert needed.returncode == 0, needed.stderr
    libraries = [line.split("[")[1].rstrip("]") for line in needed.stdout.splitlines() if "(NEEDED)" in line]
    assert libraries and all(lib.startswith(("libc.so", "libdl.so")) for lib in libraries), libraries
    symbols = subprocess.run(["nm", "--dynamic", "--undefined-only", str(nix.plugin)], capture_output=True, text=True)
    assert symbols.returncode == 0, symbols.stderr
    assert "nix" not in symbols.stdout.lower(), symbols.stdout


def test_each_nix_loads_its_own_build_from_one_prefix(every_nix, tmp_path):
    prefix = install(every_nix.values(), tmp_path / "root")
    names = [build.name for build in builds_in(prefix)]
    assert names == sorted(f"libnix_fetch_model-{version_of(nix)}.so" for nix in every_nix.values())
    for nix in every_nix.values():
        loads_fetch_model(nix, prefix / LOADER)
        fetcher = library_fetcher(nix, prefix / LOADER, tmp_path)
        assert fetcher == {"usesPlugin": True, "fetcher": "builtin", "drvPath": None}


def test_plugin_files_may_name_the_folder_of_the_loader(every_nix, tmp_path):
    """Nix loads each entry of a folder in plugin-files, and fails on a folder or another Nix's build:
    the builds are not in it."""
    prefix = install(every_nix.values(), tmp_path / "root")
    plugins = (prefix / LOADER).parent
    for nix in every_nix.values():
        for folder in (str(plugins), f"{plugins}/"):
            loads_fetch_model(nix, folder)


def test_a_symlink_to_the_loader_finds_the_builds_next_to_its_target(every_nix, tmp_path):
    prefix = install(every_nix.values(), tmp_path / "root")
    plugins = tmp_path / "etc" / "nix" / "plugins"
    plugins.mkdir(parents=True)
    (plugins / "libnix_fetch_model.so").symlink_to(prefix / LOADER)
    for nix in every_nix.values():
        loads_fetch_model(nix, plugins / "libnix_fetch_model.so")


def test_a_profile_joining_installs_for_each_nix_finds_every_build(every_nix, tmp_path):
    """As a Nix profile (buildEnv, symlinkJoin) of the plugin built for each Nix links their files:
    the loader of one install, and the builds of all next to it."""
    profile = tmp_path / "profile"
    (profile / "lib" / "nix" / "plugins").mkdir(parents=True)
    (profile / BUILDS).mkdir()
    for nix in every_nix.values():
        prefix = install([nix], tmp_path / f"root-{nix.version}")
        (profile / LOADER).unlink(missing_ok=True)
        (profile / LOADER).symlink_to(prefix / LOADER)
        for build in builds_in(prefix):
            (profile / BUILDS / build.name).symlink_to(build)
    for nix in every_nix.values():
        loads_fetch_model(nix, profile / LOADER)


def test_without_a_build_for_this_nix_one_warning_and_no_builtin(nix, every_nix, other_build_only):
    done = has_fetch_model(nix, other_build_only / LOADER)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "false"
    running, built = version_of(nix), version_of(other_than(nix, every_nix))
    warning = the_one_warning(done.stderr)
    assert f"has no build for Nix {running} (it has builds for: {built}) in {other_build_only / BUILDS}/" in warning
    assert f"Rebuild it against Nix {running} (see 'Building' in the nix-fetch-model README)" in warning


def test_without_a_build_for_this_nix_the_library_uses_the_derivation(nix, other_build_only, tmp_path):
    fetcher = library_fetcher(nix, other_build_only / LOADER, tmp_path)
    assert (fetcher["usesPlugin"], fetcher["fetcher"]) == (False, "derivation")
    assert fetcher["drvPath"].startswith("/nix/store/") and fetcher["drvPath"].endswith("-never-fetched.drv")


def test_a_build_that_does_not_link_into_this_nix_is_refused_with_the_reason(nix, every_nix, other_build_only):
    """A build named for this Nix but made for the other: the loader's dlopen fails, not Nix's."""
    running = version_of(nix)
    (build,) = builds_in(other_build_only)
    build.rename(build.with_name(f"libnix_fetch_model-{running}.so"))
    done = has_fetch_model(nix, other_build_only / LOADER)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "false"
    warning = the_one_warning(done.stderr)
    assert f"cannot load its build for Nix {running}: " in warning and "undefined symbol: " in warning
    assert f"Rebuild it against Nix {running}" in warning


def test_a_build_for_another_nix_fails_in_nix_where_the_loader_does_not(nix, other_build_only):
    """What the loader prevents: Nix itself refuses a build made for another Nix, and stops."""
    (build,) = builds_in(other_build_only)
    direct = has_fetch_model(nix, build)
    assert direct.returncode != 0
    assert "could not dynamically open plugin file" in direct.stderr and "undefined symbol: " in direct.stderr
    through_loader = has_fetch_model(nix, other_build_only / LOADER)
    assert through_loader.returncode == 0, through_loader.stderr


def test_outside_nix_the_loader_warns_and_loads_nothing(every_nix, tmp_path):
    """A process without Nix's version (here Python): no build is loaded, the process goes on."""
    prefix = install(every_nix.values(), tmp_path / "root")
    script = f"import ctypes; ctypes.CDLL({str(prefix / LOADER)!r}); print('still running')"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "still running\n"
    assert "cannot tell which Nix version loads this plugin" in the_one_warning(done.stderr)


def library_fetcher(nix, plugin: Path, tmp_path: Path) -> dict:
    """Whether the library, with `plugin` loaded, uses the builtin, and which fetcher a model gets
    (with the derivation's path when it is the fixed-output derivation)."""
    tools, cli = tmp_path / "host-tools", tmp_path / "cli"
    for folder in (tools / "bin", cli / "bin"):
        folder.mkdir(parents=True, exist_ok=True)
    expr = f"""
      let
        lib = import {REPO_ROOT}/lib {{ }};
        pkgs = import {STAND_INS} {{ hostTools = {tools}; cli = {cli}; }};
        model = lib.fetchModel pkgs {{
          source.huggingface.repo = "test-org/never-fetched";
          hash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        }};
        inherit (model.passthru) fetcher;
      in {{
        inherit (lib) usesPlugin;
        inherit fetcher;
        drvPath = if fetcher == "derivation" then model.drvPath else null;
      }}
    """
    done = nix.run("nix-instantiate", *nix.options_for(plugin), "--eval", "--strict", "--json", "-E", expr)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
