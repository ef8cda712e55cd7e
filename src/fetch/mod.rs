//! A whole fetch: resolve the revision, list and select the files, download the
//! blobs in parallel with verification, and write the cache layout.

mod download;
mod nar_stream;
mod nar_trail;
mod progress;
mod room;
mod segments;
mod verify;
mod widening;

pub use nar_stream::{NarStream, Read as NarRead};
pub use nar_trail::NarSummary;
pub use progress::{CancelFlag, Progress, Silent};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use self::download::{download_blob, Blob, Downloads};
use self::nar_trail::{NarFollow, NarTrail, StopOnDrop, TrailBlob};
use crate::error::{Error, HashMismatch, IoContext, Result, SettingNames};
use crate::hash::Sha256Hash;
use crate::http::ClientSetup;
use crate::hub::{find_token, HubClient, RepoFile};
use crate::layout;
use crate::notice::Notify;
use crate::patterns::PathFilter;
use crate::spec::{FetchSpec, HfSource};
use crate::tls;

/// Checks the NAR hash `got` of what `outcome` fetched against the spec's `hash`, if any.
pub fn verify_nar_hash(spec: &FetchSpec, outcome: &FetchOutcome, got: &Sha256Hash) -> Result<()> {
    match &spec.hash {
        Some(specified) if specified != got => {
            let hf = spec.huggingface();
            Err(Error::HashMismatch(Box::new(HashMismatch {
                name: spec.name.clone(),
                repo: hf.repo.id.clone(),
                revision: hf.revision.clone(),
                commit: outcome.commit.clone(),
                commit_pinned: hf.commit_is_pinned(),
                specified: specified.to_sri(),
                got: got.to_sri(),
            })))
        }
        _ => Ok(()),
    }
}

/// Files larger than this are downloaded as parallel ranges of this size.
const RANGE_SIZE: u64 = 16 << 20;

pub struct FetchOptions {
    pub progress: Arc<dyn Progress>,
    pub cancel: CancelFlag,
    /// With [`fetch_into_with_nar_hash`], the NAR goes here too, as it is hashed, for a store
    /// that takes it as a stream; the blobs on disk are emptied once streamed. The caller
    /// commits or fails the stream once it has checked the hash.
    pub nar_stream: Option<Arc<NarStream>>,
    /// A file of PEM root certificates to trust besides the built-in ones and those of
    /// NIX_SSL_CERT_FILE/SSL_CERT_FILE (the plugin gives Nix's `ssl-cert-file`).
    pub ca_file: Option<PathBuf>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            progress: Arc::new(Silent),
            cancel: CancelFlag::default(),
            nar_stream: None,
            ca_file: None,
        }
    }
}

/// What was fetched.
#[derive(Debug, Clone)]
pub struct FetchOutcome {
    pub endpoint: String,
    pub revision: String,
    pub commit: String,
    /// Paths of the fetched files, sorted.
    pub files: Vec<String>,
    pub bytes: u64,
}

/// Fetches `spec` into `root`, an existing empty folder, which then holds one repo
/// folder of the Hub cache. On error `root` may hold partial content: the caller
/// discards it (see [`layout::StagingDir`]).
pub fn fetch_into(spec: &FetchSpec, root: &Path, options: &FetchOptions) -> Result<FetchOutcome> {
    fetch(spec, root, options, false).map(|(outcome, _)| outcome)
}

/// [`fetch_into`], and the NAR hash of the fetched tree, computed while the blobs
/// download: what [`crate::nar::nar_hash`] gives for `root` afterwards (read from disk if
/// the tree turned out other than planned).
pub fn fetch_into_with_nar_hash(
    spec: &FetchSpec,
    root: &Path,
    options: &FetchOptions,
) -> Result<(FetchOutcome, NarSummary)> {
    let (outcome, followed) = fetch(spec, root, options, true)?;
    let summary = match (followed, &options.nar_stream) {
        (Some(summary), _) => summary,
        (None, None) => nar_trail::nar_summary_from_disk(root, &options.cancel)?,
        (None, Some(_)) => {
            return Err(Error::Internal(
                "the fetched tree is not the one streamed to the store".into(),
            ))
        }
    };
    Ok((outcome, summary))
}

fn fetch(
    spec: &FetchSpec,
    root: &Path,
    options: &FetchOptions,
    nar: bool,
) -> Result<(FetchOutcome, Option<NarSummary>)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("(tokio runtime)", e))?;
    let result = runtime.block_on(async {
        tokio::select! {
            result = fetch_hf(spec, spec.huggingface(), root, options, nar) => result,
            _ = cancelled(&options.cancel) => Err(Error::Interrupted),
        }
    });
    options.progress.finished();
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn cancelled(cancel: &CancelFlag) {
    while !cancel.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

async fn fetch_hf(
    spec: &FetchSpec,
    source: &HfSource,
    root: &Path,
    options: &FetchOptions,
    nar: bool,
) -> Result<(FetchOutcome, Option<NarSummary>)> {
    let progress = options.progress.clone();
    let notify: Notify = Arc::new(move |notice: &str| progress.notice(notice));
    let setup = ClientSetup {
        token: find_token(&spec.auth, &env)?,
        extra_roots: tls::extra_roots(options.ca_file.as_deref(), &env, &notify)?,
        notify,
    };
    let hub = HubClient::new(&spec.network, env("HF_ENDPOINT"), setup)?;
    let commit = match &source.commit {
        Some(pinned) => pinned.clone(),
        None => hub.resolve_commit(&source.repo, &source.revision).await?,
    };
    let listing = hub
        .list_files(&source.repo, &commit)
        .await
        .map_err(|error| naming_the_pin(error, source))?;
    layout::check_listing(listing.iter().map(|f| f.path.as_str()))?;
    let selected = select(&listing, source, &commit)?;
    layout::check_names_fit(selected.iter().map(|f| f.path.as_str()))?;

    let mut blobs = unique_blobs(&selected, root);
    let sizes = blobs.iter().map(|b| b.size);
    let streamed = options.nar_stream.is_some();
    room::check_room(root, room::needed_bytes(sizes.clone(), streamed), streamed)?;
    let bytes = sizes.fold(0, u64::saturating_add);
    let blobs_dir = root.join("blobs");
    std::fs::create_dir_all(&blobs_dir).at(&blobs_dir)?;
    let trail = nar.then(|| {
        let blobs = blobs.iter_mut().map(follow).collect();
        Arc::new(NarTrail::new(blobs, options.nar_stream.clone()))
    });
    let _stop_trail = trail.clone().map(StopOnDrop);
    let trailing = trail.clone().map(|trail| {
        let cancel = options.cancel.clone();
        tokio::task::spawn_blocking(move || trail.hash_blobs(&cancel))
    });
    options.progress.started(blobs.len(), bytes);

    let endpoint = hub.endpoint().to_string();
    let concurrency = spec.network.concurrency;
    let requests = Arc::new(Semaphore::new(match trail {
        Some(_) => widening::FIRST_WIDTH,
        None => concurrency,
    }));
    let _widening = trail.as_ref().map(|trail| {
        let widen = widening::widen(requests.clone(), concurrency, trail.waits());
        AbortOnDrop(tokio::spawn(widen))
    });
    let shared = Arc::new(Downloads {
        hub,
        repo: source.repo.clone(),
        commit: commit.clone(),
        requests,
        turn: nar.then(|| tokio::sync::watch::Sender::new(0)),
        range_size: RANGE_SIZE,
        progress: options.progress.clone(),
        cancel: options.cancel.clone(),
    });
    if let Err(error) = download_all(shared, blobs, concurrency).await {
        return Err(match (error, trailing) {
            (Error::Interrupted, Some(trailing)) => {
                // The NAR hasher stopped first: its error says why.
                if let Some(trail) = &trail {
                    trail.stop();
                }
                match joined(trailing.await) {
                    Ok(Err(hasher_error)) | Err(hasher_error) => hasher_error,
                    Ok(Ok(_)) => Error::Interrupted,
                }
            }
            (error, _) => error,
        });
    }
    let hashed = match trailing {
        Some(trailing) => Some(joined(trailing.await)??),
        None => None,
    };

    let links: Vec<(&str, &str)> = selected
        .iter()
        .map(|f| (f.path.as_str(), f.oid.etag()))
        .collect();
    layout::write_snapshot(root, &source.revision, &commit, &links)?;
    layout::write_tree_cache(root, &commit, &listing)?;
    let summary = match (trail, hashed) {
        (Some(trail), Some(hashed)) => trail.finish(hashed, root)?,
        _ => None,
    };
    let outcome = FetchOutcome {
        endpoint,
        revision: source.revision.clone(),
        commit,
        files: selected.into_iter().map(|f| f.path).collect(),
        bytes,
    };
    Ok((outcome, summary))
}

/// What a task of the fetch gave: a panic in it is a bug of ours, not an interruption; a task
/// aborted (the fetch stops) is one.
fn joined<T>(ended: std::result::Result<T, tokio::task::JoinError>) -> Result<T> {
    ended.map_err(|error| {
        if error.is_panic() {
            Error::Internal(format!("a task of the fetch failed: {error}"))
        } else {
            Error::Interrupted
        }
    })
}

/// `error`, naming `source.huggingface.commit` when what the Hub does not have is that commit.
fn naming_the_pin(error: Error, source: &HfSource) -> Error {
    match (error, &source.commit) {
        (Error::RevisionNotFound { repo, .. }, Some(commit)) => Error::PinnedCommitNotFound {
            repo,
            commit: commit.clone(),
        },
        (other, _) => other,
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sets the NAR hasher to follow (and check) the download of `blob`.
fn follow(blob: &mut Blob) -> TrailBlob {
    let follow = NarFollow::new();
    let slot = follow.slot.clone();
    blob.nar = Some(follow);
    TrailBlob {
        path: blob.path.clone(),
        oid: blob.oid.clone(),
        size: blob.size,
        slot,
    }
}

/// The files `files`/`exclude` keep, sorted by path; an empty selection is an error.
fn select(listing: &[RepoFile], source: &HfSource, commit: &str) -> Result<Vec<RepoFile>> {
    let filter = PathFilter::new(&source.files, &source.exclude);
    let mut selected: Vec<RepoFile> = listing
        .iter()
        .filter(|f| filter.matches(&f.path))
        .cloned()
        .collect();
    if selected.is_empty() {
        return Err(Error::NothingSelected {
            repo: source.repo.id.clone(),
            commit: commit.to_string(),
            include: source.files.clone(),
            exclude: source.exclude.clone(),
            names: SettingNames::Spec,
        });
    }
    selected.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(selected)
}

/// One download per distinct content: files with the same etag share a blob.
fn unique_blobs(files: &[RepoFile], root: &Path) -> Vec<Blob> {
    let mut by_etag: BTreeMap<&str, &RepoFile> = BTreeMap::new();
    for file in files {
        by_etag.entry(file.oid.etag()).or_insert(file);
    }
    by_etag
        .into_values()
        .enumerate()
        .map(|(order, file)| Blob {
            order,
            path: file.path.clone(),
            size: file.size,
            oid: file.oid.clone(),
            dest: layout::blob_path(root, file.oid.etag()),
            nar: None,
        })
        .collect()
}

/// Downloads every blob, at most `2 * concurrency` files open at once; the first
/// error stops the others. Blobs open in the order given (NAR order): the NAR hasher, which
/// checks them in that order, never waits for a blob that waits for a file to open.
async fn download_all(shared: Arc<Downloads>, blobs: Vec<Blob>, concurrency: usize) -> Result<()> {
    let open_files = Arc::new(Semaphore::new(2 * concurrency));
    let mut tasks = JoinSet::new();
    let mut waiting = blobs.into_iter().peekable();
    loop {
        tokio::select! {
            permit = open_files.clone().acquire_owned(), if waiting.peek().is_some() => {
                let permit = permit.map_err(|_| Error::Interrupted)?;
                let (shared, blob) = (shared.clone(), waiting.next().expect("peeked"));
                tasks.spawn(async move {
                    let _permit = permit;
                    download_blob(shared, blob).await
                });
            }
            Some(ended) = tasks.join_next() => joined(ended)??,
            else => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};

    /// tests/support/fake_hub.py serving `root`; stopped when dropped.
    struct Hub(Child, String);

    impl Hub {
        fn start(root: &Path) -> Option<Hub> {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/fake_hub.py");
            let mut child = Command::new("python3")
                .arg(script)
                .arg("--root")
                .arg(root)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .ok()?;
            let mut line = String::new();
            BufReader::new(child.stdout.take()?)
                .read_line(&mut line)
                .ok()?;
            let ready: serde_json::Value = serde_json::from_str(&line).ok()?;
            let endpoint = ready["endpoint"].as_str()?.to_string();
            Some(Hub(child, endpoint))
        }
    }

    impl Drop for Hub {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn a_task_that_panicked_is_a_bug_to_report_not_an_interruption() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let panicked = joined(tokio::spawn(async { panic!("the bug") }).await).unwrap_err();
            assert!(
                matches!(panicked, Error::Internal(_))
                    && panicked.to_string().contains("the bug")
                    && panicked.to_string().contains("please report"),
                "{panicked}"
            );
            let waiting = tokio::spawn(std::future::pending::<()>());
            waiting.abort();
            assert!(matches!(joined(waiting.await), Err(Error::Interrupted)));
        });
    }

    #[test]
    fn nar_hash_during_the_download_is_the_hash_of_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("hub/models/org/model");
        std::fs::create_dir_all(repo.join("nested/deeper")).unwrap();
        std::fs::create_dir_all(repo.join("copy")).unwrap();
        // Two ranges for the big file; a shared blob; an empty file; LFS and git blobs.
        let big: Vec<u8> = (0..RANGE_SIZE as usize + 1_000_003)
            .map(|i| (i * 31 % 253) as u8)
            .collect();
        let files: [(&str, &[u8]); 7] = [
            ("config.json", b"{\"model_type\": \"bert\"}\n"),
            ("copy/config.json", b"{\"model_type\": \"bert\"}\n"),
            ("empty.txt", b""),
            ("nested/deeper/notes.md", b"1234567"),
            ("model.safetensors", &big),
            ("small.bin", b"12345678"),
            ("tokenizer.json", b"{}"),
        ];
        for (path, contents) in files {
            std::fs::write(repo.join(path), contents).unwrap();
        }
        let hub = Hub::start(&dir.path().join("hub"))
            .expect("python3 runs tests/support/fake_hub.py (the tests require python3)");
        for (revision, files) in [("main", "[]"), ("main", r#"["*.json", "empty.txt"]"#)] {
            let spec = crate::spec::check(&format!(
                r#"{{"source":{{"huggingface":{{"repo":"org/model","revision":"{revision}","files":{files}}}}},
                    "network":{{"endpoint":"{}"}}}}"#,
                hub.1
            ))
            .unwrap();
            let root = tempfile::tempdir().unwrap();
            let (outcome, summary) =
                fetch(&spec, root.path(), &FetchOptions::default(), true).unwrap();
            assert!(root.path().join("refs/main").exists());
            let mut nar = Vec::new();
            crate::nar::write_nar(root.path(), &mut nar).unwrap();
            assert_eq!(
                summary,
                Some(NarSummary {
                    hash: crate::nar::nar_hash(root.path()).unwrap(),
                    size: nar.len() as u64
                }),
                "files {:?}",
                outcome.files
            );
        }
    }
}
