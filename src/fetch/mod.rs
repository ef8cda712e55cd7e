//! A whole fetch: resolve the revision, list and select the files, download the
//! blobs in parallel with verification, and write the cache layout. [`plan`] stops before
//! the download, for a caller that decides from the plan whether to download it.

mod download;
mod nar_stream;
mod nar_trail;
mod progress;
mod room;
mod segments;
mod verify;
mod widening;
mod xet;

pub use nar_stream::{NarStream, Read as NarRead};
pub use nar_trail::NarSummary;
pub use progress::{CancelFlag, Progress, Silent};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use self::download::{download_blob, Blob, BlobDest, Downloads};
use self::nar_trail::{NarFollow, NarTrail, StopOnDrop, TrailBlob};
use crate::error::{Error, HashMismatch, IoContext, Result};
use crate::hash::Sha256Hash;
use crate::layout;
use crate::notice::Notify;
use crate::sources::{self, Digest, Layout, Plan, PlannedFile};
use crate::spec::FetchSpec;
use crate::tls;

/// Checks the NAR hash `got` of what `outcome` fetched against the spec's `hash`, if any.
pub fn verify_nar_hash(spec: &FetchSpec, outcome: &FetchOutcome, got: &Sha256Hash) -> Result<()> {
    match &spec.hash {
        Some(specified) if specified != got => Err(Error::HashMismatch(Box::new(HashMismatch {
            name: spec.name.clone(),
            subject: spec.source.subject(),
            revision: spec.source.revision().to_string(),
            commit: outcome.commit.clone(),
            pin: spec
                .source
                .pin_line(&outcome.commit)
                .or_else(|| resolved_pin(spec.source.kind(), &outcome.pin)),
            specified: specified.to_sri(),
            got: got.to_sri(),
        }))),
        _ => Ok(()),
    }
}

/// The lines that pin what a source resolved (`source.mlflow.version = "3";`), if anything.
fn resolved_pin(
    kind: &str,
    resolved: &serde_json::Map<String, serde_json::Value>,
) -> Option<String> {
    let lines: Vec<String> = resolved
        .iter()
        .map(|(key, value)| {
            let value = crate::spec::fields::nix_value(value);
            format!("source.{kind}.{key} = {value};")
        })
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n  "))
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
    /// The digest (blob name) of each file: sha256, or the git blob sha1, in hex.
    pub digests: Vec<String>,
    pub bytes: u64,
    /// What pins the fetched content besides `commit` ([`Plan::pin`]).
    pub pin: serde_json::Map<String, serde_json::Value>,
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
    with_nar_summary(outcome, followed, root, options)
}

/// The NAR summary of a fetch into `root`: the one `followed` the downloads, else read from disk.
fn with_nar_summary(
    outcome: FetchOutcome,
    followed: Option<NarSummary>,
    root: &Path,
    options: &FetchOptions,
) -> Result<(FetchOutcome, NarSummary)> {
    let summary = match (followed, &options.nar_stream) {
        (Some(summary), _) => summary,
        (None, None) => nar_trail::nar_summary_from_disk(root, &options.cancel, None)?,
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
    plan(spec, options)?.fetch(spec, root, options, nar)
}

/// A fetch planned: its source resolved to the pin, its files listed and selected, nothing
/// downloaded yet. [`Planned::fetch_into_with_nar_hash`] downloads it.
pub struct Planned {
    /// The runtime the plan's clients were made in, which their downloads use too.
    runtime: tokio::runtime::Runtime,
    /// What to fetch; a caller may change where files come from ([`sources::Content::Local`]).
    pub plan: Plan,
    /// The spec's source type, whose settings the messages name.
    kind: &'static str,
}

/// Resolves `spec`'s source and plans its files (the source's API calls, no download).
pub fn plan(spec: &FetchSpec, options: &FetchOptions) -> Result<Planned> {
    planned_by(spec, options, |context| async move {
        sources::plan(spec, context).await
    })
}

/// The plan of the `source.huggingface` spec `spec`, pinned to a commit whose whole file
/// listing is `listing` (read from a Hub cache's `trees/<commit>.json`): the Hub is not asked.
pub fn plan_listed(
    spec: &FetchSpec,
    listing: Vec<crate::hub::RepoFile>,
    options: &FetchOptions,
) -> Result<Planned> {
    planned_by(spec, options, |context| async move {
        sources::plan_listed(spec, listing, context)
    })
}

/// A runtime, and the plan `planner` makes in it (until the cancel flag is set).
fn planned_by<'a, F>(
    spec: &FetchSpec,
    options: &'a FetchOptions,
    planner: impl FnOnce(sources::Context<'static>) -> F,
) -> Result<Planned>
where
    F: std::future::Future<Output = Result<Plan>> + 'a,
{
    // The engine's messages name source.huggingface's settings; these name the spec's own.
    let kind = spec.source.kind();
    let runtime = new_runtime()?;
    let planned = runtime.block_on(async {
        let context = context(options)?;
        tokio::select! {
            plan = planner(context) => plan,
            _ = cancelled(&options.cancel) => Err(Error::Interrupted),
        }
    });
    match planned {
        Ok(plan) => Ok(Planned {
            runtime,
            plan,
            kind,
        }),
        Err(error) => {
            options.progress.finished();
            runtime.shutdown_timeout(Duration::from_secs(1));
            Err(error.in_source_terms(kind))
        }
    }
}

/// [`sources::commit_of`]: where `spec`'s files come from and the commit its revision resolves
/// to, when the source says it without a plan (a Hub repo); `None` for the other sources.
pub fn commit_of(spec: &FetchSpec, options: &FetchOptions) -> Result<Option<(String, String)>> {
    let kind = spec.source.kind();
    let runtime = new_runtime()?;
    let commit = runtime.block_on(async {
        let context = context(options)?;
        tokio::select! {
            commit = sources::commit_of(spec, context) => commit,
            _ = cancelled(&options.cancel) => Err(Error::Interrupted),
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    commit.map_err(|e| e.in_source_terms(kind))
}

fn new_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("(tokio runtime)", e))
}

impl Planned {
    /// The pin the revision resolved to; `None` when only the downloaded content names it
    /// ([`sources::content_commit`]).
    pub fn commit(&self) -> Option<&str> {
        self.plan.commit.as_deref()
    }

    /// Where the files come from, as reports show it.
    pub fn endpoint(&self) -> &str {
        &self.plan.endpoint
    }

    /// The selected files' paths, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.plan.files.iter().map(|file| file.path.as_str())
    }

    /// Downloads the plan into `root`, as [`fetch_into_with_nar_hash`] does.
    pub fn fetch_into_with_nar_hash(
        self,
        spec: &FetchSpec,
        root: &Path,
        options: &FetchOptions,
    ) -> Result<(FetchOutcome, NarSummary)> {
        let (outcome, followed) = self.fetch(spec, root, options, true)?;
        with_nar_summary(outcome, followed, root, options)
    }

    fn fetch(
        self,
        spec: &FetchSpec,
        root: &Path,
        options: &FetchOptions,
        nar: bool,
    ) -> Result<(FetchOutcome, Option<NarSummary>)> {
        let Planned {
            runtime,
            plan,
            kind,
        } = self;
        let result = runtime.block_on(async {
            tokio::select! {
                result = fetch_plan(spec, plan, root, options, nar) => result,
                _ = cancelled(&options.cancel) => Err(Error::Interrupted),
            }
        });
        options.progress.finished();
        runtime.shutdown_timeout(Duration::from_secs(1));
        result.map_err(|e| e.in_source_terms(kind))
    }
}

async fn cancelled(cancel: &CancelFlag) {
    while !cancel.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// What the source adapters get: the roots to trust, notices through the progress reporter,
/// the process's environment.
fn context(options: &FetchOptions) -> Result<sources::Context<'static>> {
    let progress = options.progress.clone();
    let notify: Notify = Arc::new(move |notice: &str| progress.notice(notice));
    Ok(sources::Context {
        extra_roots: tls::extra_roots(options.ca_file.as_deref(), &env, &notify)?,
        notify,
        env: &env,
    })
}

/// Downloads, checks and lays out what `plan` lists; with `nar`, its NAR hash too.
async fn fetch_plan(
    spec: &FetchSpec,
    plan: Plan,
    root: &Path,
    options: &FetchOptions,
    nar: bool,
) -> Result<(FetchOutcome, Option<NarSummary>)> {
    layout::check_names_fit(plan.files.iter().map(|f| f.path.as_str()))?;
    let (mut blobs, blob_of_file) = unique_blobs(&plan.files, &plan.layout, root);
    let sizes = blobs.iter().map(|b| b.size);
    let streamed = options.nar_stream.is_some();
    room::check_room(root, room::needed_bytes(sizes.clone(), streamed), streamed)?;
    let bytes = sizes.fold(0, u64::saturating_add);
    let blobs_dir = root.join("blobs");
    std::fs::create_dir_all(&blobs_dir).at(&blobs_dir)?;
    // The NAR hasher follows the downloads when it knows every blob's name beforehand;
    // otherwise it reads the finished tree.
    let followed = nar && blobs.iter().all(|b| b.oid().is_some());
    let trail = followed.then(|| {
        let blobs = blobs
            .iter_mut()
            .map(|blob| follow(blob, &plan.layout))
            .collect();
        Arc::new(NarTrail::new(blobs, options.nar_stream.clone()))
    });
    let _stop_trail = trail.clone().map(StopOnDrop);
    let trailing = trail.clone().map(|trail| {
        let cancel = options.cancel.clone();
        tokio::task::spawn_blocking(move || trail.hash_blobs(&cancel))
    });
    options.progress.started(blobs.len(), bytes);

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
        origin: plan.origin.clone(),
        requests,
        turn: followed.then(|| tokio::sync::watch::Sender::new(0)),
        range_size: RANGE_SIZE,
        progress: options.progress.clone(),
        cancel: options.cancel.clone(),
    });
    let names = match download_all(shared, blobs, concurrency).await {
        Ok(names) => names,
        Err(error) => {
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
    };
    let hashed = match trailing {
        Some(trailing) => Some(joined(trailing.await)??),
        None => None,
    };

    let links: Vec<(&str, &str)> = plan
        .files
        .iter()
        .zip(&blob_of_file)
        .map(|(file, &blob)| (file.path.as_str(), names[blob].as_str()))
        .collect();
    let commit = match &plan.commit {
        Some(commit) => commit.clone(),
        None => sources::content_commit(&links),
    };
    match &plan.layout {
        Layout::HubCache { listing } => {
            layout::write_snapshot(root, &plan.revision, &commit, &links)?;
            if let Some(listing) = listing {
                layout::write_tree_cache(root, &commit, listing)?;
            }
        }
        Layout::Ollama {
            manifest_path,
            manifest,
        } => layout::write_ollama_manifest(root, manifest_path, manifest)?,
    }
    let summary = match (trail, hashed) {
        (Some(trail), Some(hashed)) => trail.finish(hashed, root)?,
        _ if nar => {
            let (root, cancel) = (root.to_path_buf(), options.cancel.clone());
            let stream = options.nar_stream.clone();
            let from_disk = tokio::task::spawn_blocking(move || {
                nar_trail::nar_summary_from_disk(&root, &cancel, stream.as_ref())
            });
            Some(joined(from_disk.await)??)
        }
        _ => None,
    };
    let digests = blob_of_file
        .iter()
        .map(|&blob| names[blob].clone())
        .collect();
    let outcome = FetchOutcome {
        endpoint: plan.endpoint,
        revision: plan.revision,
        commit,
        files: plan.files.into_iter().map(|f| f.path).collect(),
        digests,
        bytes,
        pin: plan.pin,
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

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sets the NAR hasher to follow (and check) the download of `blob`, whose digest is known.
fn follow(blob: &mut Blob, layout: &Layout) -> TrailBlob {
    let follow = NarFollow::new();
    let slot = follow.slot.clone();
    blob.nar = Some(follow);
    let oid = blob
        .oid()
        .cloned()
        .expect("a followed blob has a known digest");
    TrailBlob {
        path: blob.path.clone(),
        name: layout.blob_name(&oid),
        oid,
        size: blob.size,
        slot,
    }
}

/// One download per distinct content: files with the same known digest share a blob; a file
/// whose digest only its download gives has a blob of its own. The blobs of known digests
/// come first, in NAR order (by their names in `blobs/`, which `layout` gives); with them, the
/// blob of each file.
fn unique_blobs(files: &[PlannedFile], layout: &Layout, root: &Path) -> (Vec<Blob>, Vec<usize>) {
    let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
    let mut computed = Vec::new();
    for (index, file) in files.iter().enumerate() {
        match &file.digest {
            Digest::Known(oid) => {
                by_name.entry(layout.blob_name(oid)).or_insert(index);
            }
            Digest::Sha256Computed => computed.push(index),
        }
    }
    let mut blob_of_file = vec![0; files.len()];
    let mut order_of_name = BTreeMap::new();
    let firsts: Vec<usize> = by_name.values().copied().chain(computed).collect();
    let blobs = firsts
        .into_iter()
        .enumerate()
        .map(|(order, index)| {
            let file = &files[index];
            blob_of_file[index] = order;
            let dest = match &file.digest {
                Digest::Known(oid) => {
                    let name = layout.blob_name(oid);
                    let dest = BlobDest::Known(layout::blob_path(root, &name));
                    order_of_name.insert(name, order);
                    dest
                }
                Digest::Sha256Computed => BlobDest::Computed(root.join("blobs")),
            };
            Blob {
                order,
                path: file.path.clone(),
                size: file.size,
                digest: file.digest.clone(),
                content: file.content.clone(),
                dest,
                nar: None,
            }
        })
        .collect();
    for (index, file) in files.iter().enumerate() {
        if let Digest::Known(oid) = &file.digest {
            blob_of_file[index] = order_of_name[&layout.blob_name(oid)];
        }
    }
    (blobs, blob_of_file)
}

/// Downloads every blob, at most `2 * concurrency` files open at once; the first
/// error stops the others. Blobs open in the order given (NAR order): the NAR hasher, which
/// checks them in that order, never waits for a blob that waits for a file to open.
async fn download_all(
    shared: Arc<Downloads>,
    blobs: Vec<Blob>,
    concurrency: usize,
) -> Result<Vec<String>> {
    let open_files = Arc::new(Semaphore::new(2 * concurrency));
    let mut tasks = JoinSet::new();
    let mut names = vec![String::new(); blobs.len()];
    let mut waiting = blobs.into_iter().peekable();
    loop {
        tokio::select! {
            permit = open_files.clone().acquire_owned(), if waiting.peek().is_some() => {
                let permit = permit.map_err(|_| Error::Interrupted)?;
                let (shared, blob) = (shared.clone(), waiting.next().expect("peeked"));
                tasks.spawn(async move {
                    let _permit = permit;
                    let order = blob.order;
                    download_blob(shared, blob).await.map(|name| (order, name))
                });
            }
            Some(ended) = tasks.join_next() => {
                let (order, name) = joined(ended)??;
                names[order] = name;
            }
            else => return Ok(names),
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

    /// An origin that is never asked: every file of the plan is in hand.
    struct NoDownloads(crate::http::Http);

    impl sources::Origin for NoDownloads {
        fn http(&self) -> &crate::http::Http {
            &self.0
        }

        fn checked(&self, response: reqwest::Response, _path: &str) -> Result<reqwest::Response> {
            Ok(response)
        }
    }

    fn plan_in_hand(spec: &FetchSpec, files: &[(&str, &'static [u8], &str)]) -> Plan {
        let endpoint = url::Url::parse("http://127.0.0.1:9").unwrap();
        let http = crate::http::Http::new(&spec.network, &endpoint, Default::default()).unwrap();
        Plan {
            origin: Arc::new(NoDownloads(http)),
            endpoint: endpoint.to_string(),
            revision: "main".into(),
            commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            files: files
                .iter()
                .map(|(path, bytes, blob)| PlannedFile {
                    path: path.to_string(),
                    size: bytes.len() as u64,
                    digest: Digest::Known(crate::hub::Oid::GitSha1(blob.to_string())),
                    content: sources::Content::InHand(Arc::from(*bytes)),
                })
                .collect(),
            layout: Layout::HubCache { listing: None },
            pin: Default::default(),
        }
    }

    /// `printf 'hello\n' | git hash-object --stdin`, and the empty blob.
    const HELLO: &str = "ce013625030ba8dba906f756967f9e9ca394464a";
    const EMPTY: &str = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391";

    /// A spec of a source whose plans the tests make by hand.
    fn url_spec() -> FetchSpec {
        crate::spec::check(r#"{"source":{"url":{"url":"http://127.0.0.1:9/x"}}}"#).unwrap()
    }

    /// Content in hand takes the downloads' one path: written into its blob, checked against its
    /// digest by the blob's hasher or by the NAR hasher, the NAR hash that of the tree.
    #[test]
    fn content_in_hand_is_written_and_checked_like_a_download() {
        let spec = url_spec();
        let (hello, empty) = (HELLO, EMPTY);
        let runtime = new_runtime().unwrap();
        for nar in [false, true] {
            let root = tempfile::tempdir().unwrap();
            let files = [
                ("a/hello.txt", &b"hello\n"[..], hello),
                ("copy.txt", b"hello\n", hello),
                ("empty", b"", empty),
            ];
            let plan = plan_in_hand(&spec, &files);
            let options = FetchOptions::default();
            let (outcome, summary) = runtime
                .block_on(fetch_plan(&spec, plan, root.path(), &options, nar))
                .unwrap();
            assert_eq!(outcome.digests, vec![hello, hello, empty]);
            let blob = root.path().join("blobs").join(hello);
            assert_eq!(std::fs::read(&blob).unwrap(), b"hello\n");
            if nar {
                assert_eq!(
                    summary.unwrap().hash,
                    crate::nar::nar_hash(root.path()).unwrap()
                );
            }

            let root = tempfile::tempdir().unwrap();
            let wrong = [("a/hello.txt", &b"hellO\n"[..], hello)];
            let plan = plan_in_hand(&spec, &wrong);
            let error = runtime
                .block_on(fetch_plan(&spec, plan, root.path(), &options, nar))
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("a/hello.txt") && error.contains("mismatch"),
                "{error}"
            );
            assert!(!root.path().join("blobs").join(hello).exists());
        }
    }

    /// A local file (`import`'s cached blobs) is copied and checked as content in hand is.
    #[test]
    fn local_files_are_copied_and_checked_like_a_download() {
        let spec = url_spec();
        let (hello, empty) = (HELLO, EMPTY);
        let runtime = new_runtime().unwrap();
        let cached = tempfile::tempdir().unwrap();
        for (name, bytes) in [
            ("hello", &b"hello\n"[..]),
            ("hellO", b"hellO\n"),
            ("empty", b""),
        ] {
            std::fs::write(cached.path().join(name), bytes).unwrap();
        }
        let local = |plan: &mut Plan, names: &[&str]| {
            for (file, name) in plan.files.iter_mut().zip(names) {
                file.content = sources::Content::Local(cached.path().join(name));
            }
        };
        for nar in [false, true] {
            let root = tempfile::tempdir().unwrap();
            let files = [
                ("a/hello.txt", &b"hello\n"[..], hello),
                ("empty", b"", empty),
            ];
            let mut plan = plan_in_hand(&spec, &files);
            local(&mut plan, &["hello", "empty"]);
            let options = FetchOptions::default();
            let (outcome, summary) = runtime
                .block_on(fetch_plan(&spec, plan, root.path(), &options, nar))
                .unwrap();
            assert_eq!(outcome.digests, vec![hello, empty]);
            assert_eq!(
                std::fs::read(root.path().join("blobs").join(hello)).unwrap(),
                b"hello\n"
            );
            if nar {
                assert_eq!(
                    summary.unwrap().hash,
                    crate::nar::nar_hash(root.path()).unwrap()
                );
            }

            let root = tempfile::tempdir().unwrap();
            let mut plan = plan_in_hand(&spec, &[("a/hello.txt", &b"hello\n"[..], hello)]);
            local(&mut plan, &["hellO"]);
            let error = runtime
                .block_on(fetch_plan(&spec, plan, root.path(), &options, nar))
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("a/hello.txt") && error.contains("mismatch"),
                "{error}"
            );
            assert!(!root.path().join("blobs").join(hello).exists());
        }
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
