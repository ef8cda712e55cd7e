//! `source.git-lfs`: a git repository over smart HTTP, at one commit, its Git LFS pointers
//! resolved. gix fetches the commit (depth 1) and its tree ([`git`]); each selected file is a
//! plain git blob, whose bytes came in the pack ([`Content::InHand`], checked against its git
//! blob id), or an LFS pointer, whose object the LFS batch API gives a download for
//! ([`lfs`], checked against the pointer's sha256). The engine writes and checks both.
//!
//! The layout is the Hub cache's: blobs named by sha256 (LFS) and git blob sha1 (others), as
//! the Hub names them, `snapshots/<commit>/` the git commit, `refs/<rev>` unless `rev` is a
//! commit. So a Hub repo cloned this way has the blob names the `huggingface` source gives.

mod credentials;
mod git;
mod git_http;
mod lfs;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::{Response, StatusCode};

use super::{Addresses, Content, Context, Digest, Layout, Origin, Plan, PlannedFile, Request};
use crate::error::{Error, Result, SettingNames, ShownUrl};
use crate::http::{ClientSetup, Http};
use crate::hub::Oid;
use crate::layout;
use crate::patterns::PathFilter;
use crate::spec::git_lfs::GitLfsSource;
use crate::spec::FetchSpec;

use self::credentials::Credentials;
use self::git_http::Bridge;

pub fn addresses(source: &GitLfsSource) -> Addresses {
    Addresses {
        endpoint: source.url.origin().ascii_serialization(),
        urls: vec![source.url.to_string()],
    }
}

pub async fn plan(spec: &FetchSpec, source: &GitLfsSource, context: Context<'_>) -> Result<Plan> {
    let notify = context.notify.clone();
    let setup = ClientSetup {
        token: None,
        extra_roots: context.extra_roots,
        notify: context.notify,
    };
    let http = Arc::new(Http::new(&spec.network, &source.url, setup)?);
    let credentials = Arc::new(Credentials::new(context.env));
    let bridge = Arc::new(Bridge {
        http: http.clone(),
        credentials: credentials.clone(),
        runtime: tokio::runtime::Handle::current(),
        failure: Mutex::new(None),
    });
    let filter = PathFilter::new(&source.files, &source.exclude);
    let interrupt = Arc::new(AtomicBool::new(false));
    let _stop_git = StopOnDrop(interrupt.clone());
    let (remote, rev) = (source.url.clone(), source.rev.clone());
    let pinned = source.pinned_commit().map(String::from);
    let fetching = tokio::task::spawn_blocking(move || {
        let dir = tempfile::Builder::new()
            .prefix("nix-fetch-model-git-")
            .tempdir()
            .map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let select = |path: &str| filter.matches(path);
        git::fetch(
            dir.path(),
            &remote,
            &rev,
            pinned.as_deref(),
            bridge,
            &select,
            &interrupt,
        )
    });
    let snapshot = fetching
        .await
        .map_err(|e| Error::Internal(format!("the git fetch stopped: {e}")))??;
    for (path, what) in &snapshot.skipped {
        notify(&format!(
            "{path} is {what} in the git tree: left out (the layout holds files only)"
        ));
    }
    layout::check_listing(snapshot.files.iter().map(|f| f.path.as_str()))?;
    if snapshot.files.is_empty() {
        return Err(Error::NothingSelected {
            repo: source.repo.id.clone(),
            commit: snapshot.commit.clone(),
            include: source.files.clone(),
            exclude: source.exclude.clone(),
            names: SettingNames::Spec,
        });
    }

    let pointers: Vec<(String, lfs::Pointer)> = snapshot
        .files
        .iter()
        .filter_map(|f| Some((f.path.clone(), lfs::pointer(&f.data)?)))
        .collect();
    let mut endpoint = None;
    let mut downloads = BTreeMap::new();
    if !pointers.is_empty() {
        let lfs = lfs::Lfs {
            http: &http,
            credentials: &credentials,
            endpoint: lfs::endpoint(&source.url, snapshot.lfsconfig.as_deref())?,
        };
        let mut unique: Vec<(&str, &lfs::Pointer)> = Vec::new();
        for (path, pointer) in &pointers {
            if !unique.iter().any(|(_, p)| p.oid == pointer.oid) {
                unique.push((path.as_str(), pointer));
            }
        }
        downloads = lfs.downloads(&unique).await?;
        endpoint = Some(lfs.endpoint);
    }
    let pointer_of: BTreeMap<&str, &lfs::Pointer> = pointers
        .iter()
        .map(|(path, p)| (path.as_str(), p))
        .collect();
    let mut files = Vec::with_capacity(snapshot.files.len());
    for file in snapshot.files {
        let planned = match pointer_of.get(file.path.as_str()) {
            Some(pointer) => {
                let download = &downloads[&pointer.oid];
                PlannedFile {
                    size: pointer.size,
                    digest: Digest::Known(Oid::Sha256(pointer.oid.clone())),
                    content: Content::Download(Request {
                        url: download.url.clone(),
                        headers: download.headers.clone(),
                        // giftless (and the LFS spec) promise no ranges: one request per
                        // object, retried whole.
                        ranges: false,
                        xet: None,
                    }),
                    path: file.path,
                }
            }
            None => PlannedFile {
                size: file.data.len() as u64,
                digest: Digest::Known(Oid::GitSha1(file.blob)),
                content: Content::InHand(file.data.into()),
                path: file.path,
            },
        };
        files.push(planned);
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Plan {
        origin: Arc::new(LfsFiles { http, endpoint }),
        endpoint: source.url.origin().ascii_serialization(),
        revision: source.rev.clone(),
        commit: Some(snapshot.commit),
        files,
        layout: Layout::HubCache { listing: None },
        pin: Default::default(),
    })
}

/// Stops gix's fetch when the plan is dropped (the fetch was interrupted).
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The downloads of LFS objects (the links the batch API gave).
struct LfsFiles {
    http: Arc<Http>,
    endpoint: Option<url::Url>,
}

impl Origin for LfsFiles {
    fn http(&self) -> &Http {
        &self.http
    }

    fn checked(&self, response: Response, path: &str) -> Result<Response> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let server = match &self.endpoint {
            Some(endpoint) => format!("the LFS server {}", ShownUrl::from(endpoint)),
            None => "the LFS server".into(),
        };
        let remedy = match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => format!(
                "{server} refused the download of {path}: the link its batch API gave may \
                 have expired (they last minutes); fetch again"
            ),
            StatusCode::NOT_FOUND | StatusCode::GONE => format!(
                "{server} gave a link to the object of {path} but has no content there: the \
                 object was deleted; push it again (git lfs push --all origin)"
            ),
            _ => format!("{server} refused the download of {path}"),
        };
        Err(Error::Refused {
            url: ShownUrl::from(response.url()),
            status: status.as_u16(),
            detail: String::new(),
            remedy,
        })
    }
}
