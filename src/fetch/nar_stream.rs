//! The NAR of a fetch as a stream, for a store that takes one (Nix's daemon): the NAR hasher
//! copies every byte here as it hashes it, in NAR order, while the blobs download, and the
//! store reads it on its own thread. The bytes reach the store in one pass, while the download
//! goes on, instead of as a finished folder read again afterwards.
//!
//! A store must never see a complete NAR that should not be added (a blob that fails its
//! checksum, a NAR hash other than the pinned one):
//! - the last byte written is held back until [`NarStream::commit`], after every check; a
//!   failure ends the stream short, and the store throws the truncated NAR away;
//! - nothing is released before [`HOLD_BACK`] bytes are buffered (or the whole NAR is, and
//!   committed), and a failure reaches the reader only once it has read that much. Nix's daemon
//!   keeps the first 32 MiB of a NAR in memory and, if the stream ends there, unpacks what it got
//!   straight into the store path; past that, it unpacks into a temporary folder that it
//!   removes when the stream fails. (A Ctrl-C that Nix itself catches while it writes those
//!   first 32 MiB to the daemon is not covered: the daemon then leaves an unregistered folder
//!   that the garbage collector removes, as after an interrupted `nix-store --add`.)

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::progress::CancelFlag;
use crate::nar::NarCopy;

/// Bytes buffered before the store may read any: more than Nix's default `nar-buffer-size`.
pub const HOLD_BACK: usize = 33 << 20;
/// The buffers the hasher fills.
const CHUNK: usize = 1 << 20;

/// What a read of the stream gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    Bytes(usize),
    /// Nothing within the time given.
    Waiting,
    /// The NAR is complete and was read whole.
    End,
}

pub struct NarStream {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// Full chunks the store may read (once released), the first one from `offset`.
    chunks: VecDeque<Vec<u8>>,
    offset: usize,
    queued: usize,
    /// The chunk being filled: never handed out before the end, so the last byte is held back.
    filling: Vec<u8>,
    released: bool,
    /// Bytes the reader has taken.
    delivered: usize,
    end: End,
}

#[derive(Default, Clone, PartialEq, Eq)]
enum End {
    #[default]
    Open,
    Committed,
    Failed(String),
    /// The reader has gone: whatever is written is dropped.
    ReaderGone,
}

impl NarStream {
    pub fn new() -> Arc<NarStream> {
        Arc::new(NarStream {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        })
    }

    /// The writer's end, for [`crate::nar::NarHasher::copying_to`].
    pub fn writer(self: &Arc<Self>, cancel: CancelFlag) -> Box<dyn NarCopy> {
        Box::new(Writer {
            stream: self.clone(),
            cancel,
        })
    }

    /// Every check passed: the last bytes go out and the stream ends.
    pub fn commit(&self) {
        let mut state = self.lock();
        if state.end == End::Open {
            let last = std::mem::take(&mut state.filling);
            state.queue(last);
            state.released = true;
            state.end = End::Committed;
        }
        self.changed.notify_all();
    }

    /// The fetch failed with `message`: the reader gets it instead of the rest of the NAR.
    pub fn fail(&self, message: String) {
        let mut state = self.lock();
        if state.end == End::Open {
            state.end = End::Failed(message);
        }
        self.changed.notify_all();
    }

    /// The reader stops reading (a failure on its side): the writer no longer waits for it.
    pub fn close_reader(&self) {
        let mut state = self.lock();
        state.end = End::ReaderGone;
        state.chunks.clear();
        state.filling = Vec::new();
        self.changed.notify_all();
    }

    /// Waits up to `timeout` for the store's reads to be allowed; `Err` with the fetch's failure.
    pub fn wait_released(&self, timeout: Duration) -> Result<bool, String> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if let End::Failed(message) = &state.end {
                return Err(message.clone());
            }
            if state.released {
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            state = self.wait(state, left);
        }
    }

    /// Copies the next bytes into `buffer`, waiting up to `timeout` for some.
    pub fn read(&self, buffer: &mut [u8], timeout: Duration) -> Result<Read, String> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if let End::Failed(message) = &state.end {
                // A store that has read less than it keeps in memory would unpack a stream that
                // ends now into the store path: the bytes queued go out first.
                if !state.released || state.delivered >= HOLD_BACK || state.chunks.is_empty() {
                    return Err(message.clone());
                }
            }
            if state.released && !state.chunks.is_empty() {
                let chunks = state.chunks.len();
                let copied = state.take_into(buffer);
                if state.chunks.len() < chunks {
                    // A chunk is free: the writer may be waiting for room.
                    self.changed.notify_all();
                }
                return Ok(Read::Bytes(copied));
            }
            if state.end == End::Committed {
                return Ok(Read::End);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Read::Waiting);
            }
            state = self.wait(state, left);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(
        &self,
        state: std::sync::MutexGuard<'a, State>,
        at_most: Duration,
    ) -> std::sync::MutexGuard<'a, State> {
        self.changed
            .wait_timeout(state, at_most.min(Duration::from_millis(100)))
            .unwrap_or_else(|e| e.into_inner())
            .0
    }
}

impl State {
    fn queue(&mut self, chunk: Vec<u8>) {
        if chunk.is_empty() {
            return;
        }
        self.queued += chunk.len();
        self.chunks.push_back(chunk);
        if self.queued >= HOLD_BACK {
            self.released = true;
        }
    }

    fn take_into(&mut self, buffer: &mut [u8]) -> usize {
        let front = self.chunks.front().expect("a chunk");
        let copied = buffer.len().min(front.len() - self.offset);
        buffer[..copied].copy_from_slice(&front[self.offset..self.offset + copied]);
        self.offset += copied;
        self.queued -= copied;
        self.delivered += copied;
        if self.offset == front.len() {
            self.chunks.pop_front();
            self.offset = 0;
        }
        copied
    }
}

struct Writer {
    stream: Arc<NarStream>,
    cancel: CancelFlag,
}

impl NarCopy for Writer {
    fn copy(&mut self, mut bytes: &[u8]) {
        let stream = &self.stream;
        let mut state = stream.lock();
        while !bytes.is_empty() {
            if state.end != End::Open {
                return;
            }
            if state.filling.len() == CHUNK {
                // A full chunk goes out only now that more bytes follow it.
                while state.queued >= HOLD_BACK
                    && state.end == End::Open
                    && !self.cancel.is_cancelled()
                {
                    state = stream.wait(state, Duration::from_millis(100));
                }
                if self.cancel.is_cancelled() {
                    return;
                }
                let full = std::mem::replace(&mut state.filling, Vec::with_capacity(CHUNK));
                state.queue(full);
                stream.changed.notify_all();
            }
            if state.filling.capacity() == 0 {
                state.filling.reserve_exact(CHUNK);
            }
            let room = CHUNK - state.filling.len();
            let (now, later) = bytes.split_at(room.min(bytes.len()));
            state.filling.extend_from_slice(now);
            bytes = later;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(stream: &NarStream) -> Result<Vec<u8>, String> {
        let mut got = Vec::new();
        let mut buffer = [0u8; 8192];
        loop {
            match stream.read(&mut buffer, Duration::from_secs(5))? {
                Read::Bytes(n) => got.extend_from_slice(&buffer[..n]),
                Read::End => return Ok(got),
                Read::Waiting => panic!("no bytes for 5 s"),
            }
        }
    }

    #[test]
    fn a_small_stream_is_released_whole_at_the_commit() {
        let stream = NarStream::new();
        let mut writer = stream.writer(CancelFlag::default());
        writer.copy(b"nix-archive-1");
        assert_eq!(stream.wait_released(Duration::ZERO), Ok(false));
        let mut buffer = [0u8; 16];
        assert_eq!(stream.read(&mut buffer, Duration::ZERO), Ok(Read::Waiting));
        stream.commit();
        assert_eq!(read_all(&stream).unwrap(), b"nix-archive-1");
    }

    #[test]
    fn a_large_stream_flows_once_held_back_bytes_are_buffered_but_its_end_waits_for_the_commit() {
        let stream = NarStream::new();
        let bytes: Vec<u8> = (0..HOLD_BACK + 3 * CHUNK + 5)
            .map(|i| (i % 251) as u8)
            .collect();
        let writer = {
            let (stream, bytes) = (stream.clone(), bytes.clone());
            std::thread::spawn(move || {
                let mut writer = stream.writer(CancelFlag::default());
                for piece in bytes.chunks(100_000) {
                    writer.copy(piece);
                }
            })
        };
        assert_eq!(stream.wait_released(Duration::from_secs(5)), Ok(true));
        let mut got = Vec::new();
        let mut buffer = vec![0u8; 8192];
        while got.len() < bytes.len() - CHUNK {
            match stream.read(&mut buffer, Duration::from_secs(5)).unwrap() {
                Read::Bytes(n) => got.extend_from_slice(&buffer[..n]),
                other => panic!("{other:?} after {} bytes", got.len()),
            }
        }
        writer.join().unwrap();
        // All written, nothing committed: all but the last bytes can be read.
        while let Read::Bytes(n) = stream.read(&mut buffer, Duration::from_millis(50)).unwrap() {
            got.extend_from_slice(&buffer[..n]);
        }
        assert_eq!(got.len(), bytes.len() - 5);
        stream.commit();
        got.extend(read_all(&stream).unwrap());
        assert_eq!(got, bytes);
    }

    #[test]
    fn a_failure_before_the_release_reaches_the_reader_instead_of_any_byte() {
        let stream = NarStream::new();
        let mut writer = stream.writer(CancelFlag::default());
        writer.copy(&vec![7u8; HOLD_BACK / 2]);
        stream.fail("model.safetensors: sha256 mismatch".into());
        let mut buffer = [0u8; 8192];
        assert_eq!(
            stream.read(&mut buffer, Duration::ZERO),
            Err("model.safetensors: sha256 mismatch".into())
        );
        assert!(stream.wait_released(Duration::ZERO).is_err());
    }

    #[test]
    fn a_failure_soon_after_the_release_comes_after_the_held_back_bytes() {
        let stream = NarStream::new();
        let mut writer = stream.writer(CancelFlag::default());
        writer.copy(&vec![7u8; HOLD_BACK + CHUNK / 2]);
        assert_eq!(stream.wait_released(Duration::ZERO), Ok(true));
        let mut buffer = vec![0u8; 8192];
        let mut read = 0;
        for _ in 0..10 {
            let Ok(Read::Bytes(n)) = stream.read(&mut buffer, Duration::ZERO) else {
                panic!("no bytes")
            };
            read += n;
        }
        stream.fail("model.safetensors: sha256 mismatch".into());
        loop {
            match stream.read(&mut buffer, Duration::ZERO) {
                Ok(Read::Bytes(n)) => read += n,
                Err(message) => {
                    assert_eq!(message, "model.safetensors: sha256 mismatch");
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(read >= HOLD_BACK, "the failure came after {read} bytes");
    }

    #[test]
    fn a_writer_waiting_for_room_stops_when_the_reader_goes_or_the_fetch_is_cancelled() {
        for by_cancel in [false, true] {
            let stream = NarStream::new();
            let cancel = CancelFlag::default();
            let writer = {
                let (stream, cancel) = (stream.clone(), cancel.clone());
                std::thread::spawn(move || {
                    stream
                        .writer(cancel)
                        .copy(&vec![1u8; HOLD_BACK + 4 * CHUNK])
                })
            };
            assert_eq!(stream.wait_released(Duration::from_secs(5)), Ok(true));
            if by_cancel {
                cancel.cancel();
            } else {
                stream.close_reader();
            }
            writer.join().unwrap();
        }
    }
}
