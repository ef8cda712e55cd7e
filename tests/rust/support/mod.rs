//! Test support: the fake Hub (tests/support/fake_hub.py) as a child process,
//! fixture repos written into its root, and the CLI under test.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

pub const TOKEN: &str = "hf_fake_token";

/// The files of one revision: (path, bytes).
pub type Files<'a> = &'a [(&'a str, &'a [u8])];

pub fn project_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct FakeHub {
    child: Child,
    pub endpoint: String,
    pub cdn: String,
    pub root: tempfile::TempDir,
}

/// A certificate authority made for the test (tests/support/test_ca.py).
pub struct TestCa {
    pub dir: tempfile::TempDir,
}

impl TestCa {
    pub fn make() -> TestCa {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("python3")
            .arg(project_dir().join("tests/support/test_ca.py"))
            .arg(dir.path())
            .stdout(Stdio::null())
            .status()
            .expect("python3 runs test_ca.py");
        assert!(status.success(), "test_ca.py (openssl) failed");
        TestCa { dir }
    }

    /// `ca`, `other-ca`, `server`, `wrong-host`: the certificate; with `.key`, its key.
    pub fn file(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }
}

impl FakeHub {
    /// A fake Hub speaking HTTPS with the certificate `name` of `ca` (`server`, `wrong-host`).
    pub fn start_tls(ca: &TestCa, name: &str) -> FakeHub {
        let (cert, key) = (
            ca.file(&format!("{name}.pem")),
            ca.file(&format!("{name}.key")),
        );
        FakeHub::start(&["--tls-cert", &cert, "--tls-key", &key])
    }

    /// Starts a fake Hub serving an empty root; add repos with [`FakeHub::repo`].
    pub fn start(extra_args: &[&str]) -> FakeHub {
        let root = tempfile::tempdir().unwrap();
        let mut child = Command::new("python3")
            .arg(project_dir().join("tests/support/fake_hub.py"))
            .arg("--root")
            .arg(root.path())
            .args(extra_args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the fake hub");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("fake hub said {line:?}: {e}"));
        FakeHub {
            child,
            endpoint: ready["endpoint"].as_str().unwrap().to_string(),
            cdn: ready["cdn"].as_str().unwrap().to_string(),
            root,
        }
    }

    /// Writes the files of the `main` revision of `repo` (e.g. "models/org/name").
    pub fn repo(&self, repo: &str, files: Files) -> &Self {
        write_files(&self.root.path().join(repo), files);
        self
    }

    /// Writes a repo with several revisions and `_hub.json` settings (`private`, `gated`, ...).
    pub fn repo_with(&self, repo: &str, settings: Value, revisions: &[(&str, Files)]) -> &Self {
        let dir = self.root.path().join(repo);
        let mut settings = settings;
        let mut map = serde_json::Map::new();
        for (index, (revision, files)) in revisions.iter().enumerate() {
            let folder = format!("rev{index}");
            write_files(&dir.join(&folder), files);
            map.insert(revision.to_string(), Value::String(folder));
        }
        settings["revisions"] = Value::Object(map);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("_hub.json"), settings.to_string()).unwrap();
        self
    }

    pub fn add_fault(&self, fault: Value) {
        admin(
            "POST",
            &format!("{}/_admin/faults", self.endpoint),
            Some(fault),
        );
    }

    pub fn clear_faults(&self) {
        admin("DELETE", &format!("{}/_admin/faults", self.endpoint), None);
    }

    pub fn log(&self) -> Vec<Value> {
        serde_json::from_str(&admin(
            "GET",
            &format!("{}/_admin/log", self.endpoint),
            None,
        ))
        .unwrap()
    }

    /// Waits until `count` bodies are held by "hold" faults (a guard fails the test after a
    /// minute, far beyond the time it takes).
    #[track_caller]
    pub fn wait_until_held(&self, count: u64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let held: Value = serde_json::from_str(&admin(
                "GET",
                &format!("{}/_admin/held", self.endpoint),
                None,
            ))
            .unwrap();
            if held["held"] == count {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{count} bodies never held: {held}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Lets every held body go on.
    pub fn release(&self) {
        admin("POST", &format!("{}/_admin/release", self.endpoint), None);
    }

    pub fn clear_log(&self) {
        admin("DELETE", &format!("{}/_admin/log", self.endpoint), None);
    }

    /// File body requests (resolve and CDN GETs) for `path`, from the log.
    pub fn body_requests(&self, path_suffix: &str) -> Vec<Value> {
        self.log()
            .into_iter()
            .filter(|r| {
                r["method"] == "GET" && r["path"].as_str().is_some_and(|p| p.ends_with(path_suffix))
            })
            .collect()
    }
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_files(dir: &Path, files: Files) {
    for (path, bytes) in files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, bytes).unwrap();
    }
}

fn admin(method: &str, url: &str, body: Option<Value>) -> String {
    let mut command = Command::new("curl");
    // The admin API of a TLS hub (--tls-cert) is not what a test checks: no verification.
    command.args(["-sS", "--fail", "--insecure", "-X", method, url]);
    if let Some(body) = body {
        command.args([
            "-H",
            "Content-Type: application/json",
            "--data",
            &body.to_string(),
        ]);
    }
    let output = command.output().expect("curl runs");
    assert!(
        output.status.success(),
        "{method} {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Bytes that look random and are the same on every run.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}

/// The CLI with a clean environment: no token, no HF_* from the host, no proxy, no TLS roots
/// besides the built-in ones, not in a Nix build.
pub fn cli() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nix-fetch-model"));
    for var in [
        "NIX_BUILD_TOP",
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HF_TOKEN_PATH",
        "HF_ENDPOINT",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
        "NIX_SSL_CERT_FILE",
        "SSL_CERT_FILE",
        "NIX_BUILD_TOP",
    ] {
        command.env_remove(var);
    }
    let home = tempfile::tempdir().unwrap().keep();
    command.env("HOME", &home).env("HF_HOME", home.join("hf"));
    command
}

/// `nix-fetch-model fetch` of `spec` into `out`, with `envs` and more arguments (`--direct`);
/// the spec's file lives as long as the returned folder.
pub fn fetch_command(
    spec: &Value,
    out: &Path,
    envs: &[(&str, &str)],
    args: &[&str],
) -> (Command, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let spec_file = dir.path().join("spec.json");
    std::fs::write(&spec_file, spec.to_string()).unwrap();
    let mut command = cli();
    command
        .args(["--quiet", "fetch", "--spec"])
        .arg(&spec_file)
        .arg("--out")
        .arg(out)
        .args(args);
    command.envs(envs.iter().copied());
    (command, dir)
}

/// Runs `nix-fetch-model fetch` of `spec` into `out`.
pub fn fetch(spec: &Value, out: &Path, envs: &[(&str, &str)]) -> Output {
    fetch_with(spec, out, envs, &[])
}

/// [`fetch`] with more arguments (`--direct`).
pub fn fetch_with(spec: &Value, out: &Path, envs: &[(&str, &str)], args: &[&str]) -> Output {
    let (mut command, _spec_dir) = fetch_command(spec, out, envs, args);
    command.output().unwrap()
}

/// Runs `command`, failing the test if it has not ended after `limit` (a guard against a
/// fetch that never ends, far beyond the time it takes).
#[track_caller]
pub fn output_within(command: &mut Command, limit: std::time::Duration) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!("still running after {limit:?}: {}", stderr(&output));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Runs `nix-fetch-model prefetch` of `reference` (`hf:org/name`) from `hub`, with `args`.
pub fn prefetch(hub: &FakeHub, reference: &str, args: &[&str]) -> Output {
    cli()
        .args([
            "--quiet",
            "prefetch",
            reference,
            "--endpoint",
            &hub.endpoint,
        ])
        .args(args)
        .output()
        .unwrap()
}

pub fn hf_spec(endpoint: &str, repo: &str, extra: Value) -> Value {
    let mut source = serde_json::json!({ "repo": repo });
    let mut spec =
        serde_json::json!({ "network": { "endpoint": endpoint, "retries": 3, "timeout": 10 } });
    if let Value::Object(map) = extra {
        for (key, value) in map {
            match key.as_str() {
                "network" => {
                    for (k, v) in value.as_object().unwrap() {
                        spec["network"][k] = v.clone();
                    }
                }
                "name" | "hash" | "auth" => spec[key.as_str()] = value,
                _ => source[key.as_str()] = value,
            }
        }
    }
    spec["source"] = serde_json::json!({ "huggingface": source });
    spec
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[track_caller]
pub fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "failed: {}\n{}",
        output.status,
        stderr(output)
    );
}

/// Nix's own NAR hash of `dir` in SRI form (`nix hash path`; Nix 2.8's `nix-hash`
/// has no `--sri`), or None when Nix is not installed.
pub fn nix_hash(dir: &Path) -> Option<String> {
    let output = Command::new("nix")
        .args([
            "--extra-experimental-features",
            "nix-command",
            "hash",
            "path",
            "--type",
            "sha256",
        ])
        .arg(dir)
        .output()
        .ok()?;
    assert!(
        output.status.success(),
        "nix hash path: {}",
        stderr(&output)
    );
    Some(String::from_utf8(output.stdout).unwrap().trim().to_string())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

pub fn git_blob_sha1(bytes: &[u8]) -> String {
    use sha1::Digest;
    let mut hasher = sha1::Sha1::new();
    hasher.update(format!("blob {}\0", bytes.len()).as_bytes());
    hasher.update(bytes);
    hex::encode(hasher.finalize())
}

/// Every entry under `dir` as (relative path, "link -> target" | "file <sha256>" | "dir").
pub fn tree(dir: &Path) -> Vec<(String, String)> {
    let mut entries = Vec::new();
    walk(dir, dir, &mut entries);
    entries.sort();
    entries
}

fn walk(root: &Path, dir: &Path, entries: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let relative = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let meta = path.symlink_metadata().unwrap();
        if meta.file_type().is_symlink() {
            entries.push((
                relative,
                format!("link -> {}", std::fs::read_link(&path).unwrap().display()),
            ));
        } else if meta.is_dir() {
            entries.push((relative, "dir".into()));
            walk(root, &path, entries);
        } else {
            entries.push((
                relative,
                format!("file {}", sha256_hex(&std::fs::read(&path).unwrap())),
            ));
        }
    }
}

/// Debian's tinyproxy on a free loopback port, logging each request; stopped when dropped.
pub struct Tinyproxy {
    child: Child,
    pub url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tinyproxy {
    /// None when tinyproxy is not installed (scripts/setup.sh installs it).
    pub fn start() -> Option<Tinyproxy> {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (config, log) = (dir.path().join("tinyproxy.conf"), dir.path().join("log"));
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 60\nLogFile \"{}\"\nLogLevel Info\n\
                 MaxClients 50\nAllow 127.0.0.1\n",
                log.display()
            ),
        )
        .unwrap();
        let child = Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let proxy = Tinyproxy {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "tinyproxy never listened"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Some(proxy)
    }

    /// The requests the proxy received so far: "GET http://..." or "CONNECT host:port".
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.split_once("): ").map(|(_, r)| r))
            .filter(|request| request.starts_with("GET ") || request.starts_with("CONNECT "))
            .map(|request| request.trim_end_matches(" HTTP/1.1").to_string())
            .collect()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
