//! Model references on the command line: `hf:org/name[@revision]`,
//! `hf:datasets/org/name@rev`, `hf:spaces/org/name`, `url:https://...`,
//! `ollama:[registry/][namespace/]model[:tag][@sha256:...]`, and the objects below a prefix of a
//! bucket: `s3://bucket/prefix`, `gs://bucket/prefix`, `azure://account/container/prefix` (or
//! `az://container/prefix` with the account in `AZURE_STORAGE_ACCOUNT_NAME`).

use nix_fetch_model::hub::RepoType;

/// What a reference names.
#[derive(Debug, PartialEq, Eq)]
pub enum Source {
    Hub(Reference),
    /// A file at a plain URL.
    Url(String),
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
}

#[derive(Debug, PartialEq, Eq)]
pub struct Reference {
    pub kind: RepoType,
    pub repo: String,
    pub revision: String,
}

const FORMS: &str = "write hf:org/name[@revision] (or hf:datasets/org/name), url:https://..., \
                     ollama:[registry/][namespace/]model[:tag][@sha256:...], s3://bucket/prefix, \
                     gs://bucket/prefix or azure://account/container/prefix";

pub fn parse_source(text: &str) -> Result<Source, String> {
    parse_source_with(text, &|name| std::env::var(name).ok())
}

pub fn parse_source_with(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Source, String> {
    if let Some(url) = text.strip_prefix("url:") {
        return Ok(Source::Url(url.to_string()));
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
        let account = env("AZURE_STORAGE_ACCOUNT_NAME").filter(|a| !a.is_empty()).ok_or_else(|| {
            format!(
                "'{text}' names no storage account: set AZURE_STORAGE_ACCOUNT_NAME, or write \
                 azure://account/container/prefix"
            )
        })?;
        return bucket("azure", &["account", "container"], &format!("{account}/{rest}"));
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
    parse(text).map(Source::Hub)
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
            ("s3", serde_json::json!({"bucket": "models", "prefix": "llm/tiny/"}))
        );
        assert_eq!(parsed("gs://models"), ("gcs", serde_json::json!({"bucket": "models"})));
        assert_eq!(
            parsed("azure://acct/models/llm"),
            ("azure", serde_json::json!({"account": "acct", "container": "models", "prefix": "llm"}))
        );
        assert!(parse_source_with("azure://acct", &no_env).unwrap_err().contains("no container"));
        assert!(parse_source_with("az://models", &no_env)
            .unwrap_err()
            .contains("AZURE_STORAGE_ACCOUNT_NAME"));
        let account = |name: &str| (name == "AZURE_STORAGE_ACCOUNT_NAME").then(|| "acct".to_string());
        match parse_source_with("az://models/llm", &account).unwrap() {
            Source::Bucket { source, .. } => assert_eq!(source["account"], "acct"),
            other => panic!("{other:?}"),
        }
    }
}
