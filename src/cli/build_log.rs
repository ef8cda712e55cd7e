//! What `fetch` reports as a Nix builder (inside a Nix build, or `--direct`), where stderr is
//! the build's log (a pty, so no bars there):
//!
//! - Nix's structured log: the `@nix {json}` lines Nix reads from a builder's stderr. A
//!   file-transfer activity, its progress results, and its stop, as `fetchurl` reports, so
//!   that `nix build` shows the MiB downloaded. Of the activities a builder starts, Nix 2.8
//!   to 2.26 (`handleJSONLogMessage`, fed by `DerivationGoal::flushLine`) take file transfers
//!   only, keyed by the builder's own ids (each gets a fresh id of Nix's, under the build's
//!   activity), and then their results and their stop.
//! - Plain, sparse lines for people reading the log (`nix-build`, `nix-store -l`): the start,
//!   each file done, and the bytes and speed every few seconds, in human units.
//!
//! Nix copies a builder's whole output into the build log, `@nix` lines included; these are
//! JSON, with no control characters.

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::HumanBytes;
use nix_fetch_model::fetch::Progress;
use serde_json::json;

/// Nix's `actFileTransfer` (an `ActivityType`).
const ACT_FILE_TRANSFER: u64 = 101;
/// Nix's `resProgress` (a `ResultType`): fields done, expected, running, failed.
const RES_PROGRESS: u64 = 105;
/// Nix's `lvlInfo` (a `Verbosity`), the level of the plugin's activity.
const LVL_INFO: u64 = 3;

/// How often Nix hears of the progress, at most.
const STRUCTURED_EVERY: Duration = Duration::from_secs(1);
/// How often the log gets a line of the bytes done, at most.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// What the activity names: the same as the plugin's (cpp/fetch-model.cc).
pub struct Transfer {
    /// "fetching model 'org/name' at 'main' from https://huggingface.co"
    pub text: String,
    /// The activity's one field, as `fetchurl`'s URL: "https://huggingface.co/org/name"
    pub uri: String,
}

/// A reporter that writes the lines of [`Log`] to stderr.
pub struct BuildLog {
    log: Mutex<Log>,
}

impl BuildLog {
    pub fn new(transfer: Transfer) -> Self {
        // Any id distinct within the build does; the process id keeps ours apart from what
        // another program in the same builder may print.
        let id = u64::from(std::process::id()) << 16 | 1;
        BuildLog {
            log: Mutex::new(Log::new(id, transfer)),
        }
    }

    fn with_log(&self, report: impl FnOnce(&mut Log, Instant) -> Vec<String>) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let lines = report(&mut log, Instant::now());
        write_lines(&lines);
    }
}

/// Writes `lines` in one write, so that no other line of the process lands inside one.
fn write_lines(lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

impl Progress for BuildLog {
    fn started(&self, files: usize, bytes: u64) {
        self.with_log(|log, now| log.started(files, bytes, now));
    }

    fn advanced(&self, bytes: u64) {
        self.with_log(|log, now| log.advanced(bytes, now));
    }

    fn file_done(&self, path: &str) {
        self.with_log(|log, _| log.file_done(path));
    }

    fn notice(&self, message: &str) {
        write_lines(&[format!("warning: {message}")]);
    }

    fn finished(&self) {
        self.with_log(|log, _| log.finished());
    }
}

/// The lines a fetch gives, decided from the events and the time they came at.
struct Log {
    id: u64,
    transfer: Transfer,
    /// Set by `started`; an activity runs from then until `finished`.
    running: Option<Running>,
}

struct Running {
    files: usize,
    files_done: usize,
    total: u64,
    done: u64,
    structured_at: Instant,
    plain_at: Instant,
    plain_done: u64,
}

impl Log {
    fn new(id: u64, transfer: Transfer) -> Self {
        Log {
            id,
            transfer,
            running: None,
        }
    }

    fn started(&mut self, files: usize, total: u64, now: Instant) -> Vec<String> {
        self.running = Some(Running {
            files,
            files_done: 0,
            total,
            done: 0,
            structured_at: now,
            plain_at: now,
            plain_done: 0,
        });
        vec![
            start_line(self.id, &self.transfer),
            progress_line(self.id, 0, total),
            format!(
                "downloading {}, {}",
                count(files, "file"),
                HumanBytes(total)
            ),
        ]
    }

    fn advanced(&mut self, bytes: u64, now: Instant) -> Vec<String> {
        let Some(run) = &mut self.running else {
            return Vec::new();
        };
        run.done = run.done.saturating_add(bytes);
        let mut lines = Vec::new();
        if now.duration_since(run.structured_at) >= STRUCTURED_EVERY {
            run.structured_at = now;
            lines.push(progress_line(self.id, run.done, run.total));
        }
        let since = now.duration_since(run.plain_at);
        if since >= PLAIN_EVERY {
            let speed = (run.done - run.plain_done) as f64 / since.as_secs_f64();
            lines.push(bytes_line(
                run.done,
                run.total,
                speed,
                run.files_done,
                run.files,
            ));
            run.plain_at = now;
            run.plain_done = run.done;
        }
        lines
    }

    fn file_done(&mut self, path: &str) -> Vec<String> {
        let Some(run) = &mut self.running else {
            return Vec::new();
        };
        run.files_done += 1;
        vec![format!(
            "downloaded {} ({} of {})",
            printable(path),
            run.files_done,
            count(run.files, "file")
        )]
    }

    fn finished(&mut self) -> Vec<String> {
        let Some(run) = self.running.take() else {
            return Vec::new();
        };
        vec![
            progress_line(self.id, run.done, run.total),
            stop_line(self.id),
        ]
    }
}

/// "downloaded 12.00 MiB of 48.00 MiB (25%), 2.40 MiB/s, 1 of 3 files"
fn bytes_line(done: u64, total: u64, per_second: f64, files_done: usize, files: usize) -> String {
    let percent = if total == 0 {
        100
    } else {
        (u128::from(done) * 100 / u128::from(total)) as u64
    };
    format!(
        "downloaded {} of {} ({percent}%), {}/s, {files_done} of {} done",
        HumanBytes(done),
        HumanBytes(total),
        HumanBytes(per_second as u64),
        count(files, "file"),
    )
}

/// "1 file", "3 files"
fn count(n: usize, thing: &str) -> String {
    match n {
        1 => format!("1 {thing}"),
        n => format!("{n} {thing}s"),
    }
}

/// `text` with its control characters escaped, so that a name cannot move the cursor or end
/// a line of the log.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn nix_line(message: serde_json::Value) -> String {
    format!("@nix {message}")
}

fn start_line(id: u64, transfer: &Transfer) -> String {
    nix_line(json!({
        "action": "start",
        "id": id,
        "level": LVL_INFO,
        "type": ACT_FILE_TRANSFER,
        "text": transfer.text,
        "fields": [transfer.uri],
    }))
}

/// Nix's `Activity::progress(done, expected)`, as `fetchurl` reports it (nothing running or
/// failed: those counts are in the same unit, bytes).
fn progress_line(id: u64, done: u64, expected: u64) -> String {
    nix_line(json!({
        "action": "result",
        "id": id,
        "type": RES_PROGRESS,
        "fields": [done, expected, 0, 0],
    }))
}

fn stop_line(id: u64) -> String {
    nix_line(json!({ "action": "stop", "id": id }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn transfer() -> Transfer {
        Transfer {
            text: "fetching model 'org/name' at 'main' from http://hub".into(),
            uri: "http://hub/org/name".into(),
        }
    }

    /// The JSON of an `@nix` line.
    fn nix_json(line: &str) -> Value {
        let json = line.strip_prefix("@nix ").expect("an @nix line");
        serde_json::from_str(json).expect("JSON")
    }

    fn nix_lines(lines: &[String]) -> Vec<Value> {
        lines
            .iter()
            .filter(|l| l.starts_with("@nix "))
            .map(|l| nix_json(l))
            .collect()
    }

    fn plain_lines(lines: &[String]) -> Vec<&String> {
        lines.iter().filter(|l| !l.starts_with("@nix ")).collect()
    }

    #[test]
    fn start_is_a_file_transfer_activity_as_nix_reads_it() {
        let start = nix_json(&start_line(7, &transfer()));
        assert_eq!(start["action"], "start");
        assert_eq!(start["id"], 7);
        assert_eq!(start["type"], 101);
        assert_eq!(start["level"], 3);
        assert_eq!(start["text"], transfer().text);
        assert_eq!(start["fields"], json!(["http://hub/org/name"]));
    }

    #[test]
    fn progress_is_done_expected_running_failed() {
        let result = nix_json(&progress_line(7, 10, 40));
        assert_eq!(result["action"], "result");
        assert_eq!(result["id"], 7);
        assert_eq!(result["type"], 105);
        assert_eq!(result["fields"], json!([10, 40, 0, 0]));
        let stop = nix_json(&stop_line(7));
        assert_eq!(stop, json!({"action": "stop", "id": 7}));
    }

    #[test]
    fn lines_have_no_control_characters() {
        let mut log = Log::new(1, transfer());
        let t0 = Instant::now();
        let mut lines = log.started(2, 3 << 20, t0);
        lines.extend(log.advanced(1 << 20, t0 + Duration::from_secs(6)));
        lines.extend(log.file_done("weights\u{1b}[2K.bin"));
        lines.extend(log.finished());
        assert_eq!(lines.len(), 3 + 2 + 1 + 2, "{lines:#?}");
        for line in &lines {
            assert!(!line.chars().any(char::is_control), "{line:?}");
        }
    }

    #[test]
    fn a_run_starts_reports_at_a_sane_rate_and_stops() {
        let mut log = Log::new(1, transfer());
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut lines = log.started(1, 100 << 20, t0);
        // 100 chunks of 1 MiB over 10 s: every 100 ms.
        for i in 1..=100 {
            lines.extend(log.advanced(1 << 20, at(i * 100)));
        }
        lines.extend(log.file_done("model.safetensors"));
        lines.extend(log.finished());

        let nix = nix_lines(&lines);
        assert_eq!(nix.first().unwrap()["action"], "start");
        assert_eq!(nix.last().unwrap(), &json!({"action": "stop", "id": 1}));
        let progress: Vec<&Value> = nix.iter().filter(|j| j["action"] == "result").collect();
        // At 0 s, then every second up to 10 s, then the final one.
        assert_eq!(progress.len(), 1 + 10 + 1, "{nix:#?}");
        assert_eq!(
            progress.last().unwrap()["fields"],
            json!([100 << 20, 100 << 20, 0, 0])
        );

        let plain = plain_lines(&lines);
        assert_eq!(
            plain,
            [
                "downloading 1 file, 100.00 MiB",
                "downloaded 50.00 MiB of 100.00 MiB (50%), 10.00 MiB/s, 0 of 1 file done",
                "downloaded 100.00 MiB of 100.00 MiB (100%), 10.00 MiB/s, 0 of 1 file done",
                "downloaded model.safetensors (1 of 1 file)",
            ]
        );
    }

    #[test]
    fn nothing_before_the_start_or_after_the_end() {
        let mut log = Log::new(1, transfer());
        let t0 = Instant::now();
        assert!(log.advanced(10, t0).is_empty());
        assert!(log.finished().is_empty());
        log.started(1, 10, t0);
        assert_eq!(log.finished().len(), 2);
        assert!(log.finished().is_empty());
    }
}
