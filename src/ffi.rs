//! The bridge the Nix plugin (cpp/) calls: plain data in and out, errors as
//! messages (C++ gets them as `rust::Error` exceptions, text intact).
//!
//! A fetch runs on its own thread; the C++ caller polls it ([`Fetch::wait`])
//! so that Nix's interrupt state and logger are only touched from Nix's thread.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::fetch::{
    fetch_into_with_nar_hash, verify_nar_hash, CancelFlag, FetchOptions, NarSummary, Progress,
};
use crate::hash::parse_sha256;
use crate::hub::choose_endpoint;
use crate::spec::{FetchSpec, SPEC_KEYS};
use crate::store_path::fixed_output_path;

#[cxx::bridge(namespace = "nfm")]
mod bridge {
    /// What a spec asks for, known without any network use.
    struct Plan {
        /// Store path name.
        name: String,
        /// `org/name`.
        repo: String,
        revision: String,
        /// The Hub the fetch talks to.
        endpoint: String,
        /// The URL prefixes the fetch will contact (restricted mode checks them).
        urls: Vec<String>,
        /// The pinned NAR hash (SRI), empty when the spec has none.
        hash: String,
        /// The store path of the pinned hash, empty when the spec has none.
        store_path: String,
        /// A lock file that serialises fetches of `store_path`, empty when the spec has none.
        lock_path: String,
    }

    /// The store path a spec pins, if it has a hash: all a cache hit needs.
    #[derive(Debug)]
    struct Pinned {
        /// The pinned NAR hash (SRI), empty when the spec has none.
        hash: String,
        /// Its store path, empty when the spec has no hash.
        store_path: String,
    }

    /// A finished, verified fetch, still in its temporary directory.
    #[derive(Clone)]
    struct Fetched {
        /// The directory to add to the store (removed when the `Fetch` is dropped).
        dir: String,
        commit: String,
        /// NAR hash of `dir` (SRI).
        nar_hash: String,
        /// Size of the NAR serialisation of `dir`.
        nar_size: u64,
        /// The store path `dir` gets when added (recursive, sha256).
        store_path: String,
    }

    struct FetchProgress {
        done_bytes: u64,
        total_bytes: u64,
    }

    extern "Rust" {
        type Fetch;

        /// Parses and checks the spec (JSON as `builtins.toJSON` prints it) for a store at `store_dir`.
        fn plan(spec_json: &str, store_dir: &str) -> Result<Plan>;

        /// The store path that a spec's `hash` and `name` pin (no URLs, no lock: a cache hit
        /// outside restricted mode needs only this). Empty when `hash` is empty.
        fn pinned(hash: &str, name: &str, store_dir: &str) -> Result<Pinned>;

        /// Whether a spec may have a top-level attribute named `key`.
        fn is_spec_key(key: &str) -> bool;

        /// Starts fetching into a fresh temporary directory; returns at once.
        fn start_fetch(spec_json: &str, store_dir: &str) -> Result<Box<Fetch>>;

        /// Waits up to `timeout_ms` for the fetch to end; true when it has ended.
        fn wait(self: &mut Fetch, timeout_ms: u32) -> bool;

        fn progress(self: &Fetch) -> FetchProgress;

        /// Messages for the user (retries, server waits) since the last call.
        fn take_notices(self: &Fetch) -> Vec<String>;

        /// The result of an ended fetch; an error if it failed, was cancelled or
        /// its NAR hash differs from the spec's `hash`.
        fn result(self: &mut Fetch) -> Result<Fetched>;

        /// Creates the folder of `Plan::lock_path`.
        fn create_lock_dir() -> Result<()>;

        /// The commit of a model already in the store (its one `snapshots/<commit>`), whose
        /// NAR hash is `nar_hash` (SRI).
        fn commit_in_store(store_path: &str, nar_hash: &str) -> Result<String>;

        /// The commit [`commit_in_store`] last gave for `nar_hash`; empty if none.
        fn remembered_commit(nar_hash: &str) -> String;
    }
}

pub use bridge::{FetchProgress, Fetched, Pinned, Plan};

fn plan(spec_json: &str, store_dir: &str) -> Result<Plan, String> {
    let spec = FetchSpec::from_json(spec_json).map_err(message)?;
    let hf = spec.huggingface();
    let endpoint = endpoint(&spec);
    let urls = vec![
        format!("{endpoint}/api/{}/{}", hf.repo.kind.plural(), hf.repo.id),
        format!("{endpoint}/{}{}", hf.repo.kind.url_prefix(), hf.repo.id),
    ];
    let (hash, store_path, lock_path) = match &spec.hash {
        None => Default::default(),
        Some(hash) => {
            let store_path = fixed_output_path(store_dir, &spec.name, hash).map_err(message)?;
            let lock_path = lock_path_for(&store_path);
            (hash.to_sri(), store_path, lock_path)
        }
    };
    Ok(Plan {
        name: spec.name.clone(),
        repo: hf.repo.id.clone(),
        revision: hf.revision.clone(),
        endpoint,
        urls,
        hash,
        store_path,
        lock_path,
    })
}

fn pinned(hash: &str, name: &str, store_dir: &str) -> Result<Pinned, String> {
    if hash.is_empty() {
        return Ok(Pinned {
            hash: String::new(),
            store_path: String::new(),
        });
    }
    let hash = parse_sha256(hash).map_err(|e| format!("hash: {e}"))?;
    Ok(Pinned {
        store_path: fixed_output_path(store_dir, name, &hash).map_err(|e| format!("name: {e}"))?,
        hash: hash.to_sri(),
    })
}

fn is_spec_key(key: &str) -> bool {
    SPEC_KEYS.contains(&key)
}

fn endpoint(spec: &FetchSpec) -> String {
    choose_endpoint(&spec.network, std::env::var("HF_ENDPOINT").ok())
}

/// `$TMPDIR/nix-fetch-model-locks/<store path base name>.lock`. Not `<store path>.lock`:
/// Nix itself locks that one while it adds the path.
fn lock_path_for(store_path: &str) -> String {
    let base = Path::new(store_path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    lock_dir()
        .join(format!("{base}.lock"))
        .to_string_lossy()
        .into_owned()
}

fn lock_dir() -> std::path::PathBuf {
    std::env::temp_dir().join("nix-fetch-model-locks")
}

/// Creates the folder of the lock files (only needed on a cache miss).
fn create_lock_dir() -> Result<(), String> {
    let dir = lock_dir();
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("cannot create the lock directory {}: {e}", dir.display()))
}

/// The commit of each NAR hash read so far in this process: one NAR hash is one tree, so
/// one commit, whatever the store path's name.
static COMMITS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

fn commit_in_store(store_path: &str, nar_hash: &str) -> Result<String, String> {
    let remembered = remembered_commit(nar_hash);
    if !remembered.is_empty() {
        return Ok(remembered);
    }
    let commit = read_commit(store_path)?;
    let mut commits = COMMITS.lock().unwrap_or_else(|e| e.into_inner());
    if commits.len() >= 64 {
        commits.remove(0);
    }
    commits.push((nar_hash.to_string(), commit.clone()));
    Ok(commit)
}

fn remembered_commit(nar_hash: &str) -> String {
    let commits = COMMITS.lock().unwrap_or_else(|e| e.into_inner());
    commits
        .iter()
        .find(|(hash, _)| hash == nar_hash)
        .map(|(_, commit)| commit.clone())
        .unwrap_or_default()
}

fn read_commit(store_path: &str) -> Result<String, String> {
    let snapshots = Path::new(store_path).join("snapshots");
    let entries =
        std::fs::read_dir(&snapshots).map_err(|e| format!("{}: {e}", snapshots.display()))?;
    let commits: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    match commits.as_slice() {
        [commit] => Ok(commit.clone()),
        _ => Err(format!(
            "{} should hold exactly one commit, it holds {commits:?}",
            snapshots.display()
        )),
    }
}

/// A fetch running on its own thread, into a temporary directory it owns.
pub struct Fetch {
    cancel: CancelFlag,
    counters: Arc<Counters>,
    ended: Receiver<Result<Fetched, String>>,
    outcome: Option<Result<Fetched, String>>,
    thread: Option<JoinHandle<()>>,
    // Declared last: removed after the thread has ended (see `Drop`).
    _dir: tempfile::TempDir,
}

fn start_fetch(spec_json: &str, store_dir: &str) -> Result<Box<Fetch>, String> {
    let spec = FetchSpec::from_json(spec_json).map_err(message)?;
    let dir = tempfile::Builder::new()
        .prefix("nix-fetch-model-")
        .tempdir()
        .map_err(|e| {
            format!(
                "cannot create a temporary directory in {}: {e} (set TMPDIR to a writable directory)",
                std::env::temp_dir().display()
            )
        })?;
    // The store path is named `spec.name`: so is the directory added to the store.
    let root = dir.path().join(&spec.name);
    let cancel = CancelFlag::default();
    let counters = Arc::new(Counters::default());
    let options = FetchOptions {
        progress: counters.clone(),
        cancel: cancel.clone(),
    };
    let store_dir = store_dir.to_string();
    let (send, ended) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("nix-fetch-model".into())
        .spawn(move || {
            let _ = send.send(fetch_and_hash(&spec, &root, &options, &store_dir));
        })
        .map_err(|e| format!("cannot start the fetch thread: {e}"))?;
    Ok(Box::new(Fetch {
        cancel,
        counters,
        ended,
        outcome: None,
        thread: Some(thread),
        _dir: dir,
    }))
}

impl Fetch {
    fn wait(&mut self, timeout_ms: u32) -> bool {
        if self.outcome.is_none() {
            match self
                .ended
                .recv_timeout(Duration::from_millis(timeout_ms.into()))
            {
                Ok(outcome) => self.outcome = Some(outcome),
                Err(RecvTimeoutError::Timeout) => return false,
                Err(RecvTimeoutError::Disconnected) => {
                    self.outcome = Some(Err("the fetch thread ended without a result".into()))
                }
            }
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        true
    }

    fn progress(&self) -> FetchProgress {
        FetchProgress {
            done_bytes: self.counters.done.load(Ordering::Relaxed),
            total_bytes: self.counters.total.load(Ordering::Relaxed),
        }
    }

    fn take_notices(&self) -> Vec<String> {
        std::mem::take(
            &mut *self
                .counters
                .notices
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    fn result(&mut self) -> Result<Fetched, String> {
        while !self.wait(1000) {}
        self.outcome
            .clone()
            .unwrap_or_else(|| Err("the fetch has no result".into()))
    }
}

impl Drop for Fetch {
    /// Stops the thread before its directory goes: nothing is left behind.
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.cancel.cancel();
            while !self.wait(1000) {}
        }
    }
}

fn fetch_and_hash(
    spec: &FetchSpec,
    root: &Path,
    options: &FetchOptions,
    store_dir: &str,
) -> Result<Fetched, String> {
    std::fs::create_dir(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let (
        outcome,
        NarSummary {
            hash: nar_hash,
            size: nar_size,
        },
    ) = fetch_into_with_nar_hash(spec, root, options).map_err(message)?;
    verify_nar_hash(spec, &outcome, &nar_hash).map_err(message)?;
    let store_path = fixed_output_path(store_dir, &spec.name, &nar_hash).map_err(message)?;
    Ok(Fetched {
        dir: root.to_string_lossy().into_owned(),
        commit: outcome.commit,
        nar_hash: nar_hash.to_sri(),
        nar_size,
        store_path,
    })
}

/// Counts what the fetch reports, for the C++ side to read on its own thread.
#[derive(Default)]
struct Counters {
    total: AtomicU64,
    done: AtomicU64,
    notices: Mutex<Vec<String>>,
}

impl Progress for Counters {
    fn started(&self, _files: usize, bytes: u64) {
        self.total.store(bytes, Ordering::Relaxed);
    }

    fn advanced(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
    }

    fn notice(&self, message: &str) {
        let mut notices = self.notices.lock().unwrap_or_else(|e| e.into_inner());
        notices.push(message.to_string());
    }
}

fn message(error: impl std::fmt::Display) -> String {
    error.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const SPEC: &str = r#"{"name":"m","source":{"huggingface":{"repo":"org/name"}},
        "hash":"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        "network":{"endpoint":"http://127.0.0.1:9/"}}"#;

    #[test]
    fn plan_names_the_store_path_and_every_url() {
        let plan = plan(SPEC, "/nix/store").unwrap();
        assert_eq!(plan.endpoint, "http://127.0.0.1:9");
        assert_eq!(
            plan.urls,
            vec![
                "http://127.0.0.1:9/api/models/org/name",
                "http://127.0.0.1:9/org/name"
            ]
        );
        assert!(plan.store_path.starts_with("/nix/store/") && plan.store_path.ends_with("-m"));
        assert!(plan
            .lock_path
            .ends_with(&format!("{}.lock", &plan.store_path["/nix/store/".len()..])));
    }

    #[test]
    fn pinned_is_the_plans_store_path() {
        let plan = plan(SPEC, "/nix/store").unwrap();
        for hash in [
            "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
            "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            let pin = pinned(hash, "m", "/nix/store").unwrap();
            assert_eq!((&pin.hash, &pin.store_path), (&plan.hash, &plan.store_path));
        }
        assert_eq!(pinned("", "m", "/nix/store").unwrap().store_path, "");
        let bad_hash = pinned("sha256-short", "m", "/nix/store").unwrap_err();
        assert!(bad_hash.starts_with("hash: "), "{bad_hash}");
        let bad_name = pinned(&plan.hash, "has space", "/nix/store").unwrap_err();
        assert!(bad_name.starts_with("name: "), "{bad_name}");
    }

    #[test]
    fn commit_is_read_once_per_nar_hash() {
        let dir = tempfile::tempdir().unwrap();
        let hash = "sha256-commit-test-only";
        std::fs::create_dir_all(dir.path().join("snapshots/abc")).unwrap();
        let path = dir.path().to_str().unwrap();
        assert_eq!(remembered_commit(hash), "");
        assert_eq!(commit_in_store(path, hash).unwrap(), "abc");
        std::fs::remove_dir_all(dir.path().join("snapshots")).unwrap();
        assert_eq!(commit_in_store(path, hash).unwrap(), "abc");
        assert_eq!(remembered_commit(hash), "abc");
        assert!(commit_in_store(path, "sha256-other").is_err());
    }

    #[test]
    fn plan_without_hash_has_no_store_path() {
        let plan = plan(
            r#"{"source":{"huggingface":{"repo":"org/name"}}}"#,
            "/nix/store",
        )
        .unwrap();
        assert_eq!((plan.hash.as_str(), plan.store_path.as_str()), ("", ""));
        assert_eq!(plan.name, "models--org--name");
    }

    #[test]
    fn failed_fetch_leaves_no_directory() {
        // Port 9 (discard) refuses connections: the fetch fails fast.
        let mut fetch = start_fetch(
            r#"{"source":{"huggingface":{"repo":"org/name"}},
               "network":{"endpoint":"http://127.0.0.1:9","retries":0,"timeout":2}}"#,
            "/nix/store",
        )
        .unwrap();
        let dir: PathBuf = fetch._dir.path().to_path_buf();
        assert!(fetch.result().is_err());
        drop(fetch);
        assert!(!dir.exists());
    }
}
