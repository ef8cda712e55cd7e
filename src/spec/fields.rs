//! The check of each value of a spec, worded as the library words it (lib/types.nix,
//! lib/sources/huggingface.nix). An `Err` is the text that follows the attribute's name:
//! the spec check writes `network.concurrency must be ...`, the CLI `--concurrency: must be ...`.

use crate::hub::{is_hex, RepoId, RepoType};
use crate::layout::relative_path_problem;
use crate::store_path::{validate_name, StorePathError};

/// What a problem line says after `<attribute> ` when the value has the wrong type.
pub fn wrong_type(type_name: &str, wanted: &str) -> String {
    format!("is {}, give {wanted}", with_article(type_name))
}

/// `an int`, `a string`, `null`: the type as a message names it.
pub fn with_article(type_name: &str) -> String {
    match type_name {
        "null" => "null".to_string(),
        name if name.starts_with(['a', 'e', 'i', 'o', 'u']) => format!("an {name}"),
        name => format!("a {name}"),
    }
}

pub const REPO_EXAMPLE: &str = "sentence-transformers/all-MiniLM-L6-v2";

pub fn repo(text: &str) -> Result<RepoId, String> {
    RepoId::parse(text, RepoType::Model).map_err(|_| {
        format!(
            "'{text}' is not 'org/name' (or a bare 'name'): letters, digits, '.', '_' and '-', \
             at most 96 a part, not starting or ending with '.' or '-', no '--' or '..'"
        )
    })
}

pub fn repo_type(text: &str) -> Result<RepoType, String> {
    RepoType::parse(text).ok_or_else(|| format!("'{text}' is not one of {REPO_TYPES}"))
}

pub const REPO_TYPES: &str = "'model', 'dataset', 'space'";

/// A branch, tag, `refs/pr/N` or commit: written as `refs/<revision>`, so a plain relative
/// path that a file system can hold ([`relative_path_problem`]).
pub fn revision(text: &str) -> Result<(), String> {
    match relative_path_problem(text) {
        None => Ok(()),
        Some(problem) => Err(format!(
            "'{text}' {}: give a branch, a tag, refs/pr/N or a commit",
            problem.words()
        )),
    }
}

pub fn is_commit(text: &str) -> bool {
    is_hex(text, 40)
}

/// The pinned commit of `revision`.
pub fn commit(text: &str, revision: &str) -> Result<(), String> {
    if !is_commit(text) {
        return Err(format!(
            "'{text}' is not a commit: give its 40 lowercase hex digits, as \
             nix-fetch-model prefetch prints them"
        ));
    }
    if is_commit(revision) && revision != text {
        return Err(format!(
            "'{text}' differs from revision '{revision}', which is itself a commit: \
             give only one of them"
        ));
    }
    Ok(())
}

/// A store path name that every supported Nix accepts: [`validate_name`]'s rule, in the
/// library's words.
pub fn name(text: &str) -> Result<(), String> {
    let problem = match validate_name(text) {
        Ok(()) => return Ok(()),
        Err(StorePathError::EmptyName) => "is empty",
        Err(StorePathError::IllegalCharacter { .. }) => {
            "may only hold letters, digits and + - . _ ? ="
        }
        Err(StorePathError::LeadingPeriod { .. }) => "must not start with '.'",
        Err(StorePathError::NameTooLong { .. }) => "is longer than 211 characters",
        Err(other @ StorePathError::BadStoreDir(_)) => return Err(other.to_string()),
    };
    Err(format!("'{text}' {problem}"))
}

/// `http(s)://host...`, without credentials, that is a URL (the library checks only the start:
/// Nix has no URL parser).
pub fn endpoint(text: &str) -> Result<url::Url, String> {
    let shown = redact_userinfo(text);
    if shown != text {
        return Err(format!(
            "'{shown}' holds credentials: a URL is printed, logged and stored, so it must not \
             hold a token; give the token with HF_TOKEN, auth.tokenFile or auth.tokenEnvVar"
        ));
    }
    let host_start = ["http://", "https://"]
        .iter()
        .find_map(|scheme| text.strip_prefix(scheme));
    match host_start {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => {}
        _ => return Err(format!("'{text}' is not an http:// or https:// URL")),
    }
    url::Url::parse(text).map_err(|e| format!("'{text}' is not a valid URL: {e}"))
}

/// `url` with the user information of its authority (`user:token@`) replaced by `***`.
pub fn redact_userinfo(url: &str) -> std::borrow::Cow<'_, str> {
    let start = match url.find("://") {
        Some(at) if !url[..at].contains(['/', '?', '#']) => at + 3,
        _ => 0,
    };
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |at| start + at);
    match url[start..end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..start], &url[start + at..]).into(),
        None => url.into(),
    }
}

pub const CONCURRENCY_RANGE: std::ops::RangeInclusive<u64> = 1..=256;

pub fn concurrency(value: u64) -> Result<usize, String> {
    if CONCURRENCY_RANGE.contains(&value) {
        Ok(value as usize)
    } else {
        Err(CONCURRENCY_PROBLEM.to_string())
    }
}

pub const CONCURRENCY_PROBLEM: &str = "must be a whole number from 1 to 256";

/// The longest timeout: a wait longer than a day is no timeout.
pub const MAX_TIMEOUT: f64 = 86400.0;
pub const TIMEOUT_PROBLEM: &str = "must be a positive number of seconds, at most 86400";

pub fn timeout(seconds: f64) -> Result<f64, String> {
    if seconds > 0.0 && seconds <= MAX_TIMEOUT {
        Ok(seconds)
    } else {
        Err(TIMEOUT_PROBLEM.to_string())
    }
}

pub const MAX_RETRIES: u64 = 100;
pub const RETRIES_PROBLEM: &str = "must be a whole number from 0 to 100";

pub fn retries(value: u64) -> Result<u32, String> {
    if value <= MAX_RETRIES {
        Ok(value as u32)
    } else {
        Err(RETRIES_PROBLEM.to_string())
    }
}

pub fn token_file(text: &str) -> Result<(), String> {
    if text.starts_with('/') {
        Ok(())
    } else {
        Err(format!(
            "'{text}' is not an absolute path: give one as a string, e.g. \"/run/secrets/hf-token\""
        ))
    }
}

pub fn token_env_var(text: &str) -> Result<(), String> {
    let mut chars = text.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(format!("'{text}' is not an environment variable name"))
    }
}

/// A Nix string literal of `text`, as `builtins.toJSON` writes it, with `${` escaped.
pub fn nix_string(text: &str) -> String {
    serde_json::to_string(text)
        .expect("a string serializes")
        .replace("${", "\\${")
}

/// A JSON value as a Nix value: strings quoted as Nix reads them, lists and attribute sets
/// written out (an attribute name that is not a plain identifier quoted).
pub fn nix_value(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::String(s) => nix_string(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(nix_value).collect();
            format!("[ {} ]", items.join(" "))
        }
        Value::Object(attributes) => {
            let attributes: Vec<String> = attributes
                .iter()
                .map(|(key, value)| format!("{} = {};", nix_attribute_name(key), nix_value(value)))
                .collect();
            format!("{{ {} }}", attributes.join(" "))
        }
        other => other.to_string(),
    }
}

/// An attribute name as Nix reads it: bare when it is an identifier, else quoted
/// (`"config.json"`, `"w/model.bin"`).
pub fn nix_attribute_name(key: &str) -> String {
    let mut chars = key.chars();
    let identifier = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || "_'-".contains(c))
        && ![
            "if", "then", "else", "assert", "with", "let", "in", "rec", "inherit", "or",
        ]
        .contains(&key);
    match identifier {
        true => key.to_string(),
        false => nix_string(key),
    }
}

/// `<namespace>/<name>`: the Hub cache repo a source derives when the spec names none, the name
/// being `text` with every run of characters other than letters, digits and `_` made one `-`,
/// at most 96 characters, `fallback` if nothing is left. lib/sources/check.nix `derivedRepo`
/// derives the same.
pub fn derived_repo(namespace: &str, text: &str, fallback: &str) -> RepoId {
    let parts: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|part| !part.is_empty())
        .collect();
    let mut name = parts.join("-");
    name.truncate(96);
    let name = name.trim_end_matches('-');
    let name = if name.is_empty() { fallback } else { name };
    RepoId {
        kind: RepoType::Model,
        id: format!("{namespace}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_never_shown() {
        for (url, shown) in [
            ("http://user:hf_secret@host:1/x", "http://***@host:1/x"),
            ("https://hf_secret@host", "https://***@host"),
            ("https://a@b@host/c@d", "https://***@host/c@d"),
            ("ftp://u:p@x", "ftp://***@x"),
            ("u:p@x/y", "***@x/y"),
            ("http://host/a@b", "http://host/a@b"),
            ("http://host?q=a@b", "http://host?q=a@b"),
        ] {
            assert_eq!(redact_userinfo(url), shown, "{url}");
            if shown != url {
                let problem = endpoint(url).unwrap_err();
                assert!(
                    !problem.contains("secret") && !problem.contains(":p@"),
                    "{problem}"
                );
            }
        }
        assert!(endpoint("http://127.0.0.1:1").is_ok());
        assert!(endpoint("http:///x").is_err());
        assert!(endpoint("HTTP://x").is_err());
    }

    #[test]
    fn an_endpoint_must_be_a_url_beyond_its_start() {
        for (text, problem) in [
            ("http://host:99999", "invalid port number"),
            ("https://[::1", "invalid IPv6 address"),
            ("http://a b", "invalid international domain name"),
        ] {
            assert_eq!(
                endpoint(text).unwrap_err(),
                format!("'{text}' is not a valid URL: {problem}")
            );
        }
        assert_eq!(
            endpoint("https://hub.example/").unwrap().as_str(),
            "https://hub.example/"
        );
    }

    #[test]
    fn revisions() {
        for good in ["main", "v1.0", "refs/pr/1", "a.b/c"] {
            assert!(revision(good).is_ok(), "{good}");
        }
        let long = "n".repeat(256);
        for bad in [
            "", "/a", "a/", "a//b", "a\\b", "../x", "a/./b", "nul\0", &long,
        ] {
            assert!(revision(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn commits() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert!(commit(sha, "main").is_ok());
        assert!(commit(sha, sha).is_ok());
        assert!(commit(&sha.to_uppercase(), "main").is_err());
        assert!(commit(&sha[1..], "main").is_err());
        let other = "1123456789abcdef0123456789abcdef01234567";
        assert!(commit(sha, other).unwrap_err().contains("itself a commit"));
    }
}
