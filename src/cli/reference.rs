//! Model references on the command line: `hf:org/name[@revision]`,
//! `hf:datasets/org/name@rev`, `hf:spaces/org/name`, `url:https://...`,
//! `git-lfs:https://host/org/name.git[@rev]`,
//! `mlflow:<model>@<version|alias>` (with `--tracking-uri` or `MLFLOW_TRACKING_URI`),
//! `ollama:[registry/][namespace/]model[:tag][@sha256:...]`, and the objects below a prefix of a
//! bucket: `s3://bucket/prefix`, `gs://bucket/prefix`, `azure://account/container/prefix` (or
//! `az://container/prefix` with the account in `AZURE_STORAGE_ACCOUNT_NAME`),
//! and `git-xet:https://huggingface.co/org/name[@rev]`.

use nix_fetch_model::hub::RepoType;

/// What a reference names.
#[derive(Debug, PartialEq, Eq)]
pub enum Source {
    Hub(Reference),
    /// A file at a plain URL.
    Url(String),
    /// A version of a registered model of MLflow: by its number, or by an alias.
    Mlflow(MlflowReference),
    /// The objects below a prefix of a bucket: the source type (`s3`, `gcs`, `azure`) and its
    /// attributes (`bucket` or `account` + `container`, and `prefix` unless empty).
    Bucket {
        kind: &'static str,
        source: serde_json::Map<String, serde_json::Value>,
    },
    /// An Ollama name, and the manifest digest after '@' if given.
    Ollama {
        name: String,
        digest: Option<String>,
    },
    /// A git remote and, after its path's last `@`, the rev.
    GitLfs {
        url: String,
        rev: Option<String>,
    },
    /// A Hub repo by its URL, its Xet files through the Xet protocol: the URL, the rev.
    GitXet(String, String),
}

#[derive(Debug, PartialEq, Eq)]
pub struct MlflowReference {
    pub model: String,
    /// The version's number, when what follows '@' is digits.
    pub version: Option<String>,
    pub alias: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Reference {
    pub kind: RepoType,
    pub repo: String,
    pub revision: String,
}

const FORMS: &str = "write hf:org/name[@revision] (or hf:datasets/org/name), url:https://..., \
                     git-lfs:https://host/org/name.git[@rev], mlflow:<model>@<version|alias>, \
                     ollama:[registry/][namespace/]model[:tag][@sha256:...], s3://bucket/prefix, \
                     gs://bucket/prefix, azure://account/container/prefix \
                     or git-xet:https://huggingface.co/org/name[@rev]";

pub fn parse_source(text: &str) -> Result<Source, String> {
    parse_source_with(text, &|name| std::env::var(name).ok())
}

pub fn parse_source_with(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Source, String> {
    if let Some(url) = text.strip_prefix("url:") {
        return Ok(Source::Url(url.to_string()));
    }
    if let Some(rest) = text.strip_prefix("git-xet:") {
        return git_xet(text, rest);
    }
    if let Some(rest) = text.strip_prefix("mlflow:") {
        return parse_mlflow(text, rest).map(Source::Mlflow);
    }
    let bucket = |kind: &'static str, names: &[&str], rest: &str| {
        let mut parts = rest.splitn(names.len() + 1, '/');
        let mut source = serde_json::Map::new();
        for name in names {
            match parts.next().filter(|part| !part.is_empty()) {
                Some(part) => source.insert(name.to_string(), part.into()),
                None => {
                    return Err(format!(
                        "'{text}' names no {name}: write {}",
                        match kind {
                            "azure" => "azure://account/container/prefix",
                            "gcs" => "gs://bucket/prefix",
                            _ => "s3://bucket/prefix",
                        }
                    ))
                }
            };
        }
        if let Some(prefix) = parts.next().filter(|prefix| !prefix.is_empty()) {
            source.insert("prefix".into(), prefix.into());
        }
        Ok(Source::Bucket { kind, source })
    };
    if let Some(rest) = text.strip_prefix("s3://") {
        return bucket("s3", &["bucket"], rest);
    }
    if let Some(rest) = text.strip_prefix("gs://") {
        return bucket("gcs", &["bucket"], rest);
    }
    if let Some(rest) = text.strip_prefix("azure://") {
        return bucket("azure", &["account", "container"], rest);
    }
    if let Some(rest) = text.strip_prefix("az://") {
        let account = env("AZURE_STORAGE_ACCOUNT_NAME")
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                format!(
                    "'{text}' names no storage account: set AZURE_STORAGE_ACCOUNT_NAME, or write \
                 azure://account/container/prefix"
                )
            })?;
        return bucket(
            "azure",
            &["account", "container"],
            &format!("{account}/{rest}"),
        );
    }
    if let Some(name) = text.strip_prefix("ollama:") {
        let (name, digest) = match name.split_once('@') {
            Some((name, digest)) => (name, Some(digest.to_string())),
            None => (name, None),
        };
        return Ok(Source::Ollama {
            name: name.to_string(),
            digest,
        });
    }
    if let Some(rest) = text.strip_prefix("git-lfs:") {
        // The rev follows the last '@' of the path (an '@' before it is the authority's).
        let path_start = rest
            .find("://")
            .and_then(|at| rest[at + 3..].find('/').map(|slash| at + 3 + slash))
            .unwrap_or(rest.len());
        return Ok(match rest[path_start..].rfind('@') {
            Some(at) => {
                let (url, rev) = rest.split_at(path_start + at);
                if rev.len() == 1 {
                    return Err(format!(
                        "'{text}': nothing after '@': give a branch, tag or commit"
                    ));
                }
                Source::GitLfs {
                    url: url.to_string(),
                    rev: Some(rev[1..].to_string()),
                }
            }
            None => Source::GitLfs {
                url: rest.to_string(),
                rev: None,
            },
        });
    }
    parse(text).map(Source::Hub)
}

/// `<model>@<version>` (digits) or `<model>@<alias>`.
fn parse_mlflow(text: &str, rest: &str) -> Result<MlflowReference, String> {
    let Some((model, asked)) = rest.rsplit_once('@') else {
        return Err(format!(
            "'{text}' names no version: write mlflow:<model>@<version> (a number) or \
             mlflow:<model>@<alias>"
        ));
    };
    if model.is_empty() {
        return Err(format!(
            "'{text}' names no model: write mlflow:<model>@<version|alias>"
        ));
    }
    if asked.is_empty() {
        return Err(format!(
            "'{text}': nothing after '@': give a version number or an alias"
        ));
    }
    let digits = asked.bytes().all(|b| b.is_ascii_digit());
    if digits && !nix_fetch_model::spec::mlflow::is_version(asked) {
        return Err(format!(
            "'{text}': '{asked}' is not a version number (1 to 18 digits, not starting with 0)"
        ));
    }
    Ok(MlflowReference {
        model: model.to_string(),
        version: digits.then(|| asked.to_string()),
        alias: (!digits).then(|| asked.to_string()),
    })
}

/// `<url>[@rev]`: the rev is what follows the last `@` of the URL's path (an `@` before the path
/// is the URL's, which the spec's check refuses).
fn git_xet(text: &str, rest: &str) -> Result<Source, String> {
    let path_start = rest
        .find("://")
        .and_then(|scheme| rest[scheme + 3..].find('/').map(|at| scheme + 3 + at))
        .unwrap_or(rest.len());
    match rest[path_start..].rfind('@').map(|at| path_start + at) {
        Some(at) if at + 1 == rest.len() => Err(format!(
            "'{text}': nothing after '@': give a branch, tag or commit"
        )),
        Some(at) => Ok(Source::GitXet(
            rest[..at].to_string(),
            rest[at + 1..].to_string(),
        )),
        None => Ok(Source::GitXet(rest.to_string(), "main".to_string())),
    }
}

pub fn parse(text: &str) -> Result<Reference, String> {
    let rest = text
        .strip_prefix("hf:")
        .ok_or_else(|| format!("'{text}' is not a model reference: {FORMS}"))?;
    let (path, revision) = match rest.split_once('@') {
        Some((path, revision)) if !revision.is_empty() => (path, revision.to_string()),
        Some(_) => {
            return Err(format!(
                "'{text}': nothing after '@': give a branch, tag or commit"
            ))
        }
        None => (rest, "main".to_string()),
    };
    let (kind, repo) = match path.split_once('/') {
        Some(("datasets", repo)) => (RepoType::Dataset, repo),
        Some(("spaces", repo)) => (RepoType::Space, repo),
        Some(("models", repo)) => (RepoType::Model, repo),
        _ => (RepoType::Model, path),
    };
    Ok(Reference {
        kind,
        repo: repo.to_string(),
        revision,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(
            parse("hf:org/name").unwrap(),
            Reference {
                kind: RepoType::Model,
                repo: "org/name".into(),
                revision: "main".into()
            }
        );
        assert_eq!(
            parse("hf:datasets/org/name@refs/pr/1").unwrap(),
            Reference {
                kind: RepoType::Dataset,
                repo: "org/name".into(),
                revision: "refs/pr/1".into()
            }
        );
        assert_eq!(parse("hf:gpt2@v1").unwrap().repo, "gpt2");
        assert!(parse("org/name").is_err());
        assert_eq!(
            parse_source("url:https://x/m.bin").unwrap(),
            Source::Url("https://x/m.bin".into())
        );
        assert!(parse("hf:org/name@").is_err());
        assert_eq!(
            parse_source("ollama:llama3:8b").unwrap(),
            Source::Ollama {
                name: "llama3:8b".into(),
                digest: None
            }
        );
        assert_eq!(
            parse_source("ollama:r.example:5000/ns/m:t@sha256:ab").unwrap(),
            Source::Ollama {
                name: "r.example:5000/ns/m:t".into(),
                digest: Some("sha256:ab".into())
            }
        );
        assert_eq!(
            parse_source("git-lfs:https://h/org/name.git@refs/pr/1").unwrap(),
            Source::GitLfs {
                url: "https://h/org/name.git".into(),
                rev: Some("refs/pr/1".into())
            }
        );
        assert_eq!(
            parse_source("git-lfs:https://u@h/org/name").unwrap(),
            Source::GitLfs {
                url: "https://u@h/org/name".into(),
                rev: None
            }
        );
        assert!(parse_source("git-lfs:https://h/r@").is_err());
    }

    #[test]
    fn mlflow_references() {
        assert_eq!(
            parse_source("mlflow:my-model@champion").unwrap(),
            Source::Mlflow(MlflowReference {
                model: "my-model".into(),
                version: None,
                alias: Some("champion".into())
            })
        );
        assert_eq!(
            parse_source("mlflow:a@b@12").unwrap(),
            Source::Mlflow(MlflowReference {
                model: "a@b".into(),
                version: Some("12".into()),
                alias: None
            })
        );
        for bad in ["mlflow:m", "mlflow:@1", "mlflow:m@", "mlflow:m@01"] {
            assert!(parse_source(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bucket_references() {
        let no_env = |_: &str| None;
        let parsed = |text: &str| match parse_source_with(text, &no_env) {
            Ok(Source::Bucket { kind, source }) => (kind, serde_json::Value::Object(source)),
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(
            parsed("s3://models/llm/tiny/"),
            (
                "s3",
                serde_json::json!({"bucket": "models", "prefix": "llm/tiny/"})
            )
        );
        assert_eq!(
            parsed("gs://models"),
            ("gcs", serde_json::json!({"bucket": "models"}))
        );
        assert_eq!(
            parsed("azure://acct/models/llm"),
            (
                "azure",
                serde_json::json!({"account": "acct", "container": "models", "prefix": "llm"})
            )
        );
        assert!(parse_source_with("azure://acct", &no_env)
            .unwrap_err()
            .contains("no container"));
        assert!(parse_source_with("az://models", &no_env)
            .unwrap_err()
            .contains("AZURE_STORAGE_ACCOUNT_NAME"));
        let account =
            |name: &str| (name == "AZURE_STORAGE_ACCOUNT_NAME").then(|| "acct".to_string());
        match parse_source_with("az://models/llm", &account).unwrap() {
            Source::Bucket { source, .. } => assert_eq!(source["account"], "acct"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_source("git-xet:https://huggingface.co/org/name@refs/pr/1").unwrap(),
            Source::GitXet("https://huggingface.co/org/name".into(), "refs/pr/1".into())
        );
        assert_eq!(
            parse_source("git-xet:http://127.0.0.1:1/datasets/o/d").unwrap(),
            Source::GitXet("http://127.0.0.1:1/datasets/o/d".into(), "main".into())
        );
        // The '@' of credentials is the URL's (the spec's check refuses them).
        assert_eq!(
            parse_source("git-xet:https://me:hf_x@huggingface.co/o/n").unwrap(),
            Source::GitXet("https://me:hf_x@huggingface.co/o/n".into(), "main".into())
        );
        assert!(parse_source("git-xet:https://huggingface.co/o/n@").is_err());
    }
}
