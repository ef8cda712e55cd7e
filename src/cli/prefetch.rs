//! `prefetch hf:org/name[@revision]`: fetch, hash, add to the store, and print
//! what to pin.

use nix_fetch_model::error::IoContext;
use std::path::Path;

use nix_fetch_model::fetch::{self, verify_nar_hash, CancelFlag, FetchOptions, FetchOutcome};
use nix_fetch_model::hash::{parse_sha256, Sha256Hash};
use nix_fetch_model::hub::RepoType;
use nix_fetch_model::layout::{remove_leftovers, OwnedTempDir, FETCH_TEMP_PREFIX};
use nix_fetch_model::sources;
use nix_fetch_model::spec::{self, fields, FetchSpec};
use nix_fetch_model::store_path::fixed_output_path;
use nix_fetch_model::{Error, Result};
use serde_json::{json, Value};

use super::memory;
use super::progress::reporter;
use super::reference::{self, Given, Reference, Source};
use super::store;

#[derive(clap::Args, Default)]
pub struct Args {
    /// hf:org/name[@revision], hf:datasets/org/name[@revision], hf:spaces/org/name[@revision],
    /// url:https://... (a file at a plain URL), s3://bucket/prefix, gs://bucket/prefix,
    /// azure://account/container/prefix or az://container/prefix, git-lfs:https://host/org/name.git[@rev]
    /// (a git repository with Git LFS), mlflow:<model>@<version|alias> (a version of a model of an
    /// MLflow registry), ollama:[registry/][namespace/]model[:tag] (an Ollama model; @sha256:...
    /// pins its manifest), or git-xet:https://huggingface.co/org/name[@rev] (a Hub repo by its
    /// URL, its Xet files through the Xet protocol).
    ///
    /// A Hub repo as `hf download` takes it works too: org/name, datasets/org/name,
    /// https://huggingface.co/org/name[/tree/REV], https://huggingface.co/datasets/org/name,
    /// hf://[datasets/]org/name[@REV].
    #[arg(required_unless_present = "spec")]
    pub(super) reference: Option<String>,
    #[command(flatten)]
    pub(super) repo: RepoFlags,
    /// A fetch spec (the fetchModel argument as JSON, any source) instead of a reference; - for
    /// standard input.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["reference", "revision", "repo_type", "include", "exclude", "endpoint", "tracking_uri", "name"])]
    pub(super) spec: Option<std::path::PathBuf>,
    /// Only files matching these globs (huggingface_hub's allow_patterns).
    #[arg(long = "include", value_name = "GLOB")]
    pub(super) include: Vec<String>,
    /// Leave out files matching these globs (huggingface_hub's ignore_patterns).
    #[arg(long = "exclude", value_name = "GLOB")]
    pub(super) exclude: Vec<String>,
    /// The store path name (default: the Hub cache folder name, models--org--name).
    #[arg(long)]
    pub(super) name: Option<String>,
    /// The Hub endpoint (default: $HF_ENDPOINT, else https://huggingface.co); for a bucket, the
    /// store's (an S3-compatible store, an emulator).
    #[arg(long)]
    pub(super) endpoint: Option<String>,
    /// The MLflow tracking server of an mlflow: reference (default: $MLFLOW_TRACKING_URI).
    #[arg(long, value_name = "URL")]
    pub(super) tracking_uri: Option<String>,
    /// Requests in flight at most (it starts with one and adds more while the link sets the pace)
    #[arg(long)]
    pub(super) concurrency: Option<usize>,
    /// The hash the result must have: when the store holds its path, nothing is downloaded (as
    /// `nix-prefetch-url URL HASH`); otherwise a fetch that gives another hash is an error.
    #[arg(long, value_name = "HASH")]
    pub(super) hash: Option<String>,
    /// Download again, even when the store holds what an earlier prefetch of this commit gave.
    #[arg(long)]
    pub(super) refresh: bool,
    /// Do not add the result to the Nix store.
    #[arg(long)]
    pub(super) no_add: bool,
    /// Print JSON, for scripts.
    #[arg(long, conflicts_with = "nix")]
    pub(super) json: bool,
    /// Print a Nix attrset to paste as the argument of fetchModel.
    #[arg(long)]
    pub(super) nix: bool,
}

/// The flags of a Hub reference that `hf download` users know, for every command taking one.
#[derive(clap::Args, Default, Clone)]
pub struct RepoFlags {
    /// The branch, tag or commit of a Hub repo (default: main; or @REV in the reference).
    #[arg(long, value_name = "REV")]
    pub(super) revision: Option<String>,
    /// The type of a Hub repo given as org/name (default: model).
    #[arg(long, value_name = "TYPE", value_parser = ["model", "dataset", "space"])]
    pub(super) repo_type: Option<String>,
}

pub fn run(args: Args, quiet: bool, cancel: CancelFlag) -> Result<()> {
    let (mut spec, spec_json) = match &args.spec {
        Some(file) => {
            let text = super::fetch::read_spec(file)?;
            let spec = spec::check(&text).map_err(|e| e.in_file(file))?;
            let json: Value = serde_json::from_str(&text).map_err(Error::spec_json)?;
            (spec, json)
        }
        None => spec_of(&args)?,
    };
    let settings = Settings {
        quiet,
        add: !args.no_add,
        cancel,
    };
    if let Some(hash) = &args.hash {
        let hash = parse_sha256(hash).map_err(|e| {
            invalid_arguments(vec![format!(
                "--hash: {e}; give an SRI hash (sha256-...), as a report prints it"
            )])
        })?;
        spec.hash = Some(hash);
    }
    let fetched = match prefetch(&spec, &settings, args.refresh) {
        Err(error @ (Error::RepoNotFound { .. } | Error::RepoNotFoundWithToken { .. })) => {
            return Err(with_other_types(error, &spec, &args));
        }
        fetched => fetched?,
    };
    let report = Report {
        spec: &spec,
        spec_json: &spec_json,
        fetched: &fetched,
    };
    super::print_line(&report.render(args.json, args.nix))
}

/// The spec (checked, and as JSON) of a reference and the flags of `args`.
pub fn spec_of(args: &Args) -> Result<(FetchSpec, Value)> {
    let reference = check_arguments(args)?;
    let spec_json = spec_json(args, &reference);
    Ok((spec::check(&spec_json.to_string())?, spec_json))
}

/// `error` (a Hub repo not found), with the command to run when the Hub has a repo of another
/// type by that id (a dataset or space given as a model): asked only after the error.
fn with_other_types(error: Error, spec: &FetchSpec, args: &Args) -> Error {
    let Some(source) = spec.huggingface() else {
        return error;
    };
    let asked = async {
        let env = |name: &str| std::env::var(name).ok();
        let notify: nix_fetch_model::notice::Notify = std::sync::Arc::new(|_: &str| {});
        let context = sources::Context {
            extra_roots: nix_fetch_model::tls::extra_roots(None, &env, &notify)?,
            notify,
            env: &env,
        };
        sources::other_types_named(spec, source, context).await
    };
    let found = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()
        .and_then(|runtime| runtime.block_on(asked).ok())
        .unwrap_or_default();
    if found.is_empty() {
        return error;
    }
    let hint = found
        .iter()
        .map(|kind| {
            let command = match (&args.spec, &args.reference) {
                (Some(_), _) | (None, None) => format!(
                    "set source.huggingface.repoType = \"{}\" in the spec",
                    kind.as_str()
                ),
                (None, Some(reference)) => {
                    let revision = match (&args.repo.revision, source.revision.as_str()) {
                        (None, revision) if revision != "main" => format!("@{revision}"),
                        _ => String::new(),
                    };
                    let new = format!("hf:{}{}{revision}", kind.url_prefix(), source.repo.id);
                    command_with(reference, &new)
                }
            };
            format!(
                "  {} is a {} on the Hub: {command}",
                source.repo.id,
                kind.as_str()
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    Error::WithHint {
        error: Box::new(error),
        hint,
    }
}

/// This command's line with `new` in place of the reference `old` and without `--repo-type`,
/// each word quoted for a POSIX shell where it needs to be.
fn command_with(old: &str, new: &str) -> String {
    let mut words = vec!["nix-fetch-model".to_string()];
    let mut given = std::env::args().skip(1);
    while let Some(word) = given.next() {
        if word == "--repo-type" {
            given.next();
        } else if !word.starts_with("--repo-type=") {
            words.push(if word == old { new.to_string() } else { word });
        }
    }
    let quoted = |word: &String| {
        let plain = word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@=+,%".contains(c));
        if plain && !word.is_empty() {
            word.clone()
        } else {
            format!("'{}'", word.replace('\'', "'\\''"))
        }
    };
    words.iter().map(quoted).collect::<Vec<_>>().join(" ")
}

/// How [`prefetch_spec`] runs.
pub struct Settings {
    pub quiet: bool,
    /// Add the result to the Nix store (`--no-add` clears it).
    pub add: bool,
    pub cancel: CancelFlag,
}

/// What [`prefetch_spec`] gave: the fetch, its hash, and the store path it has (or would have).
pub struct Prefetched {
    pub outcome: FetchOutcome,
    /// The NAR hash, in SRI form.
    pub hash: String,
    pub path: String,
    /// Whether the path is in the Nix store now.
    pub added: bool,
    /// How the store had it already, when nothing was downloaded.
    pub reused: Option<Reused>,
}

/// Why a prefetch downloaded nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reused {
    /// An earlier prefetch of the same source, commit and selection gave this path.
    Remembered,
    /// The path of the spec's `hash` is valid.
    ByHash,
}

/// Fetches `spec` into a temporary folder, hashes it and adds it to the Nix store (unless
/// `settings.add` is off, or no store is reachable: then a note says why). Once the source is
/// resolved, a path that an earlier prefetch of the same commit and selection added answers at
/// once while the store holds it; the path of the spec's `hash` too.
pub fn prefetch_spec(spec: &FetchSpec, settings: &Settings) -> Result<Prefetched> {
    prefetch(spec, settings, false)
}

/// [`prefetch_spec`]; with `refresh`, downloads even what the store holds.
fn prefetch(spec: &FetchSpec, settings: &Settings, refresh: bool) -> Result<Prefetched> {
    if let (Some(hash), false) = (&spec.hash, refresh) {
        let path = fixed_output_path(&store::store_dir(), &spec.name, hash)?;
        if store::is_valid(&path) {
            let endpoint = sources::addresses(spec, &|name| std::env::var(name).ok())?.endpoint;
            let revision = spec.source.revision();
            if let Some(outcome) = store::outcome_in(Path::new(&path), revision, endpoint) {
                return Ok(Prefetched {
                    outcome,
                    hash: hash.to_sri(),
                    path,
                    added: true,
                    reused: Some(Reused::ByHash),
                });
            }
        }
    }
    let options = FetchOptions {
        progress: reporter(settings.quiet),
        cancel: settings.cancel.clone(),
        ..FetchOptions::default()
    };
    let memory = memory::folder();
    let answers_here = spec.hash.is_none() && !refresh;
    // A Hub repo's commit is one API call: a remembered fetch of it needs no listing.
    if let (Some(folder), true) = (&memory, answers_here) {
        if let Some((endpoint, commit)) =
            fetch::commit_of(spec, &options).map_err(Error::in_prefetch_terms)?
        {
            let key = memory::key(&spec.name, &spec.source, &endpoint, &commit);
            if let Some(fetched) = recall(spec, folder, &key, &commit, None) {
                options.progress.finished();
                return Ok(fetched);
            }
        }
    }
    let planned = fetch::plan(spec, &options).map_err(Error::in_prefetch_terms)?;
    let key = planned
        .commit()
        .map(|commit| memory::key(&spec.name, &spec.source, planned.endpoint(), commit));
    if let (Some(folder), Some(key), Some(commit), true) =
        (&memory, &key, planned.commit(), answers_here)
    {
        let paths: Vec<&str> = planned.paths().collect();
        if let Some(fetched) = recall(spec, folder, key, commit, Some(&paths)) {
            drop(planned);
            options.progress.finished();
            return Ok(fetched);
        }
    }

    let temp_dir = std::env::temp_dir();
    remove_leftovers(&temp_dir, FETCH_TEMP_PREFIX);
    let temp = OwnedTempDir::new_in(&temp_dir, FETCH_TEMP_PREFIX).at(&temp_dir)?;
    let dir = temp.path().join(&spec.name);
    std::fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?;

    let (outcome, summary) = planned
        .fetch_into_with_nar_hash(spec, &dir, &options)
        .map_err(Error::in_prefetch_terms)?;
    verify_nar_hash(spec, &outcome, &summary.hash)?;
    let fetched = add_to_store(spec, &dir, outcome, summary.hash, settings)?;
    if let (true, Some(folder), Some(key)) = (fetched.added, &memory, &key) {
        let entry = memory::Entry::new(&fetched.outcome, &fetched.hash, &fetched.path);
        if let Err(error) = memory::remember(folder, key, &entry) {
            if !settings.quiet {
                super::eprint_line(&format!(
                    "note: cannot remember this prefetch in {}: {error}",
                    folder.display()
                ));
            }
        }
    }
    Ok(fetched)
}

/// Adds `dir`, where `outcome` was fetched (or imported) and whose NAR hash is `hash`, to the
/// Nix store (unless `settings.add` is off, or no store is reachable: then a note says why).
pub(super) fn add_to_store(
    spec: &FetchSpec,
    dir: &Path,
    outcome: FetchOutcome,
    hash: Sha256Hash,
    settings: &Settings,
) -> Result<Prefetched> {
    let expected_path = fixed_output_path(&store::store_dir(), &spec.name, &hash)?;
    let added = if settings.add {
        store::add_fixed(dir)
    } else {
        Err("--no-add was given".to_string())
    };
    // A signal that came while nix-store ran stops the command as it stops a fetch.
    if settings.cancel.is_cancelled() {
        return Err(Error::Interrupted);
    }
    if let Ok(path) = &added {
        if path != &expected_path {
            return Err(Error::StorePathDiffers {
                added: path.clone(),
                expected: expected_path,
            });
        }
    }
    if let Err(reason) = &added {
        if !settings.quiet && settings.add {
            super::eprint_line(&format!("note: not added to the Nix store: {reason}"));
        }
    }
    Ok(Prefetched {
        outcome,
        hash: hash.to_sri(),
        path: expected_path,
        added: added.is_ok(),
        reused: None,
    })
}

/// The remembered fetch of `key`, if it is of `commit` (and selected `paths`, when the plan
/// is made) and the store still holds its path.
fn recall(
    spec: &FetchSpec,
    folder: &Path,
    key: &str,
    commit: &str,
    paths: Option<&[&str]>,
) -> Option<Prefetched> {
    let entry = memory::recall(folder, key)
        .filter(|entry| entry.fits(commit, paths))
        .filter(|entry| entry.path == entry_path(spec, &entry.hash))
        .filter(|entry| store::is_valid(&entry.path))?;
    Some(Prefetched {
        outcome: entry.outcome(),
        hash: entry.hash,
        path: entry.path,
        added: true,
        reused: Some(Reused::Remembered),
    })
}

/// The fixed-output path of `spec`'s name with the SRI `hash`, if `hash` reads.
fn entry_path(spec: &FetchSpec, hash: &str) -> String {
    parse_sha256(hash)
        .ok()
        .and_then(|hash| fixed_output_path(&store::store_dir(), &spec.name, &hash).ok())
        .unwrap_or_default()
}

/// The reference, once every flag and the reference have passed the spec's checks; else
/// every problem, each naming its flag (or the reference).
fn check_arguments(args: &Args) -> Result<Source> {
    let mut problems = Vec::new();
    let mut flag = |name: &str, checked: std::result::Result<(), String>| {
        if let Err(problem) = checked {
            problems.push(format!("{name}: {problem}"));
        }
    };
    let text = args.reference.as_deref().unwrap_or_default();
    let given = Given {
        revision: args.repo.revision.as_deref(),
        repo_type: args.repo.repo_type.as_deref().and_then(RepoType::parse),
        endpoint: args.endpoint.as_deref(),
    };
    let reference = reference::parse_source_given(text, &given);
    if let Ok(Source::Url(_) | Source::Ollama { .. }) = &reference {
        let ollama = matches!(reference, Ok(Source::Ollama { .. }));
        for (given, name) in [
            (!args.include.is_empty(), "--include"),
            (!args.exclude.is_empty(), "--exclude"),
            (args.endpoint.is_some() && !ollama, "--endpoint"),
        ] {
            if given {
                flag(name, Err("applies to hf: references only".into()));
            }
        }
    }
    if let Ok(Source::Mlflow(_)) = &reference {
        if args.endpoint.is_some() {
            flag(
                "--endpoint",
                Err("applies to hf: references; give an mlflow: reference's server with --tracking-uri".into()),
            );
        }
        match tracking_uri(args) {
            None => flag(
                text,
                Err("give the MLflow tracking server with --tracking-uri URL, or set MLFLOW_TRACKING_URI".into()),
            ),
            Some((from, uri)) => flag(from, spec::mlflow::tracking_uri(&uri).map(drop)),
        }
    } else if args.tracking_uri.is_some() {
        flag(
            "--tracking-uri",
            Err("applies to mlflow: references only".into()),
        );
    }
    if let Ok(Source::Ollama { name, digest }) = &reference {
        if let Err(lines) = spec::ollama::check(&ollama_source(name, digest)) {
            for line in lines {
                let problem = line.strip_prefix("source.ollama.").unwrap_or(&line);
                flag(text, Err(problem.to_string()));
            }
        }
    }
    if let Ok(Source::GitLfs { .. }) = &reference {
        if args.endpoint.is_some() {
            flag("--endpoint", Err("applies to hf: references only".into()));
        }
    }
    if let Ok(Source::GitXet(url, rev)) = &reference {
        if args.endpoint.is_some() {
            flag(
                "--endpoint",
                Err("applies to hf: references only: a git-xet: URL names its Hub".into()),
            );
        }
        flag(
            text,
            spec::git_xet::repo_url(url)
                .map(drop)
                .map_err(|p| format!("url {p}")),
        );
        flag(text, fields::revision(rev).map_err(|p| format!("@rev {p}")));
    }
    if let Ok(Source::Hub(reference)) = &reference {
        let at = text;
        flag(
            at,
            fields::repo(&reference.repo)
                .map(drop)
                .map_err(|p| format!("repo {p}")),
        );
        flag(
            at,
            fields::revision(&reference.revision).map_err(|p| format!("@revision {p}")),
        );
    }
    if let Some(name) = &args.name {
        flag("--name", fields::name(name));
    }
    if let Some(endpoint) = &args.endpoint {
        flag("--endpoint", fields::endpoint(endpoint).map(drop));
    }
    if let Some(concurrency) = args.concurrency {
        flag(
            "--concurrency",
            fields::concurrency(concurrency as u64).map(drop),
        );
    }
    // --include and --exclude: every string is a glob (fnmatch has no syntax errors).
    let reference = match reference {
        Ok(reference) => reference,
        Err(problem) => {
            problems.insert(0, problem);
            return Err(invalid_arguments(problems));
        }
    };
    if problems.is_empty() {
        Ok(reference)
    } else {
        Err(invalid_arguments(problems))
    }
}

fn invalid_arguments(problems: Vec<String>) -> Error {
    Error::InvalidArguments {
        heading: "nix-fetch-model prefetch".into(),
        problems,
    }
}

/// The spec as the Nix library would pass it.
fn spec_json(args: &Args, reference: &Source) -> Value {
    let mut spec = match reference {
        Source::Hub(reference) => {
            json!({ "source": { "huggingface": hub_source(args, reference) } })
        }
        Source::Url(url) => json!({ "source": { "url": { "url": url } } }),
        Source::Mlflow(reference) => {
            json!({ "source": { "mlflow": mlflow_source(args, reference) } })
        }
        Source::Bucket { kind, source } => {
            let mut source = source.clone();
            if !args.include.is_empty() {
                source.insert("files".into(), json!(args.include));
            }
            if !args.exclude.is_empty() {
                source.insert("exclude".into(), json!(args.exclude));
            }
            if let Some(endpoint) = &args.endpoint {
                source.insert("endpoint".into(), json!(endpoint));
            }
            json!({ "source": { *kind: source } })
        }
        Source::Ollama { name, digest } => {
            json!({ "source": { "ollama": ollama_source(name, digest) } })
        }
        Source::GitLfs { url, rev } => {
            let mut source = json!({ "url": url });
            if let Some(rev) = rev {
                source["rev"] = json!(rev);
            }
            if !args.include.is_empty() {
                source["files"] = json!(args.include);
            }
            if !args.exclude.is_empty() {
                source["exclude"] = json!(args.exclude);
            }
            json!({ "source": { "git-lfs": source } })
        }
        Source::GitXet(url, rev) => {
            let mut source = json!({ "url": url, "rev": rev });
            if !args.include.is_empty() {
                source["files"] = json!(args.include);
            }
            if !args.exclude.is_empty() {
                source["exclude"] = json!(args.exclude);
            }
            json!({ "source": { "git-xet": source } })
        }
    };
    if let Some(name) = &args.name {
        spec["name"] = json!(name);
    }
    let mut network = serde_json::Map::new();
    if let (Some(endpoint), Source::Hub(_)) = (&args.endpoint, reference) {
        network.insert("endpoint".into(), json!(endpoint));
    }
    if let Some(concurrency) = args.concurrency {
        network.insert("concurrency".into(), json!(concurrency));
    }
    if !network.is_empty() {
        spec["network"] = Value::Object(network);
    }
    spec
}

/// The tracking server of an mlflow: reference, and what gave it: `--tracking-uri`, else
/// `MLFLOW_TRACKING_URI` (as MLflow's client reads it).
fn tracking_uri(args: &Args) -> Option<(&'static str, String)> {
    match &args.tracking_uri {
        Some(uri) => Some(("--tracking-uri", uri.clone())),
        None => std::env::var("MLFLOW_TRACKING_URI")
            .ok()
            .filter(|uri| !uri.is_empty())
            .map(|uri| ("MLFLOW_TRACKING_URI", uri)),
    }
}

fn mlflow_source(args: &Args, reference: &reference::MlflowReference) -> Value {
    let mut source = json!({
        "trackingUri": tracking_uri(args).map(|(_, uri)| uri),
        "modelName": reference.model,
    });
    if let Some(version) = &reference.version {
        source["version"] = json!(version);
    }
    if let Some(alias) = &reference.alias {
        source["alias"] = json!(alias);
    }
    if !args.include.is_empty() {
        source["files"] = json!(args.include);
    }
    if !args.exclude.is_empty() {
        source["exclude"] = json!(args.exclude);
    }
    source
}

/// `source.ollama` of an `ollama:` reference: the whole name as `model`, and the digest.
fn ollama_source(name: &str, digest: &Option<String>) -> Value {
    let mut source = json!({ "model": name });
    if let Some(digest) = digest {
        source["digest"] = json!(digest);
    }
    source
}

fn hub_source(args: &Args, reference: &Reference) -> Value {
    let mut source = json!({ "repo": reference.repo, "revision": reference.revision });
    if reference.kind != RepoType::Model {
        source["repoType"] = json!(reference.kind.as_str());
    }
    if !args.include.is_empty() {
        source["files"] = json!(args.include);
    }
    if !args.exclude.is_empty() {
        source["exclude"] = json!(args.exclude);
    }
    source
}

pub struct Report<'a> {
    pub spec: &'a FetchSpec,
    /// The spec as given (the fetchModel argument), before the fetch pinned it.
    pub spec_json: &'a Value,
    pub fetched: &'a Prefetched,
}

impl Report<'_> {
    /// The fetchModel argument (and `fetch --spec` JSON) that pins this fetch: the source as
    /// fetched, with its pin (the commit it was at, unless the revision is that commit), and
    /// the hash.
    pub fn pin(&self) -> Value {
        let kind = self.spec.source.kind();
        let mut source = self.spec_json["source"][kind].clone();
        if let Some(attributes) = source.as_object_mut() {
            attributes.extend(self.fetched.outcome.pin.clone());
        }
        let digests: Vec<(String, String)> = self
            .fetched
            .outcome
            .files
            .iter()
            .cloned()
            .zip(self.fetched.outcome.digests.iter().cloned())
            .collect();
        self.spec
            .source
            .pin_source(&mut source, &self.fetched.outcome.commit, &digests);
        let mut pin = json!({
            "name": self.spec.name,
            "source": { kind: source },
            "hash": self.fetched.hash,
        });
        if let Some(endpoint) = self.endpoint() {
            pin["network"] = json!({ "endpoint": endpoint });
        }
        pin
    }

    /// The endpoint the spec gives (`--endpoint`) unless it is the Hub's: a fetch of the pin
    /// goes there too.
    fn endpoint(&self) -> Option<&Value> {
        self.spec_json
            .get("network")
            .and_then(|network| network.get("endpoint"))
            .filter(|endpoint| {
                endpoint.as_str().is_some_and(|e| {
                    e.trim_end_matches('/') != nix_fetch_model::hub::DEFAULT_ENDPOINT
                })
            })
    }

    pub fn json(&self) -> Value {
        let mut report = json!({
            "name": self.spec.name,
            "sourceType": self.spec.source.kind(),
            "subject": self.spec.source.subject(),
        });
        if let Some(hf) = self.spec.huggingface() {
            report["repo"] = json!(hf.repo.id);
            report["repoType"] = json!(hf.repo.kind.as_str());
        }
        report.as_object_mut().expect("an object").extend(
            json!({
                "revision": self.fetched.outcome.revision,
                "commit": self.fetched.outcome.commit,
                "files": self.fetched.outcome.files,
                "size": self.fetched.outcome.bytes,
                "hash": self.fetched.hash,
                "storePath": self.fetched.path,
                "addedToStore": self.fetched.added,
                "downloaded": self.fetched.reused.is_none(),
                "pin": self.pin(),
                "nix": self.nix(),
            })
            .as_object()
            .expect("an object")
            .clone(),
        );
        report
    }

    pub fn text(&self) -> String {
        let store_note = match (self.fetched.reused, self.fetched.added) {
            (Some(Reused::Remembered), _) => {
                " (from the store: an earlier prefetch of this commit; nothing downloaded)"
            }
            (Some(Reused::ByHash), _) => {
                " (from the store: the path of this hash; nothing downloaded)"
            }
            (None, true) => "",
            (None, false) => " (not in the store)",
        };
        let first = match self.spec.huggingface() {
            Some(hf) => format!("repo:     {} ({})", hf.repo.id, hf.repo.kind.as_str()),
            None => format!(
                "source:   {} ({})",
                self.spec.source.subject(),
                self.spec.source.kind()
            ),
        };
        let resolved: String = self
            .fetched
            .outcome
            .pin
            .iter()
            .filter(|(_, value)| value.is_string())
            .map(|(key, value)| {
                let value = value
                    .as_str()
                    .map_or_else(|| value.to_string(), String::from);
                format!("\n{:<10}{value}", format!("{key}:"))
            })
            .collect();
        format!(
            "{first}\nrevision: {}{resolved}\ncommit:   {}\nfiles:    {} ({})\nhash:     {}\npath:     {}{}\n\n\
             to pin it, pass this to fetchModel:\n{}",
            self.fetched.outcome.revision,
            self.fetched.outcome.commit,
            self.fetched.outcome.files.len(),
            indicatif::HumanBytes(self.fetched.outcome.bytes),
            self.fetched.hash,
            self.fetched.path,
            store_note,
            self.nix()
        )
    }

    /// The report as `--json` or `--nix` ask, else as text.
    pub fn render(&self, json: bool, nix: bool) -> String {
        if json {
            serde_json::to_string_pretty(&self.json()).expect("JSON")
        } else if nix {
            self.nix()
        } else {
            self.text()
        }
    }

    /// [`Report::pin`] as a Nix attrset, the source's attributes in their usual order.
    pub fn nix(&self) -> String {
        let pin = self.pin();
        let kind = self.spec.source.kind();
        let source = &pin["source"][kind];
        let mut lines = vec![
            "{".to_string(),
            format!("  name = {};", fields::nix_string(&self.spec.name)),
            format!("  source.{kind} = {{"),
        ];
        for key in self.spec.source.keys() {
            if let Some(value) = source.get(key) {
                lines.push(format!("    {key} = {};", fields::nix_value(value)));
            }
        }
        lines.push("  };".into());
        if let Some(endpoint) = self.endpoint() {
            lines.push(format!(
                "  network.endpoint = {};",
                fields::nix_value(endpoint)
            ));
        }
        lines.push(format!(
            "  hash = {};",
            fields::nix_string(&self.fetched.hash)
        ));
        lines.push("}".into());
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pin_keeps_an_endpoint_other_than_the_hubs() {
        let pin_with = |endpoint: &str| {
            let json = json!({
                "source": {"huggingface": {"repo": "o/n"}},
                "network": {"endpoint": endpoint},
            });
            let spec = spec::check(&json.to_string()).unwrap();
            let fetched = Prefetched {
                outcome: FetchOutcome {
                    endpoint: endpoint.into(),
                    revision: "main".into(),
                    commit: "c".repeat(40),
                    files: vec![],
                    digests: vec![],
                    bytes: 0,
                    pin: Default::default(),
                },
                hash: "sha256-x".into(),
                path: "/nix/store/x".into(),
                added: true,
                reused: None,
            };
            let report = Report {
                spec: &spec,
                spec_json: &json,
                fetched: &fetched,
            };
            (report.pin(), report.nix())
        };
        let (pin, nix) = pin_with("https://hub.example");
        assert_eq!(pin["network"], json!({"endpoint": "https://hub.example"}));
        assert!(
            nix.contains("  network.endpoint = \"https://hub.example\";\n"),
            "{nix}"
        );
        let (pin, nix) = pin_with("https://huggingface.co/");
        assert!(
            pin.get("network").is_none() && !nix.contains("network"),
            "{nix}"
        );
    }

    #[test]
    fn spec_of_a_reference_is_the_fetchmodel_argument_prefetch_gives() {
        let globs = vec!["*.json".to_string()];
        let of = |reference: &str, include: &[String]| {
            spec_of(&Args {
                reference: Some(reference.to_string()),
                include: include.to_vec(),
                ..Args::default()
            })
        };
        let (spec, json) = of("hf:org/name@v1", &globs).unwrap();
        assert_eq!(spec.name, "models--org--name");
        assert_eq!(
            json,
            json!({"source": {"huggingface": {"repo": "org/name", "revision": "v1", "files": ["*.json"]}}})
        );
        let error = of("hf:org/name@", &[]).unwrap_err().to_string();
        assert!(error.contains("nothing after '@'"), "{error}");
        let error = of("url:https://x/m.bin", &globs).unwrap_err().to_string();
        assert!(error.contains("--include"), "{error}");
    }
}
