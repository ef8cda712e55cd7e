//! `lock` and `update`: many models, pinned in a lock file. `lock` prefetches every entry of
//! the models file that the lock file lacks or that changed since (its `ref`, `include` or
//! `exclude`), a few at a time, each added to the Nix store, and writes the lock file; the other
//! entries stay as they are, without any network use. `update` does the same, and also moves
//! the entries it is given (all by default) to where their revisions point now.
//!
//! An entry that fails is named, and the others are written: the lock keeps what it had for
//! the failed one (nothing, if it was new), and the command exits with status 1.

mod files;
mod moved;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use nix_fetch_model::fetch::CancelFlag;
use nix_fetch_model::spec::is_commit;
use nix_fetch_model::{Error, Result};

use self::files::{Lock, Locked, Wanted};
use super::prefetch::{prefetch_spec, spec_of, Args, Report, Settings};

/// Entries fetched at once; each fetch has parallel downloads of its own.
const AT_ONCE: usize = 3;

#[derive(clap::Args)]
pub struct LockArgs {
    /// The models file: a table per model, with `ref` (a reference as `prefetch` takes it) and
    /// optional `include` / `exclude` globs.
    #[arg(long, value_name = "FILE", default_value = "models.toml")]
    models: PathBuf,
    /// The lock file (default: beside the models file, FILE.lock.json for FILE.toml).
    #[arg(long, value_name = "FILE")]
    lock: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct UpdateArgs {
    /// The entries to move (default: all).
    #[arg(value_name = "NAME")]
    names: Vec<String>,
    #[command(flatten)]
    files: LockArgs,
}

impl LockArgs {
    fn lock_path(&self) -> PathBuf {
        self.lock
            .clone()
            .unwrap_or_else(|| self.models.with_extension("lock.json"))
    }
}

pub fn lock(args: LockArgs, cancel: CancelFlag) -> Result<()> {
    reconcile(&args, &BTreeSet::new(), cancel)
}

pub fn update(args: UpdateArgs, cancel: CancelFlag) -> Result<()> {
    let models = files::read_models(&args.files.models)?;
    let unknown: Vec<&String> = args
        .names
        .iter()
        .filter(|name| !models.contains_key(*name))
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = models.keys().map(String::as_str).collect();
        let unknown: Vec<&str> = unknown.iter().map(|name| name.as_str()).collect();
        return Err(Error::InvalidArguments {
            heading: "nix-fetch-model update".into(),
            problems: vec![format!(
                "no entry {} in {}; its entries: {}",
                unknown.join(", "),
                args.files.models.display(),
                known.join(", ")
            )],
        });
    }
    let checked = match args.names.is_empty() {
        true => models.keys().cloned().collect(),
        false => args.names.into_iter().collect(),
    };
    reconcile(&args.files, &checked, cancel)
}

/// What to do for one entry of the models file: fetch it (it is not locked yet, or its entry
/// changed), or with `old`, fetch it only if its revision moved since.
struct Job {
    wanted: Wanted,
    old: Option<Locked>,
}

/// What came of a job.
enum Done {
    Locked(Locked),
    /// The revision points where it did: the entry as it was.
    Unchanged(Locked),
    Moved {
        old: Box<Locked>,
        new: Locked,
    },
}

/// Brings the lock file in line with the models file, and moves the entries in `checked`.
fn reconcile(args: &LockArgs, checked: &BTreeSet<String>, cancel: CancelFlag) -> Result<()> {
    let lock_path = args.lock_path();
    let models = files::read_models(&args.models)?;
    let old = files::read_lock(&lock_path)?;

    for name in old.keys().filter(|name| !models.contains_key(*name)) {
        super::print_line(&format!(
            "removed {name}: no longer in {}",
            args.models.display()
        ))?;
    }
    let mut lock: Lock = old
        .iter()
        .filter(|(name, _)| models.contains_key(*name))
        .map(|(name, locked)| (name.clone(), locked.clone()))
        .collect();
    let jobs: Vec<(String, Job)> = models
        .into_iter()
        .filter_map(|(name, wanted)| match old.get(&name) {
            Some(locked) if locked.is_of(&wanted) => checked.contains(&name).then(|| {
                let old = Some(locked.clone());
                (name, Job { wanted, old })
            }),
            _ => Some((name, Job { wanted, old: None })),
        })
        .collect();

    let settings = Settings {
        quiet: true,
        add: true,
        cancel,
    };
    let mut failed = Vec::new();
    let ran = run_jobs(&jobs, &settings, |name, done| {
        match done {
            Ok(done) => {
                if let Done::Locked(new) | Done::Moved { new, .. } = &done {
                    lock.insert(name.to_string(), new.clone());
                }
                super::print_line(&report(name, &done))?;
            }
            Err(Error::Interrupted) => {}
            Err(error) => {
                let message = error.to_string().replace('\n', "\n  ");
                super::eprint_line(&format!("error: {name}: {message}"));
                failed.push(name.to_string());
            }
        }
        Ok(())
    });

    // What finished is kept, whatever stopped the others.
    let wrote = files::write_lock(&lock_path, &lock)?;
    ran?;
    if settings.cancel.is_cancelled() {
        return Err(Error::Interrupted);
    }
    if !failed.is_empty() {
        // Each failure was reported as it came; this sums them up.
        return Err(Error::Source(format!(
            "{} of {} could not be locked ({}): {} holds the others; run the command again to \
             try again",
            plural(failed.len(), "entry", "entries"),
            args.models.display(),
            failed.join(", "),
            lock_path.display()
        )));
    }
    let state = if wrote { "written" } else { "up to date" };
    super::print_line(&format!(
        "{}: {}, {state}",
        lock_path.display(),
        plural(lock.len(), "model", "models")
    ))
}

/// Runs `jobs`, [`AT_ONCE`] at a time, and gives each result to `done` as it comes; stops
/// taking new jobs once cancelled.
fn run_jobs(
    jobs: &[(String, Job)],
    settings: &Settings,
    mut done: impl FnMut(&str, Result<Done>) -> Result<()>,
) -> Result<()> {
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let (sender, results) = mpsc::channel();
        for _ in 0..AT_ONCE.min(jobs.len()) {
            let sender = sender.clone();
            let next = &next;
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= jobs.len() || settings.cancel.is_cancelled() {
                    break;
                }
                let (name, job) = &jobs[i];
                if sender.send((name, run_job(name, job, settings))).is_err() {
                    break;
                }
            });
        }
        drop(sender);
        let mut first_error = Ok(());
        for (name, result) in results {
            if let Err(error) = done(name, result) {
                // Output failed (a closed pipe): stop the others, keep what finished.
                settings.cancel.cancel();
                first_error = first_error.and(Err(error));
            }
        }
        first_error
    })
}

fn run_job(name: &str, job: &Job, settings: &Settings) -> Result<Done> {
    let Job { wanted, old } = job;
    let (spec, spec_json) = spec_of(&Args {
        reference: Some(wanted.reference.clone()),
        include: wanted.include.clone(),
        exclude: wanted.exclude.clone(),
        ..Args::default()
    })?;
    if let Some(old) = old {
        if moved::current_commit(&spec, &settings.cancel)?.as_ref() == Some(&old.commit) {
            return Ok(Done::Unchanged(old.clone()));
        }
    }
    let fetched = prefetch_spec(&spec, settings)?;
    if !fetched.added {
        super::eprint_line(&format!(
            "note: {name}: not added to the Nix store (is nix-store on PATH?); a build fetches it"
        ));
    }
    let report = Report {
        spec: &spec,
        spec_json: &spec_json,
        fetched: &fetched,
    };
    let new = Locked {
        reference: wanted.reference.clone(),
        include: wanted.include.clone(),
        exclude: wanted.exclude.clone(),
        spec: spec_json.clone(),
        revision: fetched.outcome.revision.clone(),
        commit: fetched.outcome.commit.clone(),
        hash: fetched.hash.clone(),
        size: fetched.outcome.bytes,
        files: fetched.outcome.files.len(),
        pin: report.pin(),
    };
    Ok(match old {
        None => Done::Locked(new),
        Some(old) if (&old.commit, &old.hash) == (&new.commit, &new.hash) => {
            Done::Unchanged(old.clone())
        }
        Some(old) => Done::Moved {
            old: Box::new(old.clone()),
            new,
        },
    })
}

/// What the command prints when an entry is done.
fn report(name: &str, done: &Done) -> String {
    match done {
        Done::Locked(new) => format!(
            "locked {name}: {} at {}, {} ({}), {}",
            new.revision,
            short(&new.commit),
            files(new.files),
            size(new.size),
            new.hash
        ),
        Done::Unchanged(old) => format!(
            "unchanged {name}: {} at {}",
            old.revision,
            short(&old.commit)
        ),
        Done::Moved { old, new } => format!(
            "moved {name}: {}\n  commit: {} -> {}\n  hash:   {} -> {}\n  size:   {} ({}) -> {} ({})",
            new.revision,
            old.commit,
            new.commit,
            old.hash,
            new.hash,
            size(old.size),
            files(old.files),
            size(new.size),
            files(new.files)
        ),
    }
}

fn short(commit: &str) -> &str {
    match is_commit(commit) {
        true => &commit[..12],
        false => commit,
    }
}

fn files(count: usize) -> String {
    plural(count, "file", "files")
}

fn plural(count: usize, one: &str, more: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { more })
}

fn size(bytes: u64) -> String {
    indicatif::HumanBytes(bytes).to_string()
}
