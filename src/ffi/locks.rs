//! The lock that lets two evaluations fetching the same pinned model download it once.
//!
//! Where the lock files live decides who shares them, and must never be a folder or file
//! another user planted:
//! - `$TMPDIR/nix-fetch-model-locks`, shared by every user, but only when root owns it and it
//!   is sticky and world-writable, as `/tmp` is. Root makes it so on its first pinned fetch;
//!   others never create it (they would own it, and could then remove or swap its files).
//! - Else a folder of the user's own, mode 0700: `$XDG_RUNTIME_DIR/nix-fetch-model-locks`, or
//!   `$TMPDIR/nix-fetch-model-locks-<uid>`.
//!
//! Folders and files are opened without following links and checked on the open descriptor.
//! A lock file is opened as it is when it exists (in a sticky folder, the kernel refuses
//! `O_CREAT` on another user's file when `fs.protected_regular` is on, as on Debian and NixOS),
//! else created with `O_EXCL`; one with more than one link (a hard link another user made to a
//! file of yours) is refused, and only a file this process created has its mode set.
//! When no folder or file can be trusted, or the filesystem cannot lock, the fetch goes on
//! unlocked (the store's own lock still makes the addition atomic) and the caller warns that the
//! model may be downloaded twice.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const SHARED: &str = "nix-fetch-model-locks";
const STICKY_WORLD_WRITABLE: u32 = 0o1777;

/// The lock of one store path, taken with [`FetchLock::try_acquire`], released when dropped.
pub struct FetchLock {
    file: Option<File>,
    /// Why there is no lock file, for the warning.
    unlocked_because: Option<String>,
}

impl FetchLock {
    /// The lock for the store path named `base_name` (its last component).
    pub fn for_store_path(base_name: &str) -> FetchLock {
        Self::in_temp_dir(&std::env::temp_dir(), base_name)
    }

    /// [`FetchLock::for_store_path`], with `tmp` as the temporary folder.
    fn in_temp_dir(tmp: &Path, base_name: &str) -> FetchLock {
        let opened = lock_folder(tmp)
            .and_then(|folder| open_lock_file(&folder, &format!("{base_name}.lock")));
        match opened {
            Ok(file) => FetchLock {
                file: Some(file),
                unlocked_because: None,
            },
            Err(reason) => FetchLock {
                file: None,
                unlocked_because: Some(reason),
            },
        }
    }

    /// Takes the lock without waiting; true when it is held (or when there is no lock file, or
    /// the filesystem cannot lock: the fetch then goes on unlocked, and [`FetchLock::warning`]
    /// says why). False only while another process holds it.
    pub fn try_acquire(&mut self) -> bool {
        let Some(file) = &self.file else {
            return true;
        };
        // SAFETY: flock on a descriptor this struct owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return true;
        }
        let error = io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return false;
        }
        self.file = None;
        self.unlocked_because = Some(format!("cannot lock the lock file: {error}"));
        true
    }

    /// Why the fetch is not locked; empty when it is.
    pub fn warning(&self) -> String {
        match &self.unlocked_because {
            Some(reason) => format!(
                "{reason}; this fetch is not locked, so another evaluation fetching the same model \
                 at the same time may download it too"
            ),
            None => String::new(),
        }
    }
}

/// The folder of the lock files this user may trust in `tmp` (see the module's text).
fn lock_folder(tmp: &Path) -> Result<Folder, String> {
    let uid = unsafe { libc::geteuid() };
    let shared = tmp.join(SHARED);
    if uid == 0 {
        make_folder(&shared, STICKY_WORLD_WRITABLE);
    }
    let shared_problem = match Folder::open(&shared) {
        Ok(folder) if folder.owner == 0 && folder.mode == STICKY_WORLD_WRITABLE => {
            return Ok(folder)
        }
        Ok(folder) if folder.owner == 0 && uid == 0 => {
            folder.set_mode(STICKY_WORLD_WRITABLE)?;
            return Ok(folder);
        }
        Ok(folder) if folder.owner != 0 => Some(format!(
            "{} belongs to user {}, not root, so it is not used",
            shared.display(),
            folder.owner
        )),
        _ => None,
    };
    let private = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(runtime) => PathBuf::from(runtime).join(SHARED),
        None => tmp.join(format!("{SHARED}-{uid}")),
    };
    make_folder(&private, 0o700);
    let refused = |why: String| match &shared_problem {
        Some(shared_why) => format!("{shared_why}, and {why}"),
        None => why,
    };
    match Folder::open(&private) {
        Ok(folder) if folder.owner == uid && folder.mode & 0o077 == 0 => Ok(folder),
        Ok(folder) if folder.owner != uid => Err(refused(format!(
            "the lock folder {} belongs to user {}, not to you (uid {uid})",
            private.display(),
            folder.owner
        ))),
        Ok(folder) => Err(refused(format!(
            "the lock folder {} is open to other users (mode {:o}); make it mode 700",
            private.display(),
            folder.mode
        ))),
        Err(why) => Err(refused(why)),
    }
}

/// Creates `path` with `mode` if it does not exist (an existing one is checked when opened).
fn make_folder(path: &Path, mode: u32) {
    if std::fs::create_dir(path).is_ok() {
        // mkdir's mode passes through the umask: set it as meant.
        let _ = std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode));
    }
}

/// An open folder (never through a link), with the owner and mode of what was opened.
struct Folder {
    dir: File,
    owner: u32,
    /// Permission bits, with the sticky bit.
    mode: u32,
}

impl Folder {
    fn open(path: &Path) -> Result<Folder, String> {
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        let dir = open_at(libc::AT_FDCWD, path.as_os_str(), flags, 0).map_err(|e| {
            match e.raw_os_error() {
                Some(libc::ELOOP) | Some(libc::ENOTDIR) => {
                    format!(
                        "the lock folder {} is a link or not a folder",
                        path.display()
                    )
                }
                _ => format!("cannot open the lock folder {}: {e}", path.display()),
            }
        })?;
        let metadata = dir
            .metadata()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Folder {
            dir,
            owner: metadata.uid(),
            mode: metadata.mode() & 0o7777,
        })
    }

    fn set_mode(&self, mode: u32) -> Result<(), String> {
        // SAFETY: fchmod on a descriptor this struct owns.
        match unsafe { libc::fchmod(self.dir.as_raw_fd(), mode) } {
            0 => Ok(()),
            _ => Err(format!(
                "cannot set the mode of the lock folder: {}",
                io::Error::last_os_error()
            )),
        }
    }
}

/// Opens (creating it if needed) the lock file `name` in `folder`: a regular file with one link,
/// never a link; made readable by all when this process creates it, since a shared lock is taken
/// by every user with a read-only descriptor.
fn open_lock_file(folder: &Folder, name: &str) -> Result<File, String> {
    let dir = folder.dir.as_raw_fd();
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    let cannot = |e: io::Error| format!("cannot open the lock file {name}: {e}");
    let (file, created) = loop {
        match open_at(dir, OsStr::new(name), flags, 0) {
            Ok(file) => break (file, false),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(cannot(e)),
        }
        match open_at(
            dir,
            OsStr::new(name),
            flags | libc::O_CREAT | libc::O_EXCL,
            0o644,
        ) {
            Ok(file) => break (file, true),
            // Another fetch created it in between: open that one.
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
            Err(e) => return Err(cannot(e)),
        }
    };
    let metadata = file.metadata().map_err(|e| format!("{name}: {e}"))?;
    if !metadata.file_type().is_file() || metadata.nlink() != 1 {
        return Err(format!(
            "the lock file {name} is not a regular file with one link"
        ));
    }
    if created {
        // SAFETY: fchmod on the descriptor just created; its mode passed through the umask.
        unsafe { libc::fchmod(file.as_raw_fd(), 0o644) };
    }
    Ok(file)
}

fn open_at(
    dir: libc::c_int,
    path: &OsStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<File> {
    let path =
        CString::new(path.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a NUL-terminated path; the returned descriptor is owned by the File.
    let fd = unsafe { libc::openat(dir, path.as_ptr(), flags, mode as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(unsafe { File::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_of_the_same_path_waits_for_the_first() {
        let tmp = tempfile::tempdir().unwrap();
        let mut first = FetchLock::in_temp_dir(tmp.path(), "same");
        let mut second = FetchLock::in_temp_dir(tmp.path(), "same");
        assert_eq!(first.warning(), "");
        assert!(first.try_acquire());
        assert!(!second.try_acquire());
        drop(first);
        assert!(second.try_acquire());
        let mut other = FetchLock::in_temp_dir(tmp.path(), "other");
        assert!(other.try_acquire());
    }

    #[test]
    fn a_lock_file_with_another_link_is_not_used() {
        let tmp = tempfile::tempdir().unwrap();
        let mut lock = FetchLock::in_temp_dir(tmp.path(), "linked");
        assert!(lock.try_acquire());
        let file = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.is_dir())
            .unwrap()
            .join("linked.lock");
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, "secret").unwrap();
        std::fs::set_permissions(&victim, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        drop(lock);
        std::fs::remove_file(&file).unwrap();
        std::fs::hard_link(&victim, &file).unwrap();
        let linked = FetchLock::in_temp_dir(tmp.path(), "linked");
        assert!(
            linked.warning().contains("one link"),
            "{}",
            linked.warning()
        );
        let mode = std::fs::metadata(&victim).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }
}
