//! The Hugging Face Hub: a revision resolves to its commit, the tree API lists the files
//! with their digests (sha256 for LFS and Xet files, the git blob sha1 otherwise), and each
//! downloads from its `resolve` URL at the commit.

use std::sync::Arc;

use reqwest::Response;

use super::{Addresses, Content, Context, Digest, Layout, Origin, Plan, PlannedFile, Request};
use crate::error::{Error, Result, SettingNames};
use crate::http::{ClientSetup, Http};
use crate::hub::{checked_endpoint, find_token, Asked, HubClient, RepoFile, RepoId};
use crate::layout;
use crate::patterns::PathFilter;
use crate::spec::{FetchSpec, HfSource};

pub fn addresses(
    spec: &FetchSpec,
    source: &HfSource,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Addresses> {
    let (endpoint, _) = checked_endpoint(&spec.network, env("HF_ENDPOINT"))?;
    let repo = &source.repo;
    let urls = vec![
        format!("{endpoint}/api/{}/{}", repo.kind.plural(), repo.id),
        format!("{endpoint}/{}{}", repo.kind.url_prefix(), repo.id),
    ];
    Ok(Addresses { endpoint, urls })
}

pub async fn plan(spec: &FetchSpec, source: &HfSource, context: Context<'_>) -> Result<Plan> {
    let setup = ClientSetup {
        token: find_token(&spec.auth, context.env)?,
        extra_roots: context.extra_roots,
        notify: context.notify,
    };
    let hub = HubClient::new(&spec.network, (context.env)("HF_ENDPOINT"), setup)?;
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
    let files = selected
        .into_iter()
        .map(|file| {
            Ok(PlannedFile {
                content: Content::Download(Request::get(hub.file_url(
                    &source.repo,
                    &commit,
                    &file.path,
                )?)),
                path: file.path,
                size: file.size,
                digest: Digest::Known(file.oid),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Plan {
        endpoint: hub.endpoint().to_string(),
        revision: source.revision.clone(),
        origin: Arc::new(HubFiles {
            hub,
            repo: source.repo.clone(),
            commit: commit.clone(),
        }),
        commit: Some(commit),
        files,
        layout: Layout::HubCache {
            listing: Some(listing),
        },
        pin: Default::default(),
    })
}

/// The files of one repo at one commit, downloaded from the Hub.
struct HubFiles {
    hub: HubClient,
    repo: RepoId,
    commit: String,
}

impl Origin for HubFiles {
    fn http(&self) -> &Http {
        self.hub.http()
    }

    fn checked(&self, response: Response, path: &str) -> Result<Response> {
        let asked = Asked::File {
            path,
            commit: &self.commit,
        };
        self.hub.checked(&self.repo, response, asked)
    }
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
