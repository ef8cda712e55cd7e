//! A folder that becomes the output only when the fetch succeeded: it is created
//! beside the output and renamed onto it at the end, and removed on failure or
//! interruption, so no half-written output is ever left at the output path. The folders of
//! fetches that were killed are removed by the next fetch to the same output.

use std::path::{Path, PathBuf};

use super::leftovers::{remove_leftovers, OwnedTempDir};
use crate::error::{name_too_long, Error, IoContext, LongNameRemedy, Result, NAME_MAX};

/// What of the output's name goes into the staging folder's name: enough to tell it, and room
/// for `.`, `.partial-<pid>-` and 6 random characters within a file name's length.
const STAGING_NAME_PART: usize = NAME_MAX - 32;

pub struct StagingDir {
    dir: OwnedTempDir,
}

impl StagingDir {
    /// Creates `.<name>.partial-<pid>-<random>` next to `out`, after removing those of earlier
    /// fetches that died. `out` must not exist.
    pub fn next_to(out: &Path) -> Result<Self> {
        if out.symlink_metadata().is_ok() {
            return Err(Error::io(
                out,
                std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "the output already exists: remove it or choose another --out",
                ),
            ));
        }
        let name = out.file_name().ok_or_else(|| {
            Error::io(
                out,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "no folder name"),
            )
        })?;
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).at(&parent)?;
        if let Some(error) = name_too_long(out, LongNameRemedy::ShorterOut) {
            return Err(error);
        }
        let prefix = format!(
            ".{}.partial-",
            cut_to(&name.to_string_lossy(), STAGING_NAME_PART)
        );
        remove_leftovers(&parent, &prefix);
        let dir = OwnedTempDir::new_in(&parent, &format!("{prefix}{}-", std::process::id()))
            .at(&parent)?;
        Ok(StagingDir { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Moves the staged tree onto `out`, which must still not exist.
    pub fn finish(self, out: &Path) -> Result<()> {
        self.dir.rename_to(out).map_err(|error| {
            let appeared = [libc::ENOTEMPTY, libc::EEXIST, libc::ENOTDIR, libc::EISDIR];
            match error.raw_os_error() {
                Some(code) if appeared.contains(&code) => Error::OutputAppeared {
                    out: out.to_path_buf(),
                },
                _ => Error::io(out, error),
            }
        })
    }
}

/// The longest start of `text` of at most `bytes` bytes.
fn cut_to(text: &str, bytes: usize) -> &str {
    let mut end = text.len().min(bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_staging_becomes_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("model");
        let staging = StagingDir::next_to(&out).unwrap();
        std::fs::write(staging.path().join("f"), "x").unwrap();
        staging.finish(&out).unwrap();
        assert_eq!(std::fs::read_to_string(out.join("f")).unwrap(), "x");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn abandoned_staging_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("model");
        {
            let staging = StagingDir::next_to(&out).unwrap();
            std::fs::create_dir_all(staging.path().join("blobs")).unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn leftovers_of_dead_fetches_to_the_same_output_go() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("model");
        let dead = dir.path().join(".model.partial-1-abcdef");
        let other = dir.path().join(".model2.partial-1-abcdef");
        std::fs::create_dir_all(dead.join("blobs")).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        let staging = StagingDir::next_to(&out).unwrap();
        assert!(!dead.exists());
        assert!(other.exists());
        drop(staging);
    }

    #[test]
    fn an_output_that_appeared_meanwhile_is_kept_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("model");
        let staging = StagingDir::next_to(&out).unwrap();
        std::fs::create_dir_all(out.join("blobs")).unwrap();
        let err = staging.finish(&out).unwrap_err().to_string();
        assert!(err.contains("appeared while this fetch ran"), "{err}");
        assert!(out.join("blobs").exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn long_output_names_fit_in_the_staging_name() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("é".repeat(NAME_MAX / 2));
        let staging = StagingDir::next_to(&out).unwrap();
        staging.finish(&out).unwrap();
        assert!(out.is_dir());
        let err = StagingDir::next_to(&dir.path().join("x".repeat(NAME_MAX + 1)))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("256 bytes long"), "{err}");
    }

    #[test]
    fn existing_output_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = StagingDir::next_to(dir.path()).err().unwrap().to_string();
        assert!(err.contains("already exists"), "{err}");
    }
}
