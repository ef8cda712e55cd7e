//! How a fetch reports what it does: the CLI draws bars, the plugin talks to
//! Nix's logger, tests and `--quiet` say nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub trait Progress: Send + Sync {
    /// The download starts: this many files (blobs) and bytes.
    fn started(&self, _files: usize, _bytes: u64) {}
    /// Bytes arrived (and were written).
    fn advanced(&self, _bytes: u64) {}
    /// A blob was verified and is in place.
    fn file_done(&self, _path: &str) {}
    /// Something the user may want to know: a retry, a wait asked by the server.
    fn notice(&self, _message: &str) {}
    /// The download ended, well or not.
    fn finished(&self) {}
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {}

/// Set from outside (Ctrl-C, Nix's interrupt) to stop a fetch within a fraction of a second.
#[derive(Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
