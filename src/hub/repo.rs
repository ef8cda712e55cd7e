//! Repo ids (`org/name`) and types, and the names and URL prefixes derived from them.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoType {
    Model,
    Dataset,
    Space,
}

impl RepoType {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "model" => Some(RepoType::Model),
            "dataset" => Some(RepoType::Dataset),
            "space" => Some(RepoType::Space),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RepoType::Model => "model",
            RepoType::Dataset => "dataset",
            RepoType::Space => "space",
        }
    }

    /// `models`, `datasets`, `spaces`: the API path segment and the cache folder prefix.
    pub fn plural(self) -> &'static str {
        match self {
            RepoType::Model => "models",
            RepoType::Dataset => "datasets",
            RepoType::Space => "spaces",
        }
    }

    /// What goes before the repo id in `resolve` and web URLs.
    pub fn url_prefix(self) -> &'static str {
        match self {
            RepoType::Model => "",
            RepoType::Dataset => "datasets/",
            RepoType::Space => "spaces/",
        }
    }
}

/// A repo on the Hub: `name` or `namespace/name`, of a type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoId {
    pub kind: RepoType,
    pub id: String,
}

impl RepoId {
    /// Checks the id as the Hub does: one or two parts of `[A-Za-z0-9_.-]`, at most 96
    /// characters each, not starting or ending with `-` or `.`, without `--` or `..`.
    pub fn parse(id: &str, kind: RepoType) -> Result<Self, String> {
        let (namespace, name) = match id.split_once('/') {
            Some((namespace, name)) => (Some(namespace), name),
            None => (None, id),
        };
        if name.contains('/') {
            return Err(format!(
                "'{id}' is not a repo id: give 'org/name' (or a bare 'name')"
            ));
        }
        for part in namespace.into_iter().chain([name]) {
            check_part(id, part)?;
        }
        if id.contains("--") || id.contains("..") {
            return Err(format!(
                "'{id}' is not a repo id: '--' and '..' are not allowed in it"
            ));
        }
        Ok(RepoId {
            kind,
            id: id.to_string(),
        })
    }

    /// The Hub cache folder of this repo, `models--org--name`.
    pub fn cache_folder_name(&self) -> String {
        format!("{}--{}", self.kind.plural(), self.id.replace('/', "--"))
    }

    /// The repo's web page, where a gated repo's license is accepted.
    pub fn web_url(&self, endpoint: &str) -> String {
        format!("{endpoint}/{}{}", self.kind.url_prefix(), self.id)
    }
}

fn check_part(id: &str, part: &str) -> Result<(), String> {
    let valid_chars = part
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    let valid_ends = !part.starts_with(['-', '.']) && !part.ends_with(['-', '.']);
    if part.is_empty() || part.len() > 96 || !valid_chars || !valid_ends {
        return Err(format!(
            "'{id}' is not a repo id: each part must be 1 to 96 characters of letters, \
             digits, '_', '.', '-', not starting or ending with '-' or '.'"
        ));
    }
    Ok(())
}

impl fmt::Display for RepoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ids() {
        for id in [
            "gpt2",
            "sentence-transformers/all-MiniLM-L6-v2",
            "org/name.v1",
            "a_b/c",
        ] {
            assert!(RepoId::parse(id, RepoType::Model).is_ok(), "{id}");
        }
    }

    #[test]
    fn invalid_ids() {
        for id in [
            "", "a/b/c", "/a", "a/", "a--b/c", "a/b..c", "-a/b", "a/b c", "a/b\0", "../x",
        ] {
            assert!(RepoId::parse(id, RepoType::Model).is_err(), "{id:?}");
        }
    }

    #[test]
    fn derived_names() {
        let repo = RepoId::parse("org/name", RepoType::Dataset).unwrap();
        assert_eq!(repo.cache_folder_name(), "datasets--org--name");
        assert_eq!(
            repo.web_url("https://hf.co"),
            "https://hf.co/datasets/org/name"
        );
    }
}
