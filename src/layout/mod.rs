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

mod leftovers;
mod paths;
mod staging;
mod tree_cache;

pub use leftovers::{remove_leftovers, OwnedTempDir, FETCH_TEMP_PREFIX};
pub use paths::{check_listing, check_names_fit, relative_path_problem, PathProblem};
pub use staging::StagingDir;
pub use tree_cache::write_tree_cache;

use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};

/// Where the blob of `etag` lives in a repo folder.
pub fn blob_path(root: &Path, etag: &str) -> PathBuf {
    root.join("blobs").join(etag)
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
