//! `ls hf:org/name[@revision]`: the files at a revision, their sizes and storage (git, LFS,
//! Xet), and which of them a fetch with `--include`/`--exclude` would take: the fetch's own
//! plan, so the selection is the one `prefetch` makes.

use std::collections::BTreeSet;

use indicatif::HumanBytes;
use nix_fetch_model::fetch::{self, CancelFlag, FetchOptions};
use nix_fetch_model::hub::RepoFile;
use nix_fetch_model::sources::{Layout, Plan};
use nix_fetch_model::spec::FetchSpec;
use nix_fetch_model::{Error, Result};
use serde_json::{json, Value};

use super::prefetch;
use super::progress::reporter;

#[derive(clap::Args)]
pub struct Args {
    /// hf:org/name[@revision], hf:datasets/org/name[@revision] (as for prefetch).
    reference: String,
    #[command(flatten)]
    repo: prefetch::RepoFlags,
    /// Mark the files a fetch with these globs takes (huggingface_hub's allow_patterns).
    #[arg(long = "include", value_name = "GLOB")]
    include: Vec<String>,
    /// Leave out files matching these globs (huggingface_hub's ignore_patterns).
    #[arg(long = "exclude", value_name = "GLOB")]
    exclude: Vec<String>,
    /// The Hub endpoint (default: $HF_ENDPOINT, else https://huggingface.co).
    #[arg(long)]
    endpoint: Option<String>,
    /// Print JSON, for scripts.
    #[arg(long)]
    json: bool,
}

/// One line of the listing.
struct Entry {
    path: String,
    size: u64,
    storage: &'static str,
    selected: bool,
}

pub fn run(args: Args, quiet: bool, cancel: CancelFlag) -> Result<()> {
    let options = FetchOptions {
        progress: reporter(quiet),
        cancel,
        ..FetchOptions::default()
    };
    let (spec, _) =
        prefetch::spec_of(&prefetch_args(&args, true)).map_err(|e| super::in_command(e, "ls"))?;
    let (spec, plan) = match fetch::plan(&spec, &options) {
        Ok(planned) => (spec, planned.plan),
        // Nothing matches: the listing, with nothing marked, shows what there is to match.
        Err(Error::NothingSelected { .. }) => {
            let (all, _) = prefetch::spec_of(&prefetch_args(&args, false))?;
            let mut plan = fetch::plan(&all, &options)
                .map_err(Error::in_prefetch_terms)?
                .plan;
            plan.files.clear();
            (all, plan)
        }
        Err(error) => return Err(error.in_prefetch_terms()),
    };
    let entries = entries(&plan);
    let text = if args.json {
        serde_json::to_string_pretty(&as_json(&spec, &plan, &entries, &args)).expect("JSON")
    } else {
        as_text(&spec, &plan, &entries, &args)
    };
    super::print_line(&text)
}

/// The arguments of a prefetch of the same reference (with the globs, or without them): one
/// parser and one check of references for every command.
fn prefetch_args(args: &Args, with_globs: bool) -> prefetch::Args {
    prefetch::Args {
        reference: Some(args.reference.clone()),
        repo: args.repo.clone(),
        include: if with_globs {
            args.include.clone()
        } else {
            vec![]
        },
        exclude: if with_globs {
            args.exclude.clone()
        } else {
            vec![]
        },
        endpoint: args.endpoint.clone(),
        ..prefetch::Args::default()
    }
}

/// Every file of the listing (the plan's files when the source has no listing), each marked
/// as the plan selects it.
fn entries(plan: &Plan) -> Vec<Entry> {
    let selected: BTreeSet<&str> = plan.files.iter().map(|f| f.path.as_str()).collect();
    let mut entries: Vec<Entry> = match &plan.layout {
        Layout::HubCache {
            listing: Some(listing),
        } => listing
            .iter()
            .map(|file| Entry {
                path: file.path.clone(),
                size: file.size,
                storage: storage(file),
                selected: selected.contains(file.path.as_str()),
            })
            .collect(),
        _ => plan
            .files
            .iter()
            .map(|file| Entry {
                path: file.path.clone(),
                size: file.size,
                storage: "file",
                selected: true,
            })
            .collect(),
    };
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    entries
}

/// Where the Hub keeps a file's content: `xet`, `lfs`, or `git` (a plain git blob).
fn storage(file: &RepoFile) -> &'static str {
    match (&file.listed.xet_hash, &file.listed.lfs) {
        (Some(_), _) => "xet",
        (None, Some(_)) => "lfs",
        (None, None) => "git",
    }
}

fn totals<'a>(entries: impl Iterator<Item = &'a Entry>) -> (usize, u64) {
    entries.fold((0, 0), |(count, size), entry| {
        (count + 1, size.saturating_add(entry.size))
    })
}

fn as_json(spec: &FetchSpec, plan: &Plan, entries: &[Entry], args: &Args) -> Value {
    let (files, size) = totals(entries.iter());
    let (chosen, chosen_size) = totals(entries.iter().filter(|e| e.selected));
    let mut report = json!({
        "sourceType": spec.source.kind(),
        "subject": spec.source.subject(),
    });
    if let Some(hf) = spec.huggingface() {
        report["repo"] = json!(hf.repo.id);
        report["repoType"] = json!(hf.repo.kind.as_str());
    }
    report["include"] = json!(args.include);
    report["exclude"] = json!(args.exclude);
    report["revision"] = json!(plan.revision);
    report["commit"] = json!(plan.commit);
    report["files"] = entries
        .iter()
        .map(|e| json!({"path": e.path, "size": e.size, "storage": e.storage, "selected": e.selected}))
        .collect();
    report["total"] = json!({ "files": files, "size": size });
    report["selected"] = json!({ "files": chosen, "size": chosen_size });
    report
}

fn as_text(spec: &FetchSpec, plan: &Plan, entries: &[Entry], args: &Args) -> String {
    let mut lines = vec![
        match spec.huggingface() {
            Some(hf) => format!("repo:     {} ({})", hf.repo.id, hf.repo.kind.as_str()),
            None => format!(
                "source:   {} ({})",
                spec.source.subject(),
                spec.source.kind()
            ),
        },
        format!("revision: {}", plan.revision),
    ];
    if let Some(commit) = &plan.commit {
        lines.push(format!("commit:   {commit}"));
    }
    let filtered = !args.include.is_empty() || !args.exclude.is_empty();
    let width = entries
        .iter()
        .map(|e| HumanBytes(e.size).to_string().len())
        .max()
        .unwrap_or(0);
    for entry in entries {
        let mark = match (filtered, entry.selected) {
            (false, _) => "",
            (true, true) => "+ ",
            (true, false) => "  ",
        };
        lines.push(format!(
            "{mark}{:>width$}  {:<4} {}",
            HumanBytes(entry.size).to_string(),
            entry.storage,
            entry.path
        ));
    }
    let (files, size) = totals(entries.iter());
    lines.push(format!("total:    {}, {}", count(files), HumanBytes(size)));
    if filtered {
        let (chosen, chosen_size) = totals(entries.iter().filter(|e| e.selected));
        lines.push(format!(
            "selected: {}, {} (marked +)",
            count(chosen),
            HumanBytes(chosen_size)
        ));
    }
    lines.join("\n")
}

fn count(files: usize) -> String {
    match files {
        1 => "1 file".into(),
        n => format!("{n} files"),
    }
}
