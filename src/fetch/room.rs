//! Whether the folder a fetch writes into has room for its blobs, asked before anything is
//! downloaded: a listed size far beyond the disk is refused in the user's terms, where it
//! would otherwise fail at the end, or as the raw error of the file system, or by asking
//! memory for a plan of its byte ranges.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Error, Result, SettingNames};

/// The bytes the blobs of a fetch take at once on disk: all of them; or, when each blob is
/// emptied once streamed to the store, the largest (more are on disk at once, but no fewer).
/// `None` when the sizes add up to more than 64 bits count.
pub fn needed_bytes(sizes: impl Iterator<Item = u64> + Clone, streamed: bool) -> Option<u64> {
    let total = sizes.clone().try_fold(0u64, u64::checked_add)?;
    match streamed {
        true => sizes.max(),
        false => Some(total),
    }
}

/// Refuses a fetch into `folder` that needs `needed` bytes ([`needed_bytes`]) when its file
/// system has fewer free for this user, or more than 64 bits count. A file system that does not
/// say how large it is (some FUSE ones report no blocks) is taken at its word when writing.
pub fn check_room(folder: &Path, needed: Option<u64>, streamed: bool) -> Result<()> {
    let free = free_bytes(folder);
    match (needed, free) {
        (Some(_), None) => return Ok(()),
        (Some(needed), Some(free)) if needed <= free => return Ok(()),
        _ => {}
    }
    Err(Error::NoRoom {
        folder: folder.to_path_buf(),
        needed,
        free,
        streamed,
        names: SettingNames::Spec,
    })
}

/// The bytes an unprivileged user may still write in the file system of `folder`
/// (`statvfs`: `f_bavail * f_frsize`); `None` when it cannot be asked or reports no size.
fn free_bytes(folder: &Path) -> Option<u64> {
    let path = CString::new(folder.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    if unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) } != 0 {
        return None;
    }
    let stats = unsafe { stats.assume_init() };
    if stats.f_blocks == 0 {
        return None;
    }
    // Both are narrower than u64 on some 32-bit systems.
    #[allow(clippy::unnecessary_cast)]
    let (blocks, block_size) = (stats.f_bavail as u64, stats.f_frsize as u64);
    Some(blocks.saturating_mul(block_size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needed_bytes_add_up_without_overflow() {
        let sizes = [3u64, 10, 5];
        assert_eq!(needed_bytes(sizes.iter().copied(), false), Some(18));
        assert_eq!(needed_bytes(sizes.iter().copied(), true), Some(10));
        let huge = [i64::MAX as u64; 3];
        assert_eq!(needed_bytes(huge.iter().copied(), false), None);
        assert_eq!(needed_bytes(huge.iter().copied(), true), None);
    }

    #[test]
    fn a_fetch_larger_than_the_free_space_is_refused_naming_both() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_bytes(dir.path()).expect("the test's folder has a size");
        assert!(check_room(dir.path(), Some(free / 2), false).is_ok());
        let message = check_room(dir.path(), Some(i64::MAX as u64), false)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains(&dir.path().display().to_string())
                && message.contains("(9223372036854775807 bytes)")
                && message.contains(" free")
                && message.contains("TMPDIR")
                && message.contains("source.huggingface.files / exclude"),
            "{message}"
        );
        let message = check_room(dir.path(), None, false).unwrap_err().to_string();
        assert!(
            message.contains("more bytes than 64 bits count"),
            "{message}"
        );
    }
}
