//! The NAR hash of a fetched tree, computed while its blobs download instead of in a
//! second pass afterwards.
//!
//! A repo folder's NAR starts with `blobs/`, whose entries are the blobs in etag order,
//! the order the fetch plans them in. A hasher follows each blob's download (its
//! [`Frontier`]) in that order, so it reads the bytes from the page cache right behind
//! the writes. When the download and the layout are done, [`NarTrail::finish`] checks
//! that `blobs/` holds exactly what was hashed and serialises the rest of the tree
//! (`refs/`, `snapshots/`, `trees/`: small) from disk. The result is what
//! [`crate::nar::nar_hash`] gives for the finished tree.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use super::segments::{read_behind, wait_until, Frontier};
use super::CancelFlag;
use crate::error::{Error, Result};
use crate::hash::Sha256Hash;
use crate::nar::NarHasher;

/// The NAR hash of a fetched tree and the size of its NAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NarSummary {
    pub hash: Sha256Hash,
    pub size: u64,
}

/// Where the hasher finds a blob once its download has started.
#[derive(Default)]
pub struct BlobSlot {
    opened: Mutex<Option<(Arc<File>, Arc<Frontier>)>>,
    changed: Condvar,
}

impl BlobSlot {
    /// The download of the blob has started: its file and how much of it is written.
    pub fn publish(&self, file: Arc<File>, frontier: Arc<Frontier>) {
        let mut opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
        *opened = Some((file, frontier));
        self.changed.notify_all();
    }

    fn wait(&self, stop: &AtomicBool, cancel: &CancelFlag) -> Option<(Arc<File>, Arc<Frontier>)> {
        wait_until(&self.opened, &self.changed, |opened| {
            if let Some((file, frontier)) = opened.as_ref() {
                return Some(Some((file.clone(), frontier.clone())));
            }
            (stop.load(Ordering::SeqCst) || cancel.is_cancelled()).then_some(None)
        })
    }
}

/// One blob of the tree: its name in `blobs/`, its size, where its download is.
struct TrailBlob {
    etag: String,
    size: u64,
    slot: Arc<BlobSlot>,
}

/// The hasher's plan: the blobs in NAR order.
pub struct NarTrail {
    blobs: Vec<TrailBlob>,
    stop: AtomicBool,
}

impl NarTrail {
    /// `blobs`: (etag, size, slot) of every blob, in any order.
    pub fn new(blobs: Vec<(String, u64, Arc<BlobSlot>)>) -> Self {
        let mut blobs: Vec<TrailBlob> = blobs
            .into_iter()
            .map(|(etag, size, slot)| TrailBlob { etag, size, slot })
            .collect();
        blobs.sort_by(|a, b| a.etag.as_bytes().cmp(b.etag.as_bytes()));
        NarTrail {
            blobs,
            stop: AtomicBool::new(false),
        }
    }

    /// The fetch ended early: the hasher stops waiting for blobs.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Hashes the NAR up to the end of `blobs/`, following the downloads; runs on a
    /// blocking thread. `Err(Interrupted)` when the fetch stops first.
    pub fn hash_blobs(&self, cancel: &CancelFlag) -> Result<NarHasher> {
        let mut nar = NarHasher::new();
        nar.start_directory();
        nar.start_entry(b"blobs");
        nar.start_directory();
        for blob in &self.blobs {
            let (file, frontier) = blob
                .slot
                .wait(&self.stop, cancel)
                .ok_or(Error::Interrupted)?;
            nar.start_entry(blob.etag.as_bytes());
            nar.start_file(blob.size, false);
            read_behind(&file, &frontier, blob.size, cancel, |bytes| {
                nar.contents(bytes)
            })?;
            nar.end_file(blob.size);
            nar.close();
        }
        nar.close();
        nar.close();
        Ok(nar)
    }

    /// Completes `nar` (from [`NarTrail::hash_blobs`]) with the rest of the finished tree
    /// at `root`. `None` when the tree is not what was hashed (then hash it whole).
    pub fn finish(&self, mut nar: NarHasher, root: &Path) -> Result<Option<NarSummary>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(root).map_err(|e| Error::io(root, e))? {
            names.push(entry.map_err(|e| Error::io(root, e))?.file_name());
        }
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        if names.first().map(|n| n.as_bytes()) != Some(b"blobs")
            || !self.blobs_are_as_hashed(root)?
        {
            return Ok(None);
        }
        for name in &names[1..] {
            nar.start_entry(name.as_bytes());
            nar.node(&root.join(name))?;
            nar.close();
        }
        nar.close();
        let (hash, size) = nar.finish();
        Ok(Some(NarSummary { hash, size }))
    }

    /// `blobs/` holds exactly the hashed blobs: regular, not executable, of their sizes.
    fn blobs_are_as_hashed(&self, root: &Path) -> Result<bool> {
        let dir = root.join("blobs");
        let mut found = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let metadata = entry.metadata().map_err(|e| Error::io(entry.path(), e))?;
            found.insert(entry.file_name().as_bytes().to_vec(), metadata);
        }
        Ok(found.len() == self.blobs.len()
            && self.blobs.iter().all(|blob| {
                found.get(blob.etag.as_bytes()).is_some_and(|m| {
                    m.file_type().is_file()
                        && m.len() == blob.size
                        && m.permissions().mode() & 0o100 == 0
                })
            }))
    }
}

/// Stops the hasher when the fetch ends, whichever way.
pub struct StopOnDrop(pub Arc<NarTrail>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}
