//! How many requests a fetch followed by a NAR hasher keeps in flight.
//!
//! The NAR hasher reads the blobs in one order, so bytes that parallel requests bring in
//! ahead of it wait on disk until it gets there. Such a fetch starts with one request and
//! doubles them, up to `network.concurrency`, while the hasher spends most of its time
//! waiting for bytes: then the link, not the hasher, sets the pace, and more requests pay
//! off (a server that limits each connection, a long round trip). When one request already
//! brings bytes as fast as the hasher takes them, more would only take CPU from it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// How often the share of time the hasher waited is looked at.
pub const INTERVAL: Duration = Duration::from_millis(25);

/// Above this share of an interval spent waiting for bytes, the requests double.
const WAITING_SHARE: f64 = 0.5;

/// The time the hasher has spent waiting for bytes, including a wait still going on.
pub struct WaitClock {
    epoch: Instant,
    /// Nanoseconds of the waits that ended.
    waited: AtomicU64,
    /// When the current wait began, in nanoseconds after `epoch` plus one; 0: not waiting.
    waiting_since: AtomicU64,
}

impl Default for WaitClock {
    fn default() -> Self {
        WaitClock {
            epoch: Instant::now(),
            waited: AtomicU64::new(0),
            waiting_since: AtomicU64::new(0),
        }
    }
}

impl WaitClock {
    /// Runs `wait`, counting its time as waiting.
    pub fn time<T>(&self, wait: impl FnOnce() -> T) -> T {
        let since = self.nanos_now();
        self.waiting_since.store(since + 1, Ordering::Release);
        let answer = wait();
        self.waited
            .fetch_add(self.nanos_now() - since, Ordering::AcqRel);
        self.waiting_since.store(0, Ordering::Release);
        answer
    }

    /// All the time spent waiting so far. A wait that ends while this reads may count twice
    /// or not at all for that moment: a reading, not a sum to rely on.
    pub fn total(&self) -> Duration {
        let ongoing = match self.waiting_since.load(Ordering::Acquire) {
            0 => 0,
            since => self.nanos_now().saturating_sub(since - 1),
        };
        Duration::from_nanos(self.waited.load(Ordering::Acquire) + ongoing)
    }

    fn nanos_now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

/// The requests to keep in flight after an interval at `width` in which the hasher waited
/// for bytes `waiting_share` of the time (0 to 1).
pub fn next_width(width: usize, limit: usize, waiting_share: f64) -> usize {
    if waiting_share > WAITING_SHARE {
        (width * 2).min(limit)
    } else {
        width
    }
}

/// The requests a fetch followed by a NAR hasher starts with.
pub const FIRST_WIDTH: usize = 1;

/// Adds permits to `requests` (which starts with [`FIRST_WIDTH`]) as [`next_width`] says,
/// up to `limit`. Runs until it reaches `limit`; the fetch drops it when done.
pub async fn widen(requests: Arc<Semaphore>, limit: usize, hasher_waits: Arc<WaitClock>) {
    let mut width = FIRST_WIDTH;
    let mut last = (Instant::now(), hasher_waits.total());
    while width < limit {
        tokio::time::sleep(INTERVAL).await;
        let now = (Instant::now(), hasher_waits.total());
        let waited = now.1.saturating_sub(last.1).as_secs_f64();
        let share = waited / (now.0 - last.0).as_secs_f64().max(1e-9);
        let next = next_width(width, limit, share);
        requests.add_permits(next - width);
        width = next;
        last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_double_while_the_hasher_mostly_waits() {
        assert_eq!(next_width(1, 8, 0.9), 2);
        assert_eq!(next_width(2, 8, 0.6), 4);
        assert_eq!(next_width(4, 8, 1.0), 8);
        assert_eq!(next_width(4, 6, 1.0), 6);
        assert_eq!(next_width(8, 8, 1.0), 8);
    }

    #[test]
    fn requests_stay_when_the_hasher_keeps_busy() {
        assert_eq!(next_width(1, 8, 0.0), 1);
        assert_eq!(next_width(1, 8, 0.5), 1);
        assert_eq!(next_width(2, 8, 0.3), 2);
    }

    #[test]
    fn a_wait_counts_while_it_goes_on() {
        let clock = Arc::new(WaitClock::default());
        let waiting = clock.clone();
        let (started, release) = (
            std::sync::mpsc::channel::<()>(),
            std::sync::mpsc::channel::<()>(),
        );
        let (started_send, started_recv) = started;
        let (release_send, release_recv) = release;
        let waiter = std::thread::spawn(move || {
            waiting.time(|| {
                started_send.send(()).unwrap();
                release_recv.recv().unwrap();
            })
        });
        started_recv.recv().unwrap();
        std::thread::sleep(Duration::from_millis(30));
        let during = clock.total();
        assert!(during >= Duration::from_millis(30), "{during:?}");
        release_send.send(()).unwrap();
        waiter.join().unwrap();
        let after = clock.total();
        assert!(after >= during, "{after:?} < {during:?}");
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(clock.total(), after, "no wait goes on");
    }

    #[tokio::test]
    async fn permits_grow_to_the_limit_while_the_hasher_waits() {
        let requests = Arc::new(Semaphore::new(FIRST_WIDTH));
        let clock = Arc::new(WaitClock::default());
        let waiting = clock.clone();
        let (release, released) = std::sync::mpsc::channel::<()>();
        // The hasher waits for bytes the whole time.
        let hasher = std::thread::spawn(move || waiting.time(|| released.recv()));
        while clock.waiting_since.load(Ordering::Acquire) == 0 {
            std::thread::yield_now();
        }
        let widening = tokio::spawn(widen(requests.clone(), 6, clock));
        tokio::time::sleep(INTERVAL / 2).await;
        assert_eq!(requests.available_permits(), 1, "one request to begin with");
        widening.await.unwrap();
        assert_eq!(requests.available_permits(), 6);
        release.send(()).unwrap();
        hasher.join().unwrap().unwrap();
    }

    #[tokio::test]
    async fn permits_stay_while_the_hasher_keeps_busy() {
        let requests = Arc::new(Semaphore::new(FIRST_WIDTH));
        let widening = tokio::spawn(widen(requests.clone(), 8, Arc::new(WaitClock::default())));
        tokio::time::sleep(INTERVAL * 4).await;
        assert_eq!(requests.available_permits(), 1);
        widening.abort();
    }
}
