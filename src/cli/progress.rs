//! Progress bars on a terminal (bytes, speed, ETA); warnings (retries, waits) always, as
//! `warning: ...` lines on stderr, above the bars when there are bars.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nix_fetch_model::fetch::Progress;

/// Bars when stderr is a terminal and not `--quiet`; else only the warnings.
pub fn reporter(quiet: bool) -> Arc<dyn Progress> {
    if quiet || !std::io::stderr().is_terminal() {
        return Arc::new(WarningsOnly);
    }
    Arc::new(Bar::new())
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
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
            )
            .expect("valid template"),
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
