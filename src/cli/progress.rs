//! Progress bars on a terminal (bytes, speed, ETA); warnings (retries, waits) always, as
//! `warning: ...` lines on stderr, above the bars when there are bars. A Nix builder reports
//! through Nix's log instead ([`super::build_log`]).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{HumanDuration, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use nix_fetch_model::fetch::Progress;
use nix_fetch_model::nix_build::in_nix_build;

use super::build_log::{BuildLog, Transfer};

/// Bars when stderr is a terminal, outside a Nix build (whose builder's stderr is a pty that
/// writes to the log), and not `--quiet`; else only the warnings.
pub fn reporter(quiet: bool) -> Arc<dyn Progress> {
    let in_build = in_nix_build(&|name| std::env::var(name).ok());
    if quiet || in_build || !std::io::stderr().is_terminal() {
        return Arc::new(WarningsOnly);
    }
    Arc::new(Bar::new())
}

/// A Nix builder's: Nix's structured log and plain lines for the build log; the warnings only
/// with `--quiet`.
pub fn builder_reporter(quiet: bool, transfer: Transfer) -> Arc<dyn Progress> {
    if quiet {
        return Arc::new(WarningsOnly);
    }
    Arc::new(BuildLog::new(transfer))
}

/// How long the download runs, and how much of it must be done, before the ETA shows: the
/// first seconds (connections, the first ranges) say little of the speed to come.
const ETA_AFTER: Duration = Duration::from_secs(3);
const ETA_AFTER_PER_MILLE: u64 = 5;

/// The time left at the average speed so far; none until that average means something.
fn eta(done: u64, total: u64, elapsed: Duration) -> Option<Duration> {
    if done == 0
        || elapsed < ETA_AFTER
        || done.saturating_mul(1000) < total.saturating_mul(ETA_AFTER_PER_MILLE)
    {
        return None;
    }
    let left = total.saturating_sub(done) as f64;
    Some(Duration::from_secs_f64(
        left * elapsed.as_secs_f64() / done as f64,
    ))
}

/// " ETA 2m", or nothing while [`eta`] has none.
fn eta_text(done: u64, total: Option<u64>, elapsed: Duration) -> String {
    total
        .and_then(|total| eta(done, total, elapsed))
        .map(|left| format!(" ETA {:#}", HumanDuration(left)))
        .unwrap_or_default()
}

fn warning(message: &str) -> String {
    format!("warning: {message}")
}

/// Prints the notices as lines on stderr, nothing else.
struct WarningsOnly;

impl Progress for WarningsOnly {
    fn notice(&self, message: &str) {
        super::eprint_line(&warning(message));
    }
}

struct Bar {
    bar: ProgressBar,
    files: AtomicUsize,
    files_done: AtomicUsize,
}

impl Bar {
    fn new() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec}{eta} {msg}",
            )
            .expect("valid template")
            .with_key("eta", |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = out.write_str(&eta_text(state.pos(), state.len(), state.elapsed()));
            }),
        );
        Bar {
            bar,
            files: AtomicUsize::new(0),
            files_done: AtomicUsize::new(0),
        }
    }
}

impl Progress for Bar {
    fn started(&self, files: usize, bytes: u64) {
        // The time, and the speed, of the download: not of what came before (the listing).
        self.bar.reset_elapsed();
        self.bar.reset_eta();
        self.bar.set_length(bytes);
        self.files.store(files, Ordering::Relaxed);
        self.bar.set_message(format!("0/{files} files"));
    }

    fn advanced(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    fn file_done(&self, _path: &str) {
        let total = self.files.load(Ordering::Relaxed);
        let done = self.files_done.fetch_add(1, Ordering::Relaxed) + 1;
        self.bar.set_message(format!("{done}/{total} files"));
    }

    fn notice(&self, message: &str) {
        self.bar.println(warning(message));
    }

    fn finished(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn no_eta_in_the_first_seconds() {
        assert_eq!(eta(50 * MIB, 100 * MIB, Duration::from_millis(500)), None);
        assert_eq!(
            eta_text(50 * MIB, Some(100 * MIB), Duration::from_secs(2)),
            ""
        );
    }

    #[test]
    fn no_eta_before_any_bytes_or_without_a_total() {
        assert_eq!(eta(0, 100 * MIB, Duration::from_secs(60)), None);
        // 0.1% done after 10 s: too little to say.
        assert_eq!(eta(100 * 1024, 100 * MIB, Duration::from_secs(10)), None);
        assert_eq!(eta_text(MIB, None, Duration::from_secs(10)), "");
    }

    #[test]
    fn eta_is_the_time_left_at_the_average_speed() {
        // 10 MiB in 5 s: 2 MiB/s, 90 MiB left, 45 s.
        assert_eq!(
            eta(10 * MIB, 100 * MIB, Duration::from_secs(5)),
            Some(Duration::from_secs(45))
        );
        assert_eq!(
            eta_text(10 * MIB, Some(100 * MIB), Duration::from_secs(5)),
            " ETA 45s"
        );
        assert_eq!(
            eta(100 * MIB, 100 * MIB, Duration::from_secs(5)),
            Some(Duration::ZERO)
        );
    }
}
