//! The Hub APIs the fetch needs: revision -> commit, the recursive file tree
//! (paginated), and the `resolve` URL of a file at a commit.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{LINK, LOCATION};
use reqwest::Response;
use serde::Deserialize;
use url::Url;

use super::errors::{Asked, ErrorContext};
use super::pagination::Pagination;
use super::{RepoId, DEFAULT_ENDPOINT};
use crate::error::{Error, Result, SettingNames, ShownUrl};
use crate::http::{ClientSetup, Http};
use crate::spec::Network;

/// Characters kept as they are in a URL path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// As `SEGMENT`, keeping the `/` between the segments of a file path.
const FILE_PATH: &AsciiSet = &SEGMENT.remove(b'/');

/// The largest size a file can have (`off_t`): a listing that says more is wrong.
const MAX_FILE_SIZE: u64 = i64::MAX as u64;

/// A file of a repo at a commit, as the tree API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    pub path: String,
    /// The size of the content.
    pub size: u64,
    /// What the content is checked against and stored under.
    pub oid: Oid,
    /// The listing as the Hub gave it, kept for `trees/<commit>.json`.
    pub listed: ListedFile,
}

/// The raw fields of a tree entry: `size`, `oid` (the git blob id, of the LFS pointer
/// for LFS files), `lfs.oid`/`lfs.size` and `xetHash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedFile {
    pub size: u64,
    pub blob_id: String,
    pub lfs: Option<(String, u64)>,
    pub xet_hash: Option<String>,
}

/// The content id the Hub gives a file, which is also its blob name in the cache.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Oid {
    /// LFS (and Xet) files: sha256 of the content.
    Sha256(String),
    /// Files kept in git: sha1 of `"blob {len}\0"` + content.
    GitSha1(String),
}

impl Oid {
    /// The blob name, `blobs/<etag>`.
    pub fn etag(&self) -> &str {
        match self {
            Oid::Sha256(hex) | Oid::GitSha1(hex) => hex,
        }
    }
}

pub struct HubClient {
    http: Http,
    endpoint: String,
}

impl HubClient {
    /// The Hub of [`checked_endpoint`], with `token`.
    pub fn new(
        network: &Network,
        env_endpoint: Option<String>,
        setup: ClientSetup,
    ) -> Result<Self> {
        let (endpoint, url) = checked_endpoint(network, env_endpoint)?;
        Ok(HubClient {
            http: Http::new(network, &url, setup)?,
            endpoint,
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn http(&self) -> &Http {
        &self.http
    }

    /// The commit a branch, tag, `refs/pr/N` or commit sha points to.
    pub async fn resolve_commit(&self, repo: &RepoId, revision: &str) -> Result<String> {
        #[derive(Deserialize)]
        struct RevisionInfo {
            sha: Option<String>,
        }
        let url = self.url(&format!(
            "/api/{}/{}/revision/{}",
            repo.kind.plural(),
            repo.id,
            utf8_percent_encode(revision, SEGMENT)
        ))?;
        let response = self.checked(repo, self.http.get(&url).await?, Asked::Revision(revision))?;
        let info: RevisionInfo = read_json(&url, response).await?;
        match info.sha {
            Some(sha) if is_hex(&sha, 40) => Ok(sha),
            other => Err(Error::Protocol {
                url: (&url).into(),
                problem: format!("no 40-hex commit sha in the answer (got {other:?})"),
            }),
        }
    }

    /// Whether the Hub has `repo` (of its type) and lets us see it: its info answers.
    pub async fn repo_exists(&self, repo: &RepoId) -> Result<bool> {
        let url = self.url(&format!("/api/{}/{}", repo.kind.plural(), repo.id))?;
        let response = self.http.get(&url).await?;
        Ok(response.status().is_success())
    }

    /// Every file of the repo at `commit`, following `Link: rel="next"` pages on the endpoint's
    /// host while they list new paths ([`Pagination`]).
    pub async fn list_files(&self, repo: &RepoId, commit: &str) -> Result<Vec<RepoFile>> {
        let first = self.url(&format!(
            "/api/{}/{}/tree/{}?recursive=true",
            repo.kind.plural(),
            repo.id,
            commit
        ))?;
        let mut url = first.clone();
        let mut pages = Pagination::new(&repo.id);
        let mut files = Vec::new();
        loop {
            let response = self.http.get(&url).await?;
            let response = if url == first {
                self.checked(repo, response, Asked::Tree(commit))?
            } else {
                next_page_checked(repo, response)?
            };
            let next = next_page(&url, &response);
            let entries: Vec<TreeEntry> = read_json(&url, response).await?;
            let next = pages.next(url.clone(), entries.iter().map(|e| e.path.as_str()), next)?;
            for entry in entries.into_iter().filter(|e| e.kind == "file") {
                files.push(entry.into_repo_file(&url)?);
            }
            url = match next {
                None => break,
                Some(next) if next.origin() != first.origin() => {
                    return Err(Error::ListingLeavesHost {
                        repo: repo.id.clone(),
                        endpoint: self.endpoint.clone(),
                        url: (&next).into(),
                        names: SettingNames::Spec,
                    })
                }
                Some(next) => next,
            };
        }
        Ok(files)
    }

    /// `{endpoint}/{prefix}{repo}/resolve/{commit}/{path}`.
    pub fn file_url(&self, repo: &RepoId, commit: &str, path: &str) -> Result<Url> {
        self.url(&format!(
            "/{}{}/resolve/{}/{}",
            repo.kind.url_prefix(),
            repo.id,
            commit,
            utf8_percent_encode(path, FILE_PATH)
        ))
    }

    /// Turns an error answer about `repo` into the error the user can act on.
    pub fn checked(&self, repo: &RepoId, response: Response, asked: Asked) -> Result<Response> {
        if response.status().is_success() {
            return Ok(response);
        }
        refuse_redirect(&response)?;
        let context = ErrorContext {
            repo,
            endpoint: &self.endpoint,
            has_token: self.http.has_token(),
        };
        Err(context.error_for(&response, asked))
    }

    fn url(&self, path_and_query: &str) -> Result<Url> {
        let text = format!("{}{}", self.endpoint, path_and_query);
        Url::parse(&text).map_err(|e| Error::Internal(format!("cannot build URL {text}: {e}")))
    }
}

/// [`choose_endpoint`], and its URL. An `HF_ENDPOINT` that is no http(s) URL, or holds
/// credentials, is refused naming `HF_ENDPOINT`, the credentials shown as `***` (the spec's own
/// endpoint was checked with the spec).
pub fn checked_endpoint(network: &Network, env_endpoint: Option<String>) -> Result<(String, Url)> {
    let from_env =
        network.endpoint.is_none() && env_endpoint.as_ref().is_some_and(|e| !e.is_empty());
    let endpoint = choose_endpoint(network, env_endpoint);
    let setting = if from_env {
        "HF_ENDPOINT"
    } else {
        "network.endpoint"
    };
    let invalid = |problem: String| Error::InvalidEndpoint { setting, problem };
    let url = crate::spec::fields::endpoint(&endpoint).map_err(invalid)?;
    Ok((endpoint, url))
}

/// The Hub to talk to, without a trailing `/`: the spec's `network.endpoint`, else
/// `env_endpoint` (`HF_ENDPOINT`), else the public Hub. Unchecked: see [`checked_endpoint`].
pub fn choose_endpoint(network: &Network, env_endpoint: Option<String>) -> String {
    let endpoint = network
        .endpoint
        .clone()
        .or(env_endpoint.filter(|e| !e.is_empty()))
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
    endpoint.trim_end_matches('/').to_string()
}

#[derive(Deserialize)]
struct TreeEntry {
    #[serde(rename = "type")]
    kind: String,
    path: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    oid: String,
    lfs: Option<LfsInfo>,
    #[serde(rename = "xetHash")]
    xet_hash: Option<String>,
}

#[derive(Deserialize)]
struct LfsInfo {
    oid: String,
    size: u64,
}

impl TreeEntry {
    fn into_repo_file(self, url: &Url) -> Result<RepoFile> {
        let listed = ListedFile {
            size: self.size,
            blob_id: self.oid,
            lfs: self.lfs.map(|lfs| (lfs.oid, lfs.size)),
            xet_hash: self.xet_hash,
        };
        RepoFile::from_listed(self.path, listed).map_err(|problem| Error::Protocol {
            url: url.into(),
            problem: format!("{problem}: the server's listing is wrong"),
        })
    }
}

impl RepoFile {
    /// The file `path` as a listing gives it (the tree API, or `trees/<commit>.json`): its
    /// content is the LFS object when there is one, else the git blob. `Err`: what is wrong.
    pub fn from_listed(path: String, listed: ListedFile) -> std::result::Result<Self, String> {
        let (oid, size) = match &listed.lfs {
            Some((sha256, size)) => (Oid::Sha256(sha256.clone()), *size),
            None => (Oid::GitSha1(listed.blob_id.clone()), listed.size),
        };
        let valid = match &oid {
            Oid::Sha256(hex) => is_hex(hex, 64),
            Oid::GitSha1(hex) => is_hex(hex, 40),
        };
        if !valid {
            return Err(format!(
                "file {path:?} has a malformed oid {:?}",
                oid.etag()
            ));
        }
        if size > MAX_FILE_SIZE {
            return Err(format!(
                "file {path:?} is listed with {size} bytes, more than a file can hold"
            ));
        }
        Ok(RepoFile {
            path,
            size,
            oid,
            listed,
        })
    }
}

/// Whether `text` is `len` lowercase hex digits.
pub fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A next page of a listing that does not answer is the server's pagination at fault, not the
/// repo: its error names the page.
fn next_page_checked(repo: &RepoId, response: Response) -> Result<Response> {
    if response.status().is_success() {
        return Ok(response);
    }
    refuse_redirect(&response)?;
    Err(Error::ListingPageFailed {
        repo: repo.id.clone(),
        url: response.url().into(),
        status: response.status().as_u16(),
        detail: crate::http::error_detail(response.headers()),
    })
}

/// A redirect that reaches here is one the client does not follow: to a URL that is not
/// http(s) (`file://`...), or to nowhere.
fn refuse_redirect(response: &Response) -> Result<()> {
    if !response.status().is_redirection() {
        return Ok(());
    }
    let location = match response.headers().get(LOCATION) {
        Some(location) => String::from_utf8_lossy(location.as_bytes()).into_owned(),
        None => "nowhere (no Location header)".into(),
    };
    Err(Error::BadRedirect {
        url: response.url().into(),
        location: ShownUrl::new(&location),
        names: SettingNames::Spec,
    })
}

/// The `rel="next"` target of a `Link` header, resolved against the current URL.
fn next_page(current: &Url, response: &Response) -> Option<Url> {
    let header = response.headers().get(LINK)?.to_str().ok()?;
    current.join(super::link::target(header, "next")?).ok()
}

async fn read_json<T: serde::de::DeserializeOwned>(url: &Url, response: Response) -> Result<T> {
    let body = response.bytes().await.map_err(|e| Error::Unreachable {
        url: url.into(),
        cause: crate::http::describe(&e),
        names: SettingNames::Spec,
    })?;
    serde_json::from_slice(&body).map_err(|e| Error::Protocol {
        url: url.into(),
        problem: format!("the answer is not the expected JSON: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(endpoint: Option<&str>, env: Option<&str>) -> Result<HubClient> {
        let network = Network {
            endpoint: endpoint.map(String::from),
            ..Network::default()
        };
        HubClient::new(&network, env.map(String::from), ClientSetup::default())
    }

    #[test]
    fn endpoint_precedence() {
        assert_eq!(
            client(None, None).unwrap().endpoint(),
            "https://huggingface.co"
        );
        assert_eq!(
            client(None, Some("http://env:1/")).unwrap().endpoint(),
            "http://env:1"
        );
        assert_eq!(
            client(Some("http://spec:2"), Some("http://env:1"))
                .unwrap()
                .endpoint(),
            "http://spec:2"
        );
        assert!(client(Some("ftp://x"), None).is_err());
    }

    #[test]
    fn hf_endpoint_is_named_and_its_credentials_are_not_shown() {
        let error = client(None, Some("https://me:hf_secret@mirror.example"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.starts_with("HF_ENDPOINT 'https://***@mirror.example' holds credentials")
                && error.contains("HF_TOKEN")
                && !error.contains("hf_secret"),
            "{error}"
        );
        let error = client(None, Some("ftp://x")).err().unwrap().to_string();
        assert!(
            error.starts_with("HF_ENDPOINT 'ftp://x' is not an http"),
            "{error}"
        );
    }

    #[test]
    fn file_urls_are_encoded() {
        let hub = client(Some("http://h"), None).unwrap();
        let repo = RepoId::parse("org/name", crate::hub::RepoType::Dataset).unwrap();
        let url = hub.file_url(&repo, "abc", "dir/a b#?.json").unwrap();
        assert_eq!(
            url.as_str(),
            "http://h/datasets/org/name/resolve/abc/dir/a%20b%23%3F.json"
        );
    }
}
