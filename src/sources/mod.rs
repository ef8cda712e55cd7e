//! Source adapters. Each resolves what a spec names to an immutable pin (a commit, a version
//! id, a digest) and plans the files: path, size, digest when the source gives one, and the
//! request that downloads each. The fetch engine ([`crate::fetch`]) downloads, verifies and
//! lays out every plan the same way: no adapter has a download loop of its own.

mod git_xet;
mod huggingface;
mod url;

use std::sync::Arc;

use reqwest::header::HeaderMap;
use reqwest::Response;
use ::url::Url;

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
}

/// How the fetched files are laid out.
pub enum Layout {
    /// One repo folder of the Hugging Face cache; `listing`, when the source has one, is the
    /// repo's whole file listing, written to `trees/<commit>.json`.
    HubCache { listing: Option<Vec<RepoFile>> },
}

/// One file of a plan.
pub struct PlannedFile {
    pub path: String,
    pub size: u64,
    pub digest: Digest,
    pub request: Request,
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

/// Resolves `spec`'s source to its pin and plans the files to fetch.
pub async fn plan(spec: &FetchSpec, context: Context<'_>) -> Result<Plan> {
    match &spec.source {
        Source::HuggingFace(source) => huggingface::plan(spec, source, context).await,
        Source::Url(source) => url::plan(spec, source, context).await,
        Source::GitXet(source) => git_xet::plan(spec, source, context).await,
    }
}
