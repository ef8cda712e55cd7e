//! A folder that becomes the output only when the fetch succeeded: it is created
//! beside the output and renamed onto it at the end, and removed on failure or
//! interruption, so no half-written output is ever left at the output path.

use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

pub struct StagingDir {
    path: PathBuf,
    finished: bool,
}

impl StagingDir {
    /// Creates `.<name>.partial-<pid>-<n>` next to `out`. `out` must not exist.
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
        let prefix = format!(
            ".{}.partial-{}-",
            name.to_string_lossy(),
            std::process::id()
        );
        let dir = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir_in(&parent)
            .at(&parent)?;
        Ok(StagingDir {
            path: dir.keep(),
            finished: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves the staged tree onto `out`.
    pub fn finish(mut self, out: &Path) -> Result<()> {
        std::fs::rename(&self.path, out).at(out)?;
        self.finished = true;
        Ok(())
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
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
    fn existing_output_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = StagingDir::next_to(dir.path()).err().unwrap().to_string();
        assert!(err.contains("already exists"), "{err}");
    }
}
