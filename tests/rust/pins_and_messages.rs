//! The CLI against the fake Hub: commit pins, what `prefetch` pins, the messages of a hash
//! mismatch and of a builder without a token, flags named as flags, credentials never shown.

mod support;

use std::path::{Path, PathBuf};

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
            "network": {"endpoint": hub.endpoint},
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
             revision = \"main\";\n    commit = \"{commit}\";\n  }};\n  network.endpoint = \"{}\";\n  \
             hash = \"{}\";\n}}\n",
            hub.endpoint,
            report["hash"].as_str().unwrap()
        )
    );

    // The pin fetches the same tree.
    let (_d, out) = out_dir();
    assert_ok(&fetch(&report["pin"], &out, &[]));

    // A revision that is a commit needs no commit beside it.
    let at_commit = prefetch_json(&hub, &format!("hf:org/moving@{commit}"));
    assert_eq!(
        at_commit["pin"]["source"]["huggingface"],
        json!({"repo": "org/moving", "revision": commit})
    );
}

/// The hash `main` had when it was `v1`: the tree of v1's commit, with `refs/main`.
fn hash_of_main_at(hub: &FakeHub, commit: &str) -> String {
    let (_d, out) = out_dir();
    let spec = hf_spec(&hub.endpoint, "org/moving", json!({"commit": commit}));
    assert_ok(&fetch(&spec, &out, &[]));
    nix_fetch_model::nar::nar_hash(&out).unwrap().to_sri()
}

#[test]
fn a_stale_hash_without_a_commit_says_the_branch_may_have_moved() {
    let hub = hub_with_two_commits();
    let before = prefetch_json(&hub, "hf:org/moving@v1")["commit"]
        .as_str()
        .unwrap()
        .to_string();
    let now = prefetch_json(&hub, "hf:org/moving");
    let (now_commit, now_hash) = (
        now["commit"].as_str().unwrap(),
        now["hash"].as_str().unwrap(),
    );
    let stale = hash_of_main_at(&hub, &before);

    for args in [&[][..], &["--direct"][..]] {
        let (dir, out) = out_dir();
        let spec = hf_spec(&hub.endpoint, "org/moving", json!({"hash": stale}));
        let output = fetch_with(&spec, &out, &[], args);
        assert!(
            !output.status.success(),
            "{args:?}: the stale hash was accepted"
        );
        let message = stderr(&output);
        for needle in [
            format!("specified: {stale}"),
            format!("got:    {now_hash}"),
            "revision 'main' may have moved since the hash was pinned".to_string(),
            format!("it is now at commit {now_commit}"),
            format!("source.huggingface.commit = \"{now_commit}\";"),
        ] {
            assert!(
                message.contains(&needle),
                "{args:?}: no {needle:?} in {message}"
            );
        }
        if args.is_empty() {
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        }
    }

    // Pinned to the commit, the same hash fetches what it was made from.
    let (_d, out) = out_dir();
    let pinned = json!({"hash": stale, "revision": "main", "commit": before});
    assert_ok(&fetch_with(
        &hf_spec(&hub.endpoint, "org/moving", pinned),
        &out,
        &[],
        &["--direct"],
    ));

    // With a commit, a mismatch is a plain one: the content cannot have moved.
    let wrong = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    let (_e, out) = out_dir();
    let pinned = json!({"hash": wrong, "commit": before});
    let output = fetch(&hf_spec(&hub.endpoint, "org/moving", pinned), &out, &[]);
    let message = stderr(&output);
    assert!(
        message.contains(&format!("specified: {wrong}")) && !message.contains("may have moved"),
        "{message}"
    );
}

#[test]
fn a_builder_without_a_token_says_how_to_give_it_one() {
    let hub = FakeHub::start(&[]);
    for (repo, settings) in [
        ("org/private", json!({"private": true})),
        ("org/gated", json!({"gated": true})),
    ] {
        hub.repo_with(
            &format!("models/{repo}"),
            settings,
            &[("main", &[("a.txt", b"x")])],
        );
        let spec = hf_spec(&hub.endpoint, repo, json!({}));
        let builder_help = [
            "fixed-output derivation",
            "hf auth login",
            "load the plugin",
            "auth.tokenFile = \"/path/to/token\"",
            "nixbld",
            "nix-daemon's environment",
        ];
        for (envs, args) in [
            (&[][..], &["--direct"][..]),
            (&[("NIX_BUILD_TOP", "/build")][..], &[][..]),
        ] {
            let (_d, out) = out_dir();
            let message = stderr(&fetch_with(&spec, &out, envs, args));
            for needle in builder_help.iter().chain([&repo]) {
                assert!(
                    message.contains(needle),
                    "{repo} {args:?}: no {needle:?} in {message}"
                );
            }
        }
        let (_d, out) = out_dir();
        let message = stderr(&fetch(&spec, &out, &[]));
        assert!(
            message.contains(repo) && !message.contains("fixed-output"),
            "outside a builder: {message}"
        );
    }
}

#[test]
fn prefetch_names_its_flags_and_shows_no_credentials() {
    let output = cli()
        .args([
            "prefetch",
            "hf:org/name@../x",
            "--concurrency",
            "0",
            "--endpoint",
            "https://me:hf_secret@hub.example",
            "--name",
            "a b",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let message = stderr(&output);
    let expected = "error: nix-fetch-model prefetch:\n  \
        - hf:org/name@../x: @revision '../x' has a '.' or '..' segment: give a branch, a tag, refs/pr/N or a commit\n  \
        - --name: 'a b' may only hold letters, digits and + - . _ ? =\n  \
        - --endpoint: 'https://***@hub.example' holds credentials: a URL is printed, logged and stored, so it must not hold a token; give the token with HF_TOKEN, auth.tokenFile or auth.tokenEnvVar\n  \
        - --concurrency: must be a whole number from 1 to 256\n";
    assert_eq!(message, expected);

    let output = cli()
        .args(["prefetch", "hf:a/b/c", "--endpoint", "ftp://x"])
        .output()
        .unwrap();
    let message = stderr(&output);
    assert!(
        message.contains("  - hf:a/b/c: repo 'a/b/c' is not 'org/name'")
            && message.contains("  - --endpoint: 'ftp://x' is not an http:// or https:// URL"),
        "{message}"
    );
}

#[test]
fn prefetch_suggests_its_flags_where_a_fetch_suggests_the_specs_attributes() {
    let hub = hub_with_two_commits();
    let output = prefetch(&hub, "hf:org/moving", &["--include", "*.bin", "--no-add"]);
    let message = stderr(&output);
    assert!(
        message.contains("matches --include [\"*.bin\"] / --exclude []"),
        "{message}"
    );
    let (_d, out) = out_dir();
    let spec = hf_spec(&hub.endpoint, "org/moving", json!({"files": ["*.bin"]}));
    let message = stderr(&fetch(&spec, &out, &[]));
    assert!(
        message.contains("matches source.huggingface.files = [\"*.bin\"] / exclude = []"),
        "{message}"
    );

    hub.add_fault(
        json!({"path": "a.txt", "kind": "redirect", "location": "file:///etc/passwd",
        "on": "resolve", "times": 2}),
    );
    let message = stderr(&prefetch(&hub, "hf:org/moving", &["--no-add"]));
    assert!(
        message.contains("Check --endpoint / HF_ENDPOINT") && !message.contains("network."),
        "{message}"
    );
    let (_d, out) = out_dir();
    let spec = hf_spec(&hub.endpoint, "org/moving", json!({}));
    let message = stderr(&fetch(&spec, &out, &[]));
    assert!(
        message.contains("Check network.endpoint / HF_ENDPOINT"),
        "{message}"
    );
}

#[test]
fn a_pinned_commit_that_is_not_in_the_repo_names_the_commit_attribute() {
    let hub = hub_with_two_commits();
    let (_d, out) = out_dir();
    let missing = "0123456789abcdef0123456789abcdef01234567";
    let spec = hf_spec(&hub.endpoint, "org/moving", json!({"commit": missing}));
    let message = stderr(&fetch(&spec, &out, &[]));
    assert!(
        message.starts_with(&format!(
            "error: commit {missing} (source.huggingface.commit) not found in repo org/moving"
        )),
        "{message}"
    );
    // A commit as the revision is a revision.
    let spec = hf_spec(&hub.endpoint, "org/moving", json!({"revision": missing}));
    let message = stderr(&fetch(&spec, &out, &[]));
    assert!(
        message.starts_with(&format!(
            "error: revision '{missing}' not found in repo org/moving"
        )),
        "{message}"
    );
}

#[test]
fn hf_endpoint_with_credentials_is_refused_unshown() {
    let (_d, out) = out_dir();
    let spec = json!({"source": {"huggingface": {"repo": "org/name"}}});
    let output = fetch(
        &spec,
        &out,
        &[("HF_ENDPOINT", "http://me:hf_secret@127.0.0.1:9")],
    );
    let message = stderr(&output);
    assert!(
        message.starts_with("error: HF_ENDPOINT 'http://***@127.0.0.1:9' holds credentials")
            && !message.contains("hf_secret"),
        "{message}"
    );
}

#[test]
fn a_spec_that_is_no_json_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.json");
    std::fs::write(
        &spec,
        "{\n  \"source\": {\"huggingface\": {\"repo\": \"org/name\"}},\n  \"hash\": sha256\n}",
    )
    .unwrap();
    let output = cli()
        .args(["fetch", "--spec"])
        .arg(&spec)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(
        stderr(&output),
        format!(
            "error: {}:3:11: the spec is not valid JSON: expected value\n",
            spec.display()
        )
    );
}

/// Every problem, under the library's heading (the wording is checked against the table of
/// tests/support/bad_specs.json by `cargo test` and tests/nix/lib/parity.sh).
#[test]
fn a_bad_spec_lists_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let spec = json!({
        "source": {"huggingface": {"repo": "a/b/c", "revison": "v1"}},
        "sha256": "x",
        "network": {"endpoint": "http://me:hf_secret@host"},
    });
    let output = fetch(&spec, &dir.path().join("out"), &[]);
    let message = stderr(&output);
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines[0], "error: fetchModel (a/b/c):");
    assert_eq!(lines.len(), 5, "{message}");
    assert!(
        lines[1..].iter().all(|l| l.starts_with("  - ")),
        "{message}"
    );
    assert!(!message.contains("hf_secret"), "{message}");
    assert!(!Path::new(&dir.path().join("out")).exists());
}
