//! What `prefetch` remembers: for a source at a commit with a selection and a name, the hash
//! and store path its fetch gave, so that a prefetch of the same again answers from the store
//! (as `nix-prefetch-url URL HASH` does) while the path is valid. One small JSON file per key
//! under `$XDG_CACHE_HOME/nix-fetch-model/prefetched/` (else `~/.cache/...`), written
//! atomically; an entry that cannot be read, or does not fit, is ignored and replaced.

use std::io::Write;
use std::path::{Path, PathBuf};

use nix_fetch_model::fetch::FetchOutcome;
use nix_fetch_model::spec::Source;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

/// The key of a fetch: the name, the checked source (its selection among it, as its `Debug`
/// text gives it), where it comes from, and the commit its revision resolved to.
pub fn key(name: &str, source: &Source, endpoint: &str, commit: &str) -> String {
    let identity = json!({
        "version": 1,
        "name": name,
        "source": format!("{source:?}"),
        "endpoint": endpoint,
        "commit": commit,
    });
    hex::encode(Sha256::digest(identity.to_string()))
}

/// A remembered fetch.
#[derive(Serialize, Deserialize)]
pub struct Entry {
    pub hash: String,
    pub path: String,
    endpoint: String,
    revision: String,
    commit: String,
    files: Vec<String>,
    digests: Vec<String>,
    bytes: u64,
    pin: Map<String, Value>,
}

impl Entry {
    pub fn new(outcome: &FetchOutcome, hash: &str, path: &str) -> Entry {
        Entry {
            hash: hash.to_string(),
            path: path.to_string(),
            endpoint: outcome.endpoint.clone(),
            revision: outcome.revision.clone(),
            commit: outcome.commit.clone(),
            files: outcome.files.clone(),
            digests: outcome.digests.clone(),
            bytes: outcome.bytes,
            pin: outcome.pin.clone(),
        }
    }

    /// Whether this entry is of the fetch that resolved to `commit` and, when they are known,
    /// selected `paths` (the key holds the selection's globs: at one commit they select the same).
    pub fn fits(&self, commit: &str, paths: Option<&[&str]>) -> bool {
        self.commit == commit
            && self.files.len() == self.digests.len()
            && paths.is_none_or(|paths| {
                self.files
                    .iter()
                    .map(String::as_str)
                    .eq(paths.iter().copied())
            })
    }

    pub fn outcome(&self) -> FetchOutcome {
        FetchOutcome {
            endpoint: self.endpoint.clone(),
            revision: self.revision.clone(),
            commit: self.commit.clone(),
            files: self.files.clone(),
            digests: self.digests.clone(),
            bytes: self.bytes,
            pin: self.pin.clone(),
        }
    }
}

/// The folder of the entries: `$XDG_CACHE_HOME/nix-fetch-model/prefetched`, else
/// `~/.cache/nix-fetch-model/prefetched`; `None` without either.
pub fn folder() -> Option<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|home| home.is_absolute())
                .map(|home| home.join(".cache"))
        })?;
    Some(cache.join("nix-fetch-model").join("prefetched"))
}

/// The entry of `key` in `folder`, if one is there and reads.
pub fn recall(folder: &Path, key: &str) -> Option<Entry> {
    let text = std::fs::read(folder.join(format!("{key}.json"))).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Writes the entry of `key` whole or not at all (a temporary file renamed onto it).
pub fn remember(folder: &Path, key: &str, entry: &Entry) -> std::io::Result<()> {
    std::fs::create_dir_all(folder)?;
    let mut file = tempfile::NamedTempFile::new_in(folder)?;
    file.write_all(&serde_json::to_vec(entry).expect("JSON"))?;
    file.as_file().sync_all()?;
    file.persist(folder.join(format!("{key}.json")))
        .map(drop)
        .map_err(|e| e.error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome() -> FetchOutcome {
        FetchOutcome {
            endpoint: "https://huggingface.co".into(),
            revision: "main".into(),
            commit: "c".repeat(40),
            files: vec!["a.json".into(), "b.bin".into()],
            digests: vec!["1".repeat(40), "2".repeat(64)],
            bytes: 12,
            pin: Map::new(),
        }
    }

    fn source(spec: Value) -> Source {
        nix_fetch_model::spec::check(&spec.to_string())
            .unwrap()
            .source
    }

    #[test]
    fn an_entry_comes_back_as_written_and_a_corrupt_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let spec = json!({"source": {"huggingface": {"repo": "o/n"}}});
        let key = key("n", &source(spec), "e", "c");
        assert!(recall(dir.path(), &key).is_none());
        remember(
            dir.path(),
            &key,
            &Entry::new(&outcome(), "sha256-x", "/nix/store/p"),
        )
        .unwrap();
        let entry = recall(dir.path(), &key).unwrap();
        assert_eq!(
            (entry.hash.as_str(), entry.path.as_str()),
            ("sha256-x", "/nix/store/p")
        );
        assert!(entry.fits(&"c".repeat(40), Some(&["a.json", "b.bin"])));
        assert!(!entry.fits(&"c".repeat(40), Some(&["a.json"])));
        assert!(!entry.fits(&"d".repeat(40), None));
        assert!(entry.fits(&"c".repeat(40), None));
        assert_eq!(entry.outcome().digests, outcome().digests);
        std::fs::write(dir.path().join(format!("{key}.json")), b"{\"hash\": ").unwrap();
        assert!(recall(dir.path(), &key).is_none());
        // No temporary file is left beside the entries.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn keys_differ_by_every_part() {
        let spec = source(json!({"source": {"huggingface": {"repo": "o/n"}}}));
        let other =
            source(json!({"source": {"huggingface": {"repo": "o/n", "files": ["*.json"]}}}));
        let base = key("n", &spec, "e", "c");
        assert_eq!(base, key("n", &spec, "e", "c"));
        for different in [
            key("m", &spec, "e", "c"),
            key("n", &other, "e", "c"),
            key("n", &spec, "f", "c"),
            key("n", &spec, "e", "d"),
        ] {
            assert_ne!(base, different);
        }
    }
}
