//! The CLI against the fake Hub: layout, revisions, selection, auth, errors,
//! faults (429, cut connections, wrong bytes, slow bodies), interruption.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

const CONFIG: &[u8] = b"{\"model_type\": \"bert\"}\n";
const README: &[u8] = b"# a model\n";

fn weights() -> Vec<u8> {
    pseudo_random(300_000, 1)
}

fn hub_with_model() -> FakeHub {
    let hub = FakeHub::start(&[]);
    let weights = weights();
    hub.repo(
        "models/org/model",
        &[
            ("config.json", CONFIG),
            ("README.md", README),
            ("model.safetensors", &weights),
            ("1_Pooling/config.json", b"{\"pooling\": true}"),
            ("copy/config.json", CONFIG),
        ],
    );
    hub
}

fn out_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    (dir, out)
}

fn only_child_is(dir: &Path, name: &str) {
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec![name.to_string()],
        "leftovers in {}",
        dir.display()
    );
}

fn commit_of(out: &Path) -> String {
    let snapshots: Vec<_> = std::fs::read_dir(out.join("snapshots")).unwrap().collect();
    assert_eq!(snapshots.len(), 1);
    snapshots
        .into_iter()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn writes_the_hub_cache_layout() {
    let hub = hub_with_model();
    let (dir, out) = out_dir();
    assert_ok(&fetch(
        &hf_spec(&hub.endpoint, "org/model", json!({})),
        &out,
        &[],
    ));
    only_child_is(dir.path(), "model");

    let commit = std::fs::read_to_string(out.join("refs/main")).unwrap();
    assert_eq!(
        commit.len(),
        40,
        "refs/main holds the commit without a newline: {commit:?}"
    );
    assert_eq!(commit_of(&out), commit);

    let weights = weights();
    let (lfs, config) = (sha256_hex(&weights), git_blob_sha1(CONFIG));
    let expected = vec![
        ("blobs".to_string(), "dir".to_string()),
        (
            format!("blobs/{}", git_blob_sha1(b"{\"pooling\": true}")),
            format!("file {}", sha256_hex(b"{\"pooling\": true}")),
        ),
        (
            format!("blobs/{}", git_blob_sha1(README)),
            format!("file {}", sha256_hex(README)),
        ),
        (
            format!("blobs/{config}"),
            format!("file {}", sha256_hex(CONFIG)),
        ),
        (format!("blobs/{lfs}"), format!("file {lfs}")),
        ("refs".into(), "dir".into()),
        (
            "refs/main".into(),
            format!("file {}", sha256_hex(commit.as_bytes())),
        ),
        ("snapshots".into(), "dir".into()),
        (format!("snapshots/{commit}"), "dir".into()),
        (format!("snapshots/{commit}/1_Pooling"), "dir".into()),
        (
            format!("snapshots/{commit}/1_Pooling/config.json"),
            format!(
                "link -> ../../../blobs/{}",
                git_blob_sha1(b"{\"pooling\": true}")
            ),
        ),
        (
            format!("snapshots/{commit}/README.md"),
            format!("link -> ../../blobs/{}", git_blob_sha1(README)),
        ),
        (
            format!("snapshots/{commit}/config.json"),
            format!("link -> ../../blobs/{config}"),
        ),
        (format!("snapshots/{commit}/copy"), "dir".into()),
        (
            format!("snapshots/{commit}/copy/config.json"),
            format!("link -> ../../../blobs/{config}"),
        ),
        (
            format!("snapshots/{commit}/model.safetensors"),
            format!("link -> ../../blobs/{lfs}"),
        ),
    ];
    let mut expected = expected;
    expected.sort();
    let (trees, layout): (Vec<_>, Vec<_>) = tree(&out)
        .into_iter()
        .partition(|(path, _)| path.starts_with("trees"));
    assert_eq!(layout, expected);
    assert_eq!(trees.len(), 2, "trees/ holds one listing: {trees:?}");
    let listing: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join(format!("trees/{commit}.json"))).unwrap())
            .unwrap();
    assert_eq!(listing["files"].as_object().unwrap().len(), 5);
    assert_eq!(listing["files"]["model.safetensors"]["lfs_sha256"], lfs);
    assert_eq!(
        std::fs::read(out.join(format!("snapshots/{commit}/model.safetensors"))).unwrap(),
        weights
    );
    assert_eq!(
        hub.body_requests("/copy/config.json").len(),
        0,
        "a content shared by two paths is downloaded once"
    );
}

#[test]
fn same_spec_gives_identical_trees_and_nix_agrees_on_the_hash() {
    let hub = hub_with_model();
    let spec = hf_spec(&hub.endpoint, "org/model", json!({}));
    let (_a, first) = out_dir();
    let (_b, second) = out_dir();
    assert_ok(&fetch(&spec, &first, &[]));
    assert_ok(&fetch(
        &json!({"source": spec["source"], "network": {"endpoint": hub.endpoint, "concurrency": 1}}),
        &second,
        &[],
    ));
    assert_eq!(tree(&first), tree(&second));
    let ours = |dir: &Path| {
        let output = cli().arg("hash").arg(dir).output().unwrap();
        assert_ok(&output);
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    };
    assert_eq!(ours(&first), ours(&second));
    match nix_hash(&first) {
        Some(nix) => assert_eq!(ours(&first), nix),
        None => eprintln!("SKIP comparison with nix-hash: nix-hash is not installed"),
    }
}

#[test]
fn revisions_branches_tags_prs_and_commits() {
    let hub = FakeHub::start(&[]);
    hub.repo_with(
        "datasets/org/data",
        json!({}),
        &[
            ("main", &[("a.txt", b"main")]),
            ("v1.0", &[("a.txt", b"tag")]),
            ("refs/pr/1", &[("a.txt", b"pr"), ("b.txt", b"new")]),
        ],
    );
    let read = |out: &Path, path: &str| {
        std::fs::read_to_string(out.join(format!("snapshots/{}/{path}", commit_of(out)))).unwrap()
    };

    let (_d, pr) = out_dir();
    assert_ok(&fetch(
        &hf_spec(
            &hub.endpoint,
            "org/data",
            json!({"repoType": "dataset", "revision": "refs/pr/1"}),
        ),
        &pr,
        &[],
    ));
    assert_eq!(read(&pr, "a.txt"), "pr");
    assert_eq!(read(&pr, "b.txt"), "new");
    assert_eq!(
        std::fs::read_to_string(pr.join("refs/refs/pr/1")).unwrap(),
        commit_of(&pr)
    );

    let (_t, tag) = out_dir();
    assert_ok(&fetch(
        &hf_spec(
            &hub.endpoint,
            "org/data",
            json!({"repoType": "dataset", "revision": "v1.0"}),
        ),
        &tag,
        &[],
    ));
    assert_eq!(read(&tag, "a.txt"), "tag");

    let commit = commit_of(&tag);
    let (_c, pinned) = out_dir();
    assert_ok(&fetch(
        &hf_spec(
            &hub.endpoint,
            "org/data",
            json!({"repoType": "dataset", "revision": commit}),
        ),
        &pinned,
        &[],
    ));
    assert!(
        !pinned.join("refs").exists(),
        "no refs/ when the revision is a commit"
    );
    assert_eq!(read(&pinned, "a.txt"), "tag");
}

#[test]
fn files_and_exclude_select_like_huggingface_hub() {
    let hub = hub_with_model();
    let (_d, out) = out_dir();
    let spec = hf_spec(
        &hub.endpoint,
        "org/model",
        json!({"files": ["*.json", "*.md"], "exclude": ["copy/"]}),
    );
    assert_ok(&fetch(&spec, &out, &[]));
    let snapshot = out.join("snapshots").join(commit_of(&out));
    assert!(
        snapshot.join("1_Pooling/config.json").exists(),
        "* crosses /"
    );
    assert!(snapshot.join("README.md").exists());
    assert!(
        !snapshot.join("copy").exists(),
        "a trailing / excludes the folder"
    );
    assert!(!snapshot.join("model.safetensors").exists());

    let (_e, none) = out_dir();
    let output = fetch(
        &hf_spec(&hub.endpoint, "org/model", json!({"files": ["*.gguf"]})),
        &none,
        &[],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("no file of repo org/model"),
        "{}",
        stderr(&output)
    );
    assert!(!none.exists());
}

#[test]
fn follows_tree_pagination() {
    let hub = FakeHub::start(&["--page-size", "2"]);
    let names: Vec<String> = (0..7).map(|i| format!("d{}/f{i}.txt", i % 2)).collect();
    let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), n.as_bytes())).collect();
    hub.repo("models/org/many", &files);
    let (_d, out) = out_dir();
    assert_ok(&fetch(
        &hf_spec(&hub.endpoint, "org/many", json!({})),
        &out,
        &[],
    ));
    let snapshot = out.join("snapshots").join(commit_of(&out));
    for name in &names {
        assert_eq!(std::fs::read_to_string(snapshot.join(name)).unwrap(), *name);
    }
    let pages = hub
        .log()
        .iter()
        .filter(|r| r["path"].as_str().unwrap().contains("/tree/"))
        .count();
    assert!(
        pages >= 5,
        "7 files and 2 folders at 2 a page need 5 pages, saw {pages}"
    );
}

#[test]
fn private_repo_needs_the_token_which_never_reaches_the_cdn() {
    let hub = FakeHub::start(&[]);
    let weights = weights();
    hub.repo_with(
        "models/org/private",
        json!({"private": true}),
        &[("main", &[("model.bin", &weights), ("config.json", CONFIG)])],
    );
    let spec = hf_spec(&hub.endpoint, "org/private", json!({}));

    let (_d, out) = out_dir();
    let output = fetch(&spec, &out, &[]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("org/private")
            && message.contains("private")
            && message.contains("HF_TOKEN"),
        "{message}"
    );
    assert!(!out.exists());

    hub.clear_log();
    assert_ok(&fetch(&spec, &out, &[("HF_TOKEN", TOKEN)]));
    let log = hub.log();
    assert!(
        log.iter().any(|r| r["origin"] == "cdn"),
        "the LFS file came from the CDN"
    );
    assert!(
        log.iter()
            .filter(|r| r["origin"] == "cdn")
            .all(|r| r["auth"] == false),
        "token sent to the CDN: {log:?}"
    );
    assert!(log
        .iter()
        .filter(|r| r["origin"] == "hub")
        .all(|r| r["auth"] == true));

    let token_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token_file.path(), format!("{TOKEN}\n")).unwrap();
    let (_e, from_file) = out_dir();
    let with_file = hf_spec(
        &hub.endpoint,
        "org/private",
        json!({"auth": {"tokenFile": token_file.path()}}),
    );
    assert_ok(&fetch(&with_file, &from_file, &[]));
    let (_f, from_var) = out_dir();
    let with_var = hf_spec(
        &hub.endpoint,
        "org/private",
        json!({"auth": {"tokenEnvVar": "MY_HUB_TOKEN"}}),
    );
    assert_ok(&fetch(&with_var, &from_var, &[("MY_HUB_TOKEN", TOKEN)]));

    for dir in [&out, &from_file, &from_var] {
        let text: Vec<String> = tree(dir)
            .into_iter()
            .map(|(p, e)| format!("{p} {e}"))
            .collect();
        assert!(!text.join("\n").contains(TOKEN));
        for blob in std::fs::read_dir(dir.join("blobs")).unwrap() {
            let bytes = std::fs::read(blob.unwrap().path()).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(TOKEN),
                "token written into the output"
            );
        }
    }
}

#[test]
fn clear_errors_for_gated_missing_repo_revision() {
    let hub = hub_with_model();
    hub.repo_with(
        "models/org/gated",
        json!({"gated": true}),
        &[("main", &[("config.json", CONFIG)])],
    );
    let gated_url = format!("{}/org/gated", hub.endpoint);
    let cases = [
        (
            json!({}),
            "org/gated",
            vec![
                "gated",
                "accept its license",
                gated_url.as_str(),
                "HF_TOKEN",
            ],
        ),
        (
            json!({}),
            "org/missing",
            vec!["org/missing", "not found", &hub.endpoint],
        ),
        (
            json!({"revision": "nope"}),
            "org/model",
            vec!["revision 'nope' not found", "org/model"],
        ),
    ];
    for (extra, repo, needles) in cases {
        let (_d, out) = out_dir();
        let output = fetch(&hf_spec(&hub.endpoint, repo, extra), &out, &[]);
        assert!(!output.status.success());
        let message = stderr(&output);
        for needle in needles {
            assert!(
                message.contains(needle),
                "{repo}: {needle:?} not in {message}"
            );
        }
        assert!(!out.exists());
    }
    let (_d, out) = out_dir();
    let output = fetch(
        &hf_spec(&hub.endpoint, "org/gated", json!({})),
        &out,
        &[("HF_TOKEN", "hf_someone_else")],
    );
    assert!(
        stderr(&output).contains("no access to gated repo org/gated"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn unreachable_endpoint_is_named() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let (_d, out) = out_dir();
    let output = fetch(
        &hf_spec(&endpoint, "org/model", json!({"network": {"retries": 1}})),
        &out,
        &[],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("cannot reach") && stderr(&output).contains(&endpoint),
        "{}",
        stderr(&output)
    );
}

#[test]
fn retries_429_honouring_retry_after_and_ratelimit() {
    let hub = hub_with_model();
    hub.add_fault(json!({"path": "config.json", "kind": "status", "status": 429, "retry_after": 1, "times": 1}));
    hub.add_fault(json!({"path": "README.md", "kind": "status", "status": 429, "retry_after": 1, "ratelimit": true, "times": 1}));
    hub.add_fault(
        json!({"path": "model.safetensors", "kind": "status", "status": 503, "times": 2}),
    );
    let (_d, out) = out_dir();
    let started = Instant::now();
    assert_ok(&fetch(
        &hf_spec(&hub.endpoint, "org/model", json!({})),
        &out,
        &[],
    ));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    let statuses: Vec<u64> = hub
        .body_requests("/config.json")
        .iter()
        .filter(|r| {
            let path = r["path"].as_str().unwrap();
            !path.contains("copy/") && !path.contains("1_Pooling/")
        })
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses.first(), Some(&429));
    assert_eq!(statuses.last(), Some(&200));

    hub.add_fault(json!({"path": "config.json", "kind": "status", "status": 429, "retry_after": 0, "times": 100}));
    let (_e, limited) = out_dir();
    let output = fetch(
        &hf_spec(
            &hub.endpoint,
            "org/model",
            json!({"network": {"retries": 2}}),
        ),
        &limited,
        &[],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("rate limited") && stderr(&output).contains("after 2 retries"),
        "{}",
        stderr(&output)
    );
    assert!(!limited.exists());
}

#[test]
fn cut_connection_resumes_with_range() {
    let hub = hub_with_model();
    hub.add_fault(
        json!({"path": "model.safetensors", "kind": "cut", "after_bytes": 100_000, "on": "cdn"}),
    );
    let (_d, out) = out_dir();
    assert_ok(&fetch(
        &hf_spec(&hub.endpoint, "org/model", json!({})),
        &out,
        &[],
    ));
    let weights = weights();
    assert_eq!(
        std::fs::read(out.join("blobs").join(sha256_hex(&weights))).unwrap(),
        weights
    );
    let cdn: Vec<_> = hub
        .log()
        .into_iter()
        .filter(|r| r["origin"] == "cdn")
        .collect();
    assert_eq!(cdn.len(), 2, "{cdn:?}");
    let resumed = cdn[1]["range"].as_str().unwrap_or_default();
    let start: u64 = resumed
        .trim_start_matches("bytes=")
        .split('-')
        .next()
        .unwrap()
        .parse()
        .unwrap_or(0);
    assert!(
        start > 0 && start <= 100_000,
        "resumed at {resumed:?}, not from zero"
    );
}

#[test]
fn wrong_bytes_fail_naming_the_file_and_leave_nothing() {
    let hub = hub_with_model();
    hub.add_fault(json!({"path": "model.safetensors", "kind": "wrong-bytes", "after_bytes": 1000, "times": 100}));
    let (dir, out) = out_dir();
    let output = fetch(&hf_spec(&hub.endpoint, "org/model", json!({})), &out, &[]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("model.safetensors") && message.contains("sha256 mismatch"),
        "{message}"
    );
    assert!(
        message.contains(&sha256_hex(&weights())),
        "names the expected digest: {message}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no output and no staging folder left"
    );
}

#[test]
fn wrong_bytes_fail_a_prefetch_naming_the_file() {
    // prefetch checks each blob in the same pass as the NAR hash: LFS and git blobs.
    for (path, algorithm) in [
        ("model.safetensors", "sha256 mismatch"),
        ("config.json", "git blob sha1 mismatch"),
    ] {
        let hub = hub_with_model();
        hub.add_fault(json!({"path": path, "kind": "wrong-bytes", "after_bytes": 0, "times": 100}));
        let output = prefetch(&hub, "hf:org/model", &["--no-add"]);
        assert!(!output.status.success(), "{path}");
        let message = stderr(&output);
        assert!(
            message.contains(path) && message.contains(algorithm),
            "{path}: {message}"
        );
    }
}

#[test]
fn large_file_is_fetched_as_parallel_ranges() {
    let hub = FakeHub::start(&[]);
    let big = pseudo_random(40 << 20, 7);
    hub.repo("models/org/big", &[("model.safetensors", &big)]);
    let (_d, out) = out_dir();
    assert_ok(&fetch(
        &hf_spec(&hub.endpoint, "org/big", json!({})),
        &out,
        &[],
    ));
    assert_eq!(
        std::fs::read(out.join("blobs").join(sha256_hex(&big))).unwrap(),
        big
    );
    let ranges: Vec<String> = hub
        .log()
        .into_iter()
        .filter(|r| r["origin"] == "cdn")
        .map(|r| r["range"].as_str().unwrap_or("none").to_string())
        .collect();
    assert!(
        ranges.len() >= 3 && ranges.iter().all(|r| r.starts_with("bytes=")),
        "{ranges:?}"
    );
}

#[test]
fn a_server_that_ignores_range_requests_is_named() {
    let hub = FakeHub::start(&[]);
    // Two ranges: 16 MiB and the rest.
    let big = pseudo_random((16 << 20) + 1000, 8);
    hub.repo("models/org/big", &[("model.safetensors", &big)]);
    hub.add_fault(
        json!({"path": "model.safetensors", "kind": "ignore-range", "on": "cdn", "times": 100}),
    );
    let (message, nothing_left) = failed_fetch(&hub, "org/big", &[]);
    assert!(
        message.contains("ignored the Range request for bytes ")
            && message.contains(" of model.safetensors and sent the whole file (HTTP 200)")
            && message.contains("does not serve byte ranges"),
        "{message}"
    );
    assert!(nothing_left);

    // A file in one piece, whose download resumes after a cut.
    let hub = hub_with_model();
    hub.add_fault(
        json!({"path": "model.safetensors", "kind": "cut", "after_bytes": 1000, "on": "cdn"}),
    );
    hub.add_fault(
        json!({"path": "model.safetensors", "kind": "ignore-range", "on": "cdn", "times": 100}),
    );
    let (message, _) = failed_fetch(&hub, "org/model", &[]);
    let last = weights().len() - 1;
    assert!(
        message.contains(&format!(
            "ignored the Range request for bytes 1000-{last} of model.safetensors"
        )),
        "{message}"
    );
}

#[test]
fn prefetch_starts_with_one_request_and_widens_while_the_link_sets_the_pace() {
    // Each connection gets 8 MiB/s, so one request leaves the NAR hasher waiting: every 25 ms
    // the fetch doubles its requests, up to network.concurrency. Before the first 25 ms, only
    // one request may start (10 ms leaves room for a slow start of the first).
    let hub = FakeHub::start(&["--connection-mib-per-s", "8"]);
    let weights: Vec<Vec<u8>> = (0..6).map(|i| pseudo_random(2 << 20, 40 + i)).collect();
    let names: Vec<String> = (0..6).map(|i| format!("model-{i}.safetensors")).collect();
    let files: Vec<(&str, &[u8])> = names
        .iter()
        .zip(&weights)
        .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
        .collect();
    hub.repo("models/org/sharded", &files);
    let output = prefetch(&hub, "hf:org/sharded", &["--no-add"]);
    assert_ok(&output);

    let bodies: Vec<(f64, f64)> = hub
        .log()
        .into_iter()
        .filter(|r| r["origin"] == "cdn" && r["bytes_sent"].as_u64() == Some(2 << 20))
        .map(|r| (r["started"].as_f64().unwrap(), r["ended"].as_f64().unwrap()))
        .collect();
    assert_eq!(bodies.len(), 6, "{bodies:?}");
    let first = bodies.iter().map(|b| b.0).fold(f64::INFINITY, f64::min);
    let early = bodies.iter().filter(|b| b.0 < first + 0.01).count();
    assert_eq!(early, 1, "more than one request at the start: {bodies:?}");
    let most_at_once = bodies
        .iter()
        .map(|(at, _)| bodies.iter().filter(|b| b.0 <= *at && *at < b.1).count())
        .max()
        .unwrap();
    assert!(
        most_at_once >= 4,
        "at most {most_at_once} requests at once: {bodies:?}"
    );
}

#[test]
fn slow_body_times_out_with_a_clear_error() {
    let hub = hub_with_model();
    hub.add_fault(json!({"path": "model.safetensors", "kind": "slow", "delay": 30, "times": 100, "on": "cdn"}));
    let (_d, out) = out_dir();
    let spec = hf_spec(
        &hub.endpoint,
        "org/model",
        json!({"network": {"timeout": 1, "retries": 1}}),
    );
    let started = Instant::now();
    let output = fetch(&spec, &out, &[]);
    assert!(!output.status.success());
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(stderr(&output).contains("timed out"), "{}", stderr(&output));
    assert!(!out.exists());
}

#[test]
fn interrupt_stops_within_a_second_and_leaves_nothing() {
    let hub = hub_with_model();
    hub.add_fault(json!({"path": "model.safetensors", "kind": "slow", "delay": 60, "times": 100, "on": "cdn"}));
    let (dir, out) = out_dir();
    let spec_dir = tempfile::tempdir().unwrap();
    let spec_file = spec_dir.path().join("spec.json");
    std::fs::write(
        &spec_file,
        hf_spec(
            &hub.endpoint,
            "org/model",
            json!({"network": {"timeout": 120}}),
        )
        .to_string(),
    )
    .unwrap();
    let mut child = cli()
        .args(["--quiet", "fetch", "--spec"])
        .arg(&spec_file)
        .arg("--out")
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let downloading = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .any(|staging| {
                std::fs::read_dir(staging.path().join("blobs"))
                    .into_iter()
                    .flatten()
                    .flatten()
                    .any(|blob| {
                        blob.file_name().to_string_lossy().ends_with(".incomplete")
                            && blob.metadata().is_ok()
                    })
            })
    };
    while !downloading() {
        assert!(Instant::now() < deadline, "the download never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let interrupted = Instant::now();
    send_signal(child.id(), "INT");
    let status = child.wait().unwrap();
    assert!(
        interrupted.elapsed() < Duration::from_secs(1),
        "took {:?}",
        interrupted.elapsed()
    );
    assert_eq!(status.code(), Some(130));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no output and no staging folder left"
    );
}

fn send_signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn prefetch_prints_what_to_pin_and_adds_to_the_store() {
    let hub = hub_with_model();
    let output = prefetch(&hub, "hf:org/model", &["--json", "--exclude", "*.md"]);
    assert_ok(&output);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["repo"], "org/model");
    assert_eq!(report["name"], "models--org--model");
    assert_eq!(report["commit"].as_str().unwrap().len(), 40);
    assert!(!report["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "README.md"));
    let hash = report["hash"].as_str().unwrap();
    assert!(hash.starts_with("sha256-"));
    let path = report["storePath"].as_str().unwrap();
    match std::process::Command::new("nix-store")
        .args([
            "--print-fixed-path",
            "--recursive",
            "sha256",
            hash,
            "models--org--model",
        ])
        .output()
    {
        Ok(fixed) if fixed.status.success() => {
            assert_eq!(String::from_utf8_lossy(&fixed.stdout).trim(), path);
            assert_eq!(report["addedToStore"], true, "{report}");
            assert!(Path::new(path).join("refs/main").exists());
            assert_eq!(nix_hash(Path::new(path)).as_deref(), Some(hash));
        }
        _ => eprintln!("SKIP store checks: nix-store is not installed"),
    }

    let output = prefetch(&hub, "hf:org/model", &["--nix", "--no-add"]);
    assert_ok(&output);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("source.huggingface = {") && text.contains("repo = \"org/model\";"),
        "{text}"
    );
    assert!(
        text.contains("revision = \"main\";\n    commit = \"") && text.contains("hash = \"sha256-"),
        "{text}"
    );
}

#[test]
fn hostile_listings_are_refused_before_anything_is_written() {
    let hub = FakeHub::start(&[]);
    let oid = git_blob_sha1(b"x");
    let hostile = [
        "../evil",
        "/etc/passwd",
        "a/../../evil",
        "a\\..\\evil",
        "a//b",
        "nul\u{0}byte",
        "config.json/inside",
    ];
    for (index, path) in hostile.iter().enumerate() {
        let repo = format!("org/hostile{index}");
        let entry = json!({"type": "file", "path": path, "oid": oid, "size": 1});
        hub.repo_with(
            &format!("models/{repo}"),
            json!({"extra_tree_entries": [entry]}),
            &[("main", &[("config.json", CONFIG)])],
        );
        hub.clear_log();
        let (dir, out) = out_dir();
        let output = fetch(&hf_spec(&hub.endpoint, &repo, json!({})), &out, &[]);
        assert!(!output.status.success(), "{path:?} was accepted");
        assert!(
            stderr(&output).contains("refusing unsafe path"),
            "{path:?}: {}",
            stderr(&output)
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{path:?}: something was written"
        );
        assert!(
            hub.body_requests("config.json").is_empty(),
            "{path:?}: a file was downloaded"
        );
    }
}

#[test]
fn a_listed_file_missing_at_download_is_named() {
    let hub = FakeHub::start(&[]);
    let ghost =
        json!({"type": "file", "path": "ghost.json", "oid": git_blob_sha1(b"boo"), "size": 3});
    hub.repo_with(
        "models/org/haunted",
        json!({"extra_tree_entries": [ghost]}),
        &[("main", &[("config.json", CONFIG)])],
    );
    let (dir, out) = out_dir();
    let output = fetch(&hf_spec(&hub.endpoint, "org/haunted", json!({})), &out, &[]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("file 'ghost.json' not found in repo org/haunted at commit"),
        "{message}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn fetch_checks_the_spec_hash_and_keeps_nothing_on_a_mismatch() {
    let hub = hub_with_model();
    let (_d, first) = out_dir();
    assert_ok(&fetch(
        &hf_spec(&hub.endpoint, "org/model", json!({})),
        &first,
        &[],
    ));
    let good = nix_fetch_model::nar::nar_hash(&first).unwrap().to_sri();

    let (_e, pinned) = out_dir();
    let spec = hf_spec(&hub.endpoint, "org/model", json!({"hash": good}));
    assert_ok(&fetch(&spec, &pinned, &[]));

    let wrong = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let (dir, mismatched) = out_dir();
    let output = fetch(
        &hf_spec(&hub.endpoint, "org/model", json!({"hash": wrong})),
        &mismatched,
        &[],
    );
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains(&format!("specified: {wrong}"))
            && message.contains(&format!("got:    {good}")),
        "{message}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_signal_while_nix_store_adds_the_model_stops_prefetch() {
    use std::os::unix::fs::PermissionsExt;
    let hub = hub_with_model();
    // A nix-store that sends SIGTERM to its caller while it adds, as `timeout` would, then
    // fails: the command would go on to report the model as not added.
    let bin = tempfile::tempdir().unwrap();
    let nix_store = bin.path().join("nix-store");
    std::fs::write(&nix_store, "#!/bin/sh\nkill -TERM $PPID\nsleep 1\nexit 1\n").unwrap();
    std::fs::set_permissions(&nix_store, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    let output = cli()
        .env("PATH", path)
        .args([
            "--quiet",
            "prefetch",
            "hf:org/model",
            "--endpoint",
            &hub.endpoint,
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(143), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("interrupted by SIGTERM"),
        "{}",
        stderr(&output)
    );
    assert!(output.stdout.is_empty(), "a report was printed");
}

#[test]
fn prefetch_names_the_store_path() {
    let hub = hub_with_model();
    let output = prefetch(
        &hub,
        "hf:org/model",
        &[
            "--json",
            "--no-add",
            "--name",
            "my-model",
            "--include",
            "*.json",
        ],
    );
    assert_ok(&output);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        report["storePath"].as_str().unwrap().ends_with("-my-model"),
        "{report}"
    );
    assert_eq!(report["addedToStore"], false);
    let files: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        ["1_Pooling/config.json", "config.json", "copy/config.json"]
    );
}

/// The CDN's file bodies (GETs) from the log.
fn cdn_bodies(hub: &FakeHub) -> Vec<serde_json::Value> {
    hub.log()
        .into_iter()
        .filter(|r| r["origin"] == "cdn" && r["method"] == "GET")
        .collect()
}

#[test]
fn a_range_that_fails_for_good_stops_its_file_at_once() {
    // Six ranges queued behind one request: the first answers 403, and the fetch ends there
    // instead of downloading the five others first.
    let hub = FakeHub::start(&[]);
    let big = vec![7u8; (5 << 24) + 1];
    hub.repo("models/org/big", &[("model.safetensors", &big)]);
    hub.add_fault(
        json!({"path": "model.safetensors", "kind": "status", "status": 403, "on": "cdn"}),
    );
    let (dir, out) = out_dir();
    let spec = hf_spec(
        &hub.endpoint,
        "org/big",
        json!({"network": {"concurrency": 1}}),
    );
    let output = fetch(&spec, &out, &[]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("HTTP 403"), "{}", stderr(&output));
    let requests = cdn_bodies(&hub);
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_server_that_keeps_cutting_after_a_few_bytes_is_given_up_on() {
    // Each answer brings 1000 bytes and breaks: bytes, but no real progress. The range's
    // retries run out (3 here) instead of being refilled by every 1000 bytes.
    let hub = hub_with_model();
    hub.add_fault(json!({"path": "model.safetensors", "kind": "cut", "after_bytes": 1000, "times": 40, "on": "cdn"}));
    let (dir, out) = out_dir();
    let output = fetch(&hf_spec(&hub.endpoint, "org/model", json!({})), &out, &[]);
    assert!(
        !output.status.success(),
        "the fetch went on until the cuts stopped"
    );
    let message = stderr(&output);
    assert!(
        message.contains("keeps cutting the connection")
            && message.contains("4 tries")
            && message.contains("network.retries"),
        "{message}"
    );
    assert_eq!(cdn_bodies(&hub).len(), 4, "one try and 3 retries");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn retries_and_waits_are_shown_as_warnings() {
    let hub = hub_with_model();
    hub.add_fault(json!({"path": "config.json", "kind": "status", "status": 429, "retry_after": 1, "times": 1}));
    hub.add_fault(
        json!({"path": "model.safetensors", "kind": "cut", "after_bytes": 100, "on": "cdn"}),
    );
    let (_d, out) = out_dir();
    let output = fetch(&hf_spec(&hub.endpoint, "org/model", json!({})), &out, &[]);
    assert_ok(&output);
    let warnings: Vec<&str> = std::str::from_utf8(&output.stderr)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert!(
        warnings.iter().any(|w| w.contains("config.json")
            && w.contains("HTTP 429")
            && w.contains("retrying in 1.0 s")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("model.safetensors")
            && w.contains("after 100 bytes")
            && w.contains("; retrying in ")),
        "{warnings:?}"
    );

    // An endpoint that is down, then up: each wait is shown before "cannot reach" or success.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let (_e, out) = out_dir();
    let output = fetch(
        &hf_spec(&endpoint, "org/model", json!({"network": {"retries": 2}})),
        &out,
        &[],
    );
    assert!(!output.status.success());
    let message = stderr(&output);
    let waits: Vec<&str> = message
        .lines()
        .filter(|l| l.starts_with("warning: ") && l.contains(&endpoint))
        .collect();
    assert_eq!(waits.len(), 2, "{message}");
    assert!(
        waits[0].contains("connection failed")
            && waits[0].contains("retrying in 250 ms (retry 1 of 2)"),
        "{message}"
    );
    assert!(
        waits[1].contains("retrying in 500 ms (retry 2 of 2)"),
        "{message}"
    );
}

#[test]
fn listing_pages_that_loop_or_leave_the_host_are_refused() {
    let hub = FakeHub::start(&["--page-size", "2"]);
    let files: &[(&str, &[u8])] = &[("a.txt", b"a"), ("b.txt", b"b"), ("c.txt", b"c")];
    let elsewhere = format!("{}/api/models/org/away/tree/main?recursive=true", hub.cdn);
    let gone = "/api/models/org/no-such-repo/tree/main?recursive=true";
    // (repo, the last page's next link, what the message says after "listing of repo <repo> ",
    // given the URL of the first page without its query)
    type Expected<'a> = Box<dyn Fn(&str) -> String + 'a>;
    let cases: [(&str, &str, Expected); 4] = [
        (
            "org/loop",
            "?recursive=true",
            Box::new(|first: &str| format!("loops: its next page, {first}, was read already")),
        ),
        (
            "org/round",
            "?recursive=true&page={n}",
            Box::new(|first: &str| {
                format!("goes round: its page {first} lists no path that earlier pages did not")
            }),
        ),
        (
            "org/away",
            &elsewhere,
            Box::new(|_: &str| {
                format!(
                    "on {} sends its next page to another host, \
                     {}/api/models/org/away/tree/main: refusing it",
                    hub.endpoint, hub.cdn
                )
            }),
        ),
        (
            "org/gone",
            gone,
            Box::new(|_: &str| {
                format!(
                    "stops short: its next page, {}/api/models/org/no-such-repo/tree/main, \
                     answered HTTP 404",
                    hub.endpoint
                )
            }),
        ),
    ];
    for (repo, link, _) in &cases {
        hub.repo_with(
            &format!("models/{repo}"),
            json!({"tree_next_link": link}),
            &[("main", files)],
        );
    }
    for (repo, _, expected) in &cases {
        hub.clear_log();
        let (dir, out) = out_dir();
        let spec = hf_spec(&hub.endpoint, repo, json!({}));
        let (mut command, _spec) = fetch_command(&spec, &out, &[], &[]);
        let output = output_within(&mut command, Duration::from_secs(60));
        assert!(!output.status.success(), "{repo}");
        let log = hub.log();
        let first_path = log
            .iter()
            .map(|r| r["path"].as_str().unwrap())
            .find(|path| path.contains("/tree/"))
            .unwrap();
        let first = format!("{}{first_path}", hub.endpoint);
        let message = stderr(&output);
        assert!(
            message.contains(&format!("listing of repo {repo} {}", expected(&first))),
            "{repo}: {message}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(
            log.iter().all(|r| r["origin"] == "hub"),
            "{repo}: another host was asked"
        );
    }
}

/// Names in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A fetch of org/model into `out` whose download of model.safetensors the hub holds.
fn held_fetch(hub: &FakeHub, out: &Path) -> (std::process::Child, tempfile::TempDir) {
    hub.add_fault(
        json!({"path": "model.safetensors", "kind": "hold", "after_bytes": 1000, "on": "cdn"}),
    );
    let spec = hf_spec(&hub.endpoint, "org/model", json!({}));
    let (mut command, spec_dir) = fetch_command(&spec, out, &[], &[]);
    let child = command.stderr(Stdio::piped()).spawn().unwrap();
    hub.wait_until_held(1);
    (child, spec_dir)
}

#[test]
fn sigterm_and_sighup_stop_a_fetch_and_leave_nothing() {
    let hub = hub_with_model();
    for (signal, status) in [("TERM", 143), ("HUP", 129)] {
        let (dir, out) = out_dir();
        let (child, _spec) = held_fetch(&hub, &out);
        send_signal(child.id(), signal);
        let output = child.wait_with_output().unwrap();
        hub.release();
        assert_eq!(output.status.code(), Some(status), "SIG{signal}");
        assert!(
            stderr(&output).contains(&format!("interrupted by SIG{signal}")),
            "{}",
            stderr(&output)
        );
        assert!(
            names_in(dir.path()).is_empty(),
            "SIG{signal} left {:?}",
            names_in(dir.path())
        );
    }
}

#[test]
fn the_next_fetch_removes_what_a_killed_one_left_and_nothing_else() {
    let hub = hub_with_model();
    let (dir, out) = out_dir();
    for other in [".other.partial-1-abcdef", "model-notes"] {
        std::fs::create_dir(dir.path().join(other)).unwrap();
    }
    let (mut child, _spec) = held_fetch(&hub, &out);
    send_signal(child.id(), "KILL");
    child.wait().unwrap();
    hub.release();
    let left = names_in(dir.path());
    assert!(
        left.iter().any(|n| n.starts_with(".model.partial-")),
        "kill -9 left nothing to clean: {left:?}"
    );
    assert_ok(&fetch(
        &hf_spec(&hub.endpoint, "org/model", json!({})),
        &out,
        &[],
    ));
    assert_eq!(
        names_in(dir.path()),
        [".other.partial-1-abcdef", "model", "model-notes"]
    );
}

#[test]
fn a_fetch_keeps_the_folder_of_a_live_fetch_to_the_same_output() {
    let hub = hub_with_model();
    let (dir, out) = out_dir();
    let (first, _spec) = held_fetch(&hub, &out);
    let staging_of_first = names_in(dir.path());
    assert_eq!(staging_of_first.len(), 1, "{staging_of_first:?}");
    assert_ok(&fetch(
        &hf_spec(&hub.endpoint, "org/model", json!({})),
        &out,
        &[],
    ));
    let mut expected = vec!["model".to_string(), staging_of_first[0].clone()];
    expected.sort();
    assert_eq!(
        names_in(dir.path()),
        expected,
        "the live fetch's folder was removed"
    );
    hub.release();
    let output = first.wait_with_output().unwrap();
    assert!(!output.status.success(), "the output was replaced");
    assert_eq!(names_in(dir.path()), ["model"]);
}

#[test]
fn the_next_prefetch_removes_the_temporary_folder_of_a_killed_one() {
    let hub = hub_with_model();
    let temp = tempfile::tempdir().unwrap();
    std::fs::create_dir(temp.path().join("nix-fetch-model-locks")).unwrap();
    hub.add_fault(json!({"path": "model.safetensors", "kind": "hold", "on": "cdn"}));
    let mut first = cli()
        .env("TMPDIR", temp.path())
        .args([
            "--quiet",
            "prefetch",
            "hf:org/model",
            "--no-add",
            "--endpoint",
            &hub.endpoint,
        ])
        .spawn()
        .unwrap();
    hub.wait_until_held(1);
    send_signal(first.id(), "KILL");
    first.wait().unwrap();
    hub.release();
    let left = names_in(temp.path());
    assert!(
        left.iter().any(|n| n.starts_with("nix-fetch-model-fetch-")),
        "kill -9 left nothing to clean: {left:?}"
    );
    let output = cli()
        .env("TMPDIR", temp.path())
        .args([
            "--quiet",
            "prefetch",
            "hf:org/model",
            "--no-add",
            "--endpoint",
            &hub.endpoint,
        ])
        .output()
        .unwrap();
    assert_ok(&output);
    assert_eq!(names_in(temp.path()), ["nix-fetch-model-locks"]);
}

/// Fetches `repo` from `hub` into a fresh folder: the failure's message, and whether the
/// folder holds nothing after.
fn failed_fetch(hub: &FakeHub, repo: &str, envs: &[(&str, &str)]) -> (String, bool) {
    let (dir, out) = out_dir();
    let output = fetch(&hf_spec(&hub.endpoint, repo, json!({})), &out, envs);
    assert!(!output.status.success(), "{repo} was fetched");
    (stderr(&output), names_in(dir.path()).is_empty())
}

/// A hub whose org/huge lists an LFS file huge.bin of `size` bytes beside its config.
fn hub_listing_a_file_of(size: u64) -> FakeHub {
    let hub = FakeHub::start(&[]);
    let huge = json!({"type": "file", "path": "huge.bin", "oid": git_blob_sha1(b"x"), "size": 1,
        "lfs": {"oid": sha256_hex(b"x"), "size": size, "pointerSize": 130}});
    hub.repo_with(
        "models/org/huge",
        json!({"extra_tree_entries": [huge]}),
        &[("main", &[("config.json", CONFIG)])],
    );
    hub
}

#[test]
fn a_listed_size_no_file_can_have_is_named() {
    let hub = hub_listing_a_file_of(u64::MAX);
    let (message, nothing_left) = failed_fetch(&hub, "org/huge", &[]);
    assert!(
        message.contains("\"huge.bin\" is listed with 18446744073709551615 bytes")
            && message.contains("more than a file can hold"),
        "{message}"
    );
    assert!(nothing_left);
}

#[test]
fn a_listed_size_beyond_the_free_space_is_refused_before_the_download() {
    let hub = hub_listing_a_file_of(i64::MAX as u64);
    let (message, nothing_left) = failed_fetch(&hub, "org/huge", &[]);
    let needed = i64::MAX as u64 + CONFIG.len() as u64;
    assert!(
        message.contains("error: not enough room in ")
            && message.contains(&format!(
                "the selected files need 8.00 EiB ({needed} bytes)"
            ))
            && message.contains("free. Free space there")
            && message.contains("or select fewer files with source.huggingface.files / exclude"),
        "{message}"
    );
    assert!(nothing_left);
    assert!(
        hub.log()
            .iter()
            .all(|r| !r["path"].as_str().unwrap().contains("/resolve/")),
        "a file was downloaded"
    );
}

#[test]
fn a_redirect_to_a_file_url_is_named() {
    let hub = hub_with_model();
    hub.add_fault(json!({"path": "config.json", "kind": "redirect", "location": "file:///etc/passwd", "on": "resolve"}));
    let (message, nothing_left) = failed_fetch(&hub, "org/model", &[]);
    assert!(
        message.contains("/config.json redirected to file:///etc/passwd")
            && message.contains("not an http(s) URL"),
        "{message}"
    );
    assert!(nothing_left);
}

#[test]
fn a_signed_cdn_url_is_shown_without_its_signature() {
    let hub = hub_with_model();
    hub.add_fault(
        json!({"path": "model.safetensors", "kind": "status", "status": 403, "on": "cdn"}),
    );
    let (message, nothing_left) = failed_fetch(&hub, "org/model", &[]);
    let blob = sha256_hex(&weights());
    assert!(
        message.contains(&format!("{}/repos/{blob} answered HTTP 403", hub.cdn)),
        "{message}"
    );
    assert!(!message.contains("Signature"), "{message}");
    assert!(nothing_left);
}

#[test]
fn a_token_a_header_cannot_carry_is_named_not_printed() {
    let hub = FakeHub::start(&[]);
    hub.repo_with(
        "models/org/private",
        json!({"private": true}),
        &[("main", &[("config.json", CONFIG)])],
    );
    let secret = "hf_fake\r\nX-Injected: token";
    let (message, nothing_left) = failed_fetch(&hub, "org/private", &[("HF_TOKEN", secret)]);
    assert!(
        message.contains("the token in the variable HF_TOKEN")
            && message.contains("a character an HTTP header cannot carry"),
        "{message}"
    );
    assert!(
        !message.contains("hf_fake") && !message.contains("cannot reach"),
        "{message}"
    );
    assert!(nothing_left);
    assert!(hub.log().is_empty(), "a request was sent");

    let token_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token_file.path(), format!("{secret}\n")).unwrap();
    let (dir, out) = out_dir();
    let spec = hf_spec(
        &hub.endpoint,
        "org/private",
        json!({"auth": {"tokenFile": token_file.path()}}),
    );
    let output = fetch(&spec, &out, &[]);
    let message = stderr(&output);
    assert!(
        message.contains(&format!(
            "the token in the file {}",
            token_file.path().display()
        )) && message.contains("a character an HTTP header cannot carry"),
        "{message}"
    );
    assert!(!message.contains("hf_fake"), "{message}");
    assert!(names_in(dir.path()).is_empty());
}

#[test]
fn two_fetches_into_one_output_say_so() {
    let hub = hub_with_model();
    let (dir, out) = out_dir();
    let (first, _spec) = held_fetch(&hub, &out);
    assert_ok(&fetch(
        &hf_spec(&hub.endpoint, "org/model", json!({})),
        &out,
        &[],
    ));
    hub.release();
    let output = first.wait_with_output().unwrap();
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains(&format!("{} appeared while this fetch ran", out.display()))
            && message.contains("another fetch into the same output"),
        "{message}"
    );
    assert_eq!(names_in(dir.path()), ["model"]);
}

#[test]
fn names_longer_than_a_file_name_can_be_are_named() {
    let hub = hub_with_model();
    let spec = hf_spec(&hub.endpoint, "org/model", json!({}));

    let (dir, _) = out_dir();
    let long = "a".repeat(300);
    let output = fetch(&spec, &dir.path().join(&long), &[]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("is 300 bytes long")
            && message.contains("255")
            && message.ends_with(": choose a shorter --out\n"),
        "{message}"
    );
    assert!(
        !message.contains(&long),
        "the whole name is printed: {message}"
    );
    assert!(names_in(dir.path()).is_empty());

    // A name that fits, whose staging folder's name would not.
    let fits = "b".repeat(250);
    assert_ok(&fetch(&spec, &dir.path().join(&fits), &[]));
    assert_eq!(names_in(dir.path()), [fits]);

    let long_path = format!("{}.txt", "c".repeat(300));
    let listed = json!({"type": "file", "path": long_path, "oid": git_blob_sha1(b"x"), "size": 1});
    hub.repo_with(
        "models/org/long-name",
        json!({"extra_tree_entries": [listed]}),
        &[("main", &[("config.json", CONFIG)])],
    );
    let (message, nothing_left) = failed_fetch(&hub, "org/long-name", &[]);
    assert!(
        message.contains(&format!(
            "error: {}...: a name in it is 304 bytes long",
            "c".repeat(40)
        )) && message.contains("more than the 255 bytes a file name can have")
            && message.contains("leave the file out with source.huggingface.exclude"),
        "{message}"
    );
    assert!(nothing_left);
    // Left out, it is nothing to write.
    let (_d, out) = out_dir();
    let spec = hf_spec(&hub.endpoint, "org/long-name", json!({"exclude": ["ccc*"]}));
    assert_ok(&fetch(&spec, &out, &[]));
}

const SIGPIPE: i32 = 13;

#[test]
fn a_closed_stdout_ends_the_command_quietly_as_other_tools() {
    use std::os::unix::process::ExitStatusExt;
    let hub = hub_with_model();
    let (_d, out) = out_dir();
    assert_ok(&fetch(
        &hf_spec(&hub.endpoint, "org/model", json!({})),
        &out,
        &[],
    ));
    let temp = tempfile::tempdir().unwrap();
    let mut prefetch = cli();
    prefetch.env("TMPDIR", temp.path()).args([
        "prefetch",
        "hf:org/model",
        "--json",
        "--no-add",
        "--endpoint",
        &hub.endpoint,
    ]);
    let mut hash = cli();
    hash.arg("hash").arg(&out);
    for mut command in [prefetch, hash] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = command
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(
            output.status.signal(),
            Some(SIGPIPE),
            "{:?}: {}",
            output.status,
            stderr(&output)
        );
        assert!(stderr(&output).is_empty(), "{}", stderr(&output));
    }
    assert!(names_in(temp.path()).is_empty());
}

/// Fetches org/model from `hub` with `envs`: the output.
fn fetch_model(hub: &FakeHub, envs: &[(&str, &str)]) -> std::process::Output {
    let (_dir, out) = out_dir();
    fetch(&hf_spec(&hub.endpoint, "org/model", json!({})), &out, envs)
}

fn with_model(hub: FakeHub) -> FakeHub {
    hub.repo(
        "models/org/model",
        &[("config.json", CONFIG), ("model.safetensors", &weights())],
    );
    hub
}

#[test]
fn an_https_hub_is_trusted_through_nix_ssl_cert_file_or_ssl_cert_file() {
    let ca = TestCa::make();
    let hub = with_model(FakeHub::start_tls(&ca, "server"));
    let (ca_pem, other_ca) = (ca.file("ca.pem"), ca.file("other-ca.pem"));

    let refused = fetch_model(&hub, &[]);
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(
        message.contains(&format!(
            "the TLS certificate of {} is refused",
            hub.endpoint
        )) && message.contains("unknown issuer")
            && message.contains("NIX_SSL_CERT_FILE or SSL_CERT_FILE")
            && message.contains("ssl-cert-file"),
        "{message}"
    );
    assert!(
        !message.contains("retrying"),
        "a refused certificate is retried: {message}"
    );

    assert_ok(&fetch_model(&hub, &[("NIX_SSL_CERT_FILE", &ca_pem)]));
    assert_ok(&fetch_model(&hub, &[("SSL_CERT_FILE", &ca_pem)]));
    let nix_first = fetch_model(
        &hub,
        &[("NIX_SSL_CERT_FILE", &other_ca), ("SSL_CERT_FILE", &ca_pem)],
    );
    assert!(
        stderr(&nix_first).contains("unknown issuer"),
        "SSL_CERT_FILE was used although NIX_SSL_CERT_FILE is set: {}",
        stderr(&nix_first)
    );

    let wrong_host = with_model(FakeHub::start_tls(&ca, "wrong-host"));
    let refused = fetch_model(&wrong_host, &[("NIX_SSL_CERT_FILE", &ca_pem)]);
    assert!(
        stderr(&refused).contains("wrong host"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn a_bundle_named_by_a_variable_must_be_usable() {
    let hub = hub_with_model();
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let missing = dir.path().join("missing.pem");
    for (variable, file, problem) in [
        ("NIX_SSL_CERT_FILE", &missing, "does not exist"),
        ("SSL_CERT_FILE", &empty, "holds no PEM certificate"),
    ] {
        let output = fetch_model(&hub, &[(variable, file.to_str().unwrap())]);
        assert!(!output.status.success());
        let message = stderr(&output);
        assert!(
            message.contains(&format!(
                "{variable} names {}, which {problem}",
                file.display()
            )),
            "{message}"
        );
    }
    // In a Nix build, the sandbox may hide the file: a warning, and the fetch goes on.
    let output = fetch_model(
        &hub,
        &[
            ("NIX_SSL_CERT_FILE", missing.to_str().unwrap()),
            ("NIX_BUILD_TOP", dir.path().to_str().unwrap()),
        ],
    );
    assert_ok(&output);
    assert!(
        stderr(&output).contains("warning: NIX_SSL_CERT_FILE names"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_bundle_named_twice_is_read_once() {
    use nix_fetch_model::tls::extra_roots;
    let ca = TestCa::make();
    let pem = ca.file("ca.pem");
    let link = ca.dir.path().join("link-to-ca.pem");
    std::os::unix::fs::symlink(&pem, &link).unwrap();
    let notify: nix_fetch_model::notice::Notify = std::sync::Arc::new(|_| {});
    let env = |name: &str| (name == "NIX_SSL_CERT_FILE").then(|| pem.clone());
    for ca_file in [Path::new(&pem), link.as_path()] {
        let roots = extra_roots(Some(ca_file), &env, &notify).unwrap();
        assert_eq!(roots.len(), 1, "{}", ca_file.display());
    }
    let other = ca.file("other-ca.pem");
    let roots = extra_roots(Some(Path::new(&other)), &env, &notify).unwrap();
    assert_eq!(roots.len(), 2);
}

#[test]
fn fetch_options_ca_file_is_trusted_besides_the_built_in_roots() {
    use nix_fetch_model::fetch::{fetch_into, FetchOptions};
    let ca = TestCa::make();
    let hub = with_model(FakeHub::start_tls(&ca, "server"));
    let spec =
        nix_fetch_model::spec::check(&hf_spec(&hub.endpoint, "org/model", json!({})).to_string())
            .unwrap();
    let root = tempfile::tempdir().unwrap();
    let refused = fetch_into(&spec, root.path(), &FetchOptions::default()).unwrap_err();
    assert!(
        matches!(refused, nix_fetch_model::Error::Certificate { .. }),
        "{refused}"
    );
    let root = tempfile::tempdir().unwrap();
    let options = FetchOptions {
        ca_file: Some(ca.file("ca.pem").into()),
        ..FetchOptions::default()
    };
    let outcome = fetch_into(&spec, root.path(), &options).unwrap();
    assert_eq!(outcome.files, ["config.json", "model.safetensors"]);
}

#[test]
fn proxies_carry_the_requests_and_no_proxy_bypasses_them() {
    let Some(proxy) = Tinyproxy::start() else {
        println!("SKIP: tinyproxy is not installed (scripts/setup.sh installs tinyproxy-bin)");
        return;
    };
    let hub = hub_with_model();
    let hub_host = hub.endpoint.trim_start_matches("http://").to_string();
    for variable in ["http_proxy", "HTTP_PROXY", "all_proxy"] {
        let before = proxy.requests().len();
        assert_ok(&fetch_model(&hub, &[(variable, &proxy.url)]));
        let requests = proxy.requests()[before..].to_vec();
        assert!(
            requests
                .iter()
                .any(|r| r.starts_with(&format!("GET http://{hub_host}/api/")))
                && requests.iter().any(|r| r.contains("/resolve/")),
            "{variable}: {requests:?}"
        );
    }
    let before = proxy.requests().len();
    assert_ok(&fetch_model(
        &hub,
        &[("http_proxy", &proxy.url), ("no_proxy", "127.0.0.1")],
    ));
    assert_eq!(proxy.requests().len(), before, "no_proxy was not honoured");

    let ca = TestCa::make();
    let tls_hub = with_model(FakeHub::start_tls(&ca, "server"));
    let ca_pem = ca.file("ca.pem");
    for variable in ["https_proxy", "HTTPS_PROXY"] {
        let before = proxy.requests().len();
        assert_ok(&fetch_model(
            &tls_hub,
            &[(variable, &proxy.url), ("NIX_SSL_CERT_FILE", &ca_pem)],
        ));
        let tunnels = proxy.requests()[before..].to_vec();
        let hub_port = tls_hub.endpoint.rsplit(':').next().unwrap();
        let cdn_port = tls_hub.cdn.rsplit(':').next().unwrap();
        for port in [hub_port, cdn_port] {
            assert!(
                tunnels.contains(&format!("CONNECT 127.0.0.1:{port}")),
                "{variable}: {tunnels:?}"
            );
        }
    }
}
