//! Model references on the command line: `hf:org/name[@revision]`,
//! `hf:datasets/org/name@rev`, `hf:spaces/org/name`, `url:https://...`, and
//! `git-xet:https://huggingface.co/org/name[@rev]`.

use nix_fetch_model::hub::RepoType;

/// What a reference names.
#[derive(Debug, PartialEq, Eq)]
pub enum Source {
    Hub(Reference),
    /// A file at a plain URL.
    Url(String),
    /// A Hub repo by its URL, its Xet files through the Xet protocol: the URL, the rev.
    GitXet(String, String),
}

#[derive(Debug, PartialEq, Eq)]
pub struct Reference {
    pub kind: RepoType,
    pub repo: String,
    pub revision: String,
}

const FORMS: &str = "write hf:org/name[@revision] (or hf:datasets/org/name), url:https://..., \
                     or git-xet:https://huggingface.co/org/name[@rev]";

pub fn parse_source(text: &str) -> Result<Source, String> {
    if let Some(url) = text.strip_prefix("url:") {
        return Ok(Source::Url(url.to_string()));
    }
    if let Some(rest) = text.strip_prefix("git-xet:") {
        return git_xet(text, rest);
    }
    parse(text).map(Source::Hub)
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
