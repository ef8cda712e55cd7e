//! `source.url`: files at plain HTTP(S) URLs. A HEAD (or a one-byte range) of each gives its
//! size and whether the server answers ranges; a file's sha256 is checked when the spec gives
//! it and computed otherwise. Credentials come from a netrc file ($NETRC, else ~/.netrc), as
//! for curl and Nix's `netrc-file`.

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::future::try_join_all;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT_RANGES, AUTHORIZATION, CONTENT_RANGE, RANGE};
use reqwest::{Response, StatusCode};
use url::Url;

use super::{Addresses, Content, Context, Digest, Layout, Origin, Plan, PlannedFile, Request};
use crate::error::{Error, Result, ShownUrl};
use crate::http::{ClientSetup, Http};
use crate::hub::Oid;
use crate::spec::url::{UrlFile, UrlSource};
use crate::spec::FetchSpec;

pub fn addresses(source: &UrlSource) -> Addresses {
    let urls = source.files.iter().map(|f| f.url.to_string()).collect();
    let endpoint = source.files[0].url.origin().ascii_serialization();
    Addresses { endpoint, urls }
}

pub async fn plan(spec: &FetchSpec, source: &UrlSource, context: Context<'_>) -> Result<Plan> {
    let first = &source.files[0].url;
    let setup = ClientSetup {
        token: None,
        extra_roots: context.extra_roots,
        notify: context.notify,
    };
    let origin = Arc::new(UrlFiles {
        http: Http::new(&spec.network, first, setup)?,
        netrc: Netrc::find(context.env),
    });
    let probes = source.files.iter().map(|file| origin.probe(file));
    let mut files = try_join_all(probes).await?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Plan {
        endpoint: first.origin().ascii_serialization(),
        revision: "main".into(),
        commit: None,
        origin,
        files,
        layout: Layout::HubCache { listing: None },
        pin: Default::default(),
    })
}

struct UrlFiles {
    http: Http,
    netrc: Netrc,
}

impl UrlFiles {
    /// The file's size and whether its server answers ranges: a HEAD, or a GET of its first
    /// byte where HEAD is not allowed.
    async fn probe(&self, file: &UrlFile) -> Result<PlannedFile> {
        let headers = self.netrc.headers_for(&file.url);
        let head = self.http.send(&file.url, true, headers.clone()).await?;
        let (size, ranges) = match head.status() {
            StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED => {
                let mut first_byte = headers.clone();
                first_byte.insert(RANGE, HeaderValue::from_static("bytes=0-0"));
                let answer = self.http.send(&file.url, false, first_byte).await?;
                let answer = self.checked(answer, &file.filename)?;
                match answer.status() {
                    StatusCode::PARTIAL_CONTENT => (total_of_range(answer.headers()), true),
                    _ => (answer.content_length(), false),
                }
            }
            _ => {
                let head = self.checked(head, &file.filename)?;
                let ranges = head
                    .headers()
                    .get(ACCEPT_RANGES)
                    .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"bytes"));
                (content_length(&head), ranges)
            }
        };
        let size = size.ok_or_else(|| Error::Protocol {
            url: ShownUrl::from(&file.url),
            problem: "the server gives no size (Content-Length) of the file: nix-fetch-model \
                      needs it to check the download"
                .into(),
        })?;
        Ok(PlannedFile {
            path: file.filename.clone(),
            size,
            digest: match &file.sha256 {
                Some(hash) => Digest::Known(Oid::Sha256(hash.to_base16())),
                None => Digest::Sha256Computed,
            },
            content: Content::Download(Request {
                url: file.url.clone(),
                headers,
                ranges,
                xet: None,
            }),
        })
    }
}

impl Origin for UrlFiles {
    fn http(&self) -> &Http {
        &self.http
    }

    fn checked(&self, response: Response, _path: &str) -> Result<Response> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let url = response.url().clone();
        let remedy = match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => self.netrc.remedy(&url),
            StatusCode::NOT_FOUND | StatusCode::GONE => "check the URL".to_string(),
            _ => "the server refused the download".to_string(),
        };
        Err(Error::Refused {
            url: ShownUrl::from(&url),
            status: status.as_u16(),
            detail: crate::http::error_detail(response.headers()),
            remedy,
        })
    }
}

/// The size a HEAD gives: its Content-Length header (reqwest reads none from a HEAD's body).
fn content_length(head: &Response) -> Option<u64> {
    head.headers()
        .get(reqwest::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// The total of `Content-Range: bytes 0-0/<total>`.
fn total_of_range(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(CONTENT_RANGE)?.to_str().ok()?;
    value.rsplit_once('/')?.1.trim().parse().ok()
}

/// The netrc file ($NETRC, else ~/.netrc) and its entries, if it has any (the ollama and git-lfs
/// sources read basic credentials from it too).
pub(super) struct Netrc {
    pub(super) file: Option<PathBuf>,
    entries: Option<netrc::Netrc>,
}

impl Netrc {
    pub(super) fn find(env: &(dyn Fn(&str) -> Option<String> + Sync)) -> Self {
        let file = env("NETRC")
            .filter(|f| !f.is_empty())
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|home| PathBuf::from(home).join(".netrc")))
            .filter(|file| file.is_file());
        let entries = file
            .as_deref()
            .and_then(|f| netrc::Netrc::from_file(f).ok());
        Netrc { file, entries }
    }

    pub(super) fn entry(&self, url: &Url) -> Option<&netrc::Authenticator> {
        let entries = self.entries.as_ref()?;
        let host = url.host_str()?;
        entries
            .hosts
            .get(host)
            .or_else(|| entries.hosts.get("default"))
    }

    /// Basic credentials for `url`'s host, if the netrc file has them.
    pub(super) fn headers_for(&self, url: &Url) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(entry) = self.entry(url) {
            use base64::Engine as _;
            let pair = format!("{}:{}", entry.login, entry.password);
            let value = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            );
            if let Ok(mut value) = HeaderValue::from_str(&value) {
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
            }
        }
        headers
    }

    pub(super) fn remedy(&self, url: &Url) -> String {
        let host = url.host_str().unwrap_or("the host");
        match (&self.file, self.entry(url)) {
            (Some(file), Some(_)) => format!(
                "the server refused the credentials {} holds for {host}: check them",
                file.display()
            ),
            _ => format!(
                "the server wants credentials: put them in a netrc file ($NETRC, else \
                 ~/.netrc): machine {host} login <user> password <password>"
            ),
        }
    }
}
