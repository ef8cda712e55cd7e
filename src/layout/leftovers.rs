//! Temporary folders a process owns while it lives, and the removal of those left behind by
//! processes that died without cleaning up (`kill -9`, a crash, a power cut).
//!
//! The owner holds an exclusive `flock` on the folder itself. The kernel releases it when the
//! owner dies, however it dies, and no other process holds it, whatever its pid. A later run
//! removes the folders of the same prefix that it can lock: their owners are gone. On a file
//! system without locks (some NFS and FUSE ones) a folder is owned unlocked, and no run removes
//! it as a leftover, since none can lock it.

use std::fs::{File, Metadata};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The prefix of the folders in `$TMPDIR` in which the plugin and `prefetch` build a tree.
/// Not `nix-fetch-model-` alone: other folders of the project's (its lock folder) start so.
pub const FETCH_TEMP_PREFIX: &str = "nix-fetch-model-fetch-";

/// Tries to create a folder that no other run removes before it is locked.
const CREATE_ATTEMPTS: usize = 8;

/// A folder `<prefix><random>` locked by this process, removed when dropped (unless renamed
/// away with [`OwnedTempDir::rename_to`]). If the process dies first, a later
/// [`remove_leftovers`] with the same prefix removes it.
pub struct OwnedTempDir {
    path: PathBuf,
    /// The folder, open and locked (unless its file system has no locks); closed (unlocked)
    /// only after `drop` removed the folder.
    _lock: Option<File>,
    removed_on_drop: bool,
}

impl OwnedTempDir {
    /// Creates and locks a new folder in `parent`, mode 700.
    pub fn new_in(parent: &Path, prefix: &str) -> io::Result<Self> {
        OwnedTempDir::new_locked_by(parent, prefix, lock_if_at)
    }

    /// [`OwnedTempDir::new_in`], locking the folder with `lock`.
    fn new_locked_by(
        parent: &Path,
        prefix: &str,
        lock: impl Fn(&Path) -> io::Result<Option<File>>,
    ) -> io::Result<Self> {
        for _ in 0..CREATE_ATTEMPTS {
            let path = tempfile::Builder::new()
                .prefix(prefix)
                .tempdir_in(parent)?
                .keep();
            // Until it is locked, another run may take the new folder for a leftover and
            // remove it: then it is no longer at `path`, and another is made.
            let owned = |lock| OwnedTempDir {
                path: path.clone(),
                _lock: lock,
                removed_on_drop: true,
            };
            match lock(&path) {
                Ok(Some(lock)) => return Ok(owned(Some(lock))),
                Ok(None) => continue,
                Err(error) if has_no_locks(&error) => return Ok(owned(None)),
                Err(error) => {
                    let _ = std::fs::remove_dir_all(&path);
                    return Err(error);
                }
            }
        }
        Err(io::Error::other(format!(
            "{CREATE_ATTEMPTS} new folders in a row were removed by other runs before they \
             could be locked"
        )))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the folder to `dest`, where this process no longer removes it. On failure the
    /// folder is removed.
    pub fn rename_to(mut self, dest: &Path) -> io::Result<()> {
        std::fs::rename(&self.path, dest)?;
        self.removed_on_drop = false;
        Ok(())
    }
}

impl Drop for OwnedTempDir {
    fn drop(&mut self) {
        if self.removed_on_drop {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Removes the folders of `parent` whose names start with `prefix` and whose owners are gone:
/// folders (not symlinks) of this user that nobody holds locked. Answers what it removed;
/// a folder it cannot look at or remove is left as it is.
pub fn remove_leftovers(parent: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let user = unsafe { libc::geteuid() };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        if !entry.file_name().as_bytes().starts_with(prefix.as_bytes()) {
            continue;
        }
        let path = entry.path();
        let Ok(seen) = path.symlink_metadata() else {
            continue;
        };
        if !seen.is_dir() || seen.uid() != user {
            continue;
        }
        // Held while the folder goes, so that its name cannot be taken for a live one's.
        let Ok(Some(_lock)) = lock_if_same(&path, &seen) else {
            continue;
        };
        if std::fs::remove_dir_all(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

/// Whether `error`, of `flock`, says the file system has no locks.
fn has_no_locks(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EOPNOTSUPP | libc::ENOLCK | libc::ENOSYS)
    )
}

/// Locks the folder at `path` if it is still there and nobody holds it.
fn lock_if_at(path: &Path) -> io::Result<Option<File>> {
    match path.symlink_metadata() {
        Ok(seen) => lock_if_same(path, &seen),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// Opens the folder at `path` without following a symlink and locks it, if it is still the
/// folder `seen` describes and nobody holds it; checks again after the lock, since the folder
/// may have been removed while the lock was held by another.
fn lock_if_same(path: &Path, seen: &Metadata) -> io::Result<Option<File>> {
    let folder = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(folder) => folder,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let same = |a: &Metadata, b: &Metadata| a.dev() == b.dev() && a.ino() == b.ino();
    if !same(&folder.metadata()?, seen) {
        return Ok(None);
    }
    if unsafe { libc::flock(folder.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let error = io::Error::last_os_error();
        return match error.raw_os_error() {
            Some(libc::EWOULDBLOCK) => Ok(None),
            _ => Err(error),
        };
    }
    match path.symlink_metadata() {
        Ok(now) if same(&now, seen) => Ok(Some(folder)),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn an_owned_folder_is_removed_when_dropped_and_kept_when_renamed() {
        let parent = tempfile::tempdir().unwrap();
        let dropped = OwnedTempDir::new_in(parent.path(), "x-").unwrap();
        std::fs::create_dir_all(dropped.path().join("blobs/deep")).unwrap();
        assert!(dropped
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("x-"));
        drop(dropped);
        assert!(names(parent.path()).is_empty());

        let renamed = OwnedTempDir::new_in(parent.path(), "x-").unwrap();
        std::fs::write(renamed.path().join("f"), "x").unwrap();
        renamed.rename_to(&parent.path().join("out")).unwrap();
        assert_eq!(names(parent.path()), ["out"]);
    }

    #[test]
    fn leftovers_of_the_gone_go_and_those_of_the_living_stay() {
        let parent = tempfile::tempdir().unwrap();
        let alive = OwnedTempDir::new_in(parent.path(), "nfm-").unwrap();
        let dead = parent.path().join("nfm-dead");
        std::fs::create_dir_all(dead.join("blobs")).unwrap();
        std::fs::write(dead.join("blobs/x.incomplete"), "partial").unwrap();
        let other = parent.path().join("other-dead");
        std::fs::create_dir(&other).unwrap();
        let file = parent.path().join("nfm-file");
        std::fs::write(&file, "not a folder").unwrap();
        let target = tempfile::tempdir().unwrap();
        std::fs::write(target.path().join("keep"), "").unwrap();
        let link = parent.path().join("nfm-link");
        std::os::unix::fs::symlink(target.path(), &link).unwrap();

        assert_eq!(remove_leftovers(parent.path(), "nfm-"), vec![dead]);
        let alive_name = alive.path().file_name().unwrap().to_string_lossy();
        let mut expected = vec![
            alive_name.into_owned(),
            "nfm-file".into(),
            "nfm-link".into(),
            "other-dead".into(),
        ];
        expected.sort();
        assert_eq!(names(parent.path()), expected);
        assert_eq!(names(target.path()), ["keep"]);
    }

    #[test]
    fn a_folder_on_a_file_system_without_locks_is_owned_unlocked() {
        let parent = tempfile::tempdir().unwrap();
        for errno in [libc::EOPNOTSUPP, libc::ENOLCK] {
            let no_locks = |_: &Path| Err(io::Error::from_raw_os_error(errno));
            let owned = OwnedTempDir::new_locked_by(parent.path(), "x-", no_locks).unwrap();
            assert!(owned.path().is_dir());
            drop(owned);
            assert!(names(parent.path()).is_empty());
        }
        let refused = |_: &Path| Err(io::Error::from_raw_os_error(libc::EACCES));
        assert!(OwnedTempDir::new_locked_by(parent.path(), "x-", refused).is_err());
        assert!(names(parent.path()).is_empty());
    }

    #[test]
    fn a_missing_parent_has_no_leftovers() {
        assert!(remove_leftovers(Path::new("/nonexistent/nfm"), "x").is_empty());
    }
}
