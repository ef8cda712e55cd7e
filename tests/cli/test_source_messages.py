"""`fetch --spec`: a message names the settings of the spec's own source: source.git-xet.* for a
git-xet spec, HF_ENDPOINT only for source.huggingface (git-xet's URL names its Hub)."""

import json
import socket

from conftest import env_for, nfm, write_repo


def fetch(tmp_path, spec: dict, env: dict):
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    return nfm("fetch", "--spec", str(tmp_path / "spec.json"), "--out", str(tmp_path / "out"),
               "--quiet", env=env, check=False)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_nothing_selected_names_the_git_xet_attributes(hub_root, start_hub, tmp_path):
    write_repo(hub_root / "models" / "org" / "tiny", {"config.json": "{}"})
    hub = start_hub()
    spec = {"source": {"git-xet": {"url": f"{hub.endpoint}/org/tiny", "files": ["*.gguf"]}}}
    done = fetch(tmp_path, spec, env_for(hub))
    assert done.returncode == 1, done.stderr
    assert 'matches source.git-xet.files = ["*.gguf"] / exclude = []' in done.stderr, done.stderr
    assert "huggingface" not in done.stderr


def test_an_unreachable_hub_suggests_hf_endpoint_only_for_source_huggingface(tmp_path):
    endpoint = f"http://127.0.0.1:{closed_port()}"
    xet = fetch(tmp_path, {"source": {"git-xet": {"url": f"{endpoint}/org/tiny"}}, "network": {"retries": 0}},
                env_for())
    assert "cannot reach" in xet.stderr and xet.stderr.rstrip().endswith("or check source.git-xet.url"), xet.stderr
    assert "HF_ENDPOINT" not in xet.stderr
    hub = fetch(tmp_path, {"source": {"huggingface": {"repo": "org/tiny"}},
                           "network": {"retries": 0, "endpoint": endpoint}}, env_for())
    assert hub.stderr.rstrip().endswith("or check network.endpoint / HF_ENDPOINT"), hub.stderr
