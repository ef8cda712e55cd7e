//! The NAR hash of a fetched tree, computed while its blobs download instead of in a
//! second pass afterwards.
//!
//! A repo folder's NAR starts with `blobs/`, whose entries are the blobs in name order (the
//! etag, or `sha256-<hex>` in Ollama's layout), the order the fetch plans them in. A hasher follows each blob's download (its
//! [`Frontier`]) in that order, so it reads the bytes from the page cache right behind
//! the writes. It also checks each blob against its Hub checksum in the same pass, the two
//! hashes side by side (see [`crate::sha256_stream`]), and gives the download its verdict:
//! each byte is read back once. When the download and the layout are done, [`NarTrail::finish`] checks
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

use tokio::sync::oneshot;

use super::nar_stream::NarStream;
use super::segments::{read_behind, wait_until, Frontier};
use super::verify::ContentHasher;
use super::widening::WaitClock;
use super::CancelFlag;
use crate::error::{Error, Result};
use crate::hash::Sha256Hash;
use crate::hub::Oid;
use crate::nar::{sorted_entry_names, write_node, NarError, NarHasher};

/// The NAR hash of a fetched tree and the size of its NAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NarSummary {
    pub hash: Sha256Hash,
    pub size: u64,
}

/// Where the hasher finds a blob once its download has started, and gives its verdict.
#[derive(Default)]
pub struct BlobSlot {
    opened: Mutex<Option<(Arc<File>, Arc<Frontier>)>>,
    changed: Condvar,
    verdict: Mutex<Option<oneshot::Sender<()>>>,
}

/// What a download followed by the hasher holds: the slot, and where the verdict on its
/// content comes (none if the hasher stopped first: the fetch then reports the hasher's error).
pub struct NarFollow {
    pub slot: Arc<BlobSlot>,
    pub verdict: oneshot::Receiver<()>,
}

impl NarFollow {
    pub fn new() -> Self {
        let (send, verdict) = oneshot::channel();
        let slot = BlobSlot {
            verdict: Mutex::new(Some(send)),
            ..BlobSlot::default()
        };
        NarFollow {
            slot: Arc::new(slot),
            verdict,
        }
    }
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

    /// Tells the download that its blob is what the Hub says.
    fn verified(&self) {
        if let Some(send) = self.take_sender() {
            let _ = send.send(());
        }
    }

    /// The hasher has stopped: the download stops waiting for a verdict.
    fn abandon(&self) {
        drop(self.take_sender());
    }

    fn take_sender(&self) -> Option<oneshot::Sender<()>> {
        self.verdict
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

/// One blob of the tree: the repo path that names it, its name in `blobs/`, its oid and size,
/// where its download is.
pub struct TrailBlob {
    pub path: String,
    pub name: String,
    pub oid: Oid,
    pub size: u64,
    pub slot: Arc<BlobSlot>,
}

/// The hasher's plan: the blobs in NAR order.
pub struct NarTrail {
    blobs: Vec<TrailBlob>,
    stop: AtomicBool,
    waits: Arc<WaitClock>,
    /// Where the NAR goes as it is hashed, if a store takes it as a stream. The blobs on disk
    /// are then emptied once they are in the stream: nothing reads them again.
    stream: Option<Arc<NarStream>>,
}

impl NarTrail {
    /// `blobs`: every blob, in NAR order (by name), the order the downloads take turns in.
    pub fn new(blobs: Vec<TrailBlob>, stream: Option<Arc<NarStream>>) -> Self {
        debug_assert!(blobs.windows(2).all(|pair| pair[0].name < pair[1].name));
        NarTrail {
            blobs,
            stop: AtomicBool::new(false),
            waits: Arc::default(),
            stream,
        }
    }

    /// The time the hasher has spent waiting for bytes.
    pub fn waits(&self) -> Arc<WaitClock> {
        self.waits.clone()
    }

    /// The fetch ended early: the hasher stops waiting for blobs.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Hashes the NAR up to the end of `blobs/`, following the downloads, and checks each
    /// blob; runs on a blocking thread. `Err(Interrupted)` when the fetch stops first; the
    /// digest mismatch of a blob that is not what the Hub says.
    pub fn hash_blobs(&self, cancel: &CancelFlag) -> Result<NarHasher> {
        let hashed = self.hash_and_check_blobs(cancel);
        for blob in &self.blobs {
            blob.slot.abandon();
        }
        hashed
    }

    fn hash_and_check_blobs(&self, cancel: &CancelFlag) -> Result<NarHasher> {
        let copy = self
            .stream
            .as_ref()
            .map(|stream| stream.writer(cancel.clone()));
        let mut nar = NarHasher::copying_to(copy);
        nar.start_directory();
        nar.start_entry(b"blobs");
        nar.start_directory();
        for blob in &self.blobs {
            let (file, frontier) = self
                .waits
                .time(|| blob.slot.wait(&self.stop, cancel))
                .ok_or(Error::Interrupted)?;
            nar.start_entry(blob.name.as_bytes());
            nar.start_file(blob.size, false);
            let mut content = ContentHasher::for_oid(&blob.oid, blob.size);
            let waits = Some(&*self.waits);
            read_behind(&file, &frontier, blob.size, cancel, waits, |bytes| {
                content.update_with_nar(&mut nar, bytes)
            })?;
            nar.end_file(blob.size);
            nar.close();
            // A blob that is not what the Hub says ends the hash with that error; its download
            // (and any other waiting) then learns that the hasher stopped.
            content.check(&blob.oid, &blob.path)?;
            if self.stream.is_some() {
                // Its bytes are in the stream: drop them from the page cache before they are
                // ever written back to disk.
                file.set_len(0)
                    .map_err(|e| Error::io("(a streamed blob)", e))?;
            }
            blob.slot.verified();
        }
        nar.close();
        nar.close();
        Ok(nar)
    }

    /// Completes `nar` (from [`NarTrail::hash_blobs`]) with the rest of the finished tree
    /// at `root`. `None` when the tree is not what was hashed (then hash it whole).
    pub fn finish(&self, mut nar: NarHasher, root: &Path) -> Result<Option<NarSummary>> {
        let names = sorted_entry_names(root)?;
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

    /// `blobs/` holds exactly the hashed blobs: regular, not executable, of their sizes (empty
    /// once streamed).
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
                found.get(blob.name.as_bytes()).is_some_and(|m| {
                    m.file_type().is_file()
                        && m.len() == if self.stream.is_some() { 0 } else { blob.size }
                        && m.permissions().mode() & 0o100 == 0
                })
            }))
    }
}

/// [`crate::nar::nar_hash`] of `root` and the NAR's size, read from disk (when the hasher did
/// not follow the downloads), the NAR copied to `stream` if given; stops early when the fetch
/// is cancelled.
pub fn nar_summary_from_disk(
    root: &Path,
    cancel: &CancelFlag,
    stream: Option<&Arc<NarStream>>,
) -> Result<NarSummary> {
    let mut nar = NarHasher::copying_to(stream.map(|stream| stream.writer(cancel.clone())));
    let mut hasher = Cancellable {
        nar: &mut nar,
        cancel,
    };
    match write_node(root, &mut hasher) {
        Ok(()) => {
            let (hash, size) = nar.finish();
            Ok(NarSummary { hash, size })
        }
        Err(NarError::Write(_)) if cancel.is_cancelled() => Err(Error::Interrupted),
        Err(e) => Err(Error::from(e)),
    }
}

/// A NAR hasher that refuses more bytes once the fetch is cancelled.
struct Cancellable<'a> {
    nar: &'a mut NarHasher,
    cancel: &'a CancelFlag,
}

impl std::io::Write for Cancellable<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.cancel.is_cancelled() {
            // Not ErrorKind::Interrupted: `write_all` retries that one.
            return Err(std::io::Error::other("cancelled"));
        }
        self.nar.write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Stops the hasher when the fetch ends, whichever way.
pub struct StopOnDrop(pub Arc<NarTrail>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_from_disk_is_the_nar_hash_and_stops_when_cancelled() {
        use crate::nar::write_nar;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "x").unwrap();
        let cancel = CancelFlag::default();
        let mut nar = Vec::new();
        write_nar(dir.path(), &mut nar).unwrap();
        assert_eq!(
            nar_summary_from_disk(dir.path(), &cancel, None).unwrap(),
            NarSummary {
                hash: crate::nar::nar_hash(dir.path()).unwrap(),
                size: nar.len() as u64
            }
        );
        cancel.cancel();
        let e = nar_summary_from_disk(dir.path(), &cancel, None).unwrap_err();
        assert!(matches!(e, Error::Interrupted), "{e}");
    }
}
