//! `source.mlflow`: a version of a registered model, read through an MLflow tracking server's
//! REST API (MLflow 2 and 3):
//!
//! 1. the version: `GET /api/2.0/mlflow/model-versions/get` (a `version`), or
//!    `registered-models/alias` (an `alias`), or `registered-models/get-latest-versions` (the
//!    deprecated `stage`);
//! 2. where its artifacts are: `GET model-versions/get-download-uri`, always, which resolves a
//!    run's artifacts and an MLflow 3 logged model's (`models:/m-...`) alike;
//! 3. the files: the proxied artifact API, `GET /api/2.0/mlflow-artifacts/artifacts?path=`,
//!    one folder level a call;
//! 4. each file: a `GET /api/2.0/mlflow-artifacts/artifacts/<path>` the engine downloads (with
//!    ranges), its sha256 computed while it streams in.
//!
//! Credentials come from MLflow's own variables (MLFLOW_TRACKING_TOKEN as a Bearer token,
//! MLFLOW_TRACKING_USERNAME/_PASSWORD as HTTP Basic, Basic first as in MLflow's client) and are
//! sent to the tracking server's origin only.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::{Response, StatusCode};
use serde_json::{Map, Value};
use url::Url;

use super::{Addresses, Content, Context, Digest, Layout, Origin, Plan, PlannedFile, Request};
use crate::error::{Error, Result, ShownUrl};
use crate::http::{ClientSetup, Http};
use crate::layout;
use crate::patterns::PathFilter;
use crate::spec::mlflow::MlflowSource;
use crate::spec::FetchSpec;

/// Folders listed at most: more means a listing that never ends.
const MAX_FOLDERS: usize = 100_000;
/// Listings in flight at once.
const LISTING_CONCURRENCY: usize = 8;

pub fn addresses(source: &MlflowSource) -> Addresses {
    let base = source.base();
    Addresses {
        urls: vec![
            format!("{base}/api/2.0/mlflow/"),
            format!("{base}/api/2.0/mlflow-artifacts/"),
        ],
        endpoint: base,
    }
}

pub async fn plan(spec: &FetchSpec, source: &MlflowSource, context: Context<'_>) -> Result<Plan> {
    let env = context.env;
    let credentials = Credentials::from_env(env)?;
    let mut extra_roots = context.extra_roots;
    if let Some(file) = env("MLFLOW_TRACKING_SERVER_CERT_PATH").filter(|f| !f.is_empty()) {
        extra_roots.extend(crate::tls::roots_named_by(
            "MLFLOW_TRACKING_SERVER_CERT_PATH",
            &file,
            env,
            &context.notify,
        )?);
    }
    if env("MLFLOW_TRACKING_CLIENT_CERT_PATH").is_some_and(|f| !f.is_empty()) {
        (context.notify)(
            "MLFLOW_TRACKING_CLIENT_CERT_PATH is set, but nix-fetch-model sends no client \
             certificate: a server that asks for one refuses the connection",
        );
    }
    let setup = ClientSetup {
        token: None,
        extra_roots,
        notify: context.notify,
    };
    let registry = Registry {
        http: Http::new(&spec.network, &source.tracking_uri, setup)?,
        tracking: source.tracking_uri.clone(),
        credentials,
        builder: crate::nix_build::in_nix_build(env),
        model: source.model_name.clone(),
    };
    let version = registry.version(source).await?;
    let artifact_uri = registry.download_uri(&version.version).await?;
    let root = registry.proxied_path(&artifact_uri, &version.version)?;
    let root = match &source.artifact_path {
        Some(sub) if root.is_empty() => sub.clone(),
        Some(sub) => format!("{root}/{sub}"),
        None => root,
    };
    let listing = registry.list(&root).await?;
    if listing.is_empty() {
        return Err(Error::Source(format!(
            "version {} of registered model '{}' has no artifacts {} ({}): {}",
            version.version,
            source.model_name,
            match &source.artifact_path {
                Some(sub) => format!("under artifactPath '{sub}'"),
                None => "at all".to_string(),
            },
            shown_uri(&artifact_uri),
            match &source.artifact_path {
                Some(_) =>
                    "check source.mlflow.artifactPath: it names a folder of the version's \
                            artifacts, relative to them",
                None => "check that the model was logged with its files",
            }
        )));
    }
    layout::check_listing(listing.iter().map(|(path, _)| path.as_str()))?;
    let commit = commit(source, &version, &listing);
    let filter = PathFilter::new(&source.files, &source.exclude);
    let selected: Vec<&(String, u64)> = listing
        .iter()
        .filter(|(path, _)| filter.matches(path))
        .collect();
    if selected.is_empty() {
        let some: Vec<&str> = listing
            .iter()
            .take(8)
            .map(|(path, _)| path.as_str())
            .collect();
        return Err(Error::Source(format!(
            "no artifact of version {} of registered model '{}' matches source.mlflow.files = \
             {:?} / exclude = {:?}; its files are: {}{}",
            version.version,
            source.model_name,
            source.files,
            source.exclude,
            some.join(", "),
            if listing.len() > some.len() {
                ", ..."
            } else {
                ""
            }
        )));
    }
    let headers = registry.credentials.headers();
    let files = selected
        .into_iter()
        .map(|(path, size)| PlannedFile {
            content: Content::Download(Request {
                url: registry.artifact_url(&format!("{root}/{path}")),
                headers: headers.clone(),
                ranges: true,
                xet: None,
            }),
            path: path.clone(),
            size: *size,
            digest: Digest::Sha256Computed,
        })
        .collect();
    let mut resolved = Map::new();
    if source.version.is_none() {
        resolved.insert("version".into(), Value::String(version.version.clone()));
    }
    Ok(Plan {
        endpoint: source.base(),
        // What from_pretrained("<repo>") reads by default: the snapshot is the one version.
        revision: "main".into(),
        commit: Some(commit),
        files,
        layout: Layout::HubCache { listing: None },
        origin: Arc::new(MlflowFiles {
            registry,
            version: version.version,
        }),
        pin: resolved,
    })
}

/// A model version, as the registry describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelVersion {
    pub version: String,
    /// Where it was registered from: a run's artifact URI, or `models:/m-...` (MLflow 3).
    pub source: String,
    pub run_id: String,
}

/// The snapshot's name: the first 40 hex digits of the sha256 of what identifies the fetched
/// version and its files, one line each: `nix-fetch-model mlflow 1`, the model's name, the
/// version, its `source` (the run's artifact URI or the logged model `models:/m-...`), its run
/// id, the artifactPath, and `<path>\0<size>` for every listed file under it, in path order
/// (before `files`/`exclude`, as a Hub commit names the whole repo). Not the tracking server's
/// URL: the same version moved to another server keeps its name.
pub fn commit(source: &MlflowSource, version: &ModelVersion, listing: &[(String, u64)]) -> String {
    use sha2::{Digest as _, Sha256};
    let mut lines = Sha256::new();
    lines.update("nix-fetch-model mlflow 1\n");
    for field in [
        source.model_name.as_str(),
        version.version.as_str(),
        version.source.as_str(),
        version.run_id.as_str(),
        source.artifact_path.as_deref().unwrap_or(""),
    ] {
        lines.update(field.as_bytes());
        lines.update(b"\n");
    }
    for (path, size) in listing {
        lines.update(format!("{path}\0{size}\n"));
    }
    hex::encode(lines.finalize())[..40].to_string()
}

/// What the client sends the tracking server.
#[derive(Clone)]
struct Credentials {
    header: Option<HeaderValue>,
    kind: Sent,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sent {
    Nothing,
    Basic,
    Token,
}

impl Credentials {
    /// MLflow's client variables: MLFLOW_TRACKING_USERNAME and _PASSWORD (HTTP Basic), else
    /// MLFLOW_TRACKING_TOKEN (Bearer). Never printed.
    fn from_env(env: &(dyn Fn(&str) -> Option<String> + Sync)) -> Result<Self> {
        let get = |name: &str| env(name).filter(|value| !value.is_empty());
        if get("MLFLOW_TRACKING_INSECURE_TLS").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Err(Error::Source(
                "MLFLOW_TRACKING_INSECURE_TLS is true, but nix-fetch-model always checks the \
                 tracking server's TLS certificate: give the certificate of the authority that \
                 signed it in a PEM file named by MLFLOW_TRACKING_SERVER_CERT_PATH (or \
                 NIX_SSL_CERT_FILE), and unset MLFLOW_TRACKING_INSECURE_TLS"
                    .into(),
            ));
        }
        let user = get("MLFLOW_TRACKING_USERNAME");
        let password = get("MLFLOW_TRACKING_PASSWORD");
        match (user, password) {
            (Some(user), Some(password)) => {
                if user.contains(':') {
                    return Err(Error::Source(
                        "MLFLOW_TRACKING_USERNAME holds a ':', which HTTP Basic cannot send in a \
                         user name: check it"
                            .into(),
                    ));
                }
                use base64::Engine as _;
                let pair =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                Ok(Credentials {
                    header: Some(sensitive(&format!("Basic {pair}"))?),
                    kind: Sent::Basic,
                })
            }
            (Some(_), None) | (None, Some(_)) => Err(Error::Source(
                "only one of MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD is set: set \
                 both (HTTP Basic), or neither"
                    .into(),
            )),
            (None, None) => match get("MLFLOW_TRACKING_TOKEN") {
                None => Ok(Credentials {
                    header: None,
                    kind: Sent::Nothing,
                }),
                Some(token) => {
                    if !token.chars().all(|c| c.is_ascii_graphic()) {
                        return Err(Error::Source(
                            "MLFLOW_TRACKING_TOKEN holds a character an HTTP header cannot carry \
                             (a space, a line break or a character beyond ASCII): it must be the \
                             token alone"
                                .into(),
                        ));
                    }
                    Ok(Credentials {
                        header: Some(sensitive(&format!("Bearer {token}"))?),
                        kind: Sent::Token,
                    })
                }
            },
        }
    }

    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = &self.header {
            headers.insert(AUTHORIZATION, value.clone());
        }
        headers
    }
}

fn sensitive(text: &str) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(text).map_err(|_| {
        Error::Source(
            "MLFLOW_TRACKING_USERNAME or MLFLOW_TRACKING_PASSWORD holds a character an HTTP \
             header cannot carry (a line break or another control character)"
                .into(),
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// What a refusal is an answer to.
#[derive(Clone, Copy)]
enum Asked<'a> {
    Version(&'a str),
    Alias(&'a str),
    Stage(&'a str),
    DownloadUri(&'a str),
    Listing,
    /// A file (its path in the snapshot) of a version.
    Download(&'a str, &'a str),
}

/// The tracking server's registry and proxied artifacts.
struct Registry {
    http: Http,
    tracking: Url,
    credentials: Credentials,
    /// Whether this runs in a Nix build (the fixed-output derivation), which sees only the
    /// variables its impureEnvVars pass.
    builder: bool,
    model: String,
}

impl Registry {
    /// `<tracking uri>/<segments...>`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.tracking.clone();
        url.set_query(None);
        url.set_fragment(None);
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    fn api(&self, method: &str, query: &[(&str, &str)]) -> Url {
        let mut url = self.url(&["api", "2.0", "mlflow", "registered-models"]);
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop();
            path.extend(method.split('/'));
        }
        url.query_pairs_mut().extend_pairs(query);
        url
    }

    /// The download of the artifact at `path` (relative to the artifact store's root).
    fn artifact_url(&self, path: &str) -> Url {
        let mut segments = vec!["api", "2.0", "mlflow-artifacts", "artifacts"];
        segments.extend(path.split('/'));
        self.url(&segments)
    }

    /// A GET of the REST API, its JSON answer; a refusal in the user's terms.
    async fn get_json(&self, url: &Url, asked: Asked<'_>) -> Result<Value> {
        let response = self
            .http
            .send(url, false, self.credentials.headers())
            .await
            .map_err(|error| match error {
                Error::Unreachable { url, cause, .. } => Error::Source(format!(
                    "cannot reach the MLflow tracking server at {url}: {cause}. Check that it \
                     runs, source.mlflow.trackingUri ({}), the network and a proxy (HTTPS_PROXY)",
                    self.base()
                )),
                other => other,
            })?;
        let status = response.status();
        if !status.is_success() {
            let headers = response.headers().clone();
            let body = response.text().await.unwrap_or_default();
            return Err(self.refusal(url, status, &headers, &body, asked));
        }
        let bytes = response.bytes().await.map_err(|e| Error::Protocol {
            url: url.into(),
            problem: format!("the answer broke off: {}", crate::http::describe(&e)),
        })?;
        serde_json::from_slice(&bytes).map_err(|_| Error::Protocol {
            url: url.into(),
            problem: format!(
                "the answer is not JSON: check that source.mlflow.trackingUri ({}) is an MLflow \
                 tracking server",
                self.base()
            ),
        })
    }

    fn base(&self) -> String {
        self.tracking.as_str().trim_end_matches('/').to_string()
    }

    /// The version the spec names.
    async fn version(&self, source: &MlflowSource) -> Result<ModelVersion> {
        let name = self.model.as_str();
        let answer = match (&source.version, &source.alias, &source.stage) {
            (Some(version), _, _) => {
                let url = self.api(
                    "model-versions/get",
                    &[("name", name), ("version", version)],
                );
                self.get_json(&url, Asked::Version(version)).await?["model_version"].take()
            }
            (None, Some(alias), _) => {
                let url = self.api(
                    "registered-models/alias",
                    &[("name", name), ("alias", alias)],
                );
                self.get_json(&url, Asked::Alias(alias)).await?["model_version"].take()
            }
            (None, None, Some(stage)) => {
                let url = self.api(
                    "registered-models/get-latest-versions",
                    &[("name", name), ("stages", stage)],
                );
                let answer = self.get_json(&url, Asked::Stage(stage)).await?;
                let latest = answer["model_versions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|v| {
                        v["current_stage"]
                            .as_str()
                            .is_none_or(|s| s.eq_ignore_ascii_case(stage))
                    })
                    .max_by_key(|v| version_number(&v["version"]).unwrap_or(0))
                    .cloned();
                latest.ok_or_else(|| {
                    Error::Source(format!(
                        "registered model '{name}' on {} has no version in stage '{stage}': check \
                         source.mlflow.stage, or name the version with version or alias",
                        self.base()
                    ))
                })?
            }
            (None, None, None) => {
                return Err(Error::Internal("an mlflow source names no version".into()))
            }
        };
        let url = self.api("model-versions/get", &[]);
        let version = model_version(&answer).ok_or_else(|| Error::Protocol {
            url: (&url).into(),
            problem: format!(
                "no model version of '{name}' in the answer: {}",
                shorten(&answer)
            ),
        })?;
        match answer["status"].as_str() {
            None | Some("READY") => Ok(version),
            Some(status) => Err(Error::Source(format!(
                "version {} of registered model '{name}' is {status}, not READY: its registration \
                 has not finished (or failed); try again later, or pin another version",
                version.version
            ))),
        }
    }

    /// Where the version's artifacts are (`mlflow-artifacts:/...`, `s3://...`).
    async fn download_uri(&self, version: &str) -> Result<String> {
        let name = self.model.as_str();
        let url = self.api(
            "model-versions/get-download-uri",
            &[("name", name), ("version", version)],
        );
        let answer = self.get_json(&url, Asked::DownloadUri(version)).await?;
        match answer["artifact_uri"].as_str() {
            Some(uri) if !uri.is_empty() => Ok(uri.to_string()),
            _ => Err(Error::Protocol {
                url: (&url).into(),
                problem: format!("no artifact_uri in the answer: {}", shorten(&answer)),
            }),
        }
    }

    /// The path under the proxied artifact API of `uri` (`mlflow-artifacts:/1/<run>/artifacts`
    /// gives `1/<run>/artifacts`); any other artifact store is refused, saying what to do.
    fn proxied_path(&self, uri: &str, version: &str) -> Result<String> {
        let Some(rest) = uri.strip_prefix("mlflow-artifacts:") else {
            return Err(self.not_proxied(uri, version));
        };
        let path = match rest.strip_prefix("//") {
            Some(authority_and_path) => {
                let (authority, path) = authority_and_path
                    .split_once('/')
                    .unwrap_or((authority_and_path, ""));
                let ours = match (
                    self.tracking.host_str(),
                    self.tracking.port_or_known_default(),
                ) {
                    (Some(host), Some(port)) => {
                        authority == host || authority == format!("{host}:{port}")
                    }
                    _ => false,
                };
                if !authority.is_empty() && !ours {
                    return Err(Error::Source(format!(
                        "the artifacts of version {version} of registered model '{}' are served \
                         by another server, {} (its artifact URI is {}): nix-fetch-model sends \
                         the credentials to the tracking server only; set \
                         source.mlflow.trackingUri to that server if it is one",
                        self.model,
                        authority,
                        shown_uri(uri)
                    )));
                }
                path
            }
            None => rest,
        };
        Ok(path.trim_matches('/').to_string())
    }

    fn not_proxied(&self, uri: &str, version: &str) -> Error {
        let scheme = uri.split_once(':').map_or(uri, |(scheme, _)| scheme);
        let store = match scheme {
            "s3" | "s3a" => "an S3 bucket",
            "gs" => "a Google Cloud Storage bucket",
            "wasbs" | "abfss" => "Azure storage",
            _ => "an artifact store",
        };
        let instead = match scheme {
            "s3" | "s3a" => {
                let (bucket, prefix) = uri
                    .split_once("://")
                    .map(|(_, rest)| rest.split_once('/').unwrap_or((rest, "")))
                    .unwrap_or(("<bucket>", ""));
                format!(
                    "fetch them from the bucket with source.s3 = {{ bucket = \"{bucket}\"; \
                     prefix = \"{prefix}\"; }} (with AWS credentials), or have the tracking \
                     server proxy them (mlflow server --serve-artifacts --artifacts-destination \
                     {scheme}://...; new runs then get mlflow-artifacts:/ URIs)"
                )
            }
            _ => "have the tracking server proxy them (mlflow server --serve-artifacts \
                  --artifacts-destination ...; new runs then get mlflow-artifacts:/ URIs)"
                .to_string(),
        };
        Error::Source(format!(
            "the artifacts of version {version} of registered model '{}' are in {store} the \
             tracking server does not proxy ({}): the mlflow source of nix-fetch-model reads only \
             artifacts served through the tracking server (mlflow-artifacts:/ URIs, what `mlflow \
             server` gives by default since MLflow 2.0); {instead}",
            self.model,
            shown_uri(uri)
        ))
    }

    /// Every file under `root` (a path of the proxied artifact API), by its path relative to
    /// `root`, with its size, sorted; a folder level a call.
    async fn list(&self, root: &str) -> Result<Vec<(String, u64)>> {
        let mut files = BTreeMap::new();
        let mut level = vec![String::new()];
        let mut folders = 0;
        while !level.is_empty() {
            folders += level.len();
            if folders > MAX_FOLDERS {
                return Err(Error::Source(format!(
                    "the artifacts under {root} hold more than {MAX_FOLDERS} folders: narrow the \
                     fetch with source.mlflow.artifactPath"
                )));
            }
            let listings: Vec<(String, Vec<Entry>)> = stream::iter(level)
                .map(|folder| async move {
                    let entries = self.list_folder(root, &folder).await?;
                    Ok::<_, Error>((folder, entries))
                })
                .buffered(LISTING_CONCURRENCY)
                .try_collect()
                .await?;
            let mut next = Vec::new();
            for (folder, entries) in listings {
                for entry in entries {
                    let path = if folder.is_empty() {
                        entry.name
                    } else {
                        format!("{folder}/{}", entry.name)
                    };
                    match entry.size {
                        None => next.push(path),
                        Some(size) => {
                            files.insert(path, size);
                        }
                    }
                }
            }
            level = next;
        }
        Ok(files.into_iter().collect())
    }

    /// One level: the entries of `folder` under `root`.
    async fn list_folder(&self, root: &str, folder: &str) -> Result<Vec<Entry>> {
        let path = match (root.is_empty(), folder.is_empty()) {
            (_, true) => root.to_string(),
            (true, false) => folder.to_string(),
            (false, false) => format!("{root}/{folder}"),
        };
        let mut url = self.url(&["api", "2.0", "mlflow-artifacts", "artifacts"]);
        url.query_pairs_mut().append_pair("path", &path);
        let answer = self.get_json(&url, Asked::Listing).await?;
        parse_listing(&answer).map_err(|problem| Error::Protocol {
            url: (&url).into(),
            problem: format!("the listing of '{path}' {problem}"),
        })
    }

    /// The error of a refused request, saying what to do in the source's terms.
    fn refusal(
        &self,
        url: &Url,
        status: StatusCode,
        headers: &HeaderMap,
        body: &str,
        asked: Asked,
    ) -> Error {
        let error: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let code = error["error_code"].as_str().unwrap_or_default();
        let message = error["message"]
            .as_str()
            .map(|m| m.trim().trim_end_matches('.'));
        let mut detail = match message {
            Some(message) if !message.is_empty() => format!(": {message}"),
            _ => String::new(),
        };
        if detail.is_empty() {
            detail = crate::http::error_detail(headers);
        }
        let name = &self.model;
        let remedy = match (status, asked) {
            (StatusCode::UNAUTHORIZED, _) => self.credentials_remedy(),
            (StatusCode::FORBIDDEN, _) => format!(
                "the tracking server's user ({}) may not read registered model '{name}' or its \
                 artifacts: ask the server's admin for READ permission",
                match self.credentials.kind {
                    Sent::Basic => "MLFLOW_TRACKING_USERNAME",
                    Sent::Token => "the one of MLFLOW_TRACKING_TOKEN",
                    Sent::Nothing => "anonymous: no MLFLOW_TRACKING_* credentials are set",
                }
            ),
            (StatusCode::NOT_FOUND, Asked::Download(path, version)) => format!(
                "{path} of version {version} of registered model '{name}' is gone from the \
                 tracking server since it was listed: fetch again"
            ),
            (_, Asked::Download(..)) => "the tracking server refused the download".to_string(),
            (StatusCode::NOT_FOUND, _) if code.is_empty() => format!(
                "no MLflow REST API answers there: check source.mlflow.trackingUri ({}), the URL \
                 of the MLflow tracking server (aliases need MLflow 2.3 or newer)",
                self.base()
            ),
            (_, Asked::Version(version)) => format!(
                "check source.mlflow.modelName ('{name}') and version ({version}): the \
                 registry has no such version"
            ),
            (_, Asked::Alias(alias)) => format!(
                "check source.mlflow.modelName ('{name}') and alias ('{alias}'): the registry \
                 has no such model, or the model no such alias"
            ),
            (_, Asked::Stage(stage)) => {
                format!("check source.mlflow.modelName ('{name}') and stage ('{stage}')")
            }
            (_, Asked::DownloadUri(version)) => format!(
                "the registry did not say where the artifacts of version {version} of '{name}' are"
            ),
            (_, Asked::Listing) => "the tracking server refused to list the version's artifacts \
                                    (is it started with --serve-artifacts?)"
                .to_string(),
        };
        Error::Refused {
            url: url.into(),
            status: status.as_u16(),
            detail,
            remedy,
        }
    }

    /// What to do about a 401, by what was sent.
    fn credentials_remedy(&self) -> String {
        let set = "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (HTTP Basic, as MLflow's \
                   basic-auth app wants), or MLFLOW_TRACKING_TOKEN (sent as a Bearer token), as \
                   for MLflow's own client";
        let remedy = match self.credentials.kind {
            Sent::Nothing => format!("the tracking server wants credentials: set {set}"),
            Sent::Basic => "the tracking server refused the user and password of \
                            MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD: check them"
                .to_string(),
            Sent::Token => "the tracking server refused the token of MLFLOW_TRACKING_TOKEN: \
                            check it, or, if the server takes a user and password, set \
                            MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD instead"
                .to_string(),
        };
        if self.builder {
            format!(
                "{remedy}. This is a fixed-output derivation: it sees these variables only when \
                 the nix-daemon's environment has them (they are its impureEnvVars); or load the \
                 plugin, which fetches at evaluation with your own environment"
            )
        } else {
            remedy
        }
    }
}

/// One entry of a listing: a file with its size, or a folder (`size` None).
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    name: String,
    size: Option<u64>,
}

/// The entries of `{"files": [{"path", "is_dir", "file_size"}]}` (`{}` when empty); each
/// `path` is a name in the listed folder.
fn parse_listing(answer: &Value) -> Result<Vec<Entry>, String> {
    let files = match &answer["files"] {
        Value::Null => return Ok(Vec::new()),
        Value::Array(files) => files,
        _ => return Err(format!("has no list of files: {}", shorten(answer))),
    };
    files
        .iter()
        .map(|file| {
            let name = file["path"].as_str().ok_or_else(|| format!("has an entry without a path: {file}"))?;
            if name.is_empty()
                || name == "."
                || name == ".."
                || name.contains(['/', '\\', '\0'])
            {
                return Err(format!("names an entry '{name}', which is not a file name: refusing it"));
            }
            let is_dir = file["is_dir"].as_bool().unwrap_or(false);
            let size = if is_dir {
                None
            } else {
                Some(size_of(&file["file_size"]).ok_or_else(|| {
                    format!("gives no size of '{name}' (file_size), which the download is checked against")
                })?)
            };
            Ok(Entry {
                name: name.to_string(),
                size,
            })
        })
        .collect()
}

/// A size, as a JSON number or (proto3 JSON's int64) a string of digits.
fn size_of(value: &Value) -> Option<u64> {
    match value {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.parse().ok(),
        _ => None,
    }
}

fn version_number(value: &Value) -> Option<u64> {
    size_of(value)
}

/// A model version's JSON (`model_version` of get and alias, an entry of get-latest-versions).
fn model_version(value: &Value) -> Option<ModelVersion> {
    let version = version_number(&value["version"])?.to_string();
    Some(ModelVersion {
        version,
        source: value["source"].as_str().unwrap_or_default().to_string(),
        run_id: value["run_id"].as_str().unwrap_or_default().to_string(),
    })
}

/// An artifact URI as messages show it: without credentials or a query.
fn shown_uri(uri: &str) -> String {
    ShownUrl::new(uri).to_string()
}

/// A JSON answer, shortened for a message.
fn shorten(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text,
    }
}

/// The files of one version, downloaded through the proxied artifact API.
struct MlflowFiles {
    registry: Registry,
    version: String,
}

impl Origin for MlflowFiles {
    fn http(&self) -> &Http {
        &self.registry.http
    }

    fn checked(&self, response: Response, path: &str) -> Result<Response> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let url = response.url().clone();
        let asked = Asked::Download(path, &self.version);
        Err(self
            .registry
            .refusal(&url, status, response.headers(), "", asked))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source(extra: Value) -> MlflowSource {
        let mut config = json!({"trackingUri": "http://mlflow.test:5000/prefix/", "modelName": "tiny model", "alias": "champion"});
        config
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        crate::spec::mlflow::check(&config).unwrap()
    }

    fn registry(credentials: Credentials) -> Registry {
        let source = source(json!({}));
        Registry {
            http: Http::new(
                &Default::default(),
                &source.tracking_uri,
                ClientSetup::default(),
            )
            .unwrap(),
            tracking: source.tracking_uri,
            credentials,
            builder: false,
            model: source.model_name,
        }
    }

    fn nothing() -> Credentials {
        Credentials {
            header: None,
            kind: Sent::Nothing,
        }
    }

    #[test]
    fn urls_keep_the_tracking_uri_path_and_encode_each_segment() {
        let registry = registry(nothing());
        assert_eq!(
            registry.api("registered-models/alias", &[("name", "tiny model"), ("alias", "a&b")]).as_str(),
            "http://mlflow.test:5000/prefix/api/2.0/mlflow/registered-models/alias?name=tiny+model&alias=a%26b"
        );
        assert_eq!(
            registry.artifact_url("1/r/artifacts/model/my file#1.bin").as_str(),
            "http://mlflow.test:5000/prefix/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/model/my%20file%231.bin"
        );
        let addresses = addresses(&source(json!({})));
        assert_eq!(addresses.endpoint, "http://mlflow.test:5000/prefix");
        assert_eq!(
            addresses.urls[0],
            "http://mlflow.test:5000/prefix/api/2.0/mlflow/"
        );
    }

    #[test]
    fn artifact_uris_give_the_proxied_path_or_say_what_to_do() {
        let registry = registry(nothing());
        assert_eq!(
            registry
                .proxied_path("mlflow-artifacts:/1/abc/artifacts/model", "1")
                .unwrap(),
            "1/abc/artifacts/model"
        );
        assert_eq!(
            registry
                .proxied_path(
                    "mlflow-artifacts://mlflow.test:5000/1/models/m-1/artifacts/",
                    "1"
                )
                .unwrap(),
            "1/models/m-1/artifacts"
        );
        let other = registry
            .proxied_path("mlflow-artifacts://elsewhere:80/1/x", "1")
            .unwrap_err()
            .to_string();
        assert!(
            other.contains("served by another server, elsewhere:80"),
            "{other}"
        );
        let s3 = registry
            .proxied_path("s3://models-bucket/1/abc/artifacts/model", "4")
            .unwrap_err()
            .to_string();
        assert!(
            s3.contains("version 4 of registered model 'tiny model' are in an S3 bucket")
                && s3.contains("source.s3 = { bucket = \"models-bucket\"; prefix = \"1/abc/artifacts/model\"; }")
                && s3.contains("mlflow-artifacts:/"),
            "{s3}"
        );
        let gs = registry
            .proxied_path("gs://b/p", "4")
            .unwrap_err()
            .to_string();
        assert!(
            gs.contains("Google Cloud Storage") && !gs.contains("source.s3"),
            "{gs}"
        );
    }

    #[test]
    fn listings_are_read_as_mlflow_writes_them() {
        let answer = json!({"files": [
            {"path": "MLmodel", "is_dir": false, "file_size": 53},
            {"path": "weights", "is_dir": true},
            {"path": "big.bin", "is_dir": false, "file_size": "12345678901"}]});
        assert_eq!(
            parse_listing(&answer).unwrap(),
            vec![
                Entry {
                    name: "MLmodel".into(),
                    size: Some(53)
                },
                Entry {
                    name: "weights".into(),
                    size: None
                },
                Entry {
                    name: "big.bin".into(),
                    size: Some(12_345_678_901)
                },
            ]
        );
        assert_eq!(parse_listing(&json!({})).unwrap(), vec![]);
        for bad in ["..", "a/b", ""] {
            let answer = json!({"files": [{"path": bad, "is_dir": false, "file_size": 1}]});
            assert!(
                parse_listing(&answer)
                    .unwrap_err()
                    .contains("not a file name"),
                "{bad}"
            );
        }
        let no_size = json!({"files": [{"path": "x", "is_dir": false}]});
        assert!(parse_listing(&no_size).unwrap_err().contains("no size"));
    }

    #[test]
    fn the_commit_names_the_version_and_its_listing_not_the_server() {
        let version = ModelVersion {
            version: "1".into(),
            source: "mlflow-artifacts:/1/abc/artifacts/model".into(),
            run_id: "abc".into(),
        };
        let listing = vec![
            ("config.json".to_string(), 37),
            ("weights/model.safetensors".to_string(), 9),
        ];
        let first = commit(&source(json!({})), &version, &listing);
        assert_eq!(first.len(), 40);
        assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));
        let elsewhere = source(json!({"trackingUri": "https://other.test"}));
        assert_eq!(commit(&elsewhere, &version, &listing), first);
        let filtered = source(json!({"files": ["*.json"]}));
        assert_eq!(commit(&filtered, &version, &listing), first);
        let v2 = ModelVersion {
            version: "2".into(),
            ..version.clone()
        };
        assert_ne!(commit(&source(json!({})), &v2, &listing), first);
        let resized = vec![("config.json".to_string(), 38), listing[1].clone()];
        assert_ne!(commit(&source(json!({})), &version, &resized), first);
        let sub = source(json!({"artifactPath": "weights"}));
        assert_ne!(commit(&sub, &version, &listing), first);
    }

    fn env(
        vars: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<String> + Sync {
        move |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn credentials_come_from_mlflows_variables_basic_first() {
        let basic = Credentials::from_env(&env(&[
            ("MLFLOW_TRACKING_USERNAME", "alice"),
            ("MLFLOW_TRACKING_PASSWORD", "pw"),
            ("MLFLOW_TRACKING_TOKEN", "tok"),
        ]))
        .unwrap();
        assert_eq!(basic.kind, Sent::Basic);
        assert_eq!(
            basic.header.unwrap().to_str().unwrap(),
            "Basic YWxpY2U6cHc="
        );
        let token = Credentials::from_env(&env(&[("MLFLOW_TRACKING_TOKEN", "tok")])).unwrap();
        assert_eq!(
            token.header.as_ref().unwrap().to_str().unwrap(),
            "Bearer tok"
        );
        assert!(token.header.unwrap().is_sensitive());
        assert_eq!(
            Credentials::from_env(&env(&[])).unwrap().kind,
            Sent::Nothing
        );
        let half = Credentials::from_env(&env(&[("MLFLOW_TRACKING_USERNAME", "alice")]))
            .err()
            .unwrap();
        assert!(half.to_string().contains("set both"), "{half}");
        let spaced = Credentials::from_env(&env(&[("MLFLOW_TRACKING_TOKEN", "a secret")]))
            .err()
            .unwrap();
        assert!(!spaced.to_string().contains("secret"), "{spaced}");
        let insecure = Credentials::from_env(&env(&[("MLFLOW_TRACKING_INSECURE_TLS", "true")]))
            .err()
            .unwrap();
        assert!(
            insecure
                .to_string()
                .contains("MLFLOW_TRACKING_SERVER_CERT_PATH"),
            "{insecure}"
        );
    }

    #[test]
    fn a_401_names_the_variables_to_set_or_check() {
        let url =
            Url::parse("http://mlflow.test/api/2.0/mlflow/model-versions/get?name=x").unwrap();
        let headers = HeaderMap::new();
        let refused = |registry: &Registry| {
            registry
                .refusal(
                    &url,
                    StatusCode::UNAUTHORIZED,
                    &headers,
                    "You are not authenticated.",
                    Asked::Version("1"),
                )
                .to_string()
        };
        let none = refused(&registry(nothing()));
        assert!(
            none.starts_with("http://mlflow.test/api/2.0/mlflow/model-versions/get answered HTTP 401: the tracking server wants credentials: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"),
            "{none}"
        );
        let mut in_builder = registry(nothing());
        in_builder.builder = true;
        assert!(refused(&in_builder).contains("nix-daemon's environment"));
        let basic = refused(&registry(Credentials {
            header: None,
            kind: Sent::Basic,
        }));
        assert!(
            basic.contains("refused the user and password of MLFLOW_TRACKING_USERNAME"),
            "{basic}"
        );
        let token = refused(&registry(Credentials {
            header: None,
            kind: Sent::Token,
        }));
        assert!(
            token.contains("refused the token of MLFLOW_TRACKING_TOKEN"),
            "{token}"
        );
    }

    #[test]
    fn registry_errors_give_mlflows_message_and_what_to_check() {
        let registry = registry(nothing());
        let url = Url::parse("http://mlflow.test/api/2.0/mlflow/registered-models/alias").unwrap();
        let body = r#"{"error_code": "INVALID_PARAMETER_VALUE", "message": "Registered model alias nope not found."}"#;
        let error = registry
            .refusal(
                &url,
                StatusCode::BAD_REQUEST,
                &HeaderMap::new(),
                body,
                Asked::Alias("nope"),
            )
            .to_string();
        assert_eq!(
            error,
            "http://mlflow.test/api/2.0/mlflow/registered-models/alias answered HTTP 400: Registered model alias nope not found: check source.mlflow.modelName ('tiny model') and alias ('nope'): the registry has no such model, or the model no such alias"
        );
        let not_mlflow = registry
            .refusal(
                &url,
                StatusCode::NOT_FOUND,
                &HeaderMap::new(),
                "<html>",
                Asked::Alias("a"),
            )
            .to_string();
        assert!(
            not_mlflow.contains("no MLflow REST API answers there"),
            "{not_mlflow}"
        );
    }

    #[test]
    fn versions_are_read_from_either_answer() {
        let v = model_version(&json!({"version": "3", "source": "models:/m-1", "run_id": "r"}))
            .unwrap();
        assert_eq!(
            v,
            ModelVersion {
                version: "3".into(),
                source: "models:/m-1".into(),
                run_id: "r".into()
            }
        );
        assert!(model_version(&json!({})).is_none());
    }
}
