//! The Hugging Face Hub: a revision resolves to its commit, the tree API lists the files
//! with their digests (sha256 for LFS and Xet files, the git blob sha1 otherwise), and each
//! downloads from its `resolve` URL at the commit.

use std::sync::Arc;

use reqwest::Response;

use super::{Addresses, Content, Context, Digest, Layout, Origin, Plan, PlannedFile, Request};
use crate::error::{Error, Result, SettingNames};
use crate::http::{ClientSetup, Http};
use crate::hub::{
    checked_endpoint, find_token, is_hex, Asked, HubClient, RepoFile, RepoId, RepoType,
};
use crate::layout;
use crate::patterns::PathFilter;
use crate::spec::{FetchSpec, HfSource, Network};

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
    let env_endpoint = (context.env)("HF_ENDPOINT");
    let hub = Arc::new(hub_client(spec, &spec.network, env_endpoint, context)?);
    let target = HubRepo {
        repo: &source.repo,
        revision: &source.revision,
        commit: source.commit.as_deref(),
        files: &source.files,
        exclude: &source.exclude,
        commit_attribute: "source.huggingface.commit",
    };
    plan_repo(hub, &target).await
}

/// Where `source` is fetched from and the commit its revision names now: the pinned commit,
/// else the Hub's answer (one API call), without listing the files.
pub async fn commit_of(
    spec: &FetchSpec,
    source: &HfSource,
    context: Context<'_>,
) -> Result<(String, String)> {
    let hub = hub_client(spec, &spec.network, (context.env)("HF_ENDPOINT"), context)?;
    let commit = match &source.commit {
        Some(pinned) => pinned.clone(),
        None => hub.resolve_commit(&source.repo, &source.revision).await?,
    };
    Ok((hub.endpoint().to_string(), commit))
}

/// The plan of `source`, pinned to a commit whose whole listing is `listing`.
pub fn plan_listed(
    spec: &FetchSpec,
    source: &HfSource,
    listing: Vec<RepoFile>,
    context: Context<'_>,
) -> Result<Plan> {
    let env_endpoint = (context.env)("HF_ENDPOINT");
    let hub = Arc::new(hub_client(spec, &spec.network, env_endpoint, context)?);
    let pinned = source.commit.clone();
    let commit = pinned.or_else(|| is_hex(&source.revision, 40).then(|| source.revision.clone()));
    let Some(commit) = commit else {
        return Err(Error::Internal("a listing in hand needs its commit".into()));
    };
    let target = HubRepo {
        repo: &source.repo,
        revision: &source.revision,
        commit: Some(&commit),
        files: &source.files,
        exclude: &source.exclude,
        commit_attribute: "source.huggingface.commit",
    };
    plan_of_listing(hub, &target, commit.clone(), listing)
}

/// The other types (dataset, space) of which the Hub has a repo with `source`'s id: what a user
/// meant whose model was not found.
pub async fn other_types_named(
    spec: &FetchSpec,
    source: &HfSource,
    context: Context<'_>,
) -> Result<Vec<RepoType>> {
    let hub = hub_client(spec, &spec.network, (context.env)("HF_ENDPOINT"), context)?;
    let mut found = Vec::new();
    for kind in [RepoType::Model, RepoType::Dataset, RepoType::Space] {
        let repo = RepoId {
            kind,
            id: source.repo.id.clone(),
        };
        if kind != source.repo.kind && hub.repo_exists(&repo).await? {
            found.push(kind);
        }
    }
    Ok(found)
}

/// What a fetch of one Hub repo asks for: the attributes of `source.huggingface`, or of
/// another source that reads a Hub repo (`source.git-xet`).
pub struct HubRepo<'a> {
    pub repo: &'a RepoId,
    pub revision: &'a str,
    /// The commit `revision` is pinned to: the Hub is not asked where `revision` points.
    pub commit: Option<&'a str>,
    pub files: &'a [String],
    pub exclude: &'a [String],
    /// The attribute that pins the commit, as messages name it.
    pub commit_attribute: &'static str,
}

/// The Hub client of a fetch: the endpoint of `network` (else `env_endpoint`), with the token
/// of the spec's `auth` (or the standard places).
pub fn hub_client(
    spec: &FetchSpec,
    network: &Network,
    env_endpoint: Option<String>,
    context: Context<'_>,
) -> Result<HubClient> {
    let setup = ClientSetup {
        token: find_token(&spec.auth, context.env)?,
        extra_roots: context.extra_roots,
        notify: context.notify,
    };
    HubClient::new(network, env_endpoint, setup)
}

/// Resolves `target`'s revision to its commit, lists and selects the files, each downloaded
/// from its `resolve` URL: the plan of a Hub repo, laid out as one repo folder of the Hub cache.
pub async fn plan_repo(hub: Arc<HubClient>, target: &HubRepo<'_>) -> Result<Plan> {
    let commit = match target.commit {
        Some(pinned) => pinned.to_string(),
        None => hub.resolve_commit(target.repo, target.revision).await?,
    };
    let listing = hub
        .list_files(target.repo, &commit)
        .await
        .map_err(|error| naming_the_pin(error, target))?;
    plan_of_listing(hub, target, commit, listing)
}

/// The plan of `target` at `commit`, whose whole listing is `listing`.
fn plan_of_listing(
    hub: Arc<HubClient>,
    target: &HubRepo<'_>,
    commit: String,
    listing: Vec<RepoFile>,
) -> Result<Plan> {
    layout::check_listing(listing.iter().map(|f| f.path.as_str()))?;
    let selected = select(&listing, target, &commit)?;
    let files = selected
        .into_iter()
        .map(|file| {
            Ok(PlannedFile {
                content: Content::Download(Request::get(hub.file_url(
                    target.repo,
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
        revision: target.revision.to_string(),
        origin: Arc::new(HubFiles {
            hub,
            repo: target.repo.clone(),
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
    hub: Arc<HubClient>,
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

/// `error`, naming the pinned commit's attribute when what the Hub does not have is that commit.
fn naming_the_pin(error: Error, target: &HubRepo) -> Error {
    match (error, target.commit) {
        (Error::RevisionNotFound { repo, .. }, Some(commit)) => Error::PinnedCommitNotFound {
            repo,
            commit: commit.to_string(),
            attribute: target.commit_attribute,
        },
        (other, _) => other,
    }
}

/// The files `files`/`exclude` keep, sorted by path; an empty selection is an error.
fn select(listing: &[RepoFile], target: &HubRepo, commit: &str) -> Result<Vec<RepoFile>> {
    let filter = PathFilter::new(target.files, target.exclude);
    let mut selected: Vec<RepoFile> = listing
        .iter()
        .filter(|f| filter.matches(&f.path))
        .cloned()
        .collect();
    if selected.is_empty() {
        return Err(Error::NothingSelected {
            repo: target.repo.id.clone(),
            commit: commit.to_string(),
            include: target.files.to_vec(),
            exclude: target.exclude.to_vec(),
            names: SettingNames::Spec,
        });
    }
    selected.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(selected)
}
