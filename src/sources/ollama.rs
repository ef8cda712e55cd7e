//! `source.ollama`: a model of an Ollama registry, fetched as `ollama pull` fetches it
//! (server/images.go `PullModel`): the manifest from `/v2/<namespace>/<model>/manifests/<tag>`
//! with `Accept: application/vnd.docker.distribution.manifest.v2+json`, then each layer and the
//! config from `/v2/<namespace>/<model>/blobs/<digest>`, checked by its sha256 digest.
//!
//! The pin is the manifest's digest, the sha256 of its bytes as served. With `digest` in the
//! spec the manifest is asked for by that digest, so a tag that moves changes nothing.
//!
//! Credentials, as Ollama's client finds them (server/auth.go, auth/auth.go): on a `401` with
//! `WWW-Authenticate: Bearer realm=...,service=...,scope=...`, a token from the realm, the
//! request signed with Ollama's key `~/.ollama/id_ed25519` when it exists and the realm is the
//! registry's own origin (Ollama refuses a realm elsewhere). Ollama reads no `OLLAMA_*` variable
//! and no Docker config for credentials; for a registry that wants basic credentials (a
//! `docker-registry` with htpasswd, or a token service that does) they come from a netrc file
//! ($NETRC, else ~/.netrc), as for the url source.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Response, StatusCode};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use url::Url;

use super::url::Netrc;
use super::{Addresses, Content, Context, Digest, Layout, Origin, Plan, PlannedFile, Request};
use crate::error::{Error, Result, SettingNames};
use crate::http::{ClientSetup, Http};
use crate::hub::Oid;
use crate::notice::Notify;
use crate::spec::ollama::{is_digest, OllamaSource};
use crate::spec::FetchSpec;

/// What Ollama asks a manifest as (server/images.go `pullModelManifest`).
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// The largest manifest read (the size CNCF distribution allows a manifest).
const MAX_MANIFEST: usize = 4 << 20;

pub fn addresses(spec: &FetchSpec, source: &OllamaSource) -> Result<Addresses> {
    let base = registry_base(spec, source)?;
    Ok(Addresses {
        endpoint: shown_base(&base),
        urls: vec![base.join("v2/").map_err(internal)?.to_string()],
    })
}

/// The registry's URL, ending with '/': `network.endpoint` when given (a mirror), else the
/// registry of the name (`https://<registry>`, or `http://` when the registry is given so).
fn registry_base(spec: &FetchSpec, source: &OllamaSource) -> Result<Url> {
    let text = match &spec.network.endpoint {
        Some(endpoint) => endpoint.clone(),
        None => source.registry_url(),
    };
    let mut base = Url::parse(&text).map_err(internal)?;
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    Ok(base)
}

fn shown_base(base: &Url) -> String {
    base.as_str().trim_end_matches('/').to_string()
}

fn internal(error: impl std::fmt::Display) -> Error {
    Error::Internal(format!("a checked registry URL does not parse: {error}"))
}

pub async fn plan(spec: &FetchSpec, source: &OllamaSource, context: Context<'_>) -> Result<Plan> {
    let base = registry_base(spec, source)?;
    let setup = ClientSetup {
        token: None,
        extra_roots: context.extra_roots,
        notify: context.notify.clone(),
    };
    let registry = Registry {
        http: Http::new(&spec.network, &base, setup)?,
        netrc: Netrc::find(context.env),
        key: OllamaKey::find(context.env, &context.notify),
        repository: format!("{}/{}", source.namespace, source.model),
        name: source.display(),
        base,
    };
    let reference = source.digest.as_deref().unwrap_or(&source.tag);
    let manifest_url = registry.url(&format!("manifests/{reference}"))?;
    let (manifest, authorization) = registry.manifest(&manifest_url).await?;
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&manifest)));
    if let Some(pinned) = &source.digest {
        if pinned != &digest {
            return Err(Error::DigestMismatch {
                path: format!("the manifest of {}", source.display()),
                algorithm: "sha256",
                expected: pinned.clone(),
                got: digest,
            });
        }
    }
    let mut files = Vec::new();
    for (hex, size) in blobs_of(&manifest_url, &manifest)? {
        let url = registry.url(&format!("blobs/sha256:{hex}"))?;
        files.push(PlannedFile {
            path: format!("blobs/{}", crate::layout::ollama_blob_name(&hex)),
            size,
            digest: Digest::Known(Oid::Sha256(hex)),
            content: Content::Download(Request {
                url,
                headers: authorization.clone(),
                ranges: true,
                xet: None,
            }),
        });
    }
    Ok(Plan {
        endpoint: shown_base(&registry.base),
        revision: source.tag.clone(),
        commit: Some(digest),
        files,
        layout: Layout::Ollama {
            manifest_path: source.manifest_path(),
            manifest,
        },
        origin: Arc::new(registry),
        pin: Default::default(),
    })
}

/// A manifest as Ollama reads it (manifest/manifest.go `Manifest`); other fields are ignored.
#[derive(Deserialize)]
struct Manifest {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    config: Option<Layer>,
    layers: Option<Vec<Layer>>,
    /// A manifest list (an image index) has these instead of layers.
    manifests: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Layer {
    #[serde(default)]
    digest: String,
    #[serde(default)]
    size: i64,
}

/// The blobs a manifest names, as `ollama pull` downloads them: each layer, and the config
/// when it has a digest; each once, by digest (the lowercase hex of a sha256) and size.
fn blobs_of(url: &Url, manifest: &[u8]) -> Result<Vec<(String, u64)>> {
    let problem = |problem: String| Error::Protocol {
        url: url.into(),
        problem,
    };
    let parsed: Manifest = serde_json::from_slice(manifest)
        .map_err(|e| problem(format!("the manifest is not the JSON of a manifest: {e}")))?;
    if parsed.manifests.is_some()
        || parsed.media_type.contains("list")
        || parsed.media_type.contains("index")
    {
        return Err(problem(format!(
            "the registry sent a manifest list ({}), not the manifest of one model: Ollama's \
             registries serve one manifest per tag",
            if parsed.media_type.is_empty() {
                "no mediaType"
            } else {
                &parsed.media_type
            }
        )));
    }
    let layers = parsed.layers.unwrap_or_default();
    if layers.is_empty() {
        return Err(problem("the manifest lists no layers".into()));
    }
    let config = parsed.config.filter(|config| !config.digest.is_empty());
    let mut blobs: Vec<(String, u64)> = Vec::new();
    for layer in layers.iter().chain(config.as_ref()) {
        if !is_digest(&layer.digest) {
            return Err(problem(format!(
                "the manifest names a blob by '{}', which is not a sha256 digest (sha256: and \
                 64 lowercase hex digits)",
                layer.digest
            )));
        }
        let size = u64::try_from(layer.size).map_err(|_| {
            problem(format!(
                "the manifest gives {} the size {}",
                layer.digest, layer.size
            ))
        })?;
        let hex = layer.digest["sha256:".len()..].to_string();
        match blobs.iter().find(|(known, _)| known == &hex) {
            Some((_, known_size)) if *known_size != size => {
                return Err(problem(format!(
                    "the manifest gives {} two sizes, {known_size} and {size}",
                    layer.digest
                )))
            }
            Some(_) => {}
            None => blobs.push((hex, size)),
        }
    }
    blobs.sort();
    Ok(blobs)
}

/// The registry of one model: its client, where credentials come from, and how it words a
/// refusal.
struct Registry {
    http: Http,
    netrc: Netrc,
    key: Option<OllamaKey>,
    /// `<namespace>/<model>`.
    repository: String,
    /// The model's name as Ollama shows it.
    name: String,
    base: Url,
}

/// How a registry asks for credentials (`WWW-Authenticate`).
#[derive(Debug, PartialEq, Eq)]
enum Challenge {
    Bearer {
        realm: String,
        service: String,
        scope: String,
    },
    /// Basic, or a scheme this client does not speak.
    Other(String),
}

impl Registry {
    /// `<base>v2/<namespace>/<model>/<rest>`.
    fn url(&self, rest: &str) -> Result<Url> {
        self.base
            .join(&format!("v2/{}/{rest}", self.repository))
            .map_err(internal)
    }

    /// The manifest's bytes, and the `Authorization` the registry took (for the blobs).
    async fn manifest(&self, url: &Url) -> Result<(Vec<u8>, HeaderMap)> {
        let mut authorization = self.netrc.headers_for(url);
        let mut response = self.get_manifest(url, &authorization).await?;
        let mut challenge = None;
        if response.status() == StatusCode::UNAUTHORIZED {
            let asked = parse_challenge(response.headers());
            if let Some(Challenge::Bearer { .. }) = &asked {
                let token = self.token(asked.as_ref().expect("matched")).await?;
                let mut value =
                    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                        Error::Protocol {
                            url: url.into(),
                            problem:
                                "the registry's token service sent a token that an HTTP header \
                                  cannot carry"
                                    .into(),
                        }
                    })?;
                value.set_sensitive(true);
                authorization = HeaderMap::new();
                authorization.insert(AUTHORIZATION, value);
                response = self.get_manifest(url, &authorization).await?;
            }
            challenge = asked;
        }
        let status = response.status();
        if !status.is_success() {
            let detail = registry_errors(response).await;
            return Err(self.refusal(url, status, detail, challenge.as_ref(), "manifest"));
        }
        if let Some(served) = response.headers().get("docker-content-digest") {
            let served = served.to_str().unwrap_or_default().to_string();
            let bytes = read_capped(url, response).await?;
            let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
            if served.starts_with("sha256:") && served != digest {
                return Err(Error::Protocol {
                    url: url.into(),
                    problem: format!(
                        "the registry says the manifest's digest is {served}, its bytes give \
                         {digest}"
                    ),
                });
            }
            return Ok((bytes, authorization));
        }
        Ok((read_capped(url, response).await?, authorization))
    }

    async fn get_manifest(&self, url: &Url, authorization: &HeaderMap) -> Result<Response> {
        let mut headers = authorization.clone();
        headers.insert(ACCEPT, HeaderValue::from_static(MANIFEST_MEDIA_TYPE));
        self.http.send(url, false, headers).await
    }

    /// A token from the realm of a Bearer challenge, asked for as Ollama asks for it
    /// (server/auth.go `getAuthorizationToken`): `service`, each `scope`, `ts` and `nonce` in
    /// the query, signed with Ollama's key when the realm is the registry's origin; with the
    /// netrc's basic credentials for the realm's host instead, when it has some.
    async fn token(&self, challenge: &Challenge) -> Result<String> {
        let Challenge::Bearer {
            realm,
            service,
            scope,
        } = challenge
        else {
            return Err(Error::Internal(
                "a token for a challenge that is no Bearer one".into(),
            ));
        };
        let mut url = match Url::parse(realm) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => url,
            _ => {
                return Err(Error::Protocol {
                    url: (&self.base).into(),
                    problem: format!(
                        "the registry's Bearer challenge names the realm '{realm}', which is no \
                         http(s) URL"
                    ),
                })
            }
        };
        let mut query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        query.push(("service".into(), service.clone()));
        for scope in scope.split(' ') {
            query.push(("scope".into(), scope.to_string()));
        }
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        query.push(("ts".into(), seconds.to_string()));
        query.push(("nonce".into(), nonce()?));
        url.set_query(Some(&go_query(&mut query)));

        let mut headers = self.netrc.headers_for(&url);
        if headers.is_empty() && url.origin() == self.base.origin() {
            if let Some(key) = &self.key {
                headers.insert(AUTHORIZATION, key.authorization(&url)?);
            }
        }
        let sent_basic = !headers.is_empty() && self.netrc.entry(&url).is_some();
        let response = self.http.send(&url, false, headers).await?;
        let status = response.status();
        if !status.is_success() {
            let host = url.host_str().unwrap_or("the realm's host").to_string();
            let remedy = if sent_basic {
                self.netrc.remedy(&url)
            } else {
                format!(
                    "the registry's token service gives no token for {} without credentials: put \
                     them in a netrc file ($NETRC, else ~/.netrc): machine {host} login <user> \
                     password <password>{}",
                    self.name,
                    if self.key.is_none() && url.origin() == self.base.origin() {
                        ", or, for an Ollama registry, create Ollama's key \
                         (~/.ollama/id_ed25519, which `ollama serve` makes) and add its public \
                         key to your account"
                    } else {
                        ""
                    }
                )
            };
            return Err(Error::Refused {
                url: (&url).into(),
                status: status.as_u16(),
                detail: registry_errors(response).await,
                remedy,
            });
        }
        #[derive(Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let body = read_capped(&url, response).await?;
        let answer: Token = serde_json::from_slice(&body).map_err(|e| Error::Protocol {
            url: (&url).into(),
            problem: format!("the token service's answer is not JSON with a token: {e}"),
        })?;
        answer
            .token
            .or(answer.access_token)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| Error::Protocol {
                url: (&url).into(),
                problem: "the token service's answer holds no token".into(),
            })
    }

    /// The error of a refused request for the manifest or a blob, in the source's terms.
    fn refusal(
        &self,
        url: &Url,
        status: StatusCode,
        detail: String,
        challenge: Option<&Challenge>,
        what: &str,
    ) -> Error {
        let host = url.host_str().unwrap_or("the registry");
        let remedy = match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => match challenge {
                Some(Challenge::Bearer { .. }) => format!(
                    "the registry refused the token it gave for {}: check that your account \
                     may pull it",
                    self.name
                ),
                _ if self.netrc.entry(url).is_some() => self.netrc.remedy(url),
                _ => format!(
                    "the registry wants credentials for {}: put them in a netrc file ($NETRC, \
                     else ~/.netrc): machine {host} login <user> password <password>",
                    self.name
                ),
            },
            StatusCode::NOT_FOUND if what == "manifest" => format!(
                "the registry has no model {} (or no manifest of that digest): check \
                 source.ollama's model, tag, namespace, registry and digest",
                self.name
            ),
            StatusCode::NOT_FOUND => format!(
                "the registry lacks a blob that the manifest of {} names: the model is broken \
                 there; ask its owner to push it again",
                self.name
            ),
            _ => format!("the registry refused the {what} of {}", self.name),
        };
        Error::Refused {
            url: url.into(),
            status: status.as_u16(),
            detail,
            remedy,
        }
    }
}

impl Origin for Registry {
    fn http(&self) -> &Http {
        &self.http
    }

    fn checked(&self, response: Response, _path: &str) -> Result<Response> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let url = response.url().clone();
        let challenge = parse_challenge(response.headers());
        Err(self.refusal(&url, status, String::new(), challenge.as_ref(), "blob"))
    }
}

/// The body of a small answer (a manifest, a token), at most [`MAX_MANIFEST`] bytes.
async fn read_capped(url: &Url, response: Response) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Error::Unreachable {
            url: url.into(),
            cause: crate::http::describe(&e),
            names: SettingNames::Spec,
        })?;
        body.extend_from_slice(&chunk);
        if body.len() > MAX_MANIFEST {
            return Err(Error::Protocol {
                url: url.into(),
                problem: format!("the answer is larger than {MAX_MANIFEST} bytes"),
            });
        }
    }
    Ok(body)
}

/// The registry's own words about a refusal, from its JSON `errors` (`": MANIFEST_UNKNOWN:
/// manifest unknown"`); empty when it gives none.
async fn registry_errors(response: Response) -> String {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<RegistryError>,
    }
    #[derive(Deserialize)]
    struct RegistryError {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let Ok(body) = response.bytes().await else {
        return String::new();
    };
    let Ok(errors) = serde_json::from_slice::<Errors>(&body[..body.len().min(64 << 10)]) else {
        return String::new();
    };
    let words: Vec<String> = errors
        .errors
        .iter()
        .map(|e| match (e.code.is_empty(), e.message.is_empty()) {
            (false, false) => format!("{}: {}", e.code, e.message),
            (false, true) => e.code.clone(),
            _ => e.message.clone(),
        })
        .filter(|w| !w.is_empty() && w.chars().all(|c| !c.is_control()))
        .collect();
    match words.is_empty() {
        true => String::new(),
        false => format!(": {}", words.join("; ")),
    }
}

/// The challenge of a `401`: `Bearer realm="...",service="...",scope="..."`, read as RFC 7235
/// auth-params (quoted or not; a quoted value may hold commas and escapes).
fn parse_challenge(headers: &HeaderMap) -> Option<Challenge> {
    let header = headers.get(WWW_AUTHENTICATE)?.to_str().ok()?.trim();
    let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Some(Challenge::Other(scheme.to_string()));
    }
    let params = auth_params(params);
    let get = |key: &str| {
        params
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    };
    Some(Challenge::Bearer {
        realm: get("realm"),
        service: get("service"),
        scope: get("scope"),
    })
}

/// `key=value, key="quoted, \"value\""` pairs.
fn auth_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ','))
            .collect::<String>()
            .trim()
            .to_string();
        if key.is_empty() && chars.peek().is_none() {
            return params;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'=').is_some() {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            if chars.next_if_eq(&'"').is_some() {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next()),
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                value = std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                    .collect::<String>()
                    .trim()
                    .to_string();
            }
        }
        if !key.is_empty() {
            params.push((key, value));
        }
    }
}

/// What Go's `url.QueryEscape` leaves as is: letters, digits and `-_.~`.
const GO_QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The query as Go's `url.Values.Encode` writes it, which Ollama signs: sorted by key (stably),
/// each key and value escaped by `QueryEscape` (a space as '+').
fn go_query(pairs: &mut [(String, String)]) -> String {
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let escape = |text: &str| {
        text.split(' ')
            .map(|part| utf8_percent_encode(part, GO_QUERY).to_string())
            .collect::<Vec<_>>()
            .join("+")
    };
    pairs
        .iter()
        .map(|(key, value)| format!("{}={}", escape(key), escape(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// 16 random bytes, base64url without padding (Ollama's `auth.NewNonce`).
fn nonce() -> Result<String> {
    use base64::Engine as _;
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| Error::Internal(format!("no random bytes for a nonce: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Ollama's key, `~/.ollama/id_ed25519` (an OpenSSH ed25519 private key that `ollama serve`
/// creates), which signs the token requests of an Ollama registry (auth/auth.go `Sign`).
struct OllamaKey {
    key: ssh_key::PrivateKey,
    /// The public key as `authorized_keys` writes it, without its type: base64 of its blob.
    public: String,
}

impl OllamaKey {
    /// The key in `$HOME/.ollama/id_ed25519`, if there is one that can sign; a key that cannot
    /// (encrypted, another type, unreadable) is told and left aside.
    fn find(env: &(dyn Fn(&str) -> Option<String> + Sync), notify: &Notify) -> Option<Self> {
        let home = env("HOME").filter(|home| !home.is_empty())?;
        let file = std::path::Path::new(&home).join(".ollama/id_ed25519");
        let text = std::fs::read_to_string(&file).ok()?;
        match Self::parse(&text) {
            Ok(key) => Some(key),
            Err(problem) => {
                notify(&format!(
                    "{}: {problem}; token requests to Ollama registries go unsigned",
                    file.display()
                ));
                None
            }
        }
    }

    fn parse(text: &str) -> std::result::Result<Self, String> {
        let key = ssh_key::PrivateKey::from_openssh(text)
            .map_err(|e| format!("not an OpenSSH private key ({e})"))?;
        if key.is_encrypted() {
            return Err("the key is encrypted".into());
        }
        if key.algorithm() != ssh_key::Algorithm::Ed25519 {
            return Err(format!("a {} key, not an ed25519 one", key.algorithm()));
        }
        let line = key
            .public_key()
            .to_openssh()
            .map_err(|e| format!("its public key cannot be written ({e})"))?;
        let public = line
            .split(' ')
            .nth(1)
            .ok_or("its public key has no blob")?
            .to_string();
        Ok(OllamaKey { key, public })
    }

    /// `Authorization: <public key>:<signature>` for a GET of `url`, as Ollama signs it:
    /// `GET,<url>,<base64 of the hex sha256 of the empty body>`.
    fn authorization(&self, url: &Url) -> Result<HeaderValue> {
        use base64::Engine as _;
        use signature::Signer as _;
        let base64 = &base64::engine::general_purpose::STANDARD;
        let empty = hex::encode(Sha256::digest(b""));
        let data = format!("GET,{},{}", url.as_str(), base64.encode(empty));
        let signature: ssh_key::Signature = self
            .key
            .try_sign(data.as_bytes())
            .map_err(|e| Error::Internal(format!("Ollama's key did not sign: {e}")))?;
        let value = format!("{}:{}", self.public, base64.encode(signature.as_bytes()));
        let mut value = HeaderValue::from_str(&value)
            .map_err(|e| Error::Internal(format!("a signature is no header: {e}")))?;
        value.set_sensitive(true);
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(header: &str) -> Option<Challenge> {
        let mut headers = HeaderMap::new();
        headers.insert(WWW_AUTHENTICATE, HeaderValue::from_str(header).unwrap());
        parse_challenge(&headers)
    }

    #[test]
    fn challenges_are_read_as_registries_write_them() {
        assert_eq!(
            challenge(
                r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:library/llama3:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: "registry.example".into(),
                scope: "repository:library/llama3:pull".into(),
            })
        );
        assert_eq!(
            challenge(r#"bearer realm=https://r/t, scope="a:b,c:pull push""#),
            Some(Challenge::Bearer {
                realm: "https://r/t".into(),
                service: String::new(),
                scope: "a:b,c:pull push".into(),
            })
        );
        assert_eq!(
            challenge(r#"Basic realm="nfm-test-registry""#),
            Some(Challenge::Other("Basic".into()))
        );
        assert_eq!(parse_challenge(&HeaderMap::new()), None);
    }

    #[test]
    fn the_signed_query_is_gos() {
        let mut pairs = vec![
            ("ts".to_string(), "1700000000".to_string()),
            ("service".to_string(), "ollama.com".to_string()),
            (
                "scope".to_string(),
                "repository:library/llama3:pull".to_string(),
            ),
            ("nonce".to_string(), "a-b_c".to_string()),
            ("scope".to_string(), "x y~*".to_string()),
        ];
        assert_eq!(
            go_query(&mut pairs),
            "nonce=a-b_c&scope=repository%3Alibrary%2Fllama3%3Apull&scope=x+y~%2A\
             &service=ollama.com&ts=1700000000"
        );
        assert_eq!(nonce().unwrap().len(), 22);
    }

    fn url() -> Url {
        Url::parse("http://r/v2/library/m/manifests/latest").unwrap()
    }

    #[test]
    fn blobs_are_the_layers_and_the_config_once_each() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{MANIFEST_MEDIA_TYPE}",
                "config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:{a}","size":3}},
                "layers":[{{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:{b}","size":10}},
                          {{"mediaType":"application/vnd.ollama.image.params","digest":"sha256:{a}","size":3}}]}}"#
        );
        assert_eq!(
            blobs_of(&url(), manifest.as_bytes()).unwrap(),
            vec![(a.clone(), 3), (b.clone(), 10)]
        );
        for (bad, words) in [
            (r#"{"manifests":[]}"#.to_string(), "manifest list"),
            (r#"{"layers":[]}"#.to_string(), "no layers"),
            (
                format!(
                    r#"{{"layers":[{{"digest":"sha256:{}","size":1}}]}}"#,
                    "A".repeat(64)
                ),
                "not a sha256 digest",
            ),
            (
                format!(r#"{{"layers":[{{"digest":"sha256:{a}","size":-1}}]}}"#),
                "the size -1",
            ),
            (
                format!(
                    r#"{{"layers":[{{"digest":"sha256:{a}","size":1}},{{"digest":"sha256:{a}","size":2}}]}}"#
                ),
                "two sizes",
            ),
            ("<html>".to_string(), "not the JSON"),
        ] {
            let error = blobs_of(&url(), bad.as_bytes()).unwrap_err().to_string();
            assert!(error.contains(words), "{bad}: {error}");
        }
    }

    /// A key made by `ssh-keygen -t ed25519 -N ''` for this test only.
    const TEST_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACBNewTEzIsjuo+JBUhSg3/EcXrYwl1oV+KPlEC6wCT0VgAAAJhFy9nuRcvZ
7gAAAAtzc2gtZWQyNTUxOQAAACBNewTEzIsjuo+JBUhSg3/EcXrYwl1oV+KPlEC6wCT0Vg
AAAEDWFoiAFcNHh7rSj/RNNq2uu4FQPtpb8hwZ9FNyzu+R2U17BMTMiyO6j4kFSFKDf8Rx
etjCXWhX4o+UQLrAJPRWAAAAEG5mbS10ZXN0QGV4YW1wbGUBAgMEBQ==
-----END OPENSSH PRIVATE KEY-----
";

    #[test]
    fn token_requests_are_signed_as_ollama_signs_them() {
        use base64::Engine as _;
        let key = OllamaKey::parse(TEST_KEY).unwrap();
        assert_eq!(
            key.public,
            "AAAAC3NzaC1lZDI1NTE5AAAAIE17BMTMiyO6j4kFSFKDf8RxetjCXWhX4o+UQLrAJPRW"
        );
        let url = Url::parse("https://r.example/v2/token?nonce=n&scope=s&service=r&ts=1").unwrap();
        let header = key.authorization(&url).unwrap();
        let (public, signature) = header.to_str().unwrap().split_once(':').unwrap();
        assert_eq!(public, key.public);
        // The signature verifies with the public key over exactly what Ollama signs.
        let base64 = &base64::engine::general_purpose::STANDARD;
        let blob = base64.decode(public).unwrap();
        let raw_public = &blob[blob.len() - 32..];
        let data = format!(
            "GET,{},{}",
            url.as_str(),
            base64.encode("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        let verifier =
            ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, raw_public);
        verifier
            .verify(data.as_bytes(), &base64.decode(signature).unwrap())
            .unwrap();
        assert!(OllamaKey::parse("not a key").is_err());
    }
}
