//! The Xet storage of a Hub repo: the read token the Hub gives for it, and the reconstruction
//! of a file, asked with that token.
//!
//! `GET {endpoint}/api/{models|datasets|spaces}/{repo}/xet-read-token/{commit}`, with the user's
//! Hub token as for any Hub API call, answers `{ "casUrl", "accessToken", "exp" }` (exp: unix
//! seconds). `GET {casUrl}/v1/reconstructions/{xetHash}` with `Authorization: Bearer
//! <accessToken>` answers the reconstruction ([`super::reconstruction`]). The token is asked
//! for again when it has less than a minute left.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::StatusCode;
use serde::Deserialize;
use url::Url;

use super::reconstruction::{self, Reconstruction};
use crate::error::{Error, Result, SettingNames, ShownUrl};
use crate::hub::{Asked, HubClient, RepoId};

/// A token this close to its expiry (seconds) is asked for again.
const TOKEN_MARGIN: u64 = 60;

/// The read token of a repo's Xet storage.
#[derive(Clone)]
struct CasToken {
    cas_url: Url,
    access_token: String,
    exp: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenAnswer {
    cas_url: String,
    access_token: String,
    exp: u64,
}

/// The Xet storage of one repo at one commit, reached with the Hub's client.
pub struct Cas {
    hub: Arc<HubClient>,
    repo: RepoId,
    commit: String,
    token: Mutex<CasToken>,
}

/// What the Hub answered when asked for a Xet read token.
pub enum Offer {
    Xet(Arc<Cas>),
    /// The Hub has no token route (HTTP 404): it does not serve Xet.
    NoXet,
}

impl Cas {
    /// Asks the Hub for a read token of `repo`'s Xet storage at `commit`.
    pub async fn connect(hub: Arc<HubClient>, repo: &RepoId, commit: &str) -> Result<Offer> {
        match read_token(&hub, repo, commit).await? {
            None => Ok(Offer::NoXet),
            Some(token) => Ok(Offer::Xet(Arc::new(Cas {
                hub,
                repo: repo.clone(),
                commit: commit.to_string(),
                token: Mutex::new(token),
            }))),
        }
    }

    /// How to rebuild the file `path` of `size` bytes, whose Xet hash is `hash`.
    pub async fn reconstruction(
        &self,
        hash: &str,
        path: &str,
        size: u64,
    ) -> Result<Reconstruction> {
        let token = self.fresh_token().await?;
        let url = token
            .cas_url
            .join(&format!("v1/reconstructions/{hash}"))
            .map_err(|e| Error::Internal(format!("cannot build the reconstruction URL: {e}")))?;
        let mut bearer =
            HeaderValue::from_str(&format!("Bearer {}", token.access_token)).map_err(|_| {
                protocol(
                    &self.token_url(),
                    "the Xet access token holds characters a header cannot carry",
                )
            })?;
        bearer.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, bearer);
        let response = self.hub.http().send(&url, false, headers).await?;
        let status = response.status();
        if !status.is_success() {
            let remedy = match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => format!(
                    "the Xet storage refused the read token the Hub gave for {}: fetch again; \
                     if it goes on, fetch the repo with source.huggingface, which downloads \
                     through the Hub's resolve route",
                    self.repo
                ),
                StatusCode::NOT_FOUND => format!(
                    "the Xet storage has no file {hash}, which the Hub lists for {path}: fetch the \
                     repo with source.huggingface, which downloads through the Hub's resolve route"
                ),
                _ => "the Xet storage refused to say how to rebuild the file".to_string(),
            };
            return Err(Error::Refused {
                url: ShownUrl::from(&url),
                status: status.as_u16(),
                detail: crate::http::error_detail(response.headers()),
                remedy,
            });
        }
        let body = response.bytes().await.map_err(|e| Error::Unreachable {
            url: ShownUrl::from(&url),
            cause: crate::http::describe(&e),
            names: SettingNames::Spec,
        })?;
        reconstruction::read(&body, size)
            .map_err(|problem| protocol(&url, &format!("{path}: {problem}")))
    }

    /// The token, asked for again if it is about to expire.
    async fn fresh_token(&self) -> Result<CasToken> {
        let token = self.token.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if token.exp > now() + TOKEN_MARGIN {
            return Ok(token);
        }
        let token = read_token(&self.hub, &self.repo, &self.commit)
            .await?
            .ok_or_else(|| Error::Refused {
                url: ShownUrl::from(&self.token_url()),
                status: 404,
                detail: String::new(),
                remedy: format!(
                    "the Hub no longer gives a Xet read token for {}: fetch the repo with \
                     source.huggingface",
                    self.repo
                ),
            })?;
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = token.clone();
        Ok(token)
    }

    fn token_url(&self) -> Url {
        token_url(&self.hub, &self.repo, &self.commit)
            .unwrap_or_else(|_| Url::parse("http://invalid/").expect("a URL"))
    }
}

/// `{endpoint}/api/{type}s/{repo}/xet-read-token/{commit}`.
fn token_url(hub: &HubClient, repo: &RepoId, commit: &str) -> Result<Url> {
    let text = format!(
        "{}/api/{}/{}/xet-read-token/{}",
        hub.endpoint(),
        repo.kind.plural(),
        repo.id,
        utf8_percent_encode(commit, NON_ALPHANUMERIC)
    );
    Url::parse(&text).map_err(|e| Error::Internal(format!("cannot build URL {text}: {e}")))
}

/// The Hub's read token for `repo`'s Xet storage; `None` if it has no such route (404).
async fn read_token(hub: &HubClient, repo: &RepoId, commit: &str) -> Result<Option<CasToken>> {
    let url = token_url(hub, repo, commit)?;
    let response = hub.http().get(&url).await?;
    let status = response.status();
    // The listing of the repo at this commit came first: a 404 here is the route's, not the
    // repo's.
    if status == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        let who = match hub.http().has_token() {
            true => {
                "the token set (HF_TOKEN, auth.tokenFile or auth.tokenEnvVar) may not read it: \
                     check that its account has access to the repo"
            }
            false => {
                "it needs a token: set HF_TOKEN (or auth.tokenFile) to a token that can \
                      read the repo"
            }
        };
        return Err(Error::Refused {
            url: ShownUrl::from(&url),
            status: status.as_u16(),
            detail: crate::http::error_detail(response.headers()),
            remedy: format!("the Hub refused a Xet read token for {repo}: {who}"),
        });
    }
    let response = hub.checked(repo, response, Asked::Revision(commit))?;
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(|e| Error::Unreachable {
        url: ShownUrl::from(&url),
        cause: crate::http::describe(&e),
        names: SettingNames::Spec,
    })?;
    // The Hub gives it as JSON (what xet-core reads) and as headers (what huggingface_hub reads).
    let answer = match serde_json::from_slice::<TokenAnswer>(&body) {
        Ok(answer) => answer,
        Err(error) => token_from_headers(&headers).ok_or_else(|| {
            protocol(
                &url,
                &format!("the answer is not a Xet read token: {error}"),
            )
        })?,
    };
    let cas_url = Url::parse(answer.cas_url.trim_end_matches('/'))
        .ok()
        .filter(|cas| {
            matches!(cas.scheme(), "http" | "https")
                && cas.username().is_empty()
                && cas.password().is_none()
        })
        .ok_or_else(|| protocol(&url, "the Xet storage's URL (casUrl) is no http(s) URL"))?;
    // `join` keeps the last segment of a base only when it ends with '/'.
    let mut cas_url = cas_url;
    if !cas_url.path().ends_with('/') {
        cas_url.set_path(&format!("{}/", cas_url.path()));
    }
    Ok(Some(CasToken {
        cas_url,
        access_token: answer.access_token,
        exp: answer.exp,
    }))
}

/// `X-Xet-Cas-Url`, `X-Xet-Access-Token` and `X-Xet-Token-Expiration`.
fn token_from_headers(headers: &HeaderMap) -> Option<TokenAnswer> {
    let header = |name: &str| headers.get(name)?.to_str().ok().map(String::from);
    Some(TokenAnswer {
        cas_url: header("x-xet-cas-url")?,
        access_token: header("x-xet-access-token")?,
        exp: header("x-xet-token-expiration")?.parse().ok()?,
    })
}

fn protocol(url: &Url, problem: &str) -> Error {
    Error::Protocol {
        url: ShownUrl::from(url),
        problem: problem.to_string(),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
