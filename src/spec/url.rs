//! `source.url`: files at plain HTTP(S) URLs, each checked by its sha256 when given.
//!
//! ```nix
//! source.url = { url = "https://example.org/model.safetensors"; sha256 = "..."; };
//! source.url = { urls = [ { url = "..."; filename = "config.json"; } ... ]; repo = "org/name"; };
//! ```
//!
//! One walk over the JSON gives both the problems (every one, in the words of
//! lib/sources/url.nix) and the checked source.

use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};
use url::Url;

use super::fields::{self, redact_userinfo, wrong_type};
use super::problems::{given, push_err, sorted, type_name};
use super::unknown::unknown;
use crate::hash::{parse_sha256, Sha256Hash};
use crate::hub::RepoId;
use crate::layout::relative_path_problem;

pub const URL_KEYS: &[&str] = &["url", "urls", "sha256", "filename", "repo"];
const FILE_KEYS: &[&str] = &["url", "sha256", "filename"];
const AT: &str = "source.url";

#[derive(Debug, Clone)]
pub struct UrlSource {
    /// The files, in the order given.
    pub files: Vec<UrlFile>,
    /// The Hub cache repo the files are laid out as (`url/<first file's stem>` by default).
    pub repo: RepoId,
}

#[derive(Debug, Clone)]
pub struct UrlFile {
    pub url: Url,
    pub sha256: Option<Sha256Hash>,
    /// Its path in the snapshot: `filename`, else the URL's last path segment.
    pub filename: String,
}

/// The source `config` describes, or every problem of it.
pub fn check(config: &Value) -> Result<UrlSource, Vec<String>> {
    let mut lines = Vec::new();
    let source = walk(config, &mut lines);
    match source {
        Some(source) if lines.is_empty() => Ok(source),
        _ => Err(lines),
    }
}

fn walk(config: &Value, lines: &mut Vec<String>) -> Option<UrlSource> {
    let Value::Object(config) = config else {
        let wanted = "an attrset { url = \"https://...\"; }";
        lines.push(format!("{AT} {}", wrong_type(type_name(config), wanted)));
        return None;
    };
    for (key, _) in sorted(config) {
        if !URL_KEYS.contains(&key) {
            lines.push(unknown("attribute", AT, key, URL_KEYS, None, None));
        }
    }
    let files = match (given(config, "url"), given(config, "urls")) {
        (Some(_), Some(_)) => {
            lines.push(format!("{AT}: give url or urls, not both"));
            None
        }
        (None, None) => {
            lines.push(format!(
                "{AT}.url is missing: give the file's URL, e.g. url = \
                 \"https://example.org/model.safetensors\", or urls = [ {{ url = \"...\"; }} ] \
                 for several"
            ));
            None
        }
        (Some(_), None) => file(config, AT, lines).map(|file| vec![file]),
        (None, Some(urls)) => {
            for key in ["sha256", "filename"] {
                if given(config, key).is_some() {
                    lines.push(format!(
                        "{AT}.{key} goes with url; with urls, give it in each entry"
                    ));
                }
            }
            file_list(urls, lines)
        }
    };
    let repo = match given(config, "repo") {
        None => None,
        Some(Value::String(text)) => {
            let checked = fields::repo(text);
            push_err(lines, &format!("{AT}.repo"), checked.clone());
            checked.ok()
        }
        Some(other) => {
            let wanted = "a string such as \"org/name\"";
            lines.push(format!(
                "{AT}.repo {}",
                wrong_type(type_name(other), wanted)
            ));
            None
        }
    };
    let files = files?;
    if let Some(twice) = given_twice(&files).filter(|_| lines.is_empty()) {
        lines.push(format!(
            "{AT}: two files are named '{twice}': give each its own filename"
        ));
    }
    let repo = match repo {
        Some(repo) => repo,
        None => default_repo(&name_hint(first_file(config)?)?),
    };
    Some(UrlSource { files, repo })
}

/// One file: `url`, `sha256`, `filename` of `object` (the source itself, or an entry of `urls`).
fn file(object: &Map<String, Value>, at: &str, lines: &mut Vec<String>) -> Option<UrlFile> {
    let url = match given(object, "url") {
        None => {
            lines.push(format!("{at}.url is missing: give the file's URL"));
            None
        }
        Some(Value::String(text)) => match url(text) {
            Ok(url) => Some(url),
            Err(problem) => {
                lines.push(format!("{at}.url {problem}"));
                None
            }
        },
        Some(other) => {
            let wanted = "a string: an http:// or https:// URL";
            lines.push(format!("{at}.url {}", wrong_type(type_name(other), wanted)));
            None
        }
    };
    let sha256 = match given(object, "sha256") {
        None => Ok(None),
        Some(Value::String(text)) => parse_sha256(text).map(Some).map_err(|_| {
            format!(
                "{at}.sha256 '{text}' is not a sha256 hash: give \"sha256-...\" (SRI) or its 64 \
                 hex digits"
            )
        }),
        Some(other) => Err(format!(
            "{at}.sha256 {}",
            wrong_type(type_name(other), "a string such as \"sha256-...\"")
        )),
    };
    let sha256 = sha256.map_err(|line| lines.push(line)).ok();
    let filename = match given(object, "filename") {
        None => url.as_ref().map(|url| match last_segment(url) {
            Some(name) => Ok(name),
            None => Err(format!(
                "{at}.url '{}' ends without a file name: give filename = \"...\"",
                redact_userinfo(url.as_str())
            )),
        }),
        Some(Value::String(text)) => Some(match relative_path_problem(text) {
            None => Ok(text.clone()),
            Some(problem) => Err(format!(
                "{at}.filename '{text}' {}: give a relative path such as \"model.safetensors\"",
                problem.words()
            )),
        }),
        Some(other) => Some(Err(format!(
            "{at}.filename {}",
            wrong_type(type_name(other), "a string such as \"model.safetensors\"")
        ))),
    };
    let filename = match filename {
        Some(Ok(name)) => Some(name),
        Some(Err(line)) => {
            lines.push(line);
            None
        }
        None => None,
    };
    Some(UrlFile {
        url: url?,
        sha256: sha256?,
        filename: filename?,
    })
}

fn file_list(urls: &Value, lines: &mut Vec<String>) -> Option<Vec<UrlFile>> {
    let Value::Array(entries) = urls else {
        let wanted = "a list of { url; sha256 ? null; filename ? null; }";
        lines.push(format!("{AT}.urls {}", wrong_type(type_name(urls), wanted)));
        return None;
    };
    if entries.is_empty() {
        lines.push(format!(
            "{AT}.urls is empty: give at least one {{ url = \"...\"; }}"
        ));
        return None;
    }
    let mut files = Some(Vec::new());
    for (index, entry) in entries.iter().enumerate() {
        let at = format!("{AT}.urls[{index}]");
        let file = match entry {
            Value::Object(entry) => {
                for (key, _) in sorted(entry) {
                    if !FILE_KEYS.contains(&key) {
                        lines.push(unknown("attribute", &at, key, FILE_KEYS, None, None));
                    }
                }
                file(entry, &at, lines)
            }
            other => {
                let wanted = "an attrset { url = \"https://...\"; }";
                lines.push(format!("{at} {}", wrong_type(type_name(other), wanted)));
                None
            }
        };
        files = match (files, file) {
            (Some(mut files), Some(file)) => {
                files.push(file);
                Some(files)
            }
            _ => None,
        };
    }
    files
}

/// An http(s) URL without credentials: the library's check, then a parse.
fn url(text: &str) -> Result<Url, String> {
    let shown = redact_userinfo(text);
    if shown != text {
        return Err(format!(
            "'{shown}' holds credentials: a URL is printed, logged and stored, so it must not \
             hold a password; put it in a netrc file ($NETRC, else ~/.netrc)"
        ));
    }
    fields::endpoint(text)
}

/// The last segment of the URL's path, percent-decoded, if it is a file name.
fn last_segment(url: &Url) -> Option<String> {
    let segment = url.path_segments()?.next_back()?;
    let name = percent_decode_str(segment).decode_utf8().ok()?.into_owned();
    relative_path_problem(&name)
        .is_none()
        .then_some(name)
        .filter(|name| !name.contains('/'))
}

/// The first file's object: the source itself, or the first entry of `urls`.
fn first_file(config: &Map<String, Value>) -> Option<&Map<String, Value>> {
    match given(config, "urls") {
        Some(Value::Array(entries)) => entries.first()?.as_object(),
        _ => Some(config),
    }
}

/// What names a file before it is fetched: its `filename`, else the last segment of its URL's
/// path as written (not decoded: the library cannot decode it).
fn name_hint(file: &Map<String, Value>) -> Option<String> {
    if let Some(Value::String(filename)) = given(file, "filename") {
        return Some(filename.clone());
    }
    let url = Url::parse(given(file, "url")?.as_str()?).ok()?;
    Some(url.path_segments()?.next_back()?.to_string())
}

fn given_twice(files: &[UrlFile]) -> Option<&str> {
    let mut names: Vec<&str> = files.iter().map(|f| f.filename.as_str()).collect();
    names.sort_unstable();
    names
        .windows(2)
        .find(|pair| pair[0] == pair[1])
        .map(|pair| pair[0])
}

/// `url/<name>`, the name being the file name with every run of characters other than
/// letters, digits and `_` made one `-`, at most 96 characters, `file` if nothing is left.
/// lib/sources/url.nix derives the same.
pub fn default_repo(filename: &str) -> RepoId {
    fields::derived_repo("url", filename, "file")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::RepoType;

    fn checked(json: &str) -> Result<UrlSource, Vec<String>> {
        check(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn one_url_takes_its_file_name_and_a_repo_from_it() {
        let source = checked(r#"{"url":"https://example.org/a/Llama-3.1%208B.Q4.gguf"}"#).unwrap();
        assert_eq!(source.files[0].filename, "Llama-3.1 8B.Q4.gguf");
        assert_eq!(source.repo.id, "url/Llama-3-1-208B-Q4-gguf");
        assert!(source.files[0].sha256.is_none());
    }

    #[test]
    fn every_problem_of_a_list_is_given() {
        let problems = checked(
            r#"{"urls":[{"url":"ftp://x/y"},{"url":"https://x/","sha256":"nope"},3,{"url":"https://x/a","size":1}],"sha256":"x"}"#,
        )
        .unwrap_err();
        assert_eq!(
            problems,
            vec![
                "source.url.sha256 goes with url; with urls, give it in each entry",
                "source.url.urls[0].url 'ftp://x/y' is not an http:// or https:// URL",
                "source.url.urls[1].sha256 'nope' is not a sha256 hash: give \"sha256-...\" (SRI) or its 64 hex digits",
                "source.url.urls[1].url 'https://x/' ends without a file name: give filename = \"...\"",
                "source.url.urls[2] is an int, give an attrset { url = \"https://...\"; }",
                "source.url.urls[3].size is not a known attribute; known: url, sha256, filename",
            ]
        );
    }

    #[test]
    fn two_files_of_one_name_are_refused() {
        let problems =
            checked(r#"{"urls":[{"url":"https://x/a/m.bin"},{"url":"https://y/m.bin"}]}"#)
                .unwrap_err();
        assert_eq!(
            problems,
            vec!["source.url: two files are named 'm.bin': give each its own filename"]
        );
    }

    #[test]
    fn a_default_repo_is_a_valid_repo_id() {
        for name in ["--.gguf", "a..b", "é.bin", &"x".repeat(200)] {
            let repo = default_repo(name);
            assert!(
                RepoId::parse(&repo.id, RepoType::Model).is_ok(),
                "{}",
                repo.id
            );
        }
        assert_eq!(default_repo("..").id, "url/file");
    }
}
