//! `import <repo folder of a Hub cache | hf:org/name[@revision]>`: what huggingface_hub already
//! downloaded becomes the store path a fetch of that commit gives, without downloading it
//! again. The fetch's own plan (the listing of `trees/<commit>.json`, else the Hub's) names
//! every file and its digest; the files the snapshot holds come from its blobs
//! ([`Content::Local`]), which the engine copies and checks as it checks a download, so the
//! layout and the hash are a fetch's. `--fill` downloads the files the snapshot lacks.

use std::path::{Path, PathBuf};

use nix_fetch_model::error::IoContext;
use nix_fetch_model::fetch::{self, CancelFlag, FetchOptions};
use nix_fetch_model::hub::{is_hex, Oid};
use nix_fetch_model::layout::{self, remove_leftovers, OwnedTempDir, FETCH_TEMP_PREFIX};
use nix_fetch_model::sources::{Content, Digest, Plan};
use nix_fetch_model::spec;
use nix_fetch_model::{Error, Result};
use serde_json::json;

use super::hub_cache;
use super::prefetch::{self, Report, Settings};
use super::progress::reporter;

#[derive(clap::Args)]
pub struct Args {
    /// A repo folder of a Hub cache (.../hub/models--org--name), or hf:org/name[@revision]
    /// (hf:datasets/org/name...), found in $HF_HUB_CACHE, else $HF_HOME/hub, else
    /// ~/.cache/huggingface/hub.
    source: String,
    /// The snapshot to import: a branch or tag (through the folder's refs/<revision>) or a
    /// commit (default: the reference's revision, else main).
    #[arg(long)]
    revision: Option<String>,
    /// Download the files the snapshot lacks (only those) instead of refusing.
    #[arg(long)]
    fill: bool,
    /// Only files matching these globs (huggingface_hub's allow_patterns).
    #[arg(long = "include", value_name = "GLOB")]
    include: Vec<String>,
    /// Leave out files matching these globs (huggingface_hub's ignore_patterns).
    #[arg(long = "exclude", value_name = "GLOB")]
    exclude: Vec<String>,
    /// The store path name (default: the Hub cache folder name, models--org--name).
    #[arg(long)]
    name: Option<String>,
    /// The Hub endpoint for a listing or --fill (default: $HF_ENDPOINT, else https://huggingface.co).
    #[arg(long)]
    endpoint: Option<String>,
    /// Do not add the result to the Nix store.
    #[arg(long)]
    no_add: bool,
    /// Print JSON, for scripts.
    #[arg(long, conflicts_with = "nix")]
    json: bool,
    /// Print a Nix attrset to paste as the argument of fetchModel.
    #[arg(long)]
    nix: bool,
}

pub fn run(args: Args, quiet: bool, cancel: CancelFlag) -> Result<()> {
    let (folder, reference) = folder_and_reference(&args.source)?;
    let (mut spec_json, revision) = {
        let (spec, json) = prefetch::spec_of(&prefetch::Args {
            reference: Some(reference),
            include: args.include.clone(),
            exclude: args.exclude.clone(),
            name: args.name.clone(),
            endpoint: args.endpoint.clone(),
            ..prefetch::Args::default()
        })
        .map_err(|e| super::in_command(e, "import"))?;
        let revision = match (&args.revision, spec.huggingface()) {
            (Some(revision), _) => revision.clone(),
            (None, Some(hf)) => hf.revision.clone(),
            (None, None) => {
                return Err(Error::Cli(format!(
                    "{}: import takes hf: references",
                    args.source
                )))
            }
        };
        (json, revision)
    };
    let commit = commit_of(&folder, &revision)?;
    let source = &mut spec_json["source"]["huggingface"];
    source["revision"] = json!(revision);
    if revision != commit {
        source["commit"] = json!(commit);
    }
    let spec = spec::check(&spec_json.to_string())?;

    let options = FetchOptions {
        progress: reporter(quiet),
        cancel,
        ..FetchOptions::default()
    };
    let mut planned = match layout::read_tree_cache(&folder, &commit)? {
        Some(listing) => fetch::plan_listed(&spec, listing, &options),
        None => fetch::plan(&spec, &options),
    }
    .map_err(Error::in_prefetch_terms)?;
    let locals = from_the_snapshot(&mut planned.plan, &folder, &commit, args.fill)?;

    let temp_dir = std::env::temp_dir();
    remove_leftovers(&temp_dir, FETCH_TEMP_PREFIX);
    let temp = OwnedTempDir::new_in(&temp_dir, FETCH_TEMP_PREFIX).at(&temp_dir)?;
    let dir = temp.path().join(&spec.name);
    std::fs::create_dir(&dir).at(&dir)?;
    let (outcome, summary) = planned
        .fetch_into_with_nar_hash(&spec, &dir, &options)
        .map_err(|error| naming_the_cached_file(error, &locals, &commit))?;
    let settings = Settings {
        quiet,
        add: !args.no_add,
        cancel: options.cancel.clone(),
    };
    let fetched = prefetch::add_to_store(&spec, &dir, outcome, summary.hash, &settings)?;
    let report = Report {
        spec: &spec,
        spec_json: &spec_json,
        fetched: &fetched,
    };
    super::print_line(&report.render(args.json, args.nix))
}

/// The repo folder and the reference of the repo it holds (with its revision, when a
/// reference was given).
fn folder_and_reference(source: &str) -> Result<(PathBuf, String)> {
    let path = Path::new(source);
    if path.is_dir() {
        let name = path
            .canonicalize()
            .at(path)?
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let reference = hub_cache::reference_of_folder(&name).ok_or_else(|| {
            Error::Cli(format!(
                "{source} is not a repo folder of a Hub cache: its name is not \
                 models--org--name (or datasets--org--name, spaces--org--name)"
            ))
        })?;
        return Ok((path.to_path_buf(), reference));
    }
    if source.starts_with(['/', '.']) {
        return Err(Error::Cli(format!("{source}: no such folder")));
    }
    let (spec, _) = prefetch::spec_of(&prefetch::Args {
        reference: Some(source.to_string()),
        ..prefetch::Args::default()
    })
    .map_err(|e| super::in_command(e, "import"))?;
    let Some(hf) = spec.huggingface() else {
        return Err(Error::Cli(format!(
            "{source}: import takes a repo folder of a Hub cache or an hf: reference"
        )));
    };
    let cache = hub_cache::cache_dir().map_err(Error::Cli)?;
    let folder = cache.join(hf.repo.cache_folder_name());
    if !folder.is_dir() {
        return Err(Error::Cli(format!(
            "{} is not in the Hub cache {}: no folder {}; download it with huggingface_hub, \
             or fetch it with `nix-fetch-model prefetch {source}`",
            hf.repo.id,
            cache.display(),
            folder.display()
        )));
    }
    Ok((folder, source.to_string()))
}

/// The commit of the snapshot of `revision`: the revision itself when it is a commit, else
/// what `refs/<revision>` holds.
fn commit_of(folder: &Path, revision: &str) -> Result<String> {
    let commits = hub_cache::snapshots(folder);
    let listed = match commits.as_slice() {
        [] => "it has no snapshot".to_string(),
        commits => format!("its snapshots: {}", commits.join(", ")),
    };
    let commit = if is_hex(revision, 40) {
        revision.to_string()
    } else {
        let refs = folder.join("refs");
        match hub_cache::read_ref(folder, revision).at(refs.join(revision))? {
            Some(commit) => commit,
            None => {
                return Err(Error::Cli(format!(
                    "{} has no refs/{revision}: give the snapshot's revision or commit with \
                     --revision ({listed})",
                    folder.display()
                )))
            }
        }
    };
    if !commits.contains(&commit) {
        return Err(Error::Cli(format!(
            "{} has no snapshot of commit {commit} ({listed}): download it with \
             huggingface_hub, or give another --revision",
            folder.display()
        )));
    }
    Ok(commit)
}

/// Takes each file of `plan` that the snapshot holds (or whose blob the folder holds) from there;
/// gives the local file of each repo path so taken. The files it lacks stay downloads with `fill`;
/// without, they are refused, every one named.
fn from_the_snapshot(
    plan: &mut Plan,
    folder: &Path,
    commit: &str,
    fill: bool,
) -> Result<Vec<(String, PathBuf)>> {
    let snapshot = folder.join("snapshots").join(commit);
    let mut locals = Vec::new();
    let mut missing = Vec::new();
    for file in &mut plan.files {
        let blob = match &file.digest {
            Digest::Known(Oid::Sha256(hex) | Oid::GitSha1(hex)) => folder.join("blobs").join(hex),
            Digest::Sha256Computed => snapshot.join(&file.path),
        };
        let local = [snapshot.join(&file.path), blob]
            .into_iter()
            .find(|candidate| candidate.is_file());
        match local {
            Some(local) => {
                file.content = Content::Local(local.clone());
                locals.push((file.path.clone(), local));
            }
            None => missing.push(file.path.clone()),
        }
    }
    if !missing.is_empty() && !fill {
        return Err(Error::Cli(format!(
            "snapshot {commit} of {} lacks {} of the {} selected files:\n  {}\n\
             download only those with --fill, or leave them out with --exclude",
            folder.display(),
            missing.len(),
            plan.files.len(),
            missing.join("\n  ")
        )));
    }
    Ok(locals)
}

/// A cached file whose bytes are not those the listing names: the error names the file on disk.
fn naming_the_cached_file(error: Error, locals: &[(String, PathBuf)], commit: &str) -> Error {
    let path = match &error {
        Error::DigestMismatch { path, .. } | Error::SizeMismatch { path, .. } => path,
        _ => return error.in_prefetch_terms(),
    };
    match locals.iter().find(|(repo_path, _)| repo_path == path) {
        Some((_, local)) => {
            let file = match local.canonicalize() {
                Ok(blob) if &blob != local => {
                    format!("{} (-> {})", local.display(), blob.display())
                }
                _ => local.display().to_string(),
            };
            Error::Cli(format!(
                "{error}\nthe cached file {file} is not the content of {path} at {commit}: it \
                 is corrupt; delete it, then import with --fill to download it again"
            ))
        }
        None => error,
    }
}
