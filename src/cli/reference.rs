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

const FORMS: &str = "write hf:org/name[@revision] (or org/name, hf:datasets/org/name, \
                     https://huggingface.co/org/name), url:https://..., \
                     git-lfs:https://host/org/name.git[@rev], mlflow:<model>@<version|alias>, \
                     ollama:[registry/][namespace/]model[:tag][@sha256:...], s3://bucket/prefix, \
                     gs://bucket/prefix, azure://account/container/prefix \
                     or git-xet:https://huggingface.co/org/name[@rev]";

/// What a command's flags say of a Hub reference, as `hf download` takes them.
#[derive(Default)]
pub struct Given<'a> {
    /// `--revision`: a reference that names its own revision too is refused.
    pub revision: Option<&'a str>,
    /// `--repo-type`: a reference that names another type is refused.
    pub repo_type: Option<RepoType>,
    /// `--endpoint`: the host of a web URL besides the Hub's (else `HF_ENDPOINT`'s).
    pub endpoint: Option<&'a str>,
}

/// The source `text` names, in any of the forms above or as `hf download` users write a Hub
/// repo: `org/name`, `datasets/org/name`, `https://huggingface.co/org/name[/tree/<rev>]`,
/// `https://huggingface.co/datasets/org/name`, `hf://[datasets/]org/name[@rev]`.
#[allow(dead_code)] // for the commands without Hub flags (`ls`, `import`, `export`)
pub fn parse_source(text: &str) -> Result<Source, String> {
    parse_source_given(text, &Given::default())
}

/// [`parse_source`] with the flags of the command.
pub fn parse_source_given(text: &str, given: &Given) -> Result<Source, String> {
    parse_source_with_given(text, given, &|name| std::env::var(name).ok())
}

#[cfg(test)]
pub fn parse_source_with(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Source, String> {
    parse_source_with_given(text, &Given::default(), env)
}

pub fn parse_source_with_given(
    text: &str,
    given: &Given,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Source, String> {
    let source = parse_any(text, given, env)?;
    if !matches!(source, Source::Hub(_)) {
        for (set, flag) in [
            (given.revision.is_some(), "--revision"),
            (given.repo_type.is_some(), "--repo-type"),
        ] {
            if set {
                return Err(format!(
                    "{flag} applies to Hub repos (hf:org/name, org/name, a Hub URL), not to \
                 '{text}'"
                ));
            }
        }
    }
    Ok(source)
}

fn parse_any(
    text: &str,
    given: &Given,
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
    hub_reference(text, given, env).map(Source::Hub)
}

/// A Hub repo in one of its forms, with the flags' revision and type.
fn hub_reference(
    text: &str,
    given: &Given,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Reference, String> {
    let named = if let Some(rest) = text.strip_prefix("hf://") {
        file_system_path(text, rest)?
    } else if let Some(rest) = text.strip_prefix("hf:") {
        repo_path(text, rest)?
    } else if text.starts_with("https://") || text.starts_with("http://") {
        let endpoint = given
            .endpoint
            .map(String::from)
            .or_else(|| env("HF_ENDPOINT").filter(|e| !e.is_empty()));
        web_url(text, endpoint.as_deref())?
    } else if text.contains(':') || text.is_empty() {
        return Err(format!("'{text}' is not a model reference: {FORMS}"));
    } else {
        repo_path(text, text)?
    };
    let kind = match (named.kind, given.repo_type) {
        (Some(named), Some(flag)) if named != flag => {
            return Err(format!(
                "'{text}' names a {} repo, and --repo-type {}: give one",
                named.as_str(),
                flag.as_str()
            ))
        }
        (named, flag) => named.or(flag).unwrap_or(RepoType::Model),
    };
    let revision = match (named.revision, given.revision) {
        (Some(named), Some(flag)) => {
            return Err(format!(
                "'{text}' names revision '{named}', and --revision {flag}: give one"
            ))
        }
        (named, flag) => named
            .or_else(|| flag.map(String::from))
            .unwrap_or_else(|| "main".into()),
    };
    Ok(Reference {
        kind,
        repo: named.repo,
        revision,
    })
}

/// What a reference's text says of a Hub repo; the flags say the rest.
struct Named {
    kind: Option<RepoType>,
    repo: String,
    revision: Option<String>,
}

/// `[models/|datasets/|spaces/]org/name[@revision]`.
fn repo_path(text: &str, rest: &str) -> Result<Named, String> {
    let (path, revision) = match rest.split_once('@') {
        Some((path, revision)) if !revision.is_empty() => (path, Some(revision.to_string())),
        Some(_) => {
            return Err(format!(
                "'{text}': nothing after '@': give a branch, tag or commit"
            ))
        }
        None => (rest, None),
    };
    let (kind, repo) = split_kind(path);
    Ok(Named {
        kind,
        repo: repo.to_string(),
        revision,
    })
}

fn split_kind(path: &str) -> (Option<RepoType>, &str) {
    match path.split_once('/') {
        Some(("datasets", repo)) => (Some(RepoType::Dataset), repo),
        Some(("spaces", repo)) => (Some(RepoType::Space), repo),
        Some(("models", repo)) => (Some(RepoType::Model), repo),
        _ => (None, path),
    }
}

/// huggingface_hub's HfFileSystem path: `[datasets/|spaces/]org/name[@rev]`, the rev
/// percent-encoded where it holds a `/` (`@refs%2Fpr%2F1`). A path inside the repo after it is
/// refused: `--include` selects files.
fn file_system_path(text: &str, rest: &str) -> Result<Named, String> {
    let (kind, rest) = split_kind(rest);
    // As in a web URL, no type is a model.
    let kind = kind.or(Some(RepoType::Model));
    let (repo, revision) = match rest.split_once('@') {
        Some((repo, at)) => {
            let (revision, inside) = at.split_once('/').unwrap_or((at, ""));
            if revision.is_empty() {
                return Err(format!(
                    "'{text}': nothing after '@': give a branch, tag or commit"
                ));
            }
            refuse_inside(text, inside)?;
            (repo, Some(decoded(text, revision)?))
        }
        None => {
            let mut parts = rest.splitn(3, '/');
            let (first, second) = (parts.next().unwrap_or(""), parts.next());
            refuse_inside(text, parts.next().unwrap_or(""))?;
            match second {
                Some(_) => (&rest[..first.len() + 1 + second.unwrap_or("").len()], None),
                None => (first, None),
            }
        }
    };
    Ok(Named {
        kind,
        repo: repo.to_string(),
        revision,
    })
}

fn refuse_inside(text: &str, inside: &str) -> Result<(), String> {
    if inside.trim_matches('/').is_empty() {
        return Ok(());
    }
    Err(format!(
        "'{text}' names '{inside}' inside a repo: give the repo, and select files with \
                 --include '{inside}'"
    ))
}

fn decoded(text: &str, part: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(part)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| format!("'{text}': '{part}' is not UTF-8 once percent-decoded"))
}

/// The Hub's web URL of a repo, `https://huggingface.co/[datasets/|spaces/]org/name`, or of a
/// revision of it (`.../tree/<rev>`); the same on `endpoint`'s host (a mirror, an Enterprise Hub).
fn web_url(text: &str, endpoint: Option<&str>) -> Result<Named, String> {
    let url = url::Url::parse(text).map_err(|e| format!("'{text}' is not a URL: {e}"))?;
    let on_hub = matches!(url.host_str(), Some("huggingface.co" | "hf.co"))
        && url.scheme() == "https"
        && url.port().is_none();
    let given_endpoint = endpoint;
    let path = match endpoint.and_then(|e| url::Url::parse(e.trim_end_matches('/')).ok()) {
        _ if on_hub => url.path().to_string(),
        Some(endpoint) if endpoint.origin() == url.origin() => {
            let prefix = endpoint.path().trim_end_matches('/');
            match url.path().strip_prefix(prefix) {
                Some(path) if prefix.is_empty() || path.is_empty() || path.starts_with('/') => {
                    path.to_string()
                }
                _ => {
                    return Err(format!(
                        "'{text}' is not below the endpoint {endpoint}: give the URL of a repo \
                 there"
                    ))
                }
            }
        }
        endpoint => {
            let host = url.host_str().unwrap_or("");
            let given_endpoint = given_endpoint.map(nix_fetch_model::spec::fields::redact_userinfo);
            return Err(match endpoint.and(given_endpoint) {
                Some(endpoint) => format!(
                    "'{text}' is a URL of {host}, not of the Hub (https://huggingface.co) nor of \
                 the endpoint {endpoint}: give the repo's URL there, or hf:org/name"
                ),
                None => format!(
                    "'{text}' is a URL of {host}, not of the Hub (https://huggingface.co): for \
                 another Hub, give its address with --endpoint (or HF_ENDPOINT)"
                ),
            });
        }
    };
    let parts: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
    let (kind, parts) = match parts.split_first() {
        Some((&"datasets", rest)) => (Some(RepoType::Dataset), rest),
        Some((&"spaces", rest)) => (Some(RepoType::Space), rest),
        Some((&"models", rest)) => (Some(RepoType::Model), rest),
        // A web URL without a type is a model's.
        _ => (Some(RepoType::Model), &parts[..]),
    };
    let is_view = |part: &&str| matches!(*part, "tree" | "blob" | "resolve" | "commit");
    let repo_parts = match parts {
        [] => {
            return Err(format!(
                "'{text}' names no repo: give https://huggingface.co/org/name"
            ))
        }
        [_, second, ..] if !is_view(second) => 2,
        _ => 1,
    };
    let repo = parts[..repo_parts].join("/");
    let revision = match &parts[repo_parts..] {
        [] => None,
        ["tree", revision, inside @ ..] => {
            refuse_inside(text, &inside.join("/"))?;
            Some(decoded(text, revision)?)
        }
        [view @ ("blob" | "resolve"), ..] => {
            return Err(format!(
                "'{text}' is the {view} URL of a file: give the repo's URL, and select files \
                 with --include"
            ))
        }
        _ => {
            return Err(format!(
                "'{text}' is not the URL of a repo: write https://huggingface.co/org/name or \
                 https://huggingface.co/org/name/tree/<revision>"
            ))
        }
    };
    Ok(Named {
        kind,
        repo,
        revision,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The Hub reference `text` names, without flags or HF_ENDPOINT.
    fn parse(text: &str) -> Result<Reference, String> {
        hub(text, &Given::default())
    }

    fn hub(text: &str, given: &Given) -> Result<Reference, String> {
        match parse_source_with_given(text, given, &|_| None)? {
            Source::Hub(reference) => Ok(reference),
            other => panic!("{text}: {other:?}"),
        }
    }

    fn repo(kind: RepoType, repo: &str, revision: &str) -> Reference {
        Reference {
            kind,
            repo: repo.into(),
            revision: revision.into(),
        }
    }

    #[test]
    fn hub_repos_as_hf_download_users_write_them() {
        use RepoType::*;
        for (text, expected) in [
            ("org/name", repo(Model, "org/name", "main")),
            ("gpt2", repo(Model, "gpt2", "main")),
            ("org/name@v1", repo(Model, "org/name", "v1")),
            ("datasets/org/name", repo(Dataset, "org/name", "main")),
            (
                "spaces/org/name@refs/pr/1",
                repo(Space, "org/name", "refs/pr/1"),
            ),
            (
                "https://huggingface.co/org/name",
                repo(Model, "org/name", "main"),
            ),
            (
                "https://huggingface.co/org/name/",
                repo(Model, "org/name", "main"),
            ),
            ("https://hf.co/gpt2", repo(Model, "gpt2", "main")),
            (
                "https://huggingface.co/gpt2/tree/v2",
                repo(Model, "gpt2", "v2"),
            ),
            (
                "https://huggingface.co/org/name/tree/refs%2Fpr%2F1",
                repo(Model, "org/name", "refs/pr/1"),
            ),
            (
                "https://huggingface.co/datasets/org/name",
                repo(Dataset, "org/name", "main"),
            ),
            (
                "https://huggingface.co/datasets/org/name/tree/v1",
                repo(Dataset, "org/name", "v1"),
            ),
            (
                "https://huggingface.co/spaces/org/name",
                repo(Space, "org/name", "main"),
            ),
            ("hf://org/name", repo(Model, "org/name", "main")),
            ("hf://org/name@v1", repo(Model, "org/name", "v1")),
            (
                "hf://datasets/org/name@refs%2Fconvert%2Fparquet",
                repo(Dataset, "org/name", "refs/convert/parquet"),
            ),
            ("hf://datasets/org/name/", repo(Dataset, "org/name", "main")),
            ("hf:models/org/name", repo(Model, "org/name", "main")),
        ] {
            assert_eq!(parse(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn flags_complete_a_hub_reference_and_conflicts_are_refused() {
        let flags = Given {
            revision: Some("v2"),
            repo_type: Some(RepoType::Dataset),
            endpoint: None,
        };
        assert_eq!(
            hub("org/name", &flags),
            Ok(repo(RepoType::Dataset, "org/name", "v2"))
        );
        assert_eq!(
            hub("hf:org/name", &flags),
            Ok(repo(RepoType::Dataset, "org/name", "v2"))
        );
        assert_eq!(
            hub("datasets/org/name", &flags).unwrap().kind,
            RepoType::Dataset
        );
        for (text, words) in [
            ("datasets/org/name@v1", ["'v1'", "--revision v2"]),
            (
                "https://huggingface.co/org/name/tree/v1",
                ["'v1'", "--revision v2"],
            ),
            ("spaces/org/name", ["space", "--repo-type dataset"]),
            (
                "https://huggingface.co/org/name",
                ["model", "--repo-type dataset"],
            ),
        ] {
            let models = Given {
                repo_type: (!text.contains("/tree/") && !text.contains('@'))
                    .then_some(RepoType::Dataset),
                ..flags
            };
            let error = hub(text, &models).unwrap_err();
            assert!(words.iter().all(|w| error.contains(w)), "{text}: {error}");
        }
        let error = parse_source_with_given("url:https://x/m.bin", &flags, &|_| None).unwrap_err();
        assert!(error.contains("--revision applies to Hub repos"), "{error}");
    }

    #[test]
    fn web_urls_of_other_hosts_and_of_files_are_refused_clearly() {
        for (text, words) in [
            (
                "https://example.com/org/name",
                &["example.com", "--endpoint"][..],
            ),
            (
                "http://huggingface.co/org/name",
                &["huggingface.co", "not of the Hub"],
            ),
            (
                "https://huggingface.co/org/name/blob/main/config.json",
                &["blob URL of a file", "--include"],
            ),
            (
                "https://huggingface.co/org/name/tree/main/onnx",
                &["'onnx' inside", "--include 'onnx'"],
            ),
            ("hf://org/name@main/config.json", &["'config.json' inside"]),
            ("hf://org/name/sub/file", &["'sub/file' inside"]),
            ("https://huggingface.co/", &["names no repo"]),
            ("ftp:org/name", &["not a model reference"]),
            ("hf://org/name@", &["nothing after '@'"]),
        ] {
            let error = parse(text).unwrap_err();
            assert!(words.iter().all(|w| error.contains(w)), "{text}: {error}");
        }
        let mirror = Given {
            endpoint: Some("http://127.0.0.1:8080/"),
            ..Given::default()
        };
        assert_eq!(
            hub("http://127.0.0.1:8080/datasets/org/name/tree/v1", &mirror),
            Ok(repo(RepoType::Dataset, "org/name", "v1"))
        );
        let error = hub("http://127.0.0.1:9/org/name", &mirror).unwrap_err();
        let secret = Given {
            endpoint: Some("http://me:hf_secret@127.0.0.1:8080"),
            ..Given::default()
        };
        let hidden = hub("http://127.0.0.1:9/org/name", &secret).unwrap_err();
        assert!(!hidden.contains("hf_secret"), "{hidden}");
        assert!(
            error.contains("nor of the endpoint http://127.0.0.1:8080/"),
            "{error}"
        );
        let from_env =
            |name: &str| (name == "HF_ENDPOINT").then(|| "http://mirror.test".to_string());
        match parse_source_with_given("http://mirror.test/org/name", &Given::default(), &from_env) {
            Ok(Source::Hub(reference)) => assert_eq!(reference.repo, "org/name"),
            other => panic!("{other:?}"),
        }
    }

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
        assert_eq!(parse("org/name").unwrap().repo, "org/name");
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
