//! The fetch spec: one JSON shape shared by the CLI, the plugin and the Nix
//! library. It equals what `builtins.toJSON` gives for the Nix argument:
//!
//! ```json
//! { "name": "...", "source": { "huggingface": { "repo": "org/name", "revision": "main",
//!   "repoType": "model", "files": ["*.json"], "exclude": [] } },
//!   "hash": "sha256-...", "network": { ... }, "auth": { ... } }
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::hash::{parse_sha256, Sha256Hash};
use crate::hub::{RepoId, RepoType};
use crate::store_path::validate_name;

/// Every source type the project knows; only `huggingface` is fetched by the core so far.
pub const SOURCE_TYPES: &[&str] = &[
    "huggingface",
    "mlflow",
    "s3",
    "git-lfs",
    "git-xet",
    "url",
    "ollama",
];

/// The top-level attributes of a spec: the fields of `RawSpec`.
pub const SPEC_KEYS: &[&str] = &["name", "source", "hash", "network", "auth"];

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
}

#[derive(Debug, Clone)]
pub struct HfSource {
    pub repo: RepoId,
    pub revision: String,
    pub files: Vec<String>,
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Network {
    /// Hub endpoint; else `HF_ENDPOINT`, else https://huggingface.co.
    pub endpoint: Option<String>,
    /// Requests in flight at most (files and byte ranges of large files). A fetch that
    /// computes the NAR hash starts with one and adds more while the link sets the pace
    /// (`fetch::widening`).
    #[serde(default = "Network::default_concurrency")]
    pub concurrency: usize,
    /// Seconds to wait for a connection or for the next bytes of an answer.
    #[serde(default = "Network::default_timeout")]
    pub timeout: f64,
    /// Retries of one request on 408/429/5xx and cut connections.
    #[serde(default = "Network::default_retries")]
    pub retries: u32,
}

impl Network {
    fn default_concurrency() -> usize {
        8
    }
    fn default_timeout() -> f64 {
        30.0
    }
    fn default_retries() -> u32 {
        5
    }
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout)
    }
}

impl Default for Network {
    fn default() -> Self {
        Network {
            endpoint: None,
            concurrency: Self::default_concurrency(),
            timeout: Self::default_timeout(),
            retries: Self::default_retries(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Auth {
    /// A file holding the token.
    pub token_file: Option<PathBuf>,
    /// The environment variable holding the token (default `HF_TOKEN`, then `HUGGING_FACE_HUB_TOKEN`).
    pub token_env_var: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    name: Option<String>,
    source: serde_json::Map<String, serde_json::Value>,
    hash: Option<String>,
    #[serde(default)]
    network: Option<Network>,
    #[serde(default)]
    auth: Option<Auth>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawHfSource {
    repo: String,
    revision: Option<String>,
    repo_type: Option<String>,
    #[serde(default)]
    files: Option<Vec<String>>,
    #[serde(default)]
    exclude: Option<Vec<String>>,
}

impl FetchSpec {
    pub fn from_json(text: &str) -> Result<Self> {
        let raw: RawSpec = deserialize("", text)?;
        let source = parse_source(&raw.source)?;
        let name = match raw.name {
            Some(name) => name,
            None => source.default_name(),
        };
        validate_name(&name).map_err(|e| Error::Spec(format!("name: {e}")))?;
        let hash = raw
            .hash
            .filter(|h| !h.is_empty())
            .map(|h| parse_sha256(&h))
            .transpose()
            .map_err(|e| Error::Spec(format!("hash: {e}")))?;
        let network = raw.network.unwrap_or_default();
        if network.concurrency == 0 || network.concurrency > 256 {
            return Err(Error::Spec(format!(
                "network.concurrency: {} is out of range, give 1 to 256",
                network.concurrency
            )));
        }
        if !(network.timeout > 0.0 && network.timeout.is_finite()) {
            return Err(Error::Spec(format!(
                "network.timeout: {} is not a positive number of seconds",
                network.timeout
            )));
        }
        Ok(FetchSpec {
            name,
            source,
            hash,
            network,
            auth: raw.auth.unwrap_or_default(),
        })
    }

    pub fn huggingface(&self) -> &HfSource {
        match &self.source {
            Source::HuggingFace(hf) => hf,
        }
    }
}

impl Source {
    fn default_name(&self) -> String {
        match self {
            Source::HuggingFace(hf) => hf.repo.cache_folder_name(),
        }
    }
}

fn parse_source(source: &serde_json::Map<String, serde_json::Value>) -> Result<Source> {
    let known = SOURCE_TYPES.join(", ");
    let mut entries = source.iter();
    let (kind, value) = match (entries.next(), entries.next()) {
        (Some(entry), None) => entry,
        (None, _) => {
            return Err(Error::Spec(format!(
                "source: give exactly one source, one of: {known}"
            )))
        }
        (Some(_), Some(_)) => {
            let given: Vec<&str> = source.keys().map(String::as_str).collect();
            return Err(Error::Spec(format!(
                "source: give exactly one source, got {}: {}",
                given.len(),
                given.join(", ")
            )));
        }
    };
    match kind.as_str() {
        "huggingface" => parse_hf_source(value).map(Source::HuggingFace),
        other if SOURCE_TYPES.contains(&other) => Err(Error::Spec(format!(
            "source.{other}: this source is not fetched by nix-fetch-model yet; \
             only huggingface is supported for now"
        ))),
        other => Err(Error::Spec(format!(
            "source: unknown source type '{other}', known: {known}"
        ))),
    }
}

fn parse_hf_source(value: &serde_json::Value) -> Result<HfSource> {
    let raw: RawHfSource = match RawHfSource::deserialize(value) {
        Ok(raw) => raw,
        Err(_) => deserialize("source.huggingface.", &value.to_string())?,
    };
    let repo_type = match raw.repo_type.as_deref() {
        None => RepoType::Model,
        Some(text) => RepoType::parse(text).ok_or_else(|| {
            Error::Spec(format!(
                "source.huggingface.repoType: '{text}' is not one of model, dataset, space"
            ))
        })?,
    };
    let repo = RepoId::parse(&raw.repo, repo_type)
        .map_err(|e| Error::Spec(format!("source.huggingface.repo: {e}")))?;
    let revision = raw.revision.unwrap_or_else(|| "main".to_string());
    crate::layout::check_relative_path(&revision)
        .map_err(|e| Error::Spec(format!("source.huggingface.revision: {e}")))?;
    Ok(HfSource {
        repo,
        revision,
        files: raw.files.unwrap_or_default(),
        exclude: raw.exclude.unwrap_or_default(),
    })
}

/// Deserializes `text`, naming the path of the offending key (`prefix` + serde's path) in
/// errors. The plain parse runs first: tracking paths costs, and only an error needs them.
fn deserialize<T: DeserializeOwned>(prefix: &str, text: &str) -> Result<T> {
    if let Ok(value) = serde_json::from_str(text) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        let message = match message.find(" at line ") {
            Some(at) if !inner.is_syntax() => message[..at].to_string(),
            _ => message,
        };
        if path == "." {
            Error::Spec(format!("{}{message}", prefix))
        } else {
            Error::Spec(format!("{prefix}{path}: {message}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Result<FetchSpec> {
        FetchSpec::from_json(json)
    }

    #[test]
    fn minimal_spec_takes_defaults() {
        let s = spec(r#"{"source":{"huggingface":{"repo":"org/name"}}}"#).unwrap();
        let hf = s.huggingface();
        assert_eq!(hf.revision, "main");
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
               "repoType":"dataset","revision":"refs/pr/1"}}}"#,
        )
        .unwrap();
        let hf = s.huggingface();
        assert_eq!(hf.repo.kind, RepoType::Dataset);
        assert_eq!(hf.revision, "refs/pr/1");
        assert_eq!(hf.files, vec!["*.json"]);
        assert_eq!(s.network.retries, 2);
        assert_eq!(s.auth.token_env_var.as_deref(), Some("MY_TOKEN"));
        assert!(s.hash.is_some());
    }

    #[test]
    fn unknown_keys_are_named_with_the_known_ones() {
        let e = spec(r#"{"source":{"huggingface":{"repo":"a/b","revison":"x"}}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("revison") && e.contains("revision") && e.contains("repoType"),
            "{e}"
        );
        let e = spec(r#"{"sorce":{}}"#).unwrap_err().to_string();
        assert!(e.contains("sorce") && e.contains("source"), "{e}");
        let e = spec(r#"{"source":{"huggingface":{"repo":"a/b"}},"network":{"speed":1}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("network") && e.contains("speed") && e.contains("concurrency"),
            "{e}"
        );
    }

    #[test]
    fn spec_keys_are_the_accepted_top_level_keys() {
        let e = spec(r#"{"sorce":{}}"#).unwrap_err().to_string();
        let listed = e.split('`').skip(1).step_by(2).filter(|k| *k != "sorce");
        assert_eq!(listed.collect::<Vec<_>>(), SPEC_KEYS, "{e}");
    }

    #[test]
    fn exactly_one_source() {
        let e = spec(r#"{"source":{}}"#).unwrap_err().to_string();
        assert!(e.contains("exactly one"), "{e}");
        let e = spec(r#"{"source":{"huggingface":{"repo":"a/b"},"s3":{}}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("got 2"), "{e}");
        let e = spec(r#"{"source":{"ftp":{}}}"#).unwrap_err().to_string();
        assert!(
            e.contains("ftp") && e.contains("huggingface, mlflow"),
            "{e}"
        );
        let e = spec(r#"{"source":{"mlflow":{}}}"#).unwrap_err().to_string();
        assert!(e.contains("not fetched by nix-fetch-model yet"), "{e}");
    }

    #[test]
    fn bad_values_are_refused() {
        for (json, needle) in [
            (r#"{"source":{"huggingface":{"repo":"a/b/c"}}}"#, "repo"),
            (
                r#"{"source":{"huggingface":{"repo":"a/b","repoType":"kernel"}}}"#,
                "repoType",
            ),
            (
                r#"{"source":{"huggingface":{"repo":"a/b","revision":"../x"}}}"#,
                "revision",
            ),
            (
                r#"{"source":{"huggingface":{"repo":"a/b"}},"hash":"md5-abc"}"#,
                "hash",
            ),
            (
                r#"{"source":{"huggingface":{"repo":"a/b"}},"name":"has space"}"#,
                "name",
            ),
            (
                r#"{"source":{"huggingface":{"repo":"a/b"}},"network":{"concurrency":0}}"#,
                "concurrency",
            ),
            (r#"{"source":{"huggingface":{"repo":1}}}"#, "repo"),
        ] {
            let e = spec(json).unwrap_err().to_string();
            assert!(e.contains(needle), "{json}: {e}");
        }
    }
}
