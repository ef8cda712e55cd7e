//! Model references on the command line: `hf:org/name[@revision]`,
//! `hf:datasets/org/name@rev`, `hf:spaces/org/name`, `url:https://...`, and
//! `ollama:[registry/][namespace/]model[:tag][@sha256:...]`.

use nix_fetch_model::hub::RepoType;

/// What a reference names.
#[derive(Debug, PartialEq, Eq)]
pub enum Source {
    Hub(Reference),
    /// A file at a plain URL.
    Url(String),
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

const FORMS: &str = "write hf:org/name[@revision] (or hf:datasets/org/name), url:https://..., or \
                     ollama:[registry/][namespace/]model[:tag][@sha256:...]";

pub fn parse_source(text: &str) -> Result<Source, String> {
    if let Some(url) = text.strip_prefix("url:") {
        return Ok(Source::Url(url.to_string()));
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
}
