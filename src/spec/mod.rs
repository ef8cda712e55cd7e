//! The fetch spec: one JSON shape shared by the CLI, the plugin and the Nix
//! library. It equals what `builtins.toJSON` gives for the Nix argument:
//!
//! ```json
//! { "name": "...", "source": { "huggingface": { "repo": "org/name", "revision": "main",
//!   "commit": "<40 hex>", "repoType": "model", "files": ["*.json"], "exclude": [] } },
//!   "hash": "sha256-...", "network": { ... }, "auth": { ... } }
//! ```
//!
//! [`check`] reads and checks a spec. A valid spec costs one typed serde pass and the checks
//! of its values; only a refused one is walked again to list every problem (`problems`).

pub mod fields;
pub mod git_lfs;
pub mod git_xet;
pub mod mlflow;
pub mod object_store;
pub mod ollama;
mod problems;
mod unknown;
pub mod url;

pub use fields::{is_commit, redact_userinfo};

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::hash::{parse_sha256, Sha256Hash};
use crate::hub::{RepoId, RepoType};

/// Every source type the project knows.
pub const SOURCE_TYPES: &[&str] = &[
    "huggingface",
    "mlflow",
    "s3",
    "gcs",
    "azure",
    "git-lfs",
    "git-xet",
    "url",
    "ollama",
];

/// How the plugin writes a Nix value that JSON cannot hold, in the JSON of its argument:
/// `{"\u0000type": "path"}`, `"function"`, or `"float"` for an infinite one. A Nix path is
/// never copied into the store to be written (a token file would land in the world-readable
/// store); the check reports it as the library does. No Nix attribute name holds a NUL byte.
pub const NIX_TYPE: &str = "\u{0}type";

/// The top-level attributes of a spec.
pub const SPEC_KEYS: &[&str] = &["name", "source", "hash", "network", "auth"];
/// The attributes of lib.fetchModel's argument that only the library reads.
pub const LIBRARY_KEYS: &[&str] = &["validation", "integration", "meta"];
/// The top-level attributes of lib.fetchModel's argument, as its messages list them.
const TOP_KEYS: &[&str] =
    &concatenated::<{ SPEC_KEYS.len() + LIBRARY_KEYS.len() }>(SPEC_KEYS, LIBRARY_KEYS);

const fn concatenated<const N: usize>(
    first: &[&'static str],
    second: &[&'static str],
) -> [&'static str; N] {
    let mut keys = [""; N];
    let mut i = 0;
    while i < N {
        keys[i] = if i < first.len() {
            first[i]
        } else {
            second[i - first.len()]
        };
        i += 1;
    }
    keys
}
/// The attributes of `source.huggingface`, in the order messages and `prefetch --nix` list them.
pub const HF_KEYS: &[&str] = &["repo", "revision", "commit", "repoType", "files", "exclude"];
const NETWORK_KEYS: &[&str] = &["endpoint", "concurrency", "timeout", "retries"];
const AUTH_KEYS: &[&str] = &["tokenFile", "tokenEnvVar"];

#[derive(Debug, Clone)]
pub struct FetchSpec {
    /// Store path name; defaults to the Hub cache folder name (`models--org--name`).
    pub name: String,
    pub source: Source,
    pub hash: Option<Sha256Hash>,
    pub network: Network,
    pub auth: Auth,
}

#[derive(Debug, Clone)]
pub enum Source {
    HuggingFace(HfSource),
    Url(url::UrlSource),
    Mlflow(mlflow::MlflowSource),
    /// `s3`, `gcs` and `azure`.
    ObjectStore(object_store::ObjectSource),
    Ollama(ollama::OllamaSource),
    GitLfs(git_lfs::GitLfsSource),
    GitXet(git_xet::GitXetSource),
}

#[derive(Debug, Clone)]
pub struct HfSource {
    pub repo: RepoId,
    /// The branch, tag, `refs/pr/N` or commit, written as `refs/<revision>` unless a commit.
    pub revision: String,
    /// The commit `revision` is pinned to: the Hub is not asked where `revision` points.
    pub commit: Option<String>,
    pub files: Vec<String>,
    pub exclude: Vec<String>,
}

impl HfSource {
    /// Whether the fetched commit is fixed by the spec, so the content cannot move.
    pub fn commit_is_pinned(&self) -> bool {
        self.commit.is_some() || is_commit(&self.revision)
    }
}

#[derive(Debug, Clone)]
pub struct Network {
    /// Hub endpoint; else `HF_ENDPOINT`, else https://huggingface.co.
    pub endpoint: Option<String>,
    /// Requests in flight at most (files and byte ranges of large files). A fetch that
    /// computes the NAR hash starts with one and adds more while the link sets the pace
    /// (`fetch::widening`).
    pub concurrency: usize,
    /// Seconds to wait for a connection or for the next bytes of an answer.
    pub timeout: f64,
    /// Retries of one request on 408/429/5xx and cut connections.
    pub retries: u32,
}

impl Network {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout)
    }
}

impl Default for Network {
    fn default() -> Self {
        Network {
            endpoint: None,
            concurrency: 8,
            timeout: 30.0,
            retries: 5,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Auth {
    /// A file holding the token.
    pub token_file: Option<PathBuf>,
    /// The environment variable holding the token (default `HF_TOKEN`, then `HUGGING_FACE_HUB_TOKEN`).
    pub token_env_var: Option<String>,
}

/// Reads and checks a spec (JSON as `builtins.toJSON` prints the argument). A refused spec
/// is an [`Error::InvalidSpec`] listing every problem, or an [`Error::SpecJson`] saying
/// where the JSON is broken.
pub fn check(json: &str) -> Result<FetchSpec> {
    let refusal = match serde_json::from_str::<RawSpec>(json) {
        Ok(raw) => match raw.into_spec() {
            Ok(spec) => return Ok(spec),
            Err(problem) => Refusal::Value(problem),
        },
        Err(_) => Refusal::Json,
    };
    Err(refused(json, refusal))
}

/// Why the typed pass refused a spec.
enum Refusal {
    /// serde refused it: the walk says why, unless the problem is the JSON's (a key given twice).
    Json,
    /// A value's check refused it, with this problem line.
    Value(String),
}

/// The error of a spec the typed pass refused: every problem the walk finds; if it finds none,
/// the typed pass's own reason, so that there is always one.
fn refused(json: &str, refusal: Refusal) -> Error {
    let value: serde_json::Value = match serde_json::from_str(json) {
        Ok(value) => value,
        Err(error) => return Error::spec_json(error),
    };
    let mut problems = problems::problems(&value);
    if problems.is_empty() {
        match refusal {
            Refusal::Json => return typed_pass_error(json),
            Refusal::Value(problem) => problems.push(problem),
        }
    }
    Error::InvalidSpec {
        repo: problems::subject(&value).map(String::from),
        problems,
    }
}

/// The typed pass's error, read again to say where in the spec it is.
fn typed_pass_error(json: &str) -> Error {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    match serde_path_to_error::deserialize::<_, RawSpec>(&mut deserializer) {
        Ok(_) => Error::Internal("the spec's typed pass refused a spec it reads".into()),
        Err(error) => {
            let at = error.path().to_string();
            let mut error = Error::spec_json(error.into_inner());
            if let Error::SpecJson { problem, .. } = &mut error {
                if at != "." {
                    *problem = format!("{at}: {problem}");
                }
            }
            error
        }
    }
}

impl FetchSpec {
    /// The Hugging Face source, if the spec's source is one.
    pub fn huggingface(&self) -> Option<&HfSource> {
        match &self.source {
            Source::HuggingFace(hf) => Some(hf),
            _ => None,
        }
    }
}

impl Source {
    /// The source's type, as the spec names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::HuggingFace(_) => "huggingface",
            Source::Url(_) => "url",
            Source::Mlflow(_) => "mlflow",
            Source::ObjectStore(source) => source.store.kind(),
            Source::Ollama(_) => "ollama",
            Source::GitLfs(_) => "git-lfs",
            Source::GitXet(_) => "git-xet",
        }
    }

    /// What the source names, for headings and messages: a repo id, a URL, a bucket's prefix.
    pub fn subject(&self) -> String {
        match self {
            Source::HuggingFace(hf) => hf.repo.id.clone(),
            Source::Url(source) => match source.files.as_slice() {
                [one] => fields::redact_userinfo(one.url.as_str()).into_owned(),
                many => format!("{} URLs ({})", many.len(), source.repo.id),
            },
            Source::Mlflow(source) => source.model_name.clone(),
            Source::ObjectStore(source) => source.subject(),
            Source::Ollama(source) => source.display(),
            Source::GitLfs(source) => source.url.to_string(),
            Source::GitXet(source) => source.repo.id.clone(),
        }
    }

    /// What the spec asks for, which may move (a branch, an alias).
    pub fn revision(&self) -> &str {
        match self {
            Source::HuggingFace(hf) => &hf.revision,
            Source::Url(_) | Source::ObjectStore(_) => "main",
            Source::Mlflow(source) => source.asked(),
            Source::Ollama(source) => &source.tag,
            Source::GitLfs(source) => &source.rev,
            Source::GitXet(source) => &source.rev,
        }
    }

    /// What decides the content besides the endpoint, as JSON: what an entry remembering a
    /// fetch is keyed by (never a credential).
    pub fn identity(&self) -> serde_json::Value {
        match self {
            Source::HuggingFace(hf) => serde_json::json!({
                "type": "huggingface",
                "repo": hf.repo.id,
                "repoType": hf.repo.kind.as_str(),
                "revision": hf.revision,
                "commit": hf.commit,
                "files": hf.files,
                "exclude": hf.exclude,
            }),
            Source::Url(source) => serde_json::json!({
                "type": "url",
                "repo": source.repo.id,
                "files": source.files.iter().map(|file| serde_json::json!({
                    "url": file.url.as_str(),
                    "sha256": file.sha256.as_ref().map(Sha256Hash::to_sri),
                    "filename": file.filename,
                })).collect::<Vec<_>>(),
            }),
            Source::Mlflow(source) => mlflow::identity(source),
            Source::ObjectStore(source) => source.identity(),
            Source::Ollama(source) => serde_json::json!({
                "type": "ollama",
                "registry": source.registry_url(),
                "namespace": source.namespace,
                "model": source.model,
                "tag": source.tag,
                "digest": source.digest,
            }),
            Source::GitLfs(source) => serde_json::json!({
                "type": "git-lfs",
                "url": source.url.as_str(),
                "rev": source.rev,
                "commit": source.commit,
                "files": source.files,
                "exclude": source.exclude,
                "repo": source.repo.id,
            }),
            Source::GitXet(source) => serde_json::json!({
                "type": "git-xet",
                "url": source.url,
                "rev": source.rev,
                "commit": source.commit,
                "files": source.files,
                "exclude": source.exclude,
            }),
        }
    }

    /// The store path name when the spec gives none.
    pub fn default_name(&self) -> String {
        match self {
            Source::HuggingFace(hf) => hf.repo.cache_folder_name(),
            Source::Url(source) => source.repo.cache_folder_name(),
            Source::Mlflow(source) => source.repo.cache_folder_name(),
            Source::ObjectStore(source) => source.repo.cache_folder_name(),
            Source::Ollama(source) => source.default_name(),
            Source::GitLfs(source) => source.repo.cache_folder_name(),
            Source::GitXet(source) => source.repo.cache_folder_name(),
        }
    }

    /// The attributes of the source, in the order messages and `prefetch --nix` list them.
    pub fn keys(&self) -> &'static [&'static str] {
        match self {
            Source::HuggingFace(_) => HF_KEYS,
            Source::Url(_) => url::URL_KEYS,
            Source::Mlflow(_) => mlflow::MLFLOW_KEYS,
            Source::ObjectStore(source) => source.store.keys(),
            Source::Ollama(_) => ollama::OLLAMA_KEYS,
            Source::GitLfs(_) => git_lfs::GIT_LFS_KEYS,
            Source::GitXet(_) => git_xet::GIT_XET_KEYS,
        }
    }

    /// Adds to `source` (its attributes, as the spec gave them) what pins the fetched
    /// `commit` and only it: the commit of a branch; the sha256 of each file of plain URLs.
    /// `digests`: the fetched files' paths and sha256 (or git blob) digests in hex.
    pub fn pin_source(
        &self,
        source: &mut serde_json::Value,
        commit: &str,
        digests: &[(String, String)],
    ) {
        let Some(attributes) = source.as_object_mut() else {
            return;
        };
        match self {
            Source::HuggingFace(hf) => {
                if !is_commit(&hf.revision) {
                    attributes.insert("commit".into(), commit.into());
                }
            }
            Source::GitLfs(source) => {
                if !is_commit(&source.rev) {
                    attributes.insert("commit".into(), commit.into());
                }
            }
            Source::GitXet(source) => {
                if !is_commit(&source.rev) {
                    attributes.insert("commit".into(), commit.into());
                }
            }
            Source::Url(url) => {
                let sri = |filename: &str| {
                    digests
                        .iter()
                        .find(|(path, _)| path == filename)
                        .and_then(|(_, hex)| parse_sha256(hex).ok())
                        .map(|hash| serde_json::Value::from(hash.to_sri()))
                };
                if let Some(serde_json::Value::Array(entries)) = attributes.get_mut("urls") {
                    for (entry, file) in entries.iter_mut().zip(&url.files) {
                        if let (Some(entry), Some(sha256)) =
                            (entry.as_object_mut(), sri(&file.filename))
                        {
                            entry.insert("sha256".into(), sha256);
                        }
                    }
                } else if let Some(sha256) = sri(&url.files[0].filename) {
                    attributes.insert("sha256".into(), sha256);
                }
            }
            // What the fetch resolved (an MLflow alias's version, each object's version) comes
            // with the fetch's own pin (`FetchOutcome::pin`).
            Source::Mlflow(_) | Source::ObjectStore(_) => {}
            Source::Ollama(_) => {
                attributes.insert("digest".into(), commit.into());
            }
        }
    }

    /// The line that pins the fetched `commit`, unless the spec fixes it already.
    pub fn pin_line(&self, commit: &str) -> Option<String> {
        match self {
            Source::HuggingFace(hf) if !hf.commit_is_pinned() => {
                Some(format!("source.huggingface.commit = \"{commit}\";"))
            }
            Source::Ollama(source) if source.digest.is_none() => {
                Some(format!("source.ollama.digest = \"{commit}\";"))
            }
            Source::GitLfs(source) if source.pinned_commit().is_none() => {
                Some(format!("source.git-lfs.commit = \"{commit}\";"))
            }
            Source::GitXet(source) if !source.commit_is_pinned() => {
                Some(format!("source.git-xet.commit = \"{commit}\";"))
            }
            Source::HuggingFace(_)
            | Source::Url(_)
            | Source::Mlflow(_)
            | Source::ObjectStore(_)
            | Source::Ollama(_)
            | Source::GitLfs(_)
            | Source::GitXet(_) => None,
        }
    }
}

/// The spec as the typed pass reads it; `into_spec` checks its values. Null is absent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    name: Option<String>,
    source: RawSource,
    hash: Option<String>,
    network: Option<RawNetwork>,
    auth: Option<RawAuth>,
}

/// One attribute per source type; exactly one is given (not null).
#[derive(Deserialize)]
struct RawSource {
    huggingface: Option<RawHfSource>,
    url: Option<serde_json::Value>,
    mlflow: Option<serde_json::Value>,
    s3: Option<serde_json::Value>,
    gcs: Option<serde_json::Value>,
    azure: Option<serde_json::Value>,
    ollama: Option<serde_json::Value>,
    #[serde(rename = "git-lfs")]
    git_lfs: Option<serde_json::Value>,
    #[serde(rename = "git-xet")]
    git_xet: Option<serde_json::Value>,
    /// The other attributes, which must be source types given as null (absent).
    #[serde(flatten)]
    others: std::collections::HashMap<String, Option<serde::de::IgnoredAny>>,
}

impl RawSource {
    /// The source given, checked; the problem line of the first refusal.
    fn into_source(self) -> Result<Source, String> {
        if let Some((kind, _)) = self
            .others
            .iter()
            .find(|(kind, config)| !SOURCE_TYPES.contains(&kind.as_str()) || config.is_some())
        {
            return Err(format!("source.{kind}: give exactly one source"));
        }
        use object_store::StoreKind;
        let given = [
            self.huggingface.is_some(),
            self.url.is_some(),
            self.mlflow.is_some(),
            self.s3.is_some(),
            self.gcs.is_some(),
            self.azure.is_some(),
            self.ollama.is_some(),
            self.git_lfs.is_some(),
            self.git_xet.is_some(),
        ];
        if given.iter().filter(|given| **given).count() != 1 {
            return Err("source: give exactly one source".into());
        }
        if let Some(hf) = self.huggingface {
            return hf.into_source().map(Source::HuggingFace);
        }
        let store = [
            (StoreKind::S3, self.s3),
            (StoreKind::Gcs, self.gcs),
            (StoreKind::Azure, self.azure),
        ]
        .into_iter()
        .find_map(|(kind, config)| Some((kind, config?)));
        let checked = if let Some(config) = self.url {
            url::check(&config).map(Source::Url)
        } else if let Some(config) = self.mlflow {
            mlflow::check(&config).map(Source::Mlflow)
        } else if let Some(config) = self.ollama {
            ollama::check(&config).map(Source::Ollama)
        } else if let Some(config) = self.git_lfs {
            git_lfs::check(&config).map(Source::GitLfs)
        } else if let Some(config) = self.git_xet {
            git_xet::check(&config).map(Source::GitXet)
        } else if let Some((kind, config)) = store {
            object_store::check(kind, &config).map(Source::ObjectStore)
        } else {
            unreachable!("one source is given")
        };
        checked.map_err(|lines| lines.join("; "))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawHfSource {
    repo: String,
    revision: Option<String>,
    commit: Option<String>,
    repo_type: Option<String>,
    files: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    endpoint: Option<String>,
    concurrency: Option<u64>,
    timeout: Option<f64>,
    retries: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawAuth {
    token_file: Option<String>,
    token_env_var: Option<String>,
}

impl RawSpec {
    /// The spec, if every value passes its check (the same checks `problems` words); else
    /// the problem line of the first that does not.
    fn into_spec(self) -> Result<FetchSpec, String> {
        let source = self.source.into_source()?;
        let name = match self.name {
            Some(name) => {
                fields::name(&name).map_err(at("name"))?;
                name
            }
            None => source.default_name(),
        };
        let hash = match self.hash.as_deref() {
            None | Some("") => None,
            Some(text) => Some(parse_sha256(text).map_err(|e| e.to_string())?),
        };
        let network = match self.network {
            Some(raw) => raw.into_network()?,
            None => Network::default(),
        };
        let auth = match self.auth {
            Some(raw) => raw.into_auth()?,
            None => Auth::default(),
        };
        Ok(FetchSpec {
            name,
            source,
            hash,
            network,
            auth,
        })
    }
}

impl RawHfSource {
    fn into_source(self) -> Result<HfSource, String> {
        let kind = match &self.repo_type {
            Some(text) => fields::repo_type(text).map_err(at("source.huggingface.repoType"))?,
            None => RepoType::Model,
        };
        let mut repo = fields::repo(&self.repo).map_err(at("source.huggingface.repo"))?;
        repo.kind = kind;
        let revision = self.revision.unwrap_or_else(|| "main".to_string());
        fields::revision(&revision).map_err(at("source.huggingface.revision"))?;
        if let Some(commit) = &self.commit {
            fields::commit(commit, &revision).map_err(at("source.huggingface.commit"))?;
        }
        Ok(HfSource {
            repo,
            revision,
            commit: self.commit,
            files: self.files.unwrap_or_default(),
            exclude: self.exclude.unwrap_or_default(),
        })
    }
}

/// Puts the attribute before a value's problem: `network.timeout must be ...`.
fn at(attribute: &'static str) -> impl Fn(String) -> String {
    move |problem| format!("{attribute} {problem}")
}

impl RawNetwork {
    fn into_network(self) -> Result<Network, String> {
        let default = Network::default();
        if let Some(endpoint) = &self.endpoint {
            fields::endpoint(endpoint).map_err(at("network.endpoint"))?;
        }
        Ok(Network {
            endpoint: self.endpoint,
            concurrency: match self.concurrency {
                Some(value) => fields::concurrency(value).map_err(at("network.concurrency"))?,
                None => default.concurrency,
            },
            timeout: match self.timeout {
                Some(value) => fields::timeout(value).map_err(at("network.timeout"))?,
                None => default.timeout,
            },
            retries: match self.retries {
                Some(value) => fields::retries(value).map_err(at("network.retries"))?,
                None => default.retries,
            },
        })
    }
}

impl RawAuth {
    fn into_auth(self) -> Result<Auth, String> {
        if let Some(file) = &self.token_file {
            fields::token_file(file).map_err(at("auth.tokenFile"))?;
        }
        if let Some(name) = &self.token_env_var {
            fields::token_env_var(name).map_err(at("auth.tokenEnvVar"))?;
        }
        Ok(Auth {
            token_file: self.token_file.map(PathBuf::from),
            token_env_var: self.token_env_var,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Result<FetchSpec> {
        check(json)
    }

    #[test]
    fn minimal_spec_takes_defaults() {
        let s = spec(r#"{"source":{"huggingface":{"repo":"org/name"}}}"#).unwrap();
        let hf = s.huggingface().unwrap();
        assert_eq!(hf.revision, "main");
        assert_eq!(hf.commit, None);
        assert_eq!(hf.repo.kind, RepoType::Model);
        assert_eq!(s.name, "models--org--name");
        assert_eq!(s.network.concurrency, 8);
        assert!(s.hash.is_none());
    }

    #[test]
    fn full_spec_as_builtins_to_json_gives_it() {
        let s = spec(
            r#"{"auth":{"tokenEnvVar":"MY_TOKEN","tokenFile":null},"hash":"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
               "name":"minilm","network":{"concurrency":4,"endpoint":"http://127.0.0.1:1","retries":2,"timeout":5},
               "source":{"huggingface":{"exclude":["*.onnx"],"files":["*.json"],"repo":"sentence-transformers/all-MiniLM-L6-v2",
               "repoType":"dataset","revision":"refs/pr/1","commit":"0123456789abcdef0123456789abcdef01234567"}}}"#,
        )
        .unwrap();
        let hf = s.huggingface().unwrap();
        assert_eq!(hf.repo.kind, RepoType::Dataset);
        assert_eq!(hf.revision, "refs/pr/1");
        assert_eq!(
            hf.commit.as_deref(),
            Some("0123456789abcdef0123456789abcdef01234567")
        );
        assert!(hf.commit_is_pinned());
        assert_eq!(hf.files, vec!["*.json"]);
        assert_eq!(s.network.retries, 2);
        assert_eq!(s.network.timeout, 5.0);
        assert_eq!(s.auth.token_env_var.as_deref(), Some("MY_TOKEN"));
        assert!(s.hash.is_some());
    }

    #[test]
    fn a_commit_as_the_revision_is_pinned() {
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let s = spec(&format!(
            r#"{{"source":{{"huggingface":{{"repo":"a/b","revision":"{commit}"}}}}}}"#
        ))
        .unwrap();
        assert!(s.huggingface().unwrap().commit_is_pinned());
        let s = spec(r#"{"source":{"huggingface":{"repo":"a/b","revision":"v1"}}}"#).unwrap();
        assert!(!s.huggingface().unwrap().commit_is_pinned());
    }

    /// tests/support/bad_specs.json: the problems and heading of each spec, as the library
    /// (tests/nix/lib/parity.sh) and the plugin give them too.
    #[test]
    fn every_problem_in_the_words_of_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/bad_specs.json");
        let table: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let cases = table["cases"].as_array().unwrap();
        assert!(cases.len() > 50);
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let expected: Vec<&str> = case["problems"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap())
                .collect();
            match check(&case["spec"].to_string()) {
                Ok(_) => assert!(
                    expected.is_empty(),
                    "{name}: accepted, expected {expected:#?}"
                ),
                Err(Error::InvalidSpec { repo, problems }) => {
                    assert_eq!(problems, expected, "{name}");
                    let heading = crate::error::heading(repo.as_deref());
                    assert_eq!(Some(heading.as_str()), case["heading"].as_str(), "{name}");
                }
                Err(other) => panic!("{name}: {other}"),
            }
        }
    }

    /// What the library cannot check (it has no URL parser), the check of a plugin's cache hit
    /// refuses as a fetch would.
    #[test]
    fn an_endpoint_that_is_no_url_is_refused_by_the_check() {
        let e = spec(
            r#"{"source":{"huggingface":{"repo":"a/b"}},"network":{"endpoint":"http://hub:99999"}}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "fetchModel (a/b):\n  - network.endpoint 'http://hub:99999' is not a valid URL: \
             invalid port number"
        );
    }

    #[test]
    fn a_key_given_twice_is_a_json_problem_that_says_where() {
        let e = spec(r#"{"source":{"huggingface":{"repo":"a/b","repo":"c/d"}}}"#).unwrap_err();
        assert!(
            matches!(&e, Error::SpecJson { line: 1, .. })
                && e.to_string()
                    .contains("source.huggingface: duplicate field `repo`"),
            "{e}"
        );
    }

    /// Should the walk over the JSON miss a problem the typed pass found, the typed pass's
    /// reason is the problem line: a refused spec always says why.
    #[test]
    fn a_refusal_always_has_a_reason() {
        let walked_clean = r#"{"source":{"huggingface":{"repo":"a/b"}}}"#;
        let e = refused(
            walked_clean,
            Refusal::Value("name 'x' is what the typed pass says".into()),
        );
        assert_eq!(
            e.to_string(),
            "fetchModel (a/b):\n  - name 'x' is what the typed pass says"
        );
    }

    #[test]
    fn broken_json_says_where() {
        let e = spec("{\n \"source\": {\"huggingface\": {\"repo\": \"a/b\",}}}")
            .unwrap_err()
            .in_file(std::path::Path::new("spec.json"))
            .to_string();
        assert_eq!(
            e,
            "spec.json:2:43: the spec is not valid JSON: trailing comma"
        );
    }
}
