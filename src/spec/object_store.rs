//! `source.s3`, `source.gcs` and `source.azure`: the objects below a prefix of a bucket (an
//! Azure container), fetched through the `object_store` crate.
//!
//! ```nix
//! source.s3 = { bucket = "models"; prefix = "llama/8b"; region = "eu-west-1";
//!               versionIds = { "config.json" = "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"; }; };
//! source.gcs = { bucket = "models"; prefix = "llama/8b"; generations = { "config.json" = "1700000000000000"; }; };
//! source.azure = { account = "mystorage"; container = "models"; prefix = "llama/8b"; };
//! ```
//!
//! One walk over the JSON gives both the problems (every one, in the words of
//! lib/sources/object-store.nix) and the checked source.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use url::Url;

use super::fields::{self, nix_string, redact_userinfo, wrong_type};
use super::problems::{given, push_err, sorted, string_list_problem, type_name};
use super::unknown::unknown;
use crate::hub::RepoId;
use crate::layout::relative_path_problem;

/// Which store a source names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    S3,
    Gcs,
    Azure,
}

pub const S3_KEYS: &[&str] = &[
    "bucket",
    "prefix",
    "region",
    "endpoint",
    "files",
    "exclude",
    "versionIds",
    "repo",
];
pub const GCS_KEYS: &[&str] = &[
    "bucket",
    "prefix",
    "endpoint",
    "files",
    "exclude",
    "generations",
    "repo",
];
pub const AZURE_KEYS: &[&str] = &[
    "account",
    "container",
    "prefix",
    "endpoint",
    "files",
    "exclude",
    "versionIds",
    "repo",
];

impl StoreKind {
    /// The source type, as the spec names it.
    pub fn kind(self) -> &'static str {
        match self {
            StoreKind::S3 => "s3",
            StoreKind::Gcs => "gcs",
            StoreKind::Azure => "azure",
        }
    }

    pub fn keys(self) -> &'static [&'static str] {
        match self {
            StoreKind::S3 => S3_KEYS,
            StoreKind::Gcs => GCS_KEYS,
            StoreKind::Azure => AZURE_KEYS,
        }
    }

    /// The attribute that pins each file's version: S3's and Azure's version ids, GCS's
    /// generations.
    pub fn versions_key(self) -> &'static str {
        match self {
            StoreKind::Gcs => "generations",
            StoreKind::S3 | StoreKind::Azure => "versionIds",
        }
    }

    /// The attribute naming the bucket (Azure's container).
    fn bucket_key(self) -> &'static str {
        match self {
            StoreKind::Azure => "container",
            StoreKind::S3 | StoreKind::Gcs => "bucket",
        }
    }

    /// Where credentials go instead of the spec, as messages say it.
    pub fn credentials(self) -> &'static str {
        match self {
            StoreKind::S3 => {
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile of ~/.aws/credentials \
                 (AWS_PROFILE)"
            }
            StoreKind::Gcs => "GOOGLE_APPLICATION_CREDENTIALS (a service account's key file)",
            StoreKind::Azure => "AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_TOKEN",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ObjectSource {
    pub store: StoreKind,
    /// The bucket; Azure's container.
    pub bucket: String,
    /// Azure's storage account.
    pub account: Option<String>,
    /// The folder of the objects, without a leading or trailing `/`; empty: the whole bucket.
    pub prefix: String,
    /// S3's region (else `AWS_REGION`, `AWS_DEFAULT_REGION`, `us-east-1`).
    pub region: Option<String>,
    /// An S3-compatible store, an emulator, a private endpoint.
    pub endpoint: Option<Url>,
    pub files: Vec<String>,
    pub exclude: Vec<String>,
    /// The pinned version of each file (by its path below the prefix): when given, these are
    /// the files, and the prefix is not listed.
    pub versions: Option<BTreeMap<String, String>>,
    /// The Hub cache repo the files are laid out as (`<type>/<bucket>-<prefix>` by default).
    pub repo: RepoId,
}

impl ObjectSource {
    /// `s3://bucket/prefix`, `gs://bucket/prefix`, `azure://account/container/prefix`.
    pub fn subject(&self) -> String {
        let place = match (self.store, &self.account) {
            (StoreKind::S3, _) => format!("s3://{}", self.bucket),
            (StoreKind::Gcs, _) => format!("gs://{}", self.bucket),
            (StoreKind::Azure, account) => {
                format!(
                    "azure://{}/{}",
                    account.as_deref().unwrap_or(""),
                    self.bucket
                )
            }
        };
        match self.prefix.as_str() {
            "" => place,
            prefix => format!("{place}/{prefix}"),
        }
    }

    /// The object key of the file at `path` below the prefix.
    pub fn key(&self, path: &str) -> String {
        match self.prefix.as_str() {
            "" => path.to_string(),
            prefix => format!("{prefix}/{path}"),
        }
    }

    pub fn identity(&self) -> Value {
        serde_json::json!({
            "type": self.store.kind(),
            "account": self.account,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "region": self.region,
            "endpoint": self.endpoint.as_ref().map(Url::as_str),
            "files": self.files,
            "exclude": self.exclude,
            "versions": self.versions,
            "repo": self.repo.id,
        })
    }
}

/// The source `config` of `store` describes, or every problem of it.
pub fn check(store: StoreKind, config: &Value) -> Result<ObjectSource, Vec<String>> {
    let mut lines = Vec::new();
    let source = walk(store, config, &mut lines);
    match source {
        Some(source) if lines.is_empty() => Ok(source),
        _ => Err(lines),
    }
}

/// Attribute names that would put a credential into the spec (and the store).
fn is_credential(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "secret",
        "token",
        "password",
        "accesskey",
        "accountkey",
        "sas",
        "credential",
    ]
    .iter()
    .any(|word| key.contains(word))
}

fn walk(store: StoreKind, config: &Value, lines: &mut Vec<String>) -> Option<ObjectSource> {
    let kind = store.kind();
    let at = format!("source.{kind}");
    let at = at.as_str();
    let bucket_key = store.bucket_key();
    let Value::Object(config) = config else {
        let wanted = format!("an attrset {{ {bucket_key} = \"models\"; prefix = \"llama\"; }}");
        lines.push(format!("{at} {}", wrong_type(type_name(config), &wanted)));
        return None;
    };
    let keys = store.keys();
    for (key, _) in sorted(config) {
        if keys.contains(&key) {
            continue;
        }
        if is_credential(key) {
            lines.push(format!(
                "{at}.{key} is refused: a credential written in the argument ends up in the \
                 world-readable Nix store; give it with {}",
                store.credentials()
            ));
            continue;
        }
        let meant = match (store, key) {
            (_, "include") => Some("files"),
            (_, "key" | "path" | "folder") => Some("prefix"),
            (StoreKind::Azure, "bucket") => Some("container"),
            (StoreKind::Gcs, "versionIds" | "generation" | "versions") => Some("generations"),
            (StoreKind::S3 | StoreKind::Azure, "versions" | "versionId") => Some("versionIds"),
            _ => None,
        };
        lines.push(unknown("attribute", at, key, keys, None, meant));
    }
    let account = match store {
        StoreKind::Azure => named(config, at, "account", lines, account_problem),
        StoreKind::S3 | StoreKind::Gcs => None,
    };
    let bucket = named(config, at, bucket_key, lines, |text| match store {
        StoreKind::Azure => container_problem(text),
        StoreKind::S3 | StoreKind::Gcs => bucket_problem(text),
    });
    let prefix = match given(config, "prefix") {
        None => Some(String::new()),
        Some(Value::String(text)) => match prefix(text) {
            Ok(prefix) => Some(prefix),
            Err(problem) => {
                lines.push(format!("{at}.prefix {problem}"));
                None
            }
        },
        Some(other) => {
            let wanted = "a string such as \"models/llama\"";
            lines.push(format!(
                "{at}.prefix {}",
                wrong_type(type_name(other), wanted)
            ));
            None
        }
    };
    let region = match (store, given(config, "region")) {
        (StoreKind::S3, Some(Value::String(text))) => {
            let checked = region(text);
            push_err(lines, &format!("{at}.region"), checked.clone());
            checked.ok()
        }
        (StoreKind::S3, Some(other)) => {
            let wanted = "a string such as \"eu-west-1\"";
            lines.push(format!(
                "{at}.region {}",
                wrong_type(type_name(other), wanted)
            ));
            None
        }
        _ => None,
    };
    let endpoint = match given(config, "endpoint") {
        None => None,
        Some(Value::String(text)) => match endpoint(store, text) {
            Ok(url) => Some(url),
            Err(problem) => {
                lines.push(format!("{at}.endpoint {problem}"));
                None
            }
        },
        Some(other) => {
            let wanted = "a string: an http:// or https:// URL";
            lines.push(format!(
                "{at}.endpoint {}",
                wrong_type(type_name(other), wanted)
            ));
            None
        }
    };
    let mut patterns = |key: &str| match given(config, key) {
        None => Vec::new(),
        Some(value) => match string_list_problem(key, value) {
            Some(problem) => {
                lines.push(format!("{at}.{key} {problem}"));
                Vec::new()
            }
            None => value
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|item| item.as_str().map(String::from))
                .collect(),
        },
    };
    let files = patterns("files");
    let exclude = patterns("exclude");
    let versions =
        given(config, store.versions_key()).map(|value| versions(store, at, value, lines));
    let repo = match given(config, "repo") {
        None => None,
        Some(Value::String(text)) => {
            let checked = fields::repo(text);
            push_err(lines, &format!("{at}.repo"), checked.clone());
            checked.ok()
        }
        Some(other) => {
            let wanted = "a string such as \"org/name\"";
            lines.push(format!(
                "{at}.repo {}",
                wrong_type(type_name(other), wanted)
            ));
            None
        }
    };
    let (bucket, prefix) = (bucket?, prefix?);
    let repo = match repo {
        Some(repo) => repo,
        None => default_repo(store, &bucket, &prefix),
    };
    Some(ObjectSource {
        store,
        bucket,
        account: match store {
            StoreKind::Azure => Some(account?),
            _ => None,
        },
        prefix,
        region,
        endpoint,
        files,
        exclude,
        versions: versions.flatten(),
        repo,
    })
}

/// A required name (`bucket`, `container`, `account`), checked by `problem`.
fn named(
    config: &Map<String, Value>,
    at: &str,
    key: &str,
    lines: &mut Vec<String>,
    problem: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let what = match key {
        "account" => "the storage account's name, e.g. account = \"mystorage\"",
        "container" => "the container's name, e.g. container = \"models\"",
        _ => "the bucket's name, e.g. bucket = \"models\"",
    };
    match given(config, key) {
        None => {
            lines.push(format!("{at}.{key} is missing: give {what}"));
            None
        }
        Some(Value::String(text)) => match problem(text) {
            None => Some(text.clone()),
            Some(problem) => {
                lines.push(format!("{at}.{key} '{text}' {problem}"));
                None
            }
        },
        Some(other) => {
            let wanted = format!(
                "a string such as \"{}\"",
                if key == "account" {
                    "mystorage"
                } else {
                    "models"
                }
            );
            lines.push(format!(
                "{at}.{key} {}",
                wrong_type(type_name(other), &wanted)
            ));
            None
        }
    }
}

fn all_bytes(text: &str, allowed: impl Fn(u8) -> bool) -> bool {
    text.bytes().all(allowed)
}

/// S3's and GCS's bucket names, and those of S3-compatible stores: lenient enough for legacy
/// S3 buckets (upper case, `_`), strict enough to be one URL path segment.
fn bucket_problem(text: &str) -> Option<String> {
    let ok = (3..=255).contains(&text.len())
        && text.as_bytes()[0].is_ascii_alphanumeric()
        && all_bytes(text, |b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    (!ok).then(|| {
        "is not a bucket name: 3 to 255 letters, digits, '.', '_' and '-', starting with a \
         letter or digit"
            .to_string()
    })
}

fn container_problem(text: &str) -> Option<String> {
    let ok = (3..=63).contains(&text.len())
        && text.as_bytes()[0].is_ascii_alphanumeric()
        && all_bytes(text, |b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'
        });
    (!ok).then(|| {
        "is not a container name: 3 to 63 lowercase letters, digits and '-', starting with a \
         letter or digit"
            .to_string()
    })
}

fn account_problem(text: &str) -> Option<String> {
    let ok = (3..=24).contains(&text.len())
        && all_bytes(text, |b| b.is_ascii_lowercase() || b.is_ascii_digit());
    (!ok).then(|| "is not a storage account name: 3 to 24 lowercase letters and digits".to_string())
}

/// The prefix without the one trailing `/` it may have: a plain relative path, or empty.
fn prefix(text: &str) -> Result<String, String> {
    let folder = text.strip_suffix('/').unwrap_or(text);
    if folder.is_empty() {
        return Ok(String::new());
    }
    match relative_path_problem(folder) {
        None => Ok(folder.to_string()),
        Some(problem) => Err(format!(
            "'{text}' {}: give the folder of the model's objects, e.g. prefix = \"models/llama\"",
            problem.words()
        )),
    }
}

fn region(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.as_bytes()[0].is_ascii_alphanumeric()
        && all_bytes(text, |b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'
        });
    match ok {
        true => Ok(text.to_string()),
        false => Err(format!(
            "'{text}' is not a region: lowercase letters, digits and '-', e.g. \"eu-west-1\""
        )),
    }
}

fn endpoint(store: StoreKind, text: &str) -> Result<Url, String> {
    let shown = redact_userinfo(text);
    if shown != text {
        return Err(format!(
            "'{shown}' holds credentials: a URL is printed, logged and stored, so it must not \
             hold a password; give them with {}",
            store.credentials()
        ));
    }
    fields::endpoint(text)
}

/// `versionIds` / `generations`: file path -> version. `None` inside: refused.
fn versions(
    store: StoreKind,
    at: &str,
    value: &Value,
    lines: &mut Vec<String>,
) -> Option<BTreeMap<String, String>> {
    let key = store.versions_key();
    let Value::Object(entries) = value else {
        lines.push(format!(
            "{at}.{key} {}",
            wrong_type(
                type_name(value),
                "an attrset { \"config.json\" = \"...\"; }, as nix-fetch-model prefetch --nix prints it"
            )
        ));
        return None;
    };
    if entries.is_empty() {
        lines.push(format!(
            "{at}.{key} is empty: give the version of each file, as nix-fetch-model prefetch \
             --nix prints them, or leave it out"
        ));
        return None;
    }
    let mut versions = Some(BTreeMap::new());
    for (path, version) in sorted(entries) {
        let here = format!("{at}.{key}.{}", nix_string(path));
        let path_ok = match relative_path_problem(path) {
            None => true,
            Some(problem) => {
                lines.push(format!(
                    "{here} names no file: the name {}; name each file by its path below the \
                     prefix",
                    problem.words()
                ));
                false
            }
        };
        let version = match (store, version) {
            (StoreKind::Gcs, Value::String(text)) => match is_generation(text) {
                true => Some(text.clone()),
                false => {
                    lines.push(format!(
                        "{here} '{text}' is not a generation: give its digits, as \
                         nix-fetch-model prefetch --nix prints them"
                    ));
                    None
                }
            },
            (_, Value::String(text)) => match is_version_id(text) {
                true => Some(text.clone()),
                false => {
                    lines.push(format!(
                        "{here} '{text}' is not a version id: printable ASCII without spaces, as \
                         nix-fetch-model prefetch --nix prints it"
                    ));
                    None
                }
            },
            (StoreKind::Gcs, other) => {
                let wanted = "a string of digits such as \"1700000000000000\"";
                lines.push(format!("{here} {}", wrong_type(type_name(other), wanted)));
                None
            }
            (_, other) => {
                let wanted = "a string: the object's version id";
                lines.push(format!("{here} {}", wrong_type(type_name(other), wanted)));
                None
            }
        };
        versions = match (versions, version, path_ok) {
            (Some(mut versions), Some(version), true) => {
                versions.insert(path.to_string(), version);
                Some(versions)
            }
            _ => None,
        };
    }
    versions
}

fn is_generation(text: &str) -> bool {
    !text.is_empty() && text.len() <= 20 && all_bytes(text, |b| b.is_ascii_digit())
}

fn is_version_id(text: &str) -> bool {
    !text.is_empty() && all_bytes(text, |b| (b'!'..=b'~').contains(&b))
}

/// `<type>/<name>`, the name being `<bucket>/<prefix>` (Azure: `<container>/<prefix>`) with every
/// run of characters other than letters, digits and `_` made one `-`, at most 96 characters.
/// lib/sources/object-store.nix derives the same.
pub fn default_repo(store: StoreKind, bucket: &str, prefix: &str) -> RepoId {
    fields::derived_repo(store.kind(), &format!("{bucket}/{prefix}"), "bucket")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::RepoType;

    fn checked(store: StoreKind, json: &str) -> Result<ObjectSource, Vec<String>> {
        check(store, &serde_json::from_str(json).unwrap())
    }

    #[test]
    fn a_bucket_and_prefix_give_the_repo_and_subject() {
        let source = checked(
            StoreKind::S3,
            r#"{"bucket":"models","prefix":"llm/tiny.v1/"}"#,
        )
        .unwrap();
        assert_eq!(source.prefix, "llm/tiny.v1");
        assert_eq!(source.repo.id, "s3/models-llm-tiny-v1");
        assert_eq!(source.subject(), "s3://models/llm/tiny.v1");
        assert_eq!(source.key("config.json"), "llm/tiny.v1/config.json");
        let whole = checked(StoreKind::Gcs, r#"{"bucket":"models","prefix":"/"}"#).unwrap();
        assert_eq!(
            (whole.prefix.as_str(), whole.subject()),
            ("", "gs://models".into())
        );
        assert_eq!(whole.key("a/b"), "a/b");
        let azure = checked(
            StoreKind::Azure,
            r#"{"account":"devstoreaccount1","container":"models","prefix":"m"}"#,
        )
        .unwrap();
        assert_eq!(azure.subject(), "azure://devstoreaccount1/models/m");
        assert_eq!(azure.repo.id, "azure/models-m");
    }

    #[test]
    fn every_problem_is_given() {
        let problems = checked(
            StoreKind::S3,
            r#"{"bucket":"a","prefix":"/x","region":"EU","endpoint":"http://k:s@h","files":"*.json",
                "versionIds":{"../a":"v","b":"has space","c":3},"secretAccessKey":"x","key":"m"}"#,
        )
        .unwrap_err();
        assert_eq!(
            problems,
            vec![
                "source.s3.key is not a known attribute; did you mean prefix? Known: bucket, prefix, region, endpoint, files, exclude, versionIds, repo",
                "source.s3.secretAccessKey is refused: a credential written in the argument ends up in the world-readable Nix store; give it with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile of ~/.aws/credentials (AWS_PROFILE)",
                "source.s3.bucket 'a' is not a bucket name: 3 to 255 letters, digits, '.', '_' and '-', starting with a letter or digit",
                "source.s3.prefix '/x' starts with '/': give the folder of the model's objects, e.g. prefix = \"models/llama\"",
                "source.s3.region 'EU' is not a region: lowercase letters, digits and '-', e.g. \"eu-west-1\"",
                "source.s3.endpoint 'http://***@h' holds credentials: a URL is printed, logged and stored, so it must not hold a password; give them with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile of ~/.aws/credentials (AWS_PROFILE)",
                "source.s3.files is a string, give a list: files = [ \"*.json\" ];",
                "source.s3.versionIds.\"../a\" names no file: the name has a '.' or '..' segment; name each file by its path below the prefix",
                "source.s3.versionIds.\"b\" 'has space' is not a version id: printable ASCII without spaces, as nix-fetch-model prefetch --nix prints it",
                "source.s3.versionIds.\"c\" is an int, give a string: the object's version id",
            ]
        );
    }

    #[test]
    fn each_store_has_its_own_names() {
        let problems = checked(
            StoreKind::Gcs,
            r#"{"bucket":"models","versionIds":{"a":"1"},"generations":{"a":"x1"},"region":"eu"}"#,
        )
        .unwrap_err();
        assert_eq!(
            problems,
            vec![
                "source.gcs.region is not a known attribute; known: bucket, prefix, endpoint, files, exclude, generations, repo",
                "source.gcs.versionIds is not a known attribute; did you mean generations? Known: bucket, prefix, endpoint, files, exclude, generations, repo",
                "source.gcs.generations.\"a\" 'x1' is not a generation: give its digits, as nix-fetch-model prefetch --nix prints them",
            ]
        );
        let problems = checked(
            StoreKind::Azure,
            r#"{"bucket":"models","account":"My_Account"}"#,
        )
        .unwrap_err();
        assert_eq!(
            problems,
            vec![
                "source.azure.bucket is not a known attribute; did you mean container? Known: account, container, prefix, endpoint, files, exclude, versionIds, repo",
                "source.azure.account 'My_Account' is not a storage account name: 3 to 24 lowercase letters and digits",
                "source.azure.container is missing: give the container's name, e.g. container = \"models\"",
            ]
        );
    }

    #[test]
    fn pinned_versions_are_read() {
        let source = checked(
            StoreKind::Gcs,
            r#"{"bucket":"models","generations":{"config.json":"1700000000000001","w/m.bin":"17"}}"#,
        )
        .unwrap();
        let versions = source.versions.unwrap();
        assert_eq!(versions["w/m.bin"], "17");
        assert_eq!(versions.len(), 2);
    }

    #[test]
    fn a_default_repo_is_a_valid_repo_id() {
        for (bucket, prefix) in [("a.b", ""), ("x", &"y".repeat(200)), ("m-", "--/..")] {
            let repo = default_repo(StoreKind::S3, bucket, prefix);
            assert!(
                RepoId::parse(&repo.id, RepoType::Model).is_ok(),
                "{}",
                repo.id
            );
        }
    }
}
