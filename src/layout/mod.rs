//! The Hugging Face cache layout of one repo folder (what `models--org--name` holds):
//!
//! ```text
//! blobs/<etag>                 the file contents
//! refs/<revision>              the commit, no trailing newline; absent when the revision is a commit
//! snapshots/<commit>/<path>    relative symlink to ../../blobs/<etag> (one more ../ per '/' in <path>)
//! trees/<commit>.json          the whole file listing at the commit, as huggingface_hub caches it
//! ```
//!
//! Only a pure function of (revision, commit, file list) is written, so two fetches
//! of the same spec give identical trees.
//!
//! The `ollama` source has the layout Ollama reads instead (`OLLAMA_MODELS`):
//!
//! ```text
//! blobs/sha256-<hex>                                     each layer and the config
//! manifests/<registry>/<namespace>/<model>/<tag>         the manifest, as served
//! ```

mod leftovers;
mod paths;
mod staging;
mod tree_cache;

pub use leftovers::{remove_leftovers, OwnedTempDir, FETCH_TEMP_PREFIX};
pub use paths::{check_listing, check_names_fit, relative_path_problem, PathProblem};
pub use staging::StagingDir;
pub use tree_cache::{read_tree_cache, write_tree_cache};

use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};

/// Where the blob of `etag` lives in a repo folder.
pub fn blob_path(root: &Path, etag: &str) -> PathBuf {
    root.join("blobs").join(etag)
}

/// Ollama's name of the blob of a sha256 digest (`sha256:<hex>` with ':' made '-', as
/// manifest/paths.go `BlobsPath` names it): `sha256-<hex>`.
pub fn ollama_blob_name(sha256_hex: &str) -> String {
    format!("sha256-{sha256_hex}")
}

/// Writes the manifest of an Ollama layout at `manifest_path`
/// (`manifests/<registry>/<namespace>/<model>/<tag>`), its bytes as the registry served them,
/// as `ollama pull` writes it (server/images.go `PullModel`).
pub fn write_ollama_manifest(root: &Path, manifest_path: &str, manifest: &[u8]) -> Result<()> {
    let file = root.join(manifest_path);
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent).at(parent)?;
    }
    std::fs::write(&file, manifest).at(&file)
}

/// The digest (`sha256:<hex>`) of the one manifest of an Ollama layout at `root`
/// (`manifests/<registry>/<namespace>/<model>/<tag>`, the four levels Ollama reads).
pub fn ollama_manifest_digest(root: &Path) -> std::result::Result<String, String> {
    use sha2::{Digest as _, Sha256};
    let mut found = Vec::new();
    let mut level = vec![root.join("manifests")];
    for _ in 0..4 {
        let mut next = Vec::new();
        for dir in level {
            let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            next.extend(
                entries
                    .filter_map(|entry| entry.ok())
                    .map(|entry| entry.path()),
            );
        }
        level = next;
    }
    for path in level {
        if path.is_file() {
            found.push(path);
        }
    }
    match found.as_slice() {
        [manifest] => {
            let bytes =
                std::fs::read(manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
            Ok(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
        }
        _ => Err(format!(
            "{} should hold exactly one manifest, it holds {}",
            root.join("manifests").display(),
            found.len()
        )),
    }
}

/// The symlink target from `snapshots/<commit>/<path>` to `blobs/<etag>`.
pub fn snapshot_link_target(path: &str, etag: &str) -> String {
    let depth = path.matches('/').count();
    format!("{}../../blobs/{etag}", "../".repeat(depth))
}

/// Writes `snapshots/<commit>/<path>` links for `files` (path, etag) whose blobs are
/// already in place, and `refs/<revision>` unless the revision is the commit itself.
pub fn write_snapshot(
    root: &Path,
    revision: &str,
    commit: &str,
    files: &[(&str, &str)],
) -> Result<()> {
    let snapshot = root.join("snapshots").join(commit);
    std::fs::create_dir_all(&snapshot).at(&snapshot)?;
    for (path, etag) in files {
        let link = snapshot.join(path);
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent).at(parent)?;
        }
        std::os::unix::fs::symlink(snapshot_link_target(path, etag), &link).at(&link)?;
    }
    if revision != commit {
        let reference = root.join("refs").join(revision);
        if let Some(parent) = reference.parent() {
            std::fs::create_dir_all(parent).at(parent)?;
        }
        std::fs::write(&reference, commit).at(&reference)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_targets_climb_one_level_per_folder() {
        assert_eq!(snapshot_link_target("config.json", "e1"), "../../blobs/e1");
        assert_eq!(
            snapshot_link_target("1_Pooling/config.json", "e2"),
            "../../../blobs/e2"
        );
        assert_eq!(snapshot_link_target("a/b/c", "e3"), "../../../../blobs/e3");
    }

    #[test]
    fn snapshot_links_resolve_to_blobs_and_refs_have_no_newline() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("blobs")).unwrap();
        std::fs::write(blob_path(root, "aa"), "top").unwrap();
        std::fs::write(blob_path(root, "bb"), "nested").unwrap();
        let commit = "0123456789abcdef0123456789abcdef01234567";
        write_snapshot(
            root,
            "refs/pr/1",
            commit,
            &[("a.txt", "aa"), ("x/y/b.txt", "bb")],
        )
        .unwrap();
        let snap = root.join("snapshots").join(commit);
        assert_eq!(std::fs::read_to_string(snap.join("a.txt")).unwrap(), "top");
        assert_eq!(
            std::fs::read_to_string(snap.join("x/y/b.txt")).unwrap(),
            "nested"
        );
        assert_eq!(
            std::fs::read_link(snap.join("x/y/b.txt")).unwrap(),
            Path::new("../../../../blobs/bb")
        );
        assert_eq!(
            std::fs::read(root.join("refs/refs/pr/1")).unwrap(),
            commit.as_bytes()
        );
    }

    #[test]
    fn no_ref_when_the_revision_is_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let commit = "0123456789abcdef0123456789abcdef01234567";
        write_snapshot(dir.path(), commit, commit, &[]).unwrap();
        assert!(!dir.path().join("refs").exists());
    }
}
