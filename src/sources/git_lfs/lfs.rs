//! Git LFS: pointer files, the LFS endpoint of a remote, and the batch API that gives the
//! download of each object (https://github.com/git-lfs/git-lfs/blob/main/docs/api/batch.md).

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use super::credentials::Credentials;
use crate::error::{Error, Result, ShownUrl};
use crate::http::Http;

pub const MEDIA_TYPE: &str = "application/vnd.git-lfs+json";
/// git-lfs asks for at most this many objects in one batch request.
const BATCH_SIZE: usize = 100;
/// git-lfs reads a blob as a pointer only if it is smaller than this.
const POINTER_MAX: usize = 1024;

/// What a pointer file names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer {
    /// sha256 of the content, hex.
    pub oid: String,
    pub size: u64,
}

/// The pointer `blob` is, if it is one (git-lfs's spec v1: `version`, then `oid sha256:<hex>`
/// and `size <n>` among sorted `key value` lines, each ended by a newline).
pub fn pointer(blob: &[u8]) -> Option<Pointer> {
    if blob.len() >= POINTER_MAX {
        return None;
    }
    let text = std::str::from_utf8(blob).ok()?.strip_suffix('\n')?;
    let mut lines = text.split('\n');
    let version = lines.next()?.strip_prefix("version ")?;
    if !matches!(
        version,
        "https://git-lfs.github.com/spec/v1" | "https://hawser.github.com/spec/v1"
    ) {
        return None;
    }
    let (mut oid, mut size, mut previous) = (None, None, "");
    for line in lines {
        let (key, value) = line.split_once(' ')?;
        if key <= previous || key.is_empty() {
            return None;
        }
        previous = key;
        match key {
            "oid" => {
                let hex = value.strip_prefix("sha256:")?;
                let valid =
                    hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
                oid = valid.then(|| hex.to_string());
                oid.as_ref()?;
            }
            "size" => {
                let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
                size = Some(value.parse().ok().filter(|_| digits)?);
            }
            _ if key.starts_with("ext-") => {}
            _ => return None,
        }
    }
    Some(Pointer {
        oid: oid?,
        size: size?,
    })
}

/// The LFS endpoint of `remote`: `lfs.url` of the commit's `.lfsconfig` (or its
/// `remote.origin.lfsurl`), else git-lfs's default, `<remote>.git/info/lfs`
/// (`<remote>/info/lfs` when the remote ends in `.git`).
pub fn endpoint(remote: &Url, lfsconfig: Option<&[u8]>) -> Result<Url> {
    if let Some(config) = lfsconfig {
        if let Some(url) = configured(config) {
            return Url::parse(&url)
                .ok()
                .filter(|url| matches!(url.scheme(), "http" | "https"))
                .ok_or_else(|| Error::Protocol {
                    url: ShownUrl::from(remote),
                    problem: format!(
                        "the repository's .lfsconfig sets lfs.url to '{}', which is not an \
                         http(s) URL: nix-fetch-model speaks the LFS batch API over HTTP only",
                        ShownUrl::new(&url)
                    ),
                });
        }
    }
    let mut text = remote.as_str().trim_end_matches('/').to_string();
    if !text.ends_with(".git") {
        text.push_str(".git");
    }
    text.push_str("/info/lfs");
    Url::parse(&text).map_err(|e| Error::Internal(format!("LFS endpoint of a URL: {e}")))
}

/// `lfs.url` (else `remote.origin.lfsurl`) of a `.lfsconfig`, which is in git's config format.
fn configured(config: &[u8]) -> Option<String> {
    let file = gix::config::File::try_from(std::str::from_utf8(config).ok()?).ok()?;
    let value = file
        .string("lfs.url")
        .or_else(|| file.string("remote.origin.lfsurl"))?;
    Some(value.to_string())
}

#[derive(Deserialize)]
struct BatchAnswer {
    transfer: Option<String>,
    #[serde(default)]
    objects: Vec<BatchObject>,
}

#[derive(Deserialize)]
struct BatchObject {
    oid: String,
    #[serde(default)]
    authenticated: bool,
    actions: Option<Actions>,
    error: Option<ObjectError>,
}

#[derive(Deserialize)]
struct Actions {
    download: Option<Action>,
}

#[derive(Deserialize)]
struct Action {
    href: String,
    #[serde(default)]
    header: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct ObjectError {
    code: u16,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    message: Option<String>,
}

/// How to download one object.
pub struct Download {
    pub url: Url,
    pub headers: HeaderMap,
}

/// The LFS server of one repository.
pub struct Lfs<'a> {
    pub http: &'a Http,
    pub credentials: &'a Credentials,
    pub endpoint: Url,
}

impl Lfs<'_> {
    /// The download of every object, asked in batches; `objects` are (path, pointer), one path
    /// for each object.
    pub async fn downloads(
        &self,
        objects: &[(&str, &Pointer)],
    ) -> Result<BTreeMap<String, Download>> {
        let mut downloads = BTreeMap::new();
        for batch in objects.chunks(BATCH_SIZE) {
            self.batch(batch, &mut downloads).await?;
        }
        Ok(downloads)
    }

    async fn batch(
        &self,
        objects: &[(&str, &Pointer)],
        downloads: &mut BTreeMap<String, Download>,
    ) -> Result<()> {
        let url = Url::parse(&format!(
            "{}/objects/batch",
            self.endpoint.as_str().trim_end_matches('/')
        ))
        .map_err(|e| Error::Internal(format!("LFS batch URL: {e}")))?;
        let request = serde_json::json!({
            "operation": "download",
            "transfers": ["basic"],
            "objects": objects.iter().map(|(_, p)| serde_json::json!({"oid": p.oid, "size": p.size})).collect::<Vec<_>>(),
            "hash_algo": "sha256",
        });
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(MEDIA_TYPE));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
        let body = serde_json::to_vec(&request).expect("JSON");
        let answer = self
            .credentials
            .send(self.http, Method::POST, &url, headers, Some(body))
            .await?;
        let (response, sent) = (answer.response, answer.sent);
        let status = response.status();
        let shown = ShownUrl::from(&url);
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            let message = serde_json::from_str::<ErrorAnswer>(&text)
                .ok()
                .and_then(|e| e.message)
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            if status == StatusCode::NOT_FOUND {
                if let [(path, pointer)] = objects {
                    return Err(self.missing(path, pointer, message));
                }
            }
            let remedy = match status {
                StatusCode::UNAUTHORIZED => {
                    self.credentials
                        .remedy("the LFS server", &self.endpoint, sent.as_ref())
                }
                StatusCode::FORBIDDEN => "the LFS server denies these credentials the \
                                          repository's objects: check that their account may \
                                          read it"
                    .into(),
                StatusCode::NOT_FOUND => format!(
                    "the LFS server has none of the objects asked for, or {} is no LFS \
                     endpoint: check lfs.url in the repository's .lfsconfig",
                    ShownUrl::from(&self.endpoint)
                ),
                _ => "the LFS server refused the batch request".into(),
            };
            return Err(Error::Refused {
                url: shown,
                status: status.as_u16(),
                detail: message,
                remedy,
            });
        }
        let body = response.bytes().await.map_err(|e| Error::Protocol {
            url: shown.clone(),
            problem: format!(
                "the LFS batch answer broke off: {}",
                crate::http::describe_cut(&e)
            ),
        })?;
        let answer: BatchAnswer = serde_json::from_slice(&body).map_err(|e| Error::Protocol {
            url: shown.clone(),
            problem: format!("the LFS batch answer is not the API's JSON: {e}"),
        })?;
        if let Some(transfer) = answer.transfer.filter(|t| t != "basic") {
            return Err(Error::Protocol {
                url: shown,
                problem: format!("the LFS server chose the '{transfer}' transfer, not 'basic'"),
            });
        }
        let paths: BTreeMap<&str, (&str, &Pointer)> = objects
            .iter()
            .map(|(path, p)| (p.oid.as_str(), (*path, *p)))
            .collect();
        for object in answer.objects {
            let Some(&(path, pointer)) = paths.get(object.oid.as_str()) else {
                continue;
            };
            if let Some(error) = object.error {
                if error.code == 404 || error.code == 410 {
                    let detail = format!(": {} {}", error.code, error.message);
                    return Err(self.missing(path, pointer, detail));
                }
                return Err(Error::Refused {
                    url: shown,
                    status: error.code,
                    detail: format!(": {}", error.message),
                    remedy: format!("the LFS server will not give the object of {path}"),
                });
            }
            let Some(action) = object.actions.and_then(|a| a.download) else {
                return Err(Error::Protocol {
                    url: shown,
                    problem: format!("no download action for the object of {path}"),
                });
            };
            let href = Url::parse(&action.href)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| Error::Protocol {
                    url: shown.clone(),
                    problem: format!("the download link of {path} is not an http(s) URL"),
                })?;
            let mut headers = HeaderMap::new();
            for (name, value) in &action.header {
                if let (Ok(name), Ok(mut value)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(value),
                ) {
                    value.set_sensitive(true);
                    headers.insert(name, value);
                }
            }
            // As git-lfs: the endpoint's credentials go with a download on its own origin,
            // unless the server says the link carries its own.
            if !object.authenticated
                && !headers.contains_key(reqwest::header::AUTHORIZATION)
                && href.origin() == self.endpoint.origin()
            {
                if let Some(header) = self.credentials.worked_for(&self.endpoint) {
                    headers.insert(reqwest::header::AUTHORIZATION, header);
                }
            }
            downloads.insert(object.oid, Download { url: href, headers });
        }
        for (path, pointer) in objects {
            if !downloads.contains_key(&pointer.oid) {
                return Err(Error::Protocol {
                    url: shown,
                    problem: format!("the batch answer leaves out the object of {path}"),
                });
            }
        }
        Ok(())
    }

    fn missing(&self, path: &str, pointer: &Pointer, detail: String) -> Error {
        Error::LfsObjectMissing {
            path: path.to_string(),
            oid: pointer.oid.clone(),
            size: pointer.size,
            endpoint: ShownUrl::from(&self.endpoint),
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OID: &str = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393";

    #[test]
    fn pointers() {
        let text =
            format!("version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 12345\n");
        assert_eq!(
            pointer(text.as_bytes()),
            Some(Pointer {
                oid: OID.into(),
                size: 12345
            })
        );
        let with_ext = format!(
            "version https://git-lfs.github.com/spec/v1\next-0-foo sha256:{OID}\noid sha256:{OID}\nsize 0\n"
        );
        assert_eq!(pointer(with_ext.as_bytes()).unwrap().size, 0);
        for bad in [
            text.trim_end().to_string(),
            text.replace("size 12345", "size -1"),
            text.replace("sha256:", "sha1:"),
            text.replace("spec/v1", "spec/v2"),
            format!("version https://git-lfs.github.com/spec/v1\nsize 1\noid sha256:{OID}\n"),
            format!("{text}{}", " ".repeat(1024)),
            "{\"model_type\": \"bert\"}\n".into(),
        ] {
            assert_eq!(pointer(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn endpoints() {
        let remote = Url::parse("https://h/org/name").unwrap();
        assert_eq!(
            endpoint(&remote, None).unwrap().as_str(),
            "https://h/org/name.git/info/lfs"
        );
        let remote = Url::parse("https://h/org/name.git/").unwrap();
        assert_eq!(
            endpoint(&remote, None).unwrap().as_str(),
            "https://h/org/name.git/info/lfs"
        );
        let config = b"[lfs]\n\turl = http://127.0.0.1:9/org/name.git/info/lfs\n";
        assert_eq!(
            endpoint(&remote, Some(config)).unwrap().as_str(),
            "http://127.0.0.1:9/org/name.git/info/lfs"
        );
        let config = b"[remote \"origin\"]\n\tlfsurl = https://lfs.example/x\n";
        assert_eq!(
            endpoint(&remote, Some(config)).unwrap().as_str(),
            "https://lfs.example/x"
        );
        assert_eq!(
            endpoint(&remote, Some(b"[core]\n")).unwrap().as_str(),
            "https://h/org/name.git/info/lfs"
        );
        assert!(endpoint(&remote, Some(b"[lfs]\nurl = ssh://git@h/x\n")).is_err());
    }
}
