//! `source.git-lfs`: the tree of a git repository at one commit, its Git LFS pointers resolved.
//!
//! ```nix
//! source.git-lfs = { url = "https://huggingface.co/org/name"; rev = "main";
//!                    commit = "<40 hex>"; files = [ "*.json" ]; repo = "org/name"; };
//! ```
//!
//! One walk over the JSON gives both the problems (every one, in the words of
//! lib/sources/git-lfs.nix) and the checked source.

use serde_json::Value;
use url::Url;

use super::fields::{self, redact_userinfo, wrong_type};
use super::problems::{given, push_err, sorted, string_list_problem, type_name};
use super::unknown::unknown;
use crate::hub::{RepoId, RepoType};
use crate::layout::relative_path_problem;

pub const GIT_LFS_KEYS: &[&str] = &["url", "rev", "commit", "files", "exclude", "repo"];
const AT: &str = "source.git-lfs";

#[derive(Debug, Clone)]
pub struct GitLfsSource {
    /// The git remote (http or https).
    pub url: Url,
    /// A branch, a tag or a commit; written as `refs/<rev>` unless a commit. Default `main`.
    pub rev: String,
    /// The commit `rev` is pinned to: the remote is not asked where `rev` points.
    pub commit: Option<String>,
    pub files: Vec<String>,
    pub exclude: Vec<String>,
    /// The Hub cache repo the tree is laid out as ([`default_repo`] of the URL by default).
    pub repo: RepoId,
}

impl GitLfsSource {
    /// The commit the spec fixes, if it fixes one: `commit`, or `rev` when it is a commit.
    pub fn pinned_commit(&self) -> Option<&str> {
        match &self.commit {
            Some(commit) => Some(commit),
            None => fields::is_commit(&self.rev).then_some(self.rev.as_str()),
        }
    }
}

/// The source `config` describes, or every problem of it.
pub fn check(config: &Value) -> Result<GitLfsSource, Vec<String>> {
    let mut lines = Vec::new();
    let source = walk(config, &mut lines);
    match source {
        Some(source) if lines.is_empty() => Ok(source),
        _ => Err(lines),
    }
}

fn walk(config: &Value, lines: &mut Vec<String>) -> Option<GitLfsSource> {
    let Value::Object(config) = config else {
        let wanted = "an attrset { url = \"https://...\"; rev = \"main\"; }";
        lines.push(format!("{AT} {}", wrong_type(type_name(config), wanted)));
        return None;
    };
    for (key, _) in sorted(config) {
        if !GIT_LFS_KEYS.contains(&key) {
            let meant = match key {
                "revision" | "ref" | "branch" | "tag" => Some("rev"),
                "include" => Some("files"),
                _ => None,
            };
            lines.push(unknown("attribute", AT, key, GIT_LFS_KEYS, None, meant));
        }
    }
    let url = match given(config, "url") {
        None => {
            lines.push(format!(
                "{AT}.url is missing: give the git remote, e.g. url = \
                 \"https://huggingface.co/org/name\""
            ));
            None
        }
        Some(Value::String(text)) => match remote(text) {
            Ok(url) => Some(url),
            Err(problem) => {
                lines.push(format!("{AT}.url {problem}"));
                None
            }
        },
        Some(other) => {
            let wanted = "a string: the git remote's http:// or https:// URL";
            lines.push(format!("{AT}.url {}", wrong_type(type_name(other), wanted)));
            None
        }
    };
    let rev = match given(config, "rev") {
        None => Some("main".to_string()),
        Some(Value::String(rev)) => match relative_path_problem(rev) {
            None => Some(rev.clone()),
            Some(problem) => {
                lines.push(format!(
                    "{AT}.rev '{rev}' {}: give a branch, a tag or a commit",
                    problem.words()
                ));
                None
            }
        },
        Some(other) => {
            let wanted = "a string: a branch, a tag or a commit";
            lines.push(format!("{AT}.rev {}", wrong_type(type_name(other), wanted)));
            None
        }
    };
    let commit = match given(config, "commit") {
        None => Ok(None),
        Some(Value::String(commit)) => {
            let checked = fields::commit(commit, rev.as_deref().unwrap_or("main"));
            push_err(lines, &format!("{AT}.commit"), checked.clone());
            checked.map(|()| Some(commit.clone())).map_err(drop)
        }
        Some(other) => {
            let wanted = "a string: the 40 hex digits of a commit";
            lines.push(format!(
                "{AT}.commit {}",
                wrong_type(type_name(other), wanted)
            ));
            Err(())
        }
    };
    let mut lists = [Vec::new(), Vec::new()];
    for (key, list) in ["files", "exclude"].into_iter().zip(lists.iter_mut()) {
        if let Some(value) = given(config, key) {
            match string_list_problem(key, value) {
                Some(problem) => lines.push(format!("{AT}.{key} {problem}")),
                None => {
                    *list = value
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|item| item.as_str().map(String::from))
                        .collect()
                }
            }
        }
    }
    let repo = match given(config, "repo") {
        None => Ok(None),
        Some(Value::String(text)) => {
            let checked = fields::repo(text);
            push_err(lines, &format!("{AT}.repo"), checked.clone());
            checked.map(Some).map_err(drop)
        }
        Some(other) => {
            let wanted = "a string such as \"org/name\"";
            lines.push(format!(
                "{AT}.repo {}",
                wrong_type(type_name(other), wanted)
            ));
            Err(())
        }
    };
    let url = url?;
    let repo = match repo.ok()? {
        Some(repo) => repo,
        // From the URL as written: the library, which has no URL parser, derives the same.
        None => default_repo(given(config, "url")?.as_str()?),
    };
    let [files, exclude] = lists;
    Some(GitLfsSource {
        rev: rev?,
        commit: commit.ok()?,
        url,
        files,
        exclude,
        repo,
    })
}

/// An http(s) URL without credentials.
fn remote(text: &str) -> Result<Url, String> {
    if !text.contains("://") {
        // An scp-like ssh remote (git@host:org/name.git): its user is no secret.
        return Err(format!("'{text}' is not an http:// or https:// URL"));
    }
    let shown = redact_userinfo(text);
    if shown != text {
        return Err(format!(
            "'{shown}' holds credentials: a URL is printed, logged and stored, so it must not \
             hold a password; give them to a git credential helper or a netrc file ($NETRC, \
             else ~/.netrc)"
        ));
    }
    let url = fields::endpoint(text)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "'{text}' has a query or a fragment: give the remote as git clones it, e.g. \
             \"https://huggingface.co/org/name\""
        ));
    }
    Ok(url)
}

/// The Hub cache repo of a remote: `<owner>/<name>` of the last two segments of its path
/// (`.git` dropped), or `git/<name>` when the path has one segment. Each part keeps letters,
/// digits, `.`, `_` and `-`; every run of other characters becomes `-`, every run of two or
/// more `.`/`-` one `-`; `.` and `-` are trimmed at both ends; at most 96 characters. An
/// empty owner is `git`, an empty name `repo`. lib/sources/git-lfs.nix derives the same.
pub fn default_repo(url: &str) -> RepoId {
    let path = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['?', '#'])
        .next()
        .unwrap_or_default();
    let segments: Vec<&str> = path.split('/').skip(1).filter(|s| !s.is_empty()).collect();
    let (owner, name) = match segments.as_slice() {
        [] => ("git", "repo"),
        [name] => ("git", *name),
        [.., owner, name] => (*owner, *name),
    };
    let name = name.strip_suffix(".git").unwrap_or(name);
    let owner = Some(part(owner)).filter(|p| !p.is_empty());
    let name = Some(part(name)).filter(|p| !p.is_empty());
    RepoId {
        kind: RepoType::Model,
        id: format!(
            "{}/{}",
            owner.as_deref().unwrap_or("git"),
            name.as_deref().unwrap_or("repo")
        ),
    }
}

/// One part of a repo id made of `text` (see [`default_repo`]).
fn part(text: &str) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let mut kept = String::new();
    let mut others = false;
    for c in text.chars() {
        if allowed(c) {
            if others {
                kept.push('-');
                others = false;
            }
            kept.push(c);
        } else {
            others = true;
        }
    }
    if others {
        kept.push('-');
    }
    let mut collapsed = String::new();
    let mut run = String::new();
    for c in kept.chars().chain(std::iter::once('\0')) {
        if c == '.' || c == '-' {
            run.push(c);
            continue;
        }
        match run.len() {
            0 => {}
            1 => collapsed.push_str(&run),
            _ => collapsed.push('-'),
        }
        run.clear();
        if c != '\0' {
            collapsed.push(c);
        }
    }
    let trimmed = collapsed.trim_matches(['.', '-']);
    let truncated: String = trimmed.chars().take(96).collect();
    truncated.trim_end_matches(['.', '-']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(json: &str) -> Result<GitLfsSource, Vec<String>> {
        check(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn a_remote_takes_main_and_a_repo_from_its_path() {
        let source =
            checked(r#"{"url":"https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2"}"#)
                .unwrap();
        assert_eq!(source.rev, "main");
        assert_eq!(source.repo.id, "sentence-transformers/all-MiniLM-L6-v2");
        assert_eq!(source.pinned_commit(), None);
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let source = checked(&format!(r#"{{"url":"https://h/r.git","rev":"{commit}"}}"#)).unwrap();
        assert_eq!(source.pinned_commit(), Some(commit));
        assert_eq!(source.repo.id, "git/r");
    }

    #[test]
    fn default_repos() {
        for (url, repo) in [
            ("https://h/org/name.git", "org/name"),
            ("https://h/git/org/Llama-3.1-8B/", "org/Llama-3.1-8B"),
            ("https://h:8080/a/b/c%20d..e.git", "b/c-20d-e"),
            ("https://h/only", "git/only"),
            ("https://h/", "git/repo"),
            ("https://h/--/.git", "git/repo"),
            ("http://127.0.0.1:1/git/org/tiny.git", "org/tiny"),
        ] {
            let got = default_repo(url);
            assert_eq!(got.id, repo, "{url}");
            assert!(RepoId::parse(&got.id, RepoType::Model).is_ok(), "{url}");
        }
        let long = format!("https://h/o/{}.-x", "a".repeat(95));
        assert_eq!(default_repo(&long).id, format!("o/{}", "a".repeat(95)));
    }

    #[test]
    fn every_problem_is_given() {
        let problems = checked(
            r#"{"url":"https://u:p@h/r","rev":"../x","commit":"abc","files":"*.json","branch":"x","repo":3}"#,
        )
        .unwrap_err();
        assert_eq!(
            problems,
            vec![
                "source.git-lfs.branch is not a known attribute; did you mean rev? Known: url, rev, commit, files, exclude, repo",
                "source.git-lfs.url 'https://***@h/r' holds credentials: a URL is printed, logged and stored, so it must not hold a password; give them to a git credential helper or a netrc file ($NETRC, else ~/.netrc)",
                "source.git-lfs.rev '../x' has a '.' or '..' segment: give a branch, a tag or a commit",
                "source.git-lfs.commit 'abc' is not a commit: give its 40 lowercase hex digits, as nix-fetch-model prefetch prints them",
                "source.git-lfs.files is a string, give a list: files = [ \"*.json\" ];",
                "source.git-lfs.repo is an int, give a string such as \"org/name\"",
            ]
        );
        assert_eq!(
            checked("{}").unwrap_err(),
            vec!["source.git-lfs.url is missing: give the git remote, e.g. url = \"https://huggingface.co/org/name\""]
        );
    }
}
