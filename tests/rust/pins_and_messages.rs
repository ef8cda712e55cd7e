//! The CLI against the fake Hub: commit pins and what `prefetch` pins.

mod support;

use std::path::PathBuf;

use serde_json::{json, Value};
use support::*;

const COMMIT_LEN: usize = 40;

/// `org/moving`: `main` holds one file, the tag `v1` another.
fn hub_with_two_commits() -> FakeHub {
    let hub = FakeHub::start(&[]);
    hub.repo_with(
        "models/org/moving",
        json!({}),
        &[
            ("main", &[("a.txt", b"now")]),
            ("v1", &[("a.txt", b"before")]),
        ],
    );
    hub
}

fn out_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    (dir, out)
}

fn prefetch_json(hub: &FakeHub, reference: &str) -> Value {
    let output = prefetch(hub, reference, &["--json", "--no-add"]);
    assert_ok(&output);
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn a_commit_pin_asks_nothing_about_the_branch_and_writes_it_as_the_branch() {
    let hub = hub_with_two_commits();
    let before = prefetch_json(&hub, "hf:org/moving@v1")["commit"]
        .as_str()
        .unwrap()
        .to_string();
    hub.clear_log();

    let (_d, out) = out_dir();
    let spec = hf_spec(
        &hub.endpoint,
        "org/moving",
        json!({"revision": "main", "commit": before}),
    );
    assert_ok(&fetch(&spec, &out, &[]));

    assert_eq!(
        std::fs::read_to_string(out.join("refs/main")).unwrap(),
        before
    );
    assert_eq!(
        std::fs::read_to_string(out.join(format!("snapshots/{before}/a.txt"))).unwrap(),
        "before"
    );
    let asked: Vec<String> = hub
        .log()
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !asked.iter().any(|p| p.contains("/revision/")),
        "asked where a revision points: {asked:?}"
    );
    assert!(
        asked.contains(&format!("/api/models/org/moving/tree/{before}")),
        "{asked:?}"
    );
}

#[test]
fn prefetch_pins_the_commit_as_an_attribute() {
    let hub = hub_with_two_commits();
    let report = prefetch_json(&hub, "hf:org/moving");
    let commit = report["commit"].as_str().unwrap();
    assert_eq!(commit.len(), COMMIT_LEN);
    assert_eq!(
        report["pin"],
        json!({
            "name": "models--org--moving",
            "source": {"huggingface": {"repo": "org/moving", "revision": "main", "commit": commit}},
            "hash": report["hash"],
        })
    );

    let output = prefetch(&hub, "hf:org/moving", &["--nix", "--no-add"]);
    assert_ok(&output);
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        text,
        format!(
            "{{\n  name = \"models--org--moving\";\n  source.huggingface = {{\n    repo = \"org/moving\";\n    \
             revision = \"main\";\n    commit = \"{commit}\";\n  }};\n  hash = \"{}\";\n}}\n",
            report["hash"].as_str().unwrap()
        )
    );

    // The pin fetches the same tree.
    let (_d, out) = out_dir();
    let mut pin = report["pin"].clone();
    pin["network"] = json!({"endpoint": hub.endpoint});
    assert_ok(&fetch(&pin, &out, &[]));

    // A revision that is a commit needs no commit beside it.
    let at_commit = prefetch_json(&hub, &format!("hf:org/moving@{commit}"));
    assert_eq!(
        at_commit["pin"]["source"]["huggingface"],
        json!({"repo": "org/moving", "revision": commit})
    );
}
