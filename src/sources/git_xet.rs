//! `source.git-xet`: a Hub repo named by its URL, resolved and listed exactly as
//! `source.huggingface` does (the same client, the same plan, so the same layout and hash);
//! the selected files the tree lists with a `xetHash` are downloaded through the Xet protocol
//! (the Hub's read token, the storage's reconstruction, the xorb ranges: `crate::xet`), the
//! others through the `resolve` route. A Hub that lists no `xetHash`, or gives no read token
//! (404), serves every file through `resolve`, with a notice.

use std::collections::HashMap;
use std::sync::Arc;

use super::huggingface::{hub_client, plan_repo, HubRepo};
use super::{Addresses, Content, Context, Layout, Plan};
use crate::error::Result;
use crate::hub::{is_hex, RepoFile};
use crate::spec::git_xet::GitXetSource;
use crate::spec::{FetchSpec, Network};
use crate::xet::{Cas, Offer, XetFile};

pub fn addresses(source: &GitXetSource) -> Addresses {
    let (endpoint, repo) = (&source.endpoint, &source.repo);
    let urls = vec![
        format!("{endpoint}/api/{}/{}", repo.kind.plural(), repo.id),
        format!("{endpoint}/{}{}", repo.kind.url_prefix(), repo.id),
    ];
    Addresses {
        endpoint: endpoint.clone(),
        urls,
    }
}

pub async fn plan(spec: &FetchSpec, source: &GitXetSource, context: Context<'_>) -> Result<Plan> {
    let notify = context.notify.clone();
    // The URL names the Hub: neither network.endpoint nor HF_ENDPOINT moves it.
    let network = Network {
        endpoint: Some(source.endpoint.clone()),
        ..spec.network.clone()
    };
    let hub = Arc::new(hub_client(spec, &network, None, context)?);
    let target = HubRepo {
        repo: &source.repo,
        revision: &source.rev,
        commit: source.commit.as_deref(),
        files: &source.files,
        exclude: &source.exclude,
        commit_attribute: "source.git-xet.commit",
    };
    let mut plan = plan_repo(hub.clone(), &target).await?;
    let commit = plan.commit.clone().unwrap_or_default();
    let hashes = match &plan.layout {
        Layout::HubCache {
            listing: Some(listing),
        } => xet_hashes(listing),
        _ => HashMap::new(),
    };
    let stored = |path: &str, size: u64| hashes.get(path).filter(|_| size > 0).cloned();
    if !plan
        .files
        .iter()
        .any(|file| stored(&file.path, file.size).is_some())
    {
        notify(&format!(
            "no selected file of {} at {commit} is stored with Xet (the Hub lists no xetHash): \
             they come through the Hub's resolve route, as with source.huggingface",
            source.repo
        ));
        return Ok(plan);
    }
    match Cas::connect(hub, &source.repo, &commit).await? {
        Offer::NoXet => notify(&format!(
            "{} gives no Xet read token for {} (HTTP 404): its files come through the Hub's \
             resolve route, as with source.huggingface",
            source.endpoint, source.repo
        )),
        Offer::Xet(cas) => {
            for file in &mut plan.files {
                if let (Some(hash), Content::Download(request)) =
                    (stored(&file.path, file.size), &mut file.content)
                {
                    request.xet = Some(XetFile {
                        hash,
                        cas: cas.clone(),
                    });
                }
            }
        }
    }
    Ok(plan)
}

/// The Xet hash of each file the listing gives one (64 hex digits: the storage's file id).
fn xet_hashes(listing: &[RepoFile]) -> HashMap<String, String> {
    listing
        .iter()
        .filter_map(|file| {
            let hash = file.listed.xet_hash.as_ref()?;
            is_hex(hash, 64).then(|| (file.path.clone(), hash.clone()))
        })
        .collect()
}
