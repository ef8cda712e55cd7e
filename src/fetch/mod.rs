//! A whole fetch: resolve the revision, list and select the files, download the
//! blobs in parallel with verification, and write the cache layout.

mod download;
mod progress;
mod segments;
mod verify;

pub use progress::{CancelFlag, Progress, Silent};

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use self::download::{download_blob, Blob, Downloads};
use crate::error::{Error, IoContext, Result};
use crate::hub::{find_token, HubClient, RepoFile};
use crate::layout;
use crate::patterns::PathFilter;
use crate::spec::{FetchSpec, HfSource};

/// Files larger than this are downloaded as parallel ranges of this size.
const RANGE_SIZE: u64 = 16 << 20;

pub struct FetchOptions {
    pub progress: Arc<dyn Progress>,
    pub cancel: CancelFlag,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            progress: Arc::new(Silent),
            cancel: CancelFlag::default(),
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("(tokio runtime)", e))?;
    let result = runtime.block_on(async {
        tokio::select! {
            result = fetch_hf(spec, spec.huggingface(), root, options) => result,
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
) -> Result<FetchOutcome> {
    let token = find_token(&spec.auth, &env)?;
    let hub = HubClient::new(&spec.network, env("HF_ENDPOINT"), token)?;
    let commit = hub.resolve_commit(&source.repo, &source.revision).await?;
    let listing = hub.list_files(&source.repo, &commit).await?;
    layout::check_listing(listing.iter().map(|f| f.path.as_str()))?;
    let selected = select(&listing, source, &commit)?;

    let blobs_dir = root.join("blobs");
    std::fs::create_dir_all(&blobs_dir).at(&blobs_dir)?;
    let blobs = unique_blobs(&selected, root);
    let bytes = blobs.iter().map(|b| b.size).sum();
    options.progress.started(blobs.len(), bytes);

    let endpoint = hub.endpoint().to_string();
    let concurrency = spec.network.concurrency;
    let shared = Arc::new(Downloads {
        hub,
        repo: source.repo.clone(),
        commit: commit.clone(),
        requests: Semaphore::new(concurrency),
        range_size: RANGE_SIZE,
        progress: options.progress.clone(),
        cancel: options.cancel.clone(),
    });
    download_all(shared, blobs, concurrency).await?;

    let links: Vec<(&str, &str)> = selected
        .iter()
        .map(|f| (f.path.as_str(), f.oid.etag()))
        .collect();
    layout::write_snapshot(root, &source.revision, &commit, &links)?;
    layout::write_tree_cache(root, &commit, &listing)?;
    Ok(FetchOutcome {
        endpoint,
        revision: source.revision.clone(),
        commit,
        files: selected.into_iter().map(|f| f.path).collect(),
        bytes,
    })
}

/// The files `files`/`exclude` keep, sorted by path; an empty selection is an error.
fn select(listing: &[RepoFile], source: &HfSource, commit: &str) -> Result<Vec<RepoFile>> {
    let filter = PathFilter::new(&source.files, &source.exclude)
        .map_err(|e| Error::Spec(format!("source.huggingface.files: {e}")))?;
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
        .map(|file| Blob {
            path: file.path.clone(),
            size: file.size,
            oid: file.oid.clone(),
            dest: layout::blob_path(root, file.oid.etag()),
        })
        .collect()
}

/// Downloads every blob, at most `2 * concurrency` files open at once; the first
/// error stops the others.
async fn download_all(shared: Arc<Downloads>, blobs: Vec<Blob>, concurrency: usize) -> Result<()> {
    let open_files = Arc::new(Semaphore::new(2 * concurrency));
    let mut tasks = JoinSet::new();
    for blob in blobs {
        let (shared, open_files) = (shared.clone(), open_files.clone());
        tasks.spawn(async move {
            let _permit = open_files
                .acquire_owned()
                .await
                .map_err(|_| Error::Interrupted)?;
            download_blob(shared, blob).await
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|_| Error::Interrupted)??;
    }
    Ok(())
}
