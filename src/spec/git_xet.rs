//! `source.git-xet`: a Hub repo given by its URL (as `git clone` takes it), whose files stored
//! with Xet are downloaded through the Xet protocol.
//!
//! ```nix
//! source.git-xet = { url = "https://huggingface.co/org/name"; rev = "main"; commit = "<40 hex>";
//!                    files = [ "*.safetensors" ]; exclude = [ ]; };
//! ```
//!
//! The URL's origin is the Hub's endpoint; `datasets/` or `spaces/` before the repo id says its
//! type. One walk over the JSON gives both the problems (every one, in the words of
//! lib/sources/git-xet.nix) and the checked source.

use serde_json::Value;
use url::Url;

use super::fields::{self, redact_userinfo, wrong_type};
use super::problems::{given, push_err, sorted, string_list_problem, token_refused, type_name};
use super::unknown::unknown;
use crate::hub::{RepoId, RepoType};

/// The attributes of `source.git-xet`, in the order messages and `prefetch --nix` list them.
pub const GIT_XET_KEYS: &[&str] = &["url", "rev", "commit", "files", "exclude"];
const AT: &str = "source.git-xet";
pub const URL_EXAMPLE: &str = "https://huggingface.co/org/name";

#[derive(Debug, Clone)]
pub struct GitXetSource {
    /// The URL as given.
    pub url: String,
    /// The Hub: the URL's origin.
    pub endpoint: String,
    pub repo: RepoId,
    pub rev: String,
    /// The commit `rev` is pinned to: the Hub is not asked where `rev` points.
    pub commit: Option<String>,
    pub files: Vec<String>,
    pub exclude: Vec<String>,
}

impl GitXetSource {
    /// Whether the fetched commit is fixed by the spec, so the content cannot move.
    pub fn commit_is_pinned(&self) -> bool {
        self.commit.is_some() || fields::is_commit(&self.rev)
    }
}

/// The source `config` describes, or every problem of it.
pub fn check(config: &Value) -> Result<GitXetSource, Vec<String>> {
    let mut lines = Vec::new();
    let source = walk(config, &mut lines);
    match source {
        Some(source) if lines.is_empty() => Ok(source),
        _ => Err(lines),
    }
}

fn walk(config: &Value, lines: &mut Vec<String>) -> Option<GitXetSource> {
    let Value::Object(config) = config else {
        let wanted = format!("an attrset {{ url = \"{URL_EXAMPLE}\"; }}");
        lines.push(format!("{AT} {}", wrong_type(type_name(config), &wanted)));
        return None;
    };
    for (key, _) in sorted(config) {
        if GIT_XET_KEYS.contains(&key) {
            continue;
        }
        if key == "token" {
            lines.push(token_refused(AT));
            continue;
        }
        let meant = match key {
            "revision" => Some("rev"),
            "repo" => Some("url"),
            "include" | "allow_patterns" | "allowPatterns" => Some("files"),
            "ignore_patterns" | "ignorePatterns" => Some("exclude"),
            _ => None,
        };
        lines.push(unknown("attribute", AT, key, GIT_XET_KEYS, None, meant));
    }
    let located = match given(config, "url") {
        None => {
            lines.push(format!(
                "{AT}.url is missing: give the repo's URL, e.g. url = \"{URL_EXAMPLE}\""
            ));
            None
        }
        Some(Value::String(text)) => match repo_url(text) {
            Ok(located) => Some(located),
            Err(problem) => {
                lines.push(format!("{AT}.url {problem}"));
                None
            }
        },
        Some(other) => {
            let wanted = format!("a string such as \"{URL_EXAMPLE}\"");
            lines.push(format!(
                "{AT}.url {}",
                wrong_type(type_name(other), &wanted)
            ));
            None
        }
    };
    let rev = match given(config, "rev") {
        None => Some("main".to_string()),
        Some(Value::String(rev)) => {
            push_err(lines, &format!("{AT}.rev"), fields::revision(rev));
            Some(rev.clone())
        }
        Some(other) => {
            let wanted = "a string: a branch, a tag, refs/pr/N or a commit";
            lines.push(format!("{AT}.rev {}", wrong_type(type_name(other), wanted)));
            None
        }
    };
    let commit = match given(config, "commit") {
        None => Ok(None),
        Some(Value::String(commit)) if !fields::is_commit(commit) => Err(format!(
            "{AT}.commit '{commit}' is not a commit: give its 40 lowercase hex digits, as \
             nix-fetch-model prefetch prints them"
        )),
        Some(Value::String(commit)) => match rev.as_deref() {
            Some(rev) if fields::is_commit(rev) && rev != commit => Err(format!(
                "{AT}.commit '{commit}' differs from rev '{rev}', which is itself a commit: give \
                 only one of them"
            )),
            _ => Ok(Some(commit.clone())),
        },
        Some(other) => Err(format!(
            "{AT}.commit {}",
            wrong_type(type_name(other), "a string: the 40 hex digits of a commit")
        )),
    };
    let commit = commit.map_err(|line| lines.push(line)).ok();
    let mut lists = Vec::new();
    for key in ["files", "exclude"] {
        let value = given(config, key);
        if let Some(problem) = value.and_then(|value| string_list_problem(key, value)) {
            lines.push(format!("{AT}.{key} {problem}"));
        }
        let strings = value
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        lists.push(strings);
    }
    let (url, endpoint, repo) = located?;
    let exclude = lists.pop().unwrap_or_default();
    let files = lists.pop().unwrap_or_default();
    Some(GitXetSource {
        url,
        endpoint,
        repo,
        rev: rev?,
        commit: commit?,
        files,
        exclude,
    })
}

/// The Hub (the URL's origin) and the repo a URL names: `http(s)://host[:port]/[datasets/ |
/// spaces/]<org>/<name>`, a `/` at the end allowed, no query or fragment. Read from the text as
/// written, as lib/sources/git-xet.nix reads it.
pub fn repo_url(text: &str) -> Result<(String, String, RepoId), String> {
    let url: Url = fields::endpoint(text)?;
    let not_a_repo = || {
        format!(
            "'{}' is not a Hub repo's URL: give https://<hub>/<org>/<name>, or \
             https://<hub>/datasets/<org>/<name> or https://<hub>/spaces/<org>/<name> for a \
             dataset or a space, without a query or fragment",
            redact_userinfo(text)
        )
    };
    let after_scheme = &text[text.find("://").expect("an http(s) URL") + 3..];
    let path = match after_scheme.find('/') {
        Some(at) if !after_scheme[..at].contains(['?', '#']) => &after_scheme[at + 1..],
        _ => return Err(not_a_repo()),
    };
    if path.contains(['?', '#']) {
        return Err(not_a_repo());
    }
    let path = path.strip_suffix('/').unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    let (kind, id) = match segments.as_slice() {
        ["datasets", rest @ ..] if !rest.is_empty() => (RepoType::Dataset, rest),
        ["spaces", rest @ ..] if !rest.is_empty() => (RepoType::Space, rest),
        all => (RepoType::Model, all),
    };
    if id.is_empty() || id.len() > 2 || id.iter().any(|segment| segment.is_empty()) {
        return Err(not_a_repo());
    }
    let id = id.join("/");
    let repo = RepoId::parse(&id, kind).map_err(|_| {
        format!(
            "'{text}' names repo '{id}', which is not 'org/name' (or a bare 'name'): letters, \
             digits, '.', '_' and '-', at most 96 a part, not starting or ending with '.' or \
             '-', no '--' or '..'"
        )
    })?;
    Ok((text.to_string(), url.origin().ascii_serialization(), repo))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(json: &str) -> Result<GitXetSource, Vec<String>> {
        check(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn a_url_gives_the_hub_the_type_and_the_repo() {
        for (url, endpoint, kind, id) in [
            (
                "https://huggingface.co/org/name",
                "https://huggingface.co",
                RepoType::Model,
                "org/name",
            ),
            (
                "https://huggingface.co/gpt2/",
                "https://huggingface.co",
                RepoType::Model,
                "gpt2",
            ),
            (
                "http://127.0.0.1:8080/datasets/org/d",
                "http://127.0.0.1:8080",
                RepoType::Dataset,
                "org/d",
            ),
            (
                "https://hub.example:443/spaces/o/s",
                "https://hub.example",
                RepoType::Space,
                "o/s",
            ),
            (
                "https://HF.co/datasets",
                "https://hf.co",
                RepoType::Model,
                "datasets",
            ),
        ] {
            let (_, origin, repo) = repo_url(url).unwrap();
            assert_eq!(
                (origin.as_str(), repo.kind, repo.id.as_str()),
                (endpoint, kind, id),
                "{url}"
            );
        }
    }

    #[test]
    fn what_is_no_repo_url_is_refused() {
        for url in [
            "https://huggingface.co",
            "https://huggingface.co/",
            "https://huggingface.co/a/b/c",
            "https://huggingface.co//a",
            "https://huggingface.co/org/name?x=1",
            "https://huggingface.co/org/name#main",
            "https://huggingface.co/datasets/a/b/c",
            "https://huggingface.co?x/a/b",
            "https://huggingface.co/a/b//",
        ] {
            assert!(
                repo_url(url)
                    .unwrap_err()
                    .contains("is not a Hub repo's URL"),
                "{url}"
            );
        }
        assert!(repo_url("https://huggingface.co/a--b/c")
            .unwrap_err()
            .contains("names repo 'a--b/c'"));
        assert!(repo_url("ftp://h/a/b")
            .unwrap_err()
            .contains("is not an http:// or https:// URL"));
        let secret = repo_url("https://me:hf_secret@huggingface.co/a/b").unwrap_err();
        assert!(
            secret.contains("'https://***@huggingface.co/a/b' holds credentials")
                && !secret.contains("hf_secret")
        );
    }

    #[test]
    fn every_problem_is_given() {
        let problems = checked(
            r#"{"url":"https://h/a/b/c","revision":"v1","rev":"a//b","commit":"x","files":"*.json","token":"hf_x"}"#,
        )
        .unwrap_err();
        assert_eq!(
            problems,
            vec![
                "source.git-xet.revision is not a known attribute; did you mean rev? Known: url, rev, commit, files, exclude",
                "source.git-xet.token is refused: a token written in the argument ends up in the world-readable Nix store; put it in a file and set auth.tokenFile = \"/run/secrets/hf-token\", or set auth.tokenEnvVar = \"HF_TOKEN\"",
                "source.git-xet.url 'https://h/a/b/c' is not a Hub repo's URL: give https://<hub>/<org>/<name>, or https://<hub>/datasets/<org>/<name> or https://<hub>/spaces/<org>/<name> for a dataset or a space, without a query or fragment",
                "source.git-xet.rev 'a//b' has an empty segment: give a branch, a tag, refs/pr/N or a commit",
                "source.git-xet.commit 'x' is not a commit: give its 40 lowercase hex digits, as nix-fetch-model prefetch prints them",
                "source.git-xet.files is a string, give a list: files = [ \"*.json\" ];",
            ]
        );
    }

    #[test]
    fn a_valid_source_with_defaults() {
        let source =
            checked(r#"{"url":"https://huggingface.co/datasets/org/d","files":["*.csv"]}"#)
                .unwrap();
        assert_eq!(
            (source.rev.as_str(), source.commit.as_deref()),
            ("main", None)
        );
        assert_eq!(source.repo.cache_folder_name(), "datasets--org--d");
        assert_eq!(source.files, vec!["*.csv"]);
        assert!(!source.commit_is_pinned());
    }
}
