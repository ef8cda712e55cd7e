//! Command-line parsing and the dispatch to the subcommands.

mod build_log;
mod export;
mod fetch;
mod hub_cache;
mod import;
mod lock;
mod ls;
mod memory;
mod prefetch;
mod progress;
mod reference;
mod store;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use nix_fetch_model::fetch::CancelFlag;
use nix_fetch_model::Error;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

#[derive(Parser)]
#[command(
    name = "nix-fetch-model",
    version,
    about = "Reproducible AI models in the Nix store"
)]
struct Cli {
    /// No progress bars or summaries on stderr.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fetch a model, add it to the Nix store, print the commit, the hash, the store path and the
    /// fetchModel argument that pins it; what the store holds of that commit is not downloaded again.
    Prefetch(Box<prefetch::Args>),
    /// Fetch the repo a JSON spec describes into DIR (the builder of the fixed-output derivation).
    Fetch {
        /// The spec file, or - for standard input.
        #[arg(long)]
        spec: PathBuf,
        /// The output folder; it must not exist.
        #[arg(long)]
        out: PathBuf,
        /// Write straight into --out instead of a folder renamed onto it at the end
        /// (for a Nix builder, whose $out Nix removes on failure).
        #[arg(long)]
        direct: bool,
    },
    /// Lock the models of a models file (models.toml): prefetch each one the lock file
    /// (models.lock.json) lacks or that changed, a few at a time, and write the lock file.
    Lock(lock::LockArgs),
    /// Move locked models to where their revisions point now (all, or those named), and say
    /// what changed.
    Update(lock::UpdateArgs),
    /// List the files at a revision: sizes, LFS/Xet, the total, what --include/--exclude select.
    Ls(ls::Args),
    /// Turn a model huggingface_hub downloaded (a repo folder of a Hub cache) into the store path
    /// a fetch of its commit gives, every file checked, nothing downloaded (but with --fill).
    Import(import::Args),
    /// Link (or --copy) a model of the store into a writable Hub cache, beside the models
    /// huggingface_hub downloaded there.
    Export(export::Args),
    /// Print the NAR hash of a folder: the sha256 of its NAR serialisation, the `hash` a
    /// fixed-output derivation or fetchModel pins, as `nix hash path` (SRI) or
    /// `nix-hash --type sha256` (base-16) print it.
    Hash {
        /// The folder (or file) to hash, as Nix would add it to the store; symlinks are
        /// hashed as links, not followed.
        dir: PathBuf,
        /// How to write the hash.
        #[arg(long, value_enum, default_value_t = HashFormat::Sri)]
        format: HashFormat,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum HashFormat {
    /// sha256-<base-64>, as `nix hash path` prints it: the form to pin.
    Sri,
    /// Nix's base-32, as `nix-hash --type sha256 --base32` and `nix hash path --base32`.
    Nix32,
    /// Hexadecimal, as `nix-hash --type sha256` and `nix hash path --base16`.
    Base16,
    /// Plain base-64 of the digest, as `nix hash path --base64` and `nix hash to-base64`.
    Base64,
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let cancel = CancelFlag::default();
    let stopped_by = stop_on_signals(cancel.clone());
    let result = match cli.command {
        Command::Prefetch(args) => prefetch::run(*args, cli.quiet, cancel),
        Command::Fetch { spec, out, direct } => fetch::run(&spec, &out, direct, cli.quiet, cancel),
        Command::Lock(args) => lock::lock(args, cancel),
        Command::Update(args) => lock::update(args, cancel),
        Command::Ls(args) => ls::run(args, cli.quiet, cancel),
        Command::Import(args) => import::run(args, cli.quiet, cancel),
        Command::Export(args) => export::run(args, cli.quiet, cancel),
        Command::Hash { dir, format } => print_hash(&dir, format),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if is_closed_stdout(&error) => end_by_sigpipe(),
        Err(Error::Interrupted) => {
            let (message, status) = interrupted(stopped_by.load(Ordering::SeqCst));
            eprint_line(&message);
            ExitCode::from(status)
        }
        Err(error) => {
            eprint_line(&format!("error: {error}"));
            ExitCode::FAILURE
        }
    }
}

/// The first SIGINT (Ctrl-C), SIGTERM (`timeout`, systemd) or SIGHUP (a closed terminal) stops
/// the fetch cleanly, its folders removed, and the command exits with 128 + that signal, as a
/// shell reports it; a second one exits at once. Answers the first signal, 0 until one came.
fn stop_on_signals(cancel: CancelFlag) -> Arc<AtomicI32> {
    let first = Arc::new(AtomicI32::new(0));
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return first;
    };
    let seen = first.clone();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if cancel.is_cancelled() {
                std::process::exit(128 + signal);
            }
            seen.store(signal, Ordering::SeqCst);
            cancel.cancel();
        }
    });
    first
}

/// The message and exit status of a command that was interrupted, by `signal` (0: none came,
/// the fetch stopped for a reason it did not say).
fn interrupted(signal: i32) -> (String, u8) {
    let name = match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => return ("error: interrupted".to_string(), 1),
    };
    (format!("error: interrupted by {name}"), 128 + signal as u8)
}

/// `error`, a refusal of the arguments of prefetch's checks, headed by the command that gave them.
fn in_command(mut error: Error, command: &str) -> Error {
    if let Error::InvalidArguments { heading, .. } = &mut error {
        *heading = format!("nix-fetch-model {command}");
    }
    error
}

/// Prints `text` and a newline on stdout, without panicking when nobody reads any more.
pub fn print_line(text: &str) -> nix_fetch_model::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::io(STDOUT, e))
}

const STDOUT: &str = "(standard output)";

/// Prints `text` and a newline on stderr; a closed stderr is no reason to fail.
pub fn eprint_line(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

fn is_closed_stdout(error: &Error) -> bool {
    matches!(error, Error::Io { path, source }
        if path.as_os_str() == STDOUT && source.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Ends as other Unix tools do when their reader went away (`... | head`): killed by SIGPIPE,
/// which Rust programs ignore by default, so quietly.
fn end_by_sigpipe() -> ExitCode {
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    ExitCode::from(128 + libc::SIGPIPE as u8)
}

fn print_hash(dir: &std::path::Path, format: HashFormat) -> nix_fetch_model::Result<()> {
    let hash = nix_fetch_model::nar::nar_hash(dir)?;
    let text = match format {
        HashFormat::Sri => hash.to_sri(),
        HashFormat::Nix32 => hash.to_nix32(),
        HashFormat::Base16 => hash.to_base16(),
        HashFormat::Base64 => hash.to_base64(),
    };
    print_line(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interruption_names_the_signal_only_when_one_came() {
        assert_eq!(
            interrupted(SIGTERM),
            ("error: interrupted by SIGTERM".into(), 143)
        );
        assert_eq!(
            interrupted(SIGINT),
            ("error: interrupted by SIGINT".into(), 130)
        );
        assert_eq!(interrupted(0), ("error: interrupted".into(), 1));
    }
}
