//! What the plugin remembers between calls, so that asking again costs no download:
//! - the commit of each model read from the store in this process (one NAR hash is one tree,
//!   so one commit, whatever the store path's name);
//! - what an unpinned fetch (no `hash`) got, for `tarball-ttl` seconds, as `fetchTarball`
//!   remembers what a URL gave: a file per spec in `$XDG_CACHE_HOME/nix-fetch-model/unpinned/`
//!   (else `~/.cache/...`), holding the NAR hash, the commit and the time. The store path is
//!   computed again from the hash, so an entry can only name content-addressed paths.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::hash::parse_sha256;
use crate::spec::FetchSpec;
use crate::store_path::fixed_output_path;

static COMMITS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
const COMMITS_KEPT: usize = 64;

/// The commit of the model at `store_path`, whose NAR hash is `nar_hash` (SRI), read from its
/// one `snapshots/<commit>` (in Ollama's layout, the digest of its one manifest) and remembered ([`remembered_commit`] is asked first).
pub fn commit_in_store(store_path: &str, nar_hash: &str) -> Result<String, String> {
    let commit = read_commit(store_path)?;
    remember_commit(nar_hash, &commit);
    Ok(commit)
}

/// The commit last read or fetched for `nar_hash`; empty if none.
pub fn remembered_commit(nar_hash: &str) -> String {
    let commits = COMMITS.lock().unwrap_or_else(|e| e.into_inner());
    commits
        .iter()
        .find(|(hash, _)| hash == nar_hash)
        .map(|(_, commit)| commit.clone())
        .unwrap_or_default()
}

fn remember_commit(nar_hash: &str, commit: &str) {
    let mut commits = COMMITS.lock().unwrap_or_else(|e| e.into_inner());
    if commits.iter().any(|(hash, _)| hash == nar_hash) {
        return;
    }
    if commits.len() >= COMMITS_KEPT {
        commits.remove(0);
    }
    commits.push((nar_hash.to_string(), commit.to_string()));
}

fn read_commit(store_path: &str) -> Result<String, String> {
    let root = Path::new(store_path);
    // Ollama's layout: the pin is the digest of its one manifest.
    if !root.join("snapshots").exists() && root.join("manifests").is_dir() {
        return crate::layout::ollama_manifest_digest(root);
    }
    let snapshots = root.join("snapshots");
    let entries =
        std::fs::read_dir(&snapshots).map_err(|e| format!("{}: {e}", snapshots.display()))?;
    let commits: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    match commits.as_slice() {
        [commit] => Ok(commit.clone()),
        _ => Err(format!(
            "{} should hold exactly one commit, it holds {commits:?}",
            snapshots.display()
        )),
    }
}

/// What an unpinned fetch of a spec got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unpinned {
    pub nar_hash: String,
    pub commit: String,
    /// Seconds since the epoch when it was fetched.
    pub fetched_at: u64,
}

/// What an unpinned fetch of `spec` got less than `ttl_seconds` ago, and its store path in
/// `store_dir`; none if there is no such fetch (or its entry cannot be read).
pub fn remembered_unpinned(
    spec: &FetchSpec,
    store_dir: &str,
    ttl_seconds: u64,
) -> Option<(Unpinned, String)> {
    remembered_in(&cache_dir()?, spec, store_dir, ttl_seconds)
}

fn remembered_in(
    cache: &Path,
    spec: &FetchSpec,
    store_dir: &str,
    ttl_seconds: u64,
) -> Option<(Unpinned, String)> {
    let entry = entry_file(cache, spec);
    let remembered: Unpinned = serde_json::from_slice(&std::fs::read(entry).ok()?).ok()?;
    if now().saturating_sub(remembered.fetched_at) >= ttl_seconds {
        return None;
    }
    let hash = parse_sha256(&remembered.nar_hash).ok()?;
    let store_path = fixed_output_path(store_dir, &spec.name, &hash).ok()?;
    Some((remembered, store_path))
}

/// Remembers that an unpinned fetch of `spec` got `nar_hash` at `commit`, now. A cache that
/// cannot be written is no error: the next evaluation fetches again.
pub fn remember_unpinned(spec: &FetchSpec, nar_hash: &str, commit: &str) {
    remember_commit(nar_hash, commit);
    if let Some(cache) = cache_dir() {
        remember_in(&cache, spec, nar_hash, commit);
    }
}

fn remember_in(cache: &Path, spec: &FetchSpec, nar_hash: &str, commit: &str) {
    let entry = entry_file(cache, spec);
    let remembered = Unpinned {
        nar_hash: nar_hash.to_string(),
        commit: commit.to_string(),
        fetched_at: now(),
    };
    let write = || -> std::io::Result<()> {
        let folder = entry.parent().expect("an entry has a folder");
        std::fs::create_dir_all(folder)?;
        let mut file = tempfile::NamedTempFile::new_in(folder)?;
        std::io::Write::write_all(&mut file, &serde_json::to_vec(&remembered)?)?;
        file.persist(&entry).map_err(|e| e.error)?;
        Ok(())
    };
    let _ = write();
}

/// The file of `spec`'s entry: named by the hash of what decides the content (the source, the
/// Hub, the name), not by what only reaches it (the token).
fn entry_file(cache: &Path, spec: &FetchSpec) -> PathBuf {
    let env = |name: &str| std::env::var(name).ok();
    let endpoint = crate::sources::addresses(spec, &env)
        .map(|a| a.endpoint)
        .ok();
    let key = serde_json::json!({
        "name": spec.name,
        "source": spec.source.identity(),
        "endpoint": endpoint,
    });
    let digest = hex::encode(Sha256::digest(key.to_string()));
    cache.join("unpinned").join(format!("{digest}.json"))
}

fn cache_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").filter(|d| !d.is_empty())?).join(".cache"),
    };
    Some(base.join("nix-fetch-model"))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_read_is_remembered_per_nar_hash() {
        let dir = tempfile::tempdir().unwrap();
        let hash = "sha256-commit-test-only";
        std::fs::create_dir_all(dir.path().join("snapshots/abc")).unwrap();
        let path = dir.path().to_str().unwrap();
        assert_eq!(remembered_commit(hash), "");
        assert_eq!(commit_in_store(path, hash).unwrap(), "abc");
        std::fs::remove_dir_all(dir.path().join("snapshots")).unwrap();
        assert_eq!(remembered_commit(hash), "abc");
        assert!(commit_in_store(path, "sha256-other").is_err());
    }

    #[test]
    fn the_commit_of_an_ollama_layout_is_its_manifests_digest() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir
            .path()
            .join("manifests/127.0.0.1:5000/library/tiny/latest");
        std::fs::create_dir_all(manifest.parent().unwrap()).unwrap();
        std::fs::write(&manifest, b"{}").unwrap();
        std::fs::create_dir_all(dir.path().join("blobs")).unwrap();
        let path = dir.path().to_str().unwrap();
        // sha256 of "{}".
        let digest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
        assert_eq!(
            commit_in_store(path, "sha256-ollama-test-only").unwrap(),
            digest
        );
        std::fs::write(manifest.with_file_name("other"), b"{}").unwrap();
        assert!(read_commit(path)
            .unwrap_err()
            .contains("exactly one manifest"));
    }

    #[test]
    fn an_unpinned_fetch_is_remembered_for_its_ttl() {
        let cache = tempfile::tempdir().unwrap();
        let cache = cache.path();
        let spec = |files: &str| {
            crate::spec::check(&format!(
                r#"{{"source":{{"huggingface":{{"repo":"org/memo","files":{files}}}}}}}"#
            ))
            .unwrap()
        };
        let hash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        assert!(remembered_in(cache, &spec("[]"), "/nix/store", 3600).is_none());
        remember_in(cache, &spec("[]"), hash, "c0ffee");
        let (remembered, path) = remembered_in(cache, &spec("[]"), "/nix/store", 3600).unwrap();
        assert_eq!(
            (remembered.nar_hash.as_str(), remembered.commit.as_str()),
            (hash, "c0ffee")
        );
        assert!(path.starts_with("/nix/store/") && path.ends_with("-models--org--memo"));
        // Another selection is another fetch; a ttl of 0 asks again.
        assert!(remembered_in(cache, &spec(r#"["*.json"]"#), "/nix/store", 3600).is_none());
        assert!(remembered_in(cache, &spec("[]"), "/nix/store", 0).is_none());
    }
}
