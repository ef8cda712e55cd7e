//! `export <store path | hf:org/name[@revision]>`: a model of the store, linked (or copied) into
//! a writable Hub cache beside the models huggingface_hub downloaded there, with the rules of
//! nix/modules/hub-links.sh: a missing repo folder becomes a link to the store path; a link
//! into the store is replaced by it; a folder downloaded the usual way gets the model's blobs,
//! snapshot and refs merged in, and a ref of it that names another commit is refused. Nothing
//! is half-written: each file appears by a rename, blobs before the snapshot links that name
//! them, refs last.

use std::path::{Path, PathBuf};

use nix_fetch_model::error::IoContext;
use nix_fetch_model::fetch::CancelFlag;
use nix_fetch_model::layout::{remove_leftovers, OwnedTempDir};
use nix_fetch_model::{Error, Result};

use super::hub_cache;
use super::prefetch;
use super::store;

#[derive(clap::Args)]
pub struct Args {
    /// A store path of a model laid out as a Hub cache repo folder (what prefetch prints), or a
    /// reference, as for prefetch (fetched and added to the store if it is not there).
    source: String,
    #[command(flatten)]
    repo: prefetch::RepoFlags,
    /// The Hub cache to write into (default: $HF_HUB_CACHE, else $HF_HOME/hub, else
    /// ~/.cache/huggingface/hub).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Copy the files instead of linking to the store (the cache then does not depend on the
    /// store path staying alive).
    #[arg(long)]
    copy: bool,
    /// The repo folder in the cache (default: the store path's name, models--org--name).
    #[arg(long, value_name = "FOLDER")]
    name: Option<String>,
    /// Only files matching these globs, for a reference (as for prefetch).
    #[arg(long = "include", value_name = "GLOB")]
    include: Vec<String>,
    /// Leave out files matching these globs, for a reference (as for prefetch).
    #[arg(long = "exclude", value_name = "GLOB")]
    exclude: Vec<String>,
}

/// Temporary names in the cache: `.<name>.nix-fetch-model-<pid>-...`, never a repo folder's.
const TEMP_INFIX: &str = ".nix-fetch-model-";

pub fn run(args: Args, quiet: bool, cancel: CancelFlag) -> Result<()> {
    let model = model_path(&args, quiet, &cancel)?;
    let name = match &args.name {
        Some(name) => name.clone(),
        None => store_name(&model),
    };
    if hub_cache::reference_of_folder(&name).is_none() {
        return Err(Error::Cli(format!(
            "{name} is not a repo folder name of a Hub cache (models--org--name, \
             datasets--org--name): give it with --name"
        )));
    }
    if !model.join("snapshots").is_dir() {
        return Err(Error::Cli(format!(
            "{} is not a model laid out as a Hub cache repo folder (it has no snapshots/)",
            model.display()
        )));
    }
    let cache = match &args.cache {
        Some(cache) => cache.clone(),
        None => hub_cache::cache_dir().map_err(Error::Cli)?,
    };
    std::fs::create_dir_all(&cache).at(&cache)?;
    let target = cache.join(&name);
    let ours = Refs::of(&model)?;
    let done = match target.symlink_metadata() {
        Err(_) if args.copy => {
            let temp = temp_dir(&cache, &name)?;
            merge(&model, temp.path(), &ours, true, &cancel)?;
            temp.rename_to(&target).at(&target)?;
            "copied into a new repo folder"
        }
        Err(_) => {
            link(&cache, &name, &model)?;
            "linked (a new repo folder)"
        }
        Ok(meta) if meta.file_type().is_symlink() => {
            let to = std::fs::read_link(&target).at(&target)?;
            if to == model {
                "already linked"
            } else if !to.starts_with(store::store_dir()) {
                return Err(Error::Cli(format!(
                    "{} is a link to {}, which is not in {}: move it away, then export again",
                    target.display(),
                    to.display(),
                    store::store_dir()
                )));
            } else {
                let what = format!("a link to {}", to.display());
                ours.refuse_conflicts(&Refs::of(&to)?, &target, &what, "remove the link")?;
                if args.copy {
                    let temp = temp_dir(&cache, &name)?;
                    merge(&model, temp.path(), &ours, true, &cancel)?;
                    temp.rename_to(&target).at(&target)?;
                    "copied, replacing a link to another store path"
                } else {
                    link(&cache, &name, &model)?;
                    "linked, replacing a link to another store path"
                }
            }
        }
        Ok(meta) if meta.is_dir() => {
            ours.refuse_conflicts(
                &Refs::of(&target)?,
                &target,
                "downloaded the usual way",
                "move it away, or delete those refs of it (export then writes them)",
            )?;
            match merge(&model, &target, &ours, args.copy, &cancel)? {
                0 => "already holds the model (downloaded the usual way); left as it is",
                _ if args.copy => "copied into the existing repo folder",
                _ => "linked into the existing repo folder",
            }
        }
        Ok(_) => {
            return Err(Error::Cli(format!(
                "{} is a file, not a repo folder: move it away, then export again",
                target.display()
            )))
        }
    };
    let mut lines = vec![
        format!("{}: {done}", target.display()),
        format!("from:     {}", model.display()),
    ];
    for (revision, commit) in &ours.refs {
        lines.push(format!("refs/{revision}: {commit}"));
    }
    for commit in &ours.snapshots {
        lines.push(format!("snapshot: {commit}"));
    }
    lines.push(format!("use it:   HF_HUB_CACHE={}", cache.display()));
    super::print_line(&lines.join("\n"))
}

/// The store path to export: `source` when it is a folder, else what prefetch gives for the
/// reference `source` (fetched and added to the store unless it is there).
fn model_path(args: &Args, quiet: bool, cancel: &CancelFlag) -> Result<PathBuf> {
    let path = Path::new(&args.source);
    if path.is_dir() {
        return path.canonicalize().at(path);
    }
    if args.source.starts_with(['/', '.']) {
        return Err(Error::Cli(format!("{}: no such folder", args.source)));
    }
    let prefetch_args = prefetch::Args {
        reference: Some(args.source.clone()),
        repo: args.repo.clone(),
        include: args.include.clone(),
        exclude: args.exclude.clone(),
        ..prefetch::Args::default()
    };
    let (spec, spec_json) =
        prefetch::spec_of(&prefetch_args).map_err(|e| super::in_command(e, "export"))?;
    let settings = prefetch::Settings {
        quiet,
        add: true,
        cancel: cancel.clone(),
    };
    let fetched = prefetch::prefetch_spec(&spec, &settings)?;
    let report = prefetch::Report {
        spec: &spec,
        spec_json: &spec_json,
        fetched: &fetched,
    };
    super::print_line(&report.text())?;
    if !fetched.added {
        return Err(Error::Cli(format!(
            "{} was fetched but not added to the Nix store: export needs a store path",
            args.source
        )));
    }
    Ok(PathBuf::from(&fetched.path))
}

/// The name of a store path without its hash: `models--org--name`.
fn store_name(model: &Path) -> String {
    let base = model
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    match base.split_once('-') {
        Some((hash, name)) if hash.len() == 32 => name.to_string(),
        _ => base,
    }
}

/// A new folder in the cache, removed unless renamed into place; those of exports that died
/// are removed first.
fn temp_dir(cache: &Path, name: &str) -> Result<OwnedTempDir> {
    let prefix = format!(".{name}{TEMP_INFIX}");
    remove_leftovers(cache, &prefix);
    OwnedTempDir::new_in(cache, &format!("{prefix}{}-", std::process::id())).at(cache)
}

/// `cache/name` made a link to `model` by a rename, as hub-links.sh does: the cache never
/// lacks the repo folder while it changes.
fn link(cache: &Path, name: &str, model: &Path) -> Result<()> {
    let new = cache.join(format!(".{name}{TEMP_INFIX}{}", std::process::id()));
    let _ = std::fs::remove_file(&new);
    std::os::unix::fs::symlink(model, &new).at(&new)?;
    let target = cache.join(name);
    std::fs::rename(&new, &target).map_err(|e| {
        let _ = std::fs::remove_file(&new);
        Error::io(&target, e)
    })
}

/// The refs (revision, commit) and snapshot commits of a repo folder.
struct Refs {
    refs: Vec<(String, String)>,
    snapshots: Vec<String>,
}

impl Refs {
    fn of(folder: &Path) -> Result<Refs> {
        let mut refs = Vec::new();
        let root = folder.join("refs");
        let mut folders = vec![root.clone()];
        while let Some(dir) = folders.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.at(&dir)?.path();
                if path.is_dir() {
                    folders.push(path);
                } else {
                    let revision = path.strip_prefix(&root).expect("below refs/");
                    let commit = std::fs::read_to_string(&path).at(&path)?;
                    refs.push((
                        revision.to_string_lossy().into_owned(),
                        commit.trim().to_string(),
                    ));
                }
            }
        }
        refs.sort();
        Ok(Refs {
            refs,
            snapshots: hub_cache::snapshots(folder),
        })
    }

    /// Refuses when a ref of `theirs` (the repo folder `target`, `what` it is) names another
    /// commit than the same ref of ours; `remedy` says what to do.
    fn refuse_conflicts(
        &self,
        theirs: &Refs,
        target: &Path,
        what: &str,
        remedy: &str,
    ) -> Result<()> {
        let conflicts: Vec<String> = self
            .refs
            .iter()
            .filter_map(|(revision, commit)| {
                let (_, other) = theirs.refs.iter().find(|(r, _)| r == revision)?;
                (other != commit).then(|| {
                    format!("its refs/{revision} is commit {other}, not the exported {commit}")
                })
            })
            .collect();
        if conflicts.is_empty() {
            return Ok(());
        }
        Err(Error::Cli(format!(
            "refusing to export into {} ({what}): {}. It is left as it is: {remedy}, then \
             export again",
            target.display(),
            conflicts.join("; ")
        )))
    }
}

/// Adds to the repo folder `target` what `model` holds that it lacks: blobs (links into the
/// store, or copies), then the snapshot's links, the cached listings, and the refs last.
/// Gives how many files it added.
fn merge(
    model: &Path,
    target: &Path,
    ours: &Refs,
    copy: bool,
    cancel: &CancelFlag,
) -> Result<usize> {
    let mut added = 0;
    let stop = || {
        if cancel.is_cancelled() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    };
    for folder in ["blobs", "snapshots", "refs"] {
        std::fs::create_dir_all(target.join(folder)).at(target.join(folder))?;
    }
    let blobs = model.join("blobs");
    for entry in std::fs::read_dir(&blobs).at(&blobs)? {
        stop()?;
        let name = entry.at(&blobs)?.file_name();
        let dest = target.join("blobs").join(&name);
        if dest.symlink_metadata().is_err() {
            put(
                &blobs.join(&name),
                &dest,
                if copy { Put::Copy } else { Put::Link },
            )?;
            added += 1;
        }
    }
    for relative in files_below(&model.join("snapshots"))? {
        stop()?;
        let dest = target.join("snapshots").join(&relative);
        if dest.symlink_metadata().is_err() {
            put(
                &model.join("snapshots").join(&relative),
                &dest,
                Put::SameLink,
            )?;
            added += 1;
        }
    }
    for relative in files_below(&model.join("trees"))? {
        let dest = target.join("trees").join(&relative);
        if dest.symlink_metadata().is_err() {
            put(&model.join("trees").join(&relative), &dest, Put::Copy)?;
        }
    }
    stop()?;
    for (revision, _) in &ours.refs {
        let dest = target.join("refs").join(revision);
        if dest.symlink_metadata().is_err() {
            put(&model.join("refs").join(revision), &dest, Put::Copy)?;
            added += 1;
        }
    }
    Ok(added)
}

enum Put {
    /// A writable copy of the file.
    Copy,
    /// A link to the file.
    Link,
    /// A link with the same target as the link (a snapshot's relative link to its blob).
    SameLink,
}

/// Makes `dest` from `source` under a temporary name, then renames it into place.
fn put(source: &Path, dest: &Path, how: Put) -> Result<()> {
    let parent = dest.parent().expect("a path in the repo folder");
    std::fs::create_dir_all(parent).at(parent)?;
    let name = dest.file_name().expect("a file name").to_string_lossy();
    let temp = parent.join(format!(".{name}{TEMP_INFIX}{}", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    let made = match how {
        Put::Copy => std::fs::copy(source, &temp).and_then(|_| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o644))
        }),
        Put::Link => std::os::unix::fs::symlink(source, &temp),
        Put::SameLink => {
            std::fs::read_link(source).and_then(|to| std::os::unix::fs::symlink(to, &temp))
        }
    };
    made.and_then(|()| std::fs::rename(&temp, dest))
        .map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            Error::io(dest, e)
        })
}

/// The paths of the files (and links) below `folder`, relative to it; none if it is missing.
fn files_below(folder: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut folders = vec![PathBuf::new()];
    while let Some(relative) = folders.pop() {
        let dir = folder.join(&relative);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let entry = entry.at(&dir)?;
            let path = relative.join(entry.file_name());
            if entry.file_type().at(&dir)?.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}
