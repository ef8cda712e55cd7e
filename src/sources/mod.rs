//! Source adapters. Each resolves what a spec names to an immutable pin (a commit, a version
//! id, a digest) and plans the files: path, size, digest when the source gives one, and the
//! request that downloads each. The fetch engine ([`crate::fetch`]) downloads, verifies and
//! lays out every plan the same way: no adapter has a download loop of its own.

mod git_lfs;
mod git_xet;
mod huggingface;
mod mlflow;
mod object_store;
mod ollama;
mod url;

use std::sync::Arc;

use ::url::Url;
use futures_util::future::BoxFuture;
use reqwest::header::HeaderMap;
use reqwest::Response;

use crate::error::Result;
use crate::http::Http;
use crate::hub::{Oid, RepoFile};
use crate::notice::Notify;
use crate::spec::{FetchSpec, Source};

/// What a fetch downloads and how it lays it out.
pub struct Plan {
    /// The client that downloads the files, and how it reads a refusal.
    pub origin: Arc<dyn Origin>,
    /// Where the files come from, as reports show it (the Hub's endpoint, a bucket's URL).
    pub endpoint: String,
    /// What the spec asked for (a branch, a tag, an alias), written as `refs/<revision>`.
    pub revision: String,
    /// The pin `revision` resolved to: the snapshot's folder name. `None`: the fetched content
    /// is its own pin ([`content_commit`]).
    pub commit: Option<String>,
    /// The selected files, sorted by path.
    pub files: Vec<PlannedFile>,
    pub layout: Layout,
    /// Attributes of the source that pin what this plan fetches besides its commit (the version
    /// of each object of a bucket), which `prefetch` adds to the spec it prints.
    pub pin: serde_json::Map<String, serde_json::Value>,
}

/// How the fetched files are laid out.
pub enum Layout {
    /// One repo folder of the Hugging Face cache; `listing`, when the source has one, is the
    /// repo's whole file listing, written to `trees/<commit>.json`.
    HubCache { listing: Option<Vec<RepoFile>> },
    /// The models folder Ollama reads (`OLLAMA_MODELS`): `blobs/sha256-<hex>` and the manifest,
    /// as the registry served it, at `manifest_path`
    /// (`manifests/<registry>/<namespace>/<model>/<tag>`). Every digest is a known sha256.
    Ollama {
        manifest_path: String,
        manifest: Vec<u8>,
    },
}

impl Layout {
    /// The name in `blobs/` of the blob of `oid`.
    pub fn blob_name(&self, oid: &Oid) -> String {
        match (self, oid) {
            (Layout::Ollama { .. }, Oid::Sha256(hex)) => crate::layout::ollama_blob_name(hex),
            _ => oid.etag().to_string(),
        }
    }
}

/// One file of a plan.
pub struct PlannedFile {
    pub path: String,
    pub size: u64,
    pub digest: Digest,
    pub content: Content,
}

/// Where a file's bytes come from.
///
/// `InHand` is for content the adapter already holds because the source's protocol brought
/// it with the listing: a git fetch receives every plain file of the tree in its pack, so
/// asking a server for it again is impossible (git has no per-file URL) and a copy of it in
/// a file of our own would be a second path to the blobs. The engine writes such bytes into
/// the blob file exactly as a download's ranges are written, so the same hasher (the blob's
/// own or the NAR hasher) checks them against `digest`: one verification path for every
/// source, and a corrupt pack or a wrong adapter fails as a wrong download does.
#[derive(Clone)]
pub enum Content {
    /// Downloaded by the engine.
    Download(Request),
    /// The bytes themselves (`size` of them), written and checked by the engine.
    InHand(Arc<[u8]>),
    /// A local file holding the content (a blob of a Hub cache that `import` reads): the engine
    /// copies it into the blob as it writes bytes in hand, so the same hasher checks it.
    Local(std::path::PathBuf),
}

/// What a file's content is checked against, and named by in `blobs/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Digest {
    /// The source gives the digest before the download: the content is checked against it.
    Known(Oid),
    /// The source gives none: the content's sha256, computed while it downloads, names it.
    /// Only the NAR hash pins such content.
    Sha256Computed,
}

/// The GET that downloads a file.
#[derive(Clone)]
pub struct Request {
    pub url: Url,
    /// Headers of this request besides the client's own (an LFS action's, a signed header).
    pub headers: HeaderMap,
    /// Whether the server answers `Range` requests: large files then come in parallel ranges,
    /// and a cut download resumes where it stopped.
    pub ranges: bool,
    /// A file stored with Xet: the engine rebuilds it from the xorb ranges its storage lists
    /// (`url` serves the same bytes; messages name it).
    pub xet: Option<crate::xet::XetFile>,
}

impl Request {
    pub fn get(url: Url) -> Self {
        Request {
            url,
            headers: HeaderMap::new(),
            ranges: true,
            xet: None,
        }
    }
}

/// The client of a source's downloads.
pub trait Origin: Send + Sync {
    fn http(&self) -> &Http;
    /// The answer to the download of `path` when it is a success; otherwise the error that
    /// tells the user what to do.
    fn checked(&self, response: Response, path: &str) -> Result<Response>;

    /// The URL and headers of one try of a request (a `Range` among them), made just before it
    /// is sent: a source that signs each request (an object store's SigV4 or SharedKey, a bearer
    /// token its credential provider refreshes) signs them here, so that a retry long after
    /// the plan still carries valid credentials. By default, as they are.
    fn authorized<'a>(
        &'a self,
        url: &'a Url,
        headers: HeaderMap,
    ) -> BoxFuture<'a, Result<(Url, HeaderMap)>> {
        Box::pin(async move { Ok((url.clone(), headers)) })
    }
}

/// What every adapter gets besides the spec.
pub struct Context<'a> {
    /// Root certificates trusted besides the built-in ones ([`crate::tls::extra_roots`]).
    pub extra_roots: Vec<reqwest::Certificate>,
    pub notify: Notify,
    /// The environment, read through this function (tests give their own).
    pub env: &'a (dyn Fn(&str) -> Option<String> + Sync),
}

/// Where a fetch of a spec goes, known without any network use.
pub struct Addresses {
    /// Where the files come from, as messages name it.
    pub endpoint: String,
    /// The URL prefixes the fetch will contact (Nix's restricted mode checks them).
    pub urls: Vec<String>,
}

/// Where a fetch of `spec` goes; a setting that cannot be used (an endpoint with credentials
/// in it) is refused here, before any message prints it.
pub fn addresses(spec: &FetchSpec, env: &dyn Fn(&str) -> Option<String>) -> Result<Addresses> {
    match &spec.source {
        Source::HuggingFace(source) => huggingface::addresses(spec, source, env),
        Source::Url(source) => Ok(url::addresses(source)),
        Source::Mlflow(source) => Ok(mlflow::addresses(source)),
        Source::ObjectStore(source) => object_store::addresses(source, env),
        Source::Ollama(source) => ollama::addresses(spec, source),
        Source::GitLfs(source) => Ok(git_lfs::addresses(source)),
        Source::GitXet(source) => Ok(git_xet::addresses(source)),
    }
}

/// The "commit" of content that has no version of its own (files at plain URLs): the first 40
/// hex digits of the sha256 of its listing, one `<path>\0<digest>\n` for each (path, digest)
/// in path order. The same files give the same commit wherever they come from.
pub fn content_commit(files: &[(&str, &str)]) -> String {
    use sha2::{Digest as _, Sha256};
    let mut listing = Sha256::new();
    for (path, digest) in files {
        listing.update(format!("{path}\0{digest}\n"));
    }
    hex::encode(listing.finalize())[..40].to_string()
}

/// The plan of a `source.huggingface` spec pinned to a commit (`source.huggingface.commit`)
/// whose whole listing is `listing`, known without asking the Hub.
pub fn plan_listed(spec: &FetchSpec, listing: Vec<RepoFile>, context: Context<'_>) -> Result<Plan> {
    match &spec.source {
        Source::HuggingFace(source) => huggingface::plan_listed(spec, source, listing, context),
        _ => Err(crate::Error::Internal(
            "a listing in hand plans a Hub repo only".into(),
        )),
    }
}

pub use huggingface::other_types_named;

/// Where `spec`'s files come from and the commit its revision resolves to, when the source
/// says it without planning: a Hub repo (one API call, none for a pinned commit). `None` for the
/// other sources, whose pin comes with their plan.
pub async fn commit_of(spec: &FetchSpec, context: Context<'_>) -> Result<Option<(String, String)>> {
    match &spec.source {
        Source::HuggingFace(source) => huggingface::commit_of(spec, source, context)
            .await
            .map(Some),
        _ => Ok(None),
    }
}

/// Resolves `spec`'s source to its pin and plans the files to fetch.
pub async fn plan(spec: &FetchSpec, context: Context<'_>) -> Result<Plan> {
    match &spec.source {
        Source::HuggingFace(source) => huggingface::plan(spec, source, context).await,
        Source::Url(source) => url::plan(spec, source, context).await,
        Source::Mlflow(source) => mlflow::plan(spec, source, context).await,
        Source::ObjectStore(source) => object_store::plan(spec, source, context).await,
        Source::Ollama(source) => ollama::plan(spec, source, context).await,
        Source::GitLfs(source) => git_lfs::plan(spec, source, context).await,
        Source::GitXet(source) => git_xet::plan(spec, source, context).await,
    }
}
