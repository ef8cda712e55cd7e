//! A fetch for the plugin, running on its own thread into a temporary folder it owns. The C++
//! caller polls it from Nix's thread (interrupts and the logger stay there) and either takes
//! the finished folder (a local store moves it in) or reads its NAR as a stream while it
//! downloads (any other store: Nix's daemon takes it in one pass).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::bridge::{FetchProgress, Fetched, NarChunk};
use super::message;
use crate::fetch::{
    fetch_into_with_nar_hash, verify_nar_hash, CancelFlag, FetchOptions, NarRead, NarStream,
    NarSummary, Progress,
};
use crate::layout::{remove_leftovers, OwnedTempDir, FETCH_TEMP_PREFIX};
use crate::spec::{self, FetchSpec};
use crate::store_path::fixed_output_path;

pub struct Fetch {
    cancel: CancelFlag,
    counters: Arc<Counters>,
    stream: Option<Arc<NarStream>>,
    ended: Receiver<Result<Fetched, String>>,
    outcome: Option<Result<Fetched, String>>,
    thread: Option<JoinHandle<()>>,
    // Declared last: removed after the thread has ended (see `Drop`).
    _dir: OwnedTempDir,
}

/// Starts fetching `spec_json` for the store at `store_dir`; with `stream_nar`, the NAR is also
/// offered as a stream ([`Fetch::read_nar`]); the roots of `ca_file` (Nix's ssl-cert-file) are
/// trusted besides the built-in ones.
pub fn start_fetch(
    spec_json: &str,
    store_dir: &str,
    stream_nar: bool,
    ca_file: &str,
) -> Result<Box<Fetch>, String> {
    let spec = spec::check(spec_json).map_err(message)?;
    let temp = std::env::temp_dir();
    remove_leftovers(&temp, FETCH_TEMP_PREFIX);
    let dir = OwnedTempDir::new_in(&temp, FETCH_TEMP_PREFIX).map_err(|e| {
        format!(
            "cannot create a temporary directory in {}: {e} (set TMPDIR to a writable directory)",
            temp.display()
        )
    })?;
    // The store path is named `spec.name`: so is the directory added to the store.
    let root = dir.path().join(&spec.name);
    let cancel = CancelFlag::default();
    let counters = Arc::new(Counters::default());
    let stream = stream_nar.then(NarStream::new);
    let options = FetchOptions {
        progress: counters.clone(),
        cancel: cancel.clone(),
        nar_stream: stream.clone(),
        ca_file: (!ca_file.is_empty()).then(|| ca_file.into()),
    };
    let store_dir = store_dir.to_string();
    let (send, ended) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("nix-fetch-model".into())
        .spawn(move || {
            let result = fetch_and_hash(&spec, &root, &options, &store_dir);
            if let Some(stream) = &options.nar_stream {
                match &result {
                    Ok(_) => stream.commit(),
                    Err(message) => stream.fail(message.clone()),
                }
            }
            let _ = send.send(result);
        })
        .map_err(|e| format!("cannot start the fetch thread: {e}"))?;
    Ok(Box::new(Fetch {
        cancel,
        counters,
        stream,
        ended,
        outcome: None,
        thread: Some(thread),
        _dir: dir,
    }))
}

impl Fetch {
    pub fn wait(&mut self, timeout_ms: u32) -> bool {
        if self.outcome.is_none() {
            match self
                .ended
                .recv_timeout(Duration::from_millis(timeout_ms.into()))
            {
                Ok(outcome) => self.outcome = Some(outcome),
                Err(RecvTimeoutError::Timeout) => return false,
                Err(RecvTimeoutError::Disconnected) => {
                    self.outcome = Some(Err("the fetch thread ended without a result".into()))
                }
            }
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        true
    }

    pub fn progress(&self) -> FetchProgress {
        FetchProgress {
            done_bytes: self.counters.done.load(Ordering::Relaxed),
            total_bytes: self.counters.total.load(Ordering::Relaxed),
        }
    }

    pub fn take_notices(&self) -> Vec<String> {
        std::mem::take(
            &mut *self
                .counters
                .notices
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    pub fn result(&mut self) -> Result<Fetched, String> {
        while !self.wait(1000) {}
        self.outcome
            .clone()
            .unwrap_or_else(|| Err("the fetch has no result".into()))
    }

    /// Waits up to `timeout_ms` until the store may start reading the NAR; `Err` when the
    /// fetch failed first.
    pub fn nar_ready(&self, timeout_ms: u32) -> Result<bool, String> {
        self.nar_stream()?
            .wait_released(Duration::from_millis(timeout_ms.into()))
    }

    /// The next bytes of the NAR, waiting up to `timeout_ms` for some.
    pub fn read_nar(&self, buffer: &mut [u8], timeout_ms: u32) -> Result<NarChunk, String> {
        let read = self
            .nar_stream()?
            .read(buffer, Duration::from_millis(timeout_ms.into()));
        match read {
            Ok(NarRead::Bytes(bytes)) => Ok(NarChunk { bytes, end: false }),
            Ok(NarRead::Waiting) => Ok(NarChunk {
                bytes: 0,
                end: false,
            }),
            Ok(NarRead::End) => Ok(NarChunk {
                bytes: 0,
                end: true,
            }),
            Err(message) => Err(message),
        }
    }

    fn nar_stream(&self) -> Result<&NarStream, String> {
        self.stream.as_deref().ok_or_else(|| {
            "this fetch was started without a NAR stream; please report this bug".into()
        })
    }
}

impl Drop for Fetch {
    /// Stops the thread before its directory goes: nothing is left behind.
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.cancel.cancel();
            if let Some(stream) = &self.stream {
                stream.close_reader();
            }
            while !self.wait(1000) {}
        }
    }
}

fn fetch_and_hash(
    spec: &FetchSpec,
    root: &Path,
    options: &FetchOptions,
    store_dir: &str,
) -> Result<Fetched, String> {
    std::fs::create_dir(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let (
        outcome,
        NarSummary {
            hash: nar_hash,
            size: nar_size,
        },
    ) = fetch_into_with_nar_hash(spec, root, options).map_err(message)?;
    verify_nar_hash(spec, &outcome, &nar_hash).map_err(message)?;
    let store_path = fixed_output_path(store_dir, &spec.name, &nar_hash).map_err(message)?;
    Ok(Fetched {
        dir: root.to_string_lossy().into_owned(),
        commit: outcome.commit,
        nar_hash: nar_hash.to_sri(),
        nar_size,
        store_path,
    })
}

/// Counts what the fetch reports, for the C++ side to read on its own thread.
#[derive(Default)]
struct Counters {
    total: AtomicU64,
    done: AtomicU64,
    notices: Mutex<Vec<String>>,
}

impl Progress for Counters {
    fn started(&self, _files: usize, bytes: u64) {
        self.total.store(bytes, Ordering::Relaxed);
    }

    fn advanced(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
    }

    fn notice(&self, message: &str) {
        let mut notices = self.notices.lock().unwrap_or_else(|e| e.into_inner());
        notices.push(message.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn failed_fetch_leaves_no_directory() {
        // Port 9 (discard) refuses connections: the fetch fails fast.
        let mut fetch = start_fetch(
            r#"{"source":{"huggingface":{"repo":"org/name"}},
               "network":{"endpoint":"http://127.0.0.1:9","retries":0,"timeout":2}}"#,
            "/nix/store",
            true,
            "",
        )
        .unwrap();
        let dir: PathBuf = fetch._dir.path().to_path_buf();
        assert!(fetch.nar_ready(10_000).is_err());
        assert!(fetch.result().is_err());
        drop(fetch);
        assert!(!dir.exists());
    }
}
