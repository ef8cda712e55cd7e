"""The fake Hub speaks the Hub's protocol: huggingface_hub and transformers download from it, and
its raw answers (headers, ranges, errors, faults, pagination) are what the Rust client expects."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import signal
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import FIXTURES, MINILM, HfCallError
from hub_process import FakeHub
from ours import repo_files

LFS_SUFFIXES = {".safetensors", ".bin"}  # the LFS files of the fixtures, all LFS by extension
TINY = FIXTURES / "models" / "fake-org" / "tiny-model"
MULTI_REV = FIXTURES / "models" / "fake-org" / "multi-rev"


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def expected_etag(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha256(data).hexdigest() if path.suffix in LFS_SUFFIXES else git_blob_sha1(data)


def request(url: str, method: str = "GET", headers: dict | None = None, body: bytes | None = None):
    """(status, headers, body) without following redirects."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, response.headers, body


def head_commit(hub, repo_path: str) -> str:
    status, headers, _ = request(f"{hub.endpoint}/{repo_path}", "HEAD")
    assert status in (200, 302)
    return headers["X-Repo-Commit"]


def assert_snapshot_matches(snapshot: Path, files: dict[str, Path]) -> None:
    """Every file is a relative symlink to ../../blobs/<etag> (one more ../ per folder level)."""
    served = {p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if not p.is_dir()}
    assert served == set(files)
    for rel, source in files.items():
        link = snapshot / rel
        depth = rel.count("/")
        assert link.is_symlink()
        assert os.readlink(link) == "../" * depth + f"../../blobs/{expected_etag(source)}"
        assert link.read_bytes() == source.read_bytes()


# --- huggingface_hub against the fake hub -------------------------------------------------------


def test_snapshot_download_writes_the_hf_cache_layout(fake_hub, hf):
    snapshot = hf.snapshot_download("fake-org/tiny-model")

    commit = hf.repo_info("fake-org/tiny-model")["sha"]
    repo_dir = hf.cache / "models--fake-org--tiny-model"
    assert snapshot == repo_dir / "snapshots" / commit
    assert (repo_dir / "refs" / "main").read_text() == commit  # no trailing newline
    assert_snapshot_matches(snapshot, repo_files(TINY))
    assert sorted(p.name for p in (repo_dir / "blobs").iterdir()) == sorted(
        {expected_etag(p) for p in repo_files(TINY).values()}
    )
    log = fake_hub.log()
    assert all(entry["status"] < 400 for entry in log)
    cdn_paths = {entry["path"] for entry in log if entry["origin"] == "cdn"}
    lfs_etags = {expected_etag(p) for p in repo_files(TINY).values() if p.suffix in LFS_SUFFIXES}
    assert cdn_paths == {f"/repos/{etag}" for etag in lfs_etags}


@pytest.mark.parametrize(
    "repo_type, repo_id, folder_name",
    [
        ("model", "fake-org/tiny-model", "models--fake-org--tiny-model"),
        ("dataset", "fake-org/tiny-dataset", "datasets--fake-org--tiny-dataset"),
        ("space", "fake-org/tiny-space", "spaces--fake-org--tiny-space"),
    ],
)
def test_snapshot_download_of_each_repo_type(hf, repo_type, repo_id, folder_name):
    snapshot = hf.snapshot_download(repo_id, repo_type=repo_type)

    assert snapshot.parent.parent == hf.cache / folder_name
    assert_snapshot_matches(snapshot, repo_files(FIXTURES / f"{repo_type}s" / repo_id))


def test_hf_hub_download_of_regular_and_lfs_files(fake_hub, hf):
    config = hf.hf_hub_download("fake-org/tiny-model", "config.json")
    weights = hf.hf_hub_download("fake-org/tiny-model", "model.safetensors")
    spaced = hf.hf_hub_download("fake-org/tiny-model", "nested/file with space.txt")

    assert os.readlink(config) == f"../../blobs/{expected_etag(TINY / 'config.json')}"
    assert os.readlink(weights) == f"../../blobs/{expected_etag(TINY / 'model.safetensors')}"
    assert spaced.read_bytes() == (TINY / "nested" / "file with space.txt").read_bytes()
    hf.run_python(
        "import sys, safetensors.numpy as st; t = st.load_file(sys.argv[1]); assert t['linear.weight'].shape == (8, 16)",
        str(weights),
    )


def test_list_repo_tree_follows_pagination(start_fake_hub, hf_client_for):
    hub = start_fake_hub(page_size=2)
    hf = hf_client_for(hub)

    entries = hf.list_repo_tree("fake-org/tiny-model", recursive=True)

    files = repo_files(TINY)
    assert [e["path"] for e in entries if "blob_id" in e] == sorted(files, key=lambda p: p.split("/"))
    assert {e["path"] for e in entries if "tree_id" in e} == {"nested", "nested/dir"}
    for entry in entries:
        if "blob_id" not in entry:
            continue
        source = files[entry["path"]]
        assert entry["size"] == source.stat().st_size
        if source.suffix in LFS_SUFFIXES:
            assert entry["lfs"]["sha256"] == expected_etag(source)
            assert entry["lfs"]["size"] == source.stat().st_size
        else:
            assert entry["lfs"] is None
            assert entry["blob_id"] == expected_etag(source)
    pages = [e for e in hub.log() if "/tree/" in e["path"]]
    assert len(pages) == (len(entries) + 1) // 2
    assert all("cursor=" in page["query"] for page in pages[1:])


def test_tree_next_link_is_sent_on_the_last_page(tmp_path, start_fake_hub):
    repo = tmp_path / "models" / "org" / "loop"
    repo.mkdir(parents=True)
    for name in ("a.txt", "b.txt", "c.txt"):
        (repo / name).write_text(name)
    (repo / "_hub.json").write_text(json.dumps({"tree_next_link": "?recursive=true"}))
    hub = start_fake_hub(root=tmp_path, page_size=2)
    first = f"{hub.endpoint}/api/models/org/loop/tree/main?recursive=true"

    _, headers, body = request(first)
    assert [e["path"] for e in json.loads(body)] == ["a.txt", "b.txt"]
    last = headers["Link"].split(">")[0].lstrip("<")
    _, headers, body = request(last)

    assert [e["path"] for e in json.loads(body)] == ["c.txt"]
    assert headers["Link"] == '<?recursive=true>; rel="next"'
    assert urllib.parse.urljoin(last, "?recursive=true") == first


def test_list_repo_tree_of_a_folder(hf):
    entries = hf.list_repo_tree("fake-org/tiny-model", path_in_repo="nested")

    assert [e["path"] for e in entries] == ["nested/dir", "nested/file with space.txt"]


def test_repo_info(fake_hub, hf):
    info = hf.repo_info("fake-org/tiny-model", files_metadata=True)

    assert info["id"] == "fake-org/tiny-model"
    assert info["sha"] == head_commit(fake_hub, "fake-org/tiny-model/resolve/main/config.json")
    assert info["private"] is False and info["gated"] is False
    siblings = {s["rfilename"]: s for s in info["siblings"]}
    assert set(siblings) == set(repo_files(TINY))
    assert siblings["model.safetensors"]["lfs"]["sha256"] == expected_etag(TINY / "model.safetensors")
    assert siblings["config.json"]["blob_id"] == expected_etag(TINY / "config.json")
    dataset = hf.repo_info("fake-org/tiny-dataset", repo_type="dataset")
    assert dataset["id"] == "fake-org/tiny-dataset"
    assert dataset["sha"] == head_commit(fake_hub, "datasets/fake-org/tiny-dataset/resolve/main/README.md")


def test_pull_request_revision(hf):
    snapshot = hf.snapshot_download("fake-org/multi-rev", revision="refs/pr/1")

    commit = hf.repo_info("fake-org/multi-rev", revision="refs/pr/1")["sha"]
    repo_dir = hf.cache / "models--fake-org--multi-rev"
    assert (repo_dir / "refs" / "refs" / "pr" / "1").read_text() == commit
    assert snapshot == repo_dir / "snapshots" / commit
    assert_snapshot_matches(snapshot, repo_files(MULTI_REV / "rev-pr1"))
    assert commit != hf.repo_info("fake-org/multi-rev")["sha"]


def test_tag_revision_shares_blobs_with_main(hf):
    tagged = hf.snapshot_download("fake-org/multi-rev", revision="v1.0")
    main = hf.snapshot_download("fake-org/multi-rev")

    repo_dir = hf.cache / "models--fake-org--multi-rev"
    assert (repo_dir / "refs" / "v1.0").read_text() == tagged.name
    assert_snapshot_matches(tagged, repo_files(MULTI_REV / "rev-v1"))
    assert_snapshot_matches(main, repo_files(MULTI_REV / "rev-main"))
    assert os.readlink(tagged / "model.safetensors") == os.readlink(main / "model.safetensors")


def test_commit_sha_as_revision(hf):
    commit = hf.repo_info("fake-org/multi-rev", revision="v1.0")["sha"]

    snapshot = hf.snapshot_download("fake-org/multi-rev", revision=commit)

    assert snapshot.name == commit
    assert_snapshot_matches(snapshot, repo_files(MULTI_REV / "rev-v1"))
    assert not (hf.cache / "models--fake-org--multi-rev" / "refs").exists()


def test_a_moved_branch_keeps_serving_its_old_commit(tmp_path, start_fake_hub, hf_client_for):
    """Rewriting _hub.json moves `main`; a folder in "history" is still served by its commit."""
    repo = tmp_path / "models" / "fake-org" / "moving"
    shutil.copytree(MULTI_REV / "rev-v1", repo / "old")
    shutil.copytree(MULTI_REV / "rev-main", repo / "new")
    (repo / "_hub.json").write_text(json.dumps({"revisions": {"main": "old"}}))
    hf = hf_client_for(start_fake_hub(root=tmp_path))
    before = hf.repo_info("fake-org/moving")["sha"]

    (repo / "_hub.json").write_text(json.dumps({"revisions": {"main": "new"}, "history": ["old"]}))
    after = hf.repo_info("fake-org/moving")["sha"]
    snapshot = hf.snapshot_download("fake-org/moving", revision=before)

    assert before != after
    assert snapshot.name == before
    assert_snapshot_matches(snapshot, repo_files(repo / "old"))
    assert {e["path"] for e in hf.list_repo_tree("fake-org/moving", revision=before)} == set(repo_files(repo / "old"))
    (repo / "_hub.json").write_text(json.dumps({"revisions": {"main": "new"}}))
    with pytest.raises(HfCallError) as raised:
        hf.repo_info("fake-org/moving", revision=before)
    assert "RevisionNotFoundError" in raised.value.types


def test_private_repo_needs_a_token_and_the_token_never_reaches_the_cdn(fake_hub, hf):
    with pytest.raises(HfCallError) as error:
        hf.snapshot_download("fake-org/private-model")
    assert "RepositoryNotFoundError" in error.value.types

    snapshot = hf.snapshot_download("fake-org/private-model", token="hf_fake_token")

    assert_snapshot_matches(snapshot, repo_files(FIXTURES / "models/fake-org/private-model/main"))
    log = [e for e in fake_hub.log() if e["status"] < 400]
    assert {e["auth"] for e in log if e["origin"] == "hub"} == {True}
    assert {e["auth"] for e in log if e["origin"] == "cdn"} == {False}


@pytest.mark.parametrize("token", [None, "hf_not_allowed"])
def test_gated_repo_without_access_raises_gated_repo_error(hf, token):
    with pytest.raises(HfCallError) as error:
        hf.snapshot_download("fake-org/gated-model", token=token)

    assert "GatedRepoError" in error.value.types


def test_gated_repo_with_an_allowed_token(hf):
    snapshot = hf.snapshot_download("fake-org/gated-model", token="hf_gated_token")

    assert_snapshot_matches(snapshot, repo_files(FIXTURES / "models/fake-org/gated-model/main"))


@pytest.mark.parametrize(
    "call, kwargs, error_type",
    [
        ("snapshot_download", {"repo_id": "fake-org/no-such-model"}, "RepositoryNotFoundError"),
        ("repo_info", {"repo_id": "fake-org/no-such-model"}, "RepositoryNotFoundError"),
        ("snapshot_download", {"repo_id": "fake-org/tiny-model", "revision": "no-such-branch"}, "RevisionNotFoundError"),
        ("hf_hub_download", {"repo_id": "fake-org/tiny-model", "filename": "no-such-file.txt"}, "EntryNotFoundError"),
        ("list_repo_tree", {"repo_id": "fake-org/tiny-model", "path_in_repo": "no-such-dir"}, "EntryNotFoundError"),
    ],
)
def test_missing_things_raise_the_hub_errors(hf, call, kwargs, error_type):
    with pytest.raises(HfCallError) as error:
        hf.call(call, api=call in ("repo_info", "list_repo_tree"), **kwargs)

    assert error_type in error.value.types


def test_missing_file_is_cached_as_no_exist(hf):
    with pytest.raises(HfCallError):
        hf.hf_hub_download("fake-org/tiny-model", "no-such-file.txt")

    commit = hf.repo_info("fake-org/tiny-model")["sha"]
    assert (hf.cache / "models--fake-org--tiny-model" / ".no_exist" / commit / "no-such-file.txt").is_file()


def test_big_files_are_lfs_files(tmp_path, start_fake_hub, hf_client_for):
    big = tmp_path / "models" / "org" / "big" / "large.txt"
    big.parent.mkdir(parents=True)
    big.write_bytes(os.urandom(1024 * 1024 + 1))
    hub = start_fake_hub(root=tmp_path, lfs_threshold=1024 * 1024)
    hf = hf_client_for(hub)

    [entry] = hf.list_repo_tree("org/big")
    path = hf.hf_hub_download("org/big", "large.txt")

    sha256 = hashlib.sha256(big.read_bytes()).hexdigest()
    assert entry["lfs"]["sha256"] == sha256
    assert os.readlink(path) == f"../../blobs/{sha256}"
    assert [e["path"] for e in hub.log() if e["origin"] == "cdn"] == [f"/repos/{sha256}"]


def two_bodies_at_once(tmp_path, start_fake_hub, **rate) -> tuple[FakeHub, float]:
    """Serves 2 MiB of weights with the fake Hub's `rate` options and downloads them twice at
    once: the hub, and the seconds that took."""
    folder = tmp_path / "models" / "org" / "rated"
    folder.mkdir(parents=True)
    weights = os.urandom(2 * 1024 * 1024)
    (folder / "model.safetensors").write_bytes(weights)
    hub = start_fake_hub(root=tmp_path, **rate)
    url = f"{hub.endpoint}/org/rated/resolve/main/model.safetensors"

    def fetch(_):
        with urllib.request.urlopen(url) as response:
            return response.read()

    start = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        bodies = list(pool.map(fetch, range(2)))
    elapsed = time.monotonic() - start
    assert bodies == [weights, weights]
    return hub, elapsed


def test_link_rate_limits_every_body_together(tmp_path, start_fake_hub):
    # Two bodies of 2 MiB at once over a 16 MiB/s link: 4 MiB less the first slice, which
    # leaves at once, take at least 0.23 s.
    _, elapsed = two_bodies_at_once(tmp_path, start_fake_hub, link_mib_per_s=16)
    assert elapsed >= 0.2, f"4 MiB at 16 MiB/s took {elapsed:.3f} s"


def test_connection_rate_limits_each_body_alone(tmp_path, start_fake_hub):
    # Two bodies of 2 MiB at once, each at 16 MiB/s: each takes at least 0.1 s (2 MiB less the
    # first slice), and they run side by side, as the log's times show.
    hub, _ = two_bodies_at_once(tmp_path, start_fake_hub, connection_mib_per_s=16)
    sent = [e for e in hub.log() if e["bytes_sent"] == 2 * 1024 * 1024]
    assert len(sent) == 2, sent
    for entry in sent:
        assert entry["ended"] - entry["started"] >= 0.1, entry
    first, second = sorted(sent, key=lambda e: e["started"])
    assert second["started"] < first["ended"], "the bodies went one after the other"


def test_real_model_from_site_packages_loads_with_transformers(start_minilm_hub, minilm_dir, hf_client_for):
    hub = start_minilm_hub()
    hf = hf_client_for(hub)

    snapshot = hf.snapshot_download(MINILM)

    assert_snapshot_matches(snapshot, repo_files(minilm_dir))
    loaded = hf.run_python(
        "from transformers import AutoConfig, AutoTokenizer\n"
        f"config = AutoConfig.from_pretrained({MINILM!r})\n"
        f"tokenizer = AutoTokenizer.from_pretrained({MINILM!r})\n"
        "print(config.hidden_size, tokenizer('hello world')['input_ids'])\n",
        HF_HUB_OFFLINE="1",
    )
    assert loaded.stdout.strip() == "384 [101, 7592, 2088, 102]"


def test_transformers_downloads_through_the_fake_hub(start_minilm_hub, hf_client_for):
    hub = start_minilm_hub()
    hf = hf_client_for(hub)

    loaded = hf.run_python(
        "from transformers import AutoTokenizer\n"
        f"print(AutoTokenizer.from_pretrained({MINILM!r})('hello')['input_ids'])\n"
    )

    assert loaded.stdout.strip() == "[101, 7592, 102]"
    fetched = {e["path"].rsplit("/", 1)[-1] for e in hub.log() if e["method"] == "GET" and "/resolve/" in e["path"]}
    assert {"config.json", "tokenizer.json", "vocab.txt"} <= fetched


# --- the raw protocol ----------------------------------------------------------------------------


def test_ready_line_and_health(fake_hub):
    assert fake_hub.endpoint.startswith("http://127.0.0.1:")
    assert fake_hub.cdn.startswith("http://127.0.0.1:") and fake_hub.cdn != fake_hub.endpoint
    assert fake_hub.pid == fake_hub.proc.pid
    assert fake_hub.admin("GET", "health") == {"ok": True}


def test_tls_serves_both_origins_over_https(tmp_path, start_fake_hub):
    import ssl

    from test_ca import make_test_ca

    certs = make_test_ca(tmp_path / "ca")
    hub = start_fake_hub(tls_cert=certs["server"], tls_key=str(tmp_path / "ca" / "server.key"))
    trusting = ssl.create_default_context(cafile=certs["ca"])
    url = f"{hub.endpoint}/fake-org/tiny-model/resolve/main/model.safetensors"

    assert hub.endpoint.startswith("https://127.0.0.1:") and hub.cdn.startswith("https://127.0.0.1:")
    with urllib.request.urlopen(url, context=trusting) as response:
        assert response.read() == (TINY / "model.safetensors").read_bytes()
    assert [e["origin"] for e in hub.log()] == ["hub", "cdn"]
    with pytest.raises(urllib.error.URLError) as refused:
        urllib.request.urlopen(url, context=ssl.create_default_context())
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)


def test_resolve_serves_regular_files_with_hub_headers(fake_hub):
    url = f"{fake_hub.endpoint}/fake-org/tiny-model/resolve/main/config.json"
    status, headers, body = request(url)

    assert status == 200
    assert body == (TINY / "config.json").read_bytes()
    assert headers["ETag"] == f'"{expected_etag(TINY / "config.json")}"'
    assert headers["Content-Length"] == str(len(body))
    assert headers["Accept-Ranges"] == "bytes"
    assert len(headers["X-Repo-Commit"]) == 40


def test_resolve_redirects_lfs_files_to_the_cdn(fake_hub):
    sha256 = expected_etag(TINY / "model.safetensors")
    for method in ("HEAD", "GET"):
        status, headers, body = request(f"{fake_hub.endpoint}/fake-org/tiny-model/resolve/main/model.safetensors", method)

        assert status == 302 and body == b""
        assert headers["Location"] == f"{fake_hub.cdn}/repos/{sha256}?X-Amz-Signature=fake"
        assert headers["X-Linked-Etag"] == headers["ETag"] == f'"{sha256}"'
        assert headers["X-Linked-Size"] == str((TINY / "model.safetensors").stat().st_size)
        assert headers["Content-Length"] == "0"
        assert len(headers["X-Repo-Commit"]) == 40
    status, _, body = request(headers["Location"])
    assert status == 200 and body == (TINY / "model.safetensors").read_bytes()


@pytest.mark.parametrize(
    "range_header, start, end",
    [("bytes=10-19", 10, 19), ("bytes=700-", 700, 719), ("bytes=-5", 715, 719), ("bytes=710-9999", 710, 719)],
)
def test_ranges(fake_hub, range_header, start, end):
    data = (TINY / "model.safetensors").read_bytes()
    url = f"{fake_hub.cdn}/repos/{expected_etag(TINY / 'model.safetensors')}"

    status, headers, body = request(url, headers={"Range": range_header})

    assert status == 206
    assert body == data[start : end + 1]
    assert headers["Content-Range"] == f"bytes {start}-{end}/{len(data)}"


def test_unsatisfiable_range(fake_hub):
    url = f"{fake_hub.cdn}/repos/{expected_etag(TINY / 'model.safetensors')}"

    status, headers, _ = request(url, headers={"Range": "bytes=720-"})

    assert status == 416
    assert headers["Content-Range"] == "bytes */720"


def test_range_on_resolve(fake_hub):
    url = f"{fake_hub.endpoint}/fake-org/tiny-model/resolve/main/config.json"

    status, headers, body = request(url, headers={"Range": "bytes=2-5"})

    assert status == 206 and body == (TINY / "config.json").read_bytes()[2:6]


def test_cdn_refuses_requests_with_authorization(fake_hub):
    url = f"{fake_hub.cdn}/repos/{expected_etag(TINY / 'model.safetensors')}?X-Amz-Signature=fake"

    status, _, body = request(url, headers={"Authorization": "Bearer hf_fake_token"})

    assert status == 400
    assert b"Authorization" in body


@pytest.mark.parametrize("revision", ["refs%2Fpr%2F1", "refs/pr/1"])
def test_revision_may_be_percent_encoded_or_not(fake_hub, revision):
    base = f"{fake_hub.endpoint}/api/models/fake-org/multi-rev"
    _, _, info = request(f"{base}/revision/{revision}")
    _, _, tree = request(f"{base}/tree/{revision}?recursive=true")
    _, headers, body = request(f"{fake_hub.endpoint}/fake-org/multi-rev/resolve/{revision}/config.json")

    assert json.loads(info)["sha"] == headers["X-Repo-Commit"]
    assert "added_in_pr.txt" in [e["path"] for e in json.loads(tree)]
    assert body == (MULTI_REV / "rev-pr1" / "config.json").read_bytes()


@pytest.mark.parametrize(
    "path, headers, status, code",
    [
        ("api/models/fake-org/no-such-model", {}, 404, "RepoNotFound"),
        ("api/models/fake-org/private-model", {}, 401, "RepoNotFound"),
        ("api/models/fake-org/private-model", {"Authorization": "Bearer hf_wrong"}, 401, "RepoNotFound"),
        ("api/models/fake-org/tiny-model/revision/nope", {}, 404, "RevisionNotFound"),
        ("api/models/fake-org/tiny-model/tree/main/nope", {}, 404, "EntryNotFound"),
        ("fake-org/tiny-model/resolve/main/nope.txt", {}, 404, "EntryNotFound"),
        ("fake-org/tiny-model/resolve/nope/config.json", {}, 404, "RevisionNotFound"),
        ("fake-org/gated-model/resolve/main/config.json", {}, 401, "GatedRepo"),
        ("fake-org/gated-model/resolve/main/config.json", {"Authorization": "Bearer hf_wrong"}, 403, "GatedRepo"),
    ],
)
def test_errors_carry_hub_error_codes(fake_hub, path, headers, status, code):
    got_status, got_headers, body = request(f"{fake_hub.endpoint}/{path}", headers=headers)

    assert (got_status, got_headers["X-Error-Code"]) == (status, code)
    assert json.loads(body)["error"] == got_headers["X-Error-Message"]


def test_gated_message_says_what_to_do(fake_hub):
    _, headers, _ = request(f"{fake_hub.endpoint}/fake-org/gated-model/resolve/main/config.json")

    assert headers["X-Error-Message"] == (
        "Access to model fake-org/gated-model is restricted. You must have access to it and be "
        "authenticated to access it. Please log in."
    )


def test_gated_repo_metadata_is_public(fake_hub):
    status, _, body = request(f"{fake_hub.endpoint}/api/models/fake-org/gated-model")

    assert status == 200 and json.loads(body)["gated"] == "auto"


def test_missing_file_answer_names_the_commit(fake_hub):
    _, headers, _ = request(f"{fake_hub.endpoint}/fake-org/tiny-model/resolve/main/nope.txt", "HEAD")

    assert headers["X-Repo-Commit"] == head_commit(fake_hub, "fake-org/tiny-model/resolve/main/config.json")


def test_connections_are_kept_alive(fake_hub):
    parts = urllib.parse.urlsplit(fake_hub.endpoint)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    sockets = []
    for path in ("/api/models/fake-org/tiny-model", "/fake-org/tiny-model/resolve/main/config.json", "/nope"):
        conn.request("GET", path)
        conn.getresponse().read()
        sockets.append(conn.sock)
    conn.close()

    assert sockets[0] is not None and sockets.count(sockets[0]) == 3


def test_commits_are_stable_and_follow_content(tmp_path, start_fake_hub):
    commits = [head_commit(start_fake_hub(), "fake-org/tiny-model/resolve/main/config.json") for _ in range(2)]
    copy = tmp_path / "models" / "fake-org" / "tiny-model"
    shutil.copytree(TINY, copy)  # TINY has no _hub.json: the copy serves the same files
    hub = start_fake_hub(root=tmp_path)
    same = head_commit(hub, "fake-org/tiny-model/resolve/main/config.json")
    (copy / "config.json").write_text("{}\n")
    changed = head_commit(hub, "fake-org/tiny-model/resolve/main/config.json")

    assert commits[0] == commits[1] == same != changed


# --- faults and log ------------------------------------------------------------------------------


def test_status_fault_with_retry_after_and_rate_limit(fake_hub):
    fake_hub.add_fault(path="config.json", kind="status", status=429, retry_after=7, ratelimit=True, times=2)
    url = f"{fake_hub.endpoint}/fake-org/tiny-model/resolve/main/config.json"

    answers = [request(url) for _ in range(3)]

    assert [status for status, _, _ in answers] == [429, 429, 200]
    headers = answers[0][1]
    assert headers["Retry-After"] == "7"
    assert headers["RateLimit"] == '"api";r=0;t=7'
    assert "RateLimit-Policy" in headers
    assert [e["status"] for e in fake_hub.log()] == [429, 429, 200]


def test_faults_only_hit_their_origin(fake_hub):
    fake_hub.add_fault(path="model.safetensors", kind="status", status=503, on="cdn")
    sha256 = expected_etag(TINY / "model.safetensors")

    redirect, _, _ = request(f"{fake_hub.endpoint}/fake-org/tiny-model/resolve/main/model.safetensors")
    failed, _, _ = request(f"{fake_hub.cdn}/repos/{sha256}")
    served, _, _ = request(f"{fake_hub.cdn}/repos/{sha256}")

    assert (redirect, failed, served) == (302, 503, 200)


@pytest.mark.parametrize("on, url", [("resolve", "{hub}/fake-org/tiny-model/resolve/main/config.json"),
                                     ("api", "{hub}/api/models/fake-org/tiny-model/revision/main")])
def test_redirect_fault_sends_the_location_given(fake_hub, on, url):
    path = "config.json" if on == "resolve" else "/api/models/*/revision/*"
    fake_hub.add_fault(path=path, kind="redirect", location="file:///etc/passwd", on=on)

    status, headers, _ = request(url.format(hub=fake_hub.endpoint))

    assert (status, headers["Location"]) == (302, "file:///etc/passwd")
    assert request(url.format(hub=fake_hub.endpoint))[0] == 200


def test_api_status_fault(fake_hub):
    fake_hub.add_fault(path="/api/models/*/tree/*", kind="status", status=500, on="api")
    url = f"{fake_hub.endpoint}/api/models/fake-org/tiny-model/tree/main"

    assert request(f"{fake_hub.endpoint}/api/models/fake-org/tiny-model")[0] == 200
    assert [request(url)[0] for _ in range(2)] == [500, 200]


def test_cut_fault_closes_the_connection_mid_body(fake_hub):
    fake_hub.add_fault(path="nested/dir/notes.txt", kind="cut", after_bytes=5)
    url = f"{fake_hub.endpoint}/fake-org/tiny-model/resolve/main/nested/dir/notes.txt"

    with pytest.raises(http.client.IncompleteRead) as error:
        request(url)

    assert error.value.partial == (TINY / "nested/dir/notes.txt").read_bytes()[:5]
    assert fake_hub.log()[-1]["bytes_sent"] == 5


def test_wrong_bytes_fault_flips_one_byte_of_the_body(fake_hub):
    fake_hub.add_fault(path="*.safetensors", kind="wrong-bytes", after_bytes=3, on="cdn")
    data = (TINY / "model.safetensors").read_bytes()
    url = f"{fake_hub.cdn}/repos/{expected_etag(TINY / 'model.safetensors')}"

    _, _, body = request(url, headers={"Range": "bytes=100-"})

    expected = bytearray(data[100:])
    expected[3] ^= 0xFF
    assert body == bytes(expected)


def test_slow_fault_spreads_the_body_over_the_delay(fake_hub):
    fake_hub.add_fault(path="config.json", kind="slow", delay=0.6)
    url = f"{fake_hub.endpoint}/fake-org/tiny-model/resolve/main/config.json"

    started = time.monotonic()
    _, _, body = request(url)

    assert time.monotonic() - started >= 0.6
    assert body == (TINY / "config.json").read_bytes()


def test_hold_fault_keeps_the_body_until_released(fake_hub):
    fake_hub.add_fault(path="model.safetensors", kind="hold", after_bytes=10, on="cdn")
    data = (TINY / "model.safetensors").read_bytes()
    url = f"{fake_hub.cdn}/repos/{expected_etag(TINY / 'model.safetensors')}"
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request("GET", parts.path)
    response = conn.getresponse()

    assert response.read(10) == data[:10]
    while fake_hub.admin("GET", "held") != {"held": 1}:
        time.sleep(0.01)
    fake_hub.admin("POST", "release")

    assert response.read() == data[10:]
    conn.close()
    assert fake_hub.admin("GET", "held") == {"held": 0}


def test_huggingface_hub_retries_a_cut_download(fake_hub, hf):
    fake_hub.add_fault(path="model.safetensors", kind="cut", after_bytes=100, on="cdn")

    path = hf.hf_hub_download("fake-org/tiny-model", "model.safetensors")

    assert path.read_bytes() == (TINY / "model.safetensors").read_bytes()
    cdn = [(e["range"], e["bytes_sent"]) for e in fake_hub.log() if e["origin"] == "cdn"]
    # huggingface_hub keeps what it read only in whole 10 MiB chunks: it starts again from byte 0.
    assert cdn == [(None, 100), (None, 720)]


def test_huggingface_hub_waits_out_a_rate_limit(fake_hub, hf):
    fake_hub.add_fault(path="model.safetensors", kind="status", status=429, ratelimit=True, retry_after=0, on="cdn")

    path = hf.hf_hub_download("fake-org/tiny-model", "model.safetensors")

    assert path.read_bytes() == (TINY / "model.safetensors").read_bytes()
    assert [e["status"] for e in fake_hub.log() if e["origin"] == "cdn"] == [429, 200]


def test_bad_faults_are_refused(fake_hub):
    for fault in ({"path": "x", "kind": "explode"}, {"path": "x", "kind": "cut", "on": "api"}, {"path": "x", "oops": 1},
                  {"path": "x", "kind": "redirect"}, {"path": "x", "kind": "status", "location": "http://x"}):
        status, _, body = request(f"{fake_hub.endpoint}/_admin/faults", "POST", body=json.dumps(fault).encode())
        assert status == 400, body


def test_faults_and_log_can_be_listed_and_cleared(fake_hub):
    fault = fake_hub.add_fault(path="*", kind="slow", delay=1, times=3)
    assert fake_hub.admin("GET", "faults") == [fault]
    fake_hub.clear_faults()
    assert fake_hub.admin("GET", "faults") == []
    before = time.monotonic()
    request(f"{fake_hub.endpoint}/api/models/fake-org/tiny-model?x=1")
    after = time.monotonic()
    [entry] = fake_hub.log()
    # The log entry is written once the answer has left, maybe after the client has it.
    assert before <= entry["started"] <= after and entry["started"] <= entry["ended"], entry
    assert entry == {
        "origin": "hub",
        "method": "GET",
        "path": "/api/models/fake-org/tiny-model",
        "query": "x=1",
        "range": None,
        "auth": False,
        "status": 200,
        "bytes_sent": entry["bytes_sent"],
        "started": entry["started"],
        "ended": entry["ended"],
    }
    fake_hub.clear_log()
    assert fake_hub.log() == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stops_cleanly(fake_hub, sig):
    assert fake_hub.stop(sig) == 0

