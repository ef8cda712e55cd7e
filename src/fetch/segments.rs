//! A large file is downloaded as several byte ranges at once, each written at
//! its offset. `Frontier` tracks how much of each range is on disk, so a hasher
//! can read the file back in order right behind the downloads: the content is
//! verified while it streams in, with one small buffer whatever the file size.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use super::verify::ContentHasher;
use super::widening::WaitClock;
use super::CancelFlag;
use crate::error::{Error, Result};

/// Buffer of the hasher, and of each range's writes.
pub const BUFFER_SIZE: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

impl Range {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }
}

/// Splits `size` bytes into ranges of about `target` bytes (at least one range).
pub fn plan_ranges(size: u64, target: u64) -> Vec<Range> {
    let count = size.div_ceil(target.max(1)).max(1);
    let step = size.div_ceil(count).max(1);
    (0..count)
        .map(|i| Range {
            start: (i * step).min(size),
            end: ((i + 1) * step).min(size),
        })
        .filter(|r| r.len() > 0 || size == 0)
        .collect()
}

/// How many bytes of each range are written, and a way to wait for more.
pub struct Frontier {
    ranges: Vec<Range>,
    written: Vec<AtomicU64>,
    abandoned: AtomicBool,
    lock: Mutex<()>,
    more: Condvar,
}

impl Frontier {
    pub fn new(ranges: Vec<Range>) -> Self {
        let written = ranges.iter().map(|_| AtomicU64::new(0)).collect();
        Frontier {
            ranges,
            written,
            abandoned: AtomicBool::new(false),
            lock: Mutex::new(()),
            more: Condvar::new(),
        }
    }

    pub fn ranges(&self) -> &[Range] {
        &self.ranges
    }

    /// Where range `index` continues: its start plus what is written of it.
    pub fn position(&self, index: usize) -> u64 {
        self.ranges[index].start + self.written[index].load(Ordering::Acquire)
    }

    pub fn advance(&self, index: usize, bytes: u64) {
        self.written[index].fetch_add(bytes, Ordering::AcqRel);
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.more.notify_all();
    }

    /// The download stopped (failed or dropped): the hasher gives up.
    pub fn abandon(&self) {
        self.abandoned.store(true, Ordering::SeqCst);
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.more.notify_all();
    }

    /// The length of the prefix of the file that is completely written.
    fn contiguous(&self) -> u64 {
        for (index, range) in self.ranges.iter().enumerate() {
            let position = self.position(index);
            if position < range.end {
                return position;
            }
        }
        self.ranges.last().map_or(0, |r| r.end)
    }

    /// Waits until more than `done` bytes form a written prefix; `None` if the
    /// fetch was cancelled, or the download ended (abandoned) without writing more.
    fn wait_beyond(&self, done: u64, cancel: &CancelFlag) -> Option<u64> {
        wait_until(&self.lock, &self.more, |_| {
            if cancel.is_cancelled() {
                return Some(None);
            }
            // Written bytes stay valid once the download ends (the NAR hasher reads a
            // finished blob after its download has let go of the frontier).
            let ready = self.contiguous();
            if ready > done {
                return Some(Some(ready));
            }
            self.abandoned.load(Ordering::SeqCst).then_some(None)
        })
    }
}

/// Waits on `changed` until `check` (run under `lock`, and at least every 100 ms so that
/// flags set without notifying are seen) gives an answer.
pub fn wait_until<G, T>(
    lock: &Mutex<G>,
    changed: &Condvar,
    mut check: impl FnMut(&mut G) -> Option<T>,
) -> T {
    let mut guard = lock.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if let Some(answer) = check(&mut guard) {
            return answer;
        }
        guard = changed
            .wait_timeout(guard, Duration::from_millis(100))
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// Reads `file` in order as its ranges get written and feeds `hasher`, until
/// `size` bytes are hashed. Runs on a blocking thread.
pub fn hash_behind(
    file: &File,
    frontier: &Frontier,
    size: u64,
    mut hasher: ContentHasher,
    cancel: &CancelFlag,
) -> Result<ContentHasher> {
    read_behind(file, frontier, size, cancel, None, |bytes| {
        hasher.update(bytes)
    })?;
    Ok(hasher)
}

/// Reads `file` in order as its ranges get written and passes the bytes to `sink`,
/// until `size` bytes are read; `waits` counts the time spent waiting for bytes. Runs on a
/// blocking thread.
pub fn read_behind(
    file: &File,
    frontier: &Frontier,
    size: u64,
    cancel: &CancelFlag,
    waits: Option<&WaitClock>,
    mut sink: impl FnMut(&[u8]),
) -> Result<()> {
    let mut buffer = vec![0u8; BUFFER_SIZE];
    let mut done = 0u64;
    while done < size {
        let wait = || frontier.wait_beyond(done, cancel);
        let ready = match waits {
            Some(clock) => clock.time(wait),
            None => wait(),
        }
        .ok_or(Error::Interrupted)?;
        while done < ready {
            let want = ((ready - done) as usize).min(BUFFER_SIZE);
            file.read_exact_at(&mut buffer[..want], done)
                .map_err(|e| Error::io("(download being verified)", e))?;
            sink(&buffer[..want]);
            done += want as u64;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_file_exactly() {
        for (size, target) in [
            (0, 10),
            (1, 10),
            (10, 10),
            (11, 10),
            (100, 7),
            (1 << 30, 64 << 20),
        ] {
            let ranges = plan_ranges(size, target);
            assert_eq!(ranges.first().unwrap().start, 0);
            assert_eq!(ranges.last().unwrap().end, size);
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
            }
            assert!(
                ranges.iter().all(|r| r.len() <= target.max(1)),
                "{size} {target}"
            );
        }
    }

    #[test]
    fn hasher_follows_out_of_order_writes() {
        let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let file = File::create(&path).unwrap();
        file.set_len(content.len() as u64).unwrap();
        let frontier = Frontier::new(plan_ranges(content.len() as u64, 1_000_000));
        let cancel = CancelFlag::default();
        let oid = crate::hub::Oid::Sha256(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            &content,
        )));
        let reader = File::open(&path).unwrap();
        std::thread::scope(|scope| {
            let hashing = scope.spawn(|| {
                hash_behind(
                    &reader,
                    &frontier,
                    content.len() as u64,
                    ContentHasher::for_oid(&oid, 0),
                    &cancel,
                )
            });
            for index in [2, 0, 1] {
                let range = frontier.ranges()[index];
                let bytes = &content[range.start as usize..range.end as usize];
                file.write_all_at(bytes, range.start).unwrap();
                frontier.advance(index, range.len());
                std::thread::sleep(Duration::from_millis(20));
            }
            hashing
                .join()
                .unwrap()
                .unwrap()
                .check(&oid, "blob")
                .unwrap();
        });
    }

    #[test]
    fn abandoned_download_stops_the_hasher() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("blob")).unwrap();
        let frontier = Frontier::new(plan_ranges(10, 10));
        frontier.abandon();
        let oid = crate::hub::Oid::Sha256("0".repeat(64));
        let result = hash_behind(
            &file,
            &frontier,
            10,
            ContentHasher::for_oid(&oid, 10),
            &CancelFlag::default(),
        );
        assert!(matches!(result, Err(Error::Interrupted)));
    }
}
