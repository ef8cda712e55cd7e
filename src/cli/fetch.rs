//! `fetch --spec FILE --out DIR`: the builder mode of the fixed-output derivation,
//! and a plain fetch. Both check the spec's `hash` when it has one.

use std::io::Read;
use std::path::{Path, PathBuf};

use indicatif::HumanBytes;

use nix_fetch_model::error::IoContext;
use nix_fetch_model::fetch::{
    fetch_into, fetch_into_with_nar_hash, verify_nar_hash, CancelFlag, FetchOptions, FetchOutcome,
};
use nix_fetch_model::layout::StagingDir;
use nix_fetch_model::nix_build::in_nix_build;
use nix_fetch_model::sources;
use nix_fetch_model::spec::{self, FetchSpec};
use nix_fetch_model::{Error, Result};

use super::build_log::Transfer;
use super::progress::{builder_reporter, reporter};

/// Where Nix puts its `ssl-cert-file` in the sandbox of a fixed-output build: the builder (a Nix
/// build, or `--direct`) trusts it too, when it exists, as nixpkgs' fetchers do.
const SANDBOX_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

pub fn run(
    spec_path: &Path,
    out: &Path,
    direct: bool,
    quiet: bool,
    cancel: CancelFlag,
) -> Result<()> {
    let spec = spec::check(&read_spec(spec_path)?).map_err(|e| e.in_file(spec_path))?;
    let builder = direct || in_nix_build(&|name| std::env::var(name).ok());
    let options = FetchOptions {
        progress: if builder {
            builder_reporter(quiet, transfer(&spec))
        } else {
            reporter(quiet)
        },
        cancel,
        ca_file: builder
            .then(|| PathBuf::from(SANDBOX_CA_FILE))
            .filter(|file| file.exists()),
        ..FetchOptions::default()
    };
    let fetched = if direct {
        std::fs::create_dir_all(out)
            .at(out)
            .and_then(|()| fetch_checking_hash(&spec, out, &options))
    } else {
        StagingDir::next_to(out).and_then(|staging| {
            let outcome = fetch_checking_hash(&spec, staging.path(), &options)?;
            staging.finish(out)?;
            Ok(outcome)
        })
    };
    let outcome = fetched.map_err(|error| explain_for_builder(error, builder))?;
    if !quiet {
        super::eprint_line(&format!(
            "fetched {} at {} ({}): {} files, {}, into {}",
            spec.source.subject(),
            outcome.revision,
            outcome.commit,
            outcome.files.len(),
            HumanBytes(outcome.bytes),
            out.display()
        ));
    }
    Ok(())
}

/// The download as Nix shows it: named as the plugin names its fetch (cpp/fetch-model.cc).
fn transfer(spec: &FetchSpec) -> Transfer {
    let subject = spec.source.subject();
    let endpoint = sources::addresses(spec, &|name| std::env::var(name).ok())
        .map(|addresses| addresses.endpoint)
        .ok();
    Transfer {
        text: format!(
            "fetching model '{subject}' at '{}'{}",
            spec.source.revision(),
            endpoint
                .as_ref()
                .map(|e| format!(" from {e}"))
                .unwrap_or_default()
        ),
        uri: match endpoint {
            Some(endpoint) => format!("{endpoint}/{subject}"),
            None => subject,
        },
    }
}

/// Fetches into `dir`; with a `hash` in the spec, the output must have it. The hash is
/// computed while the blobs download. A Nix builder checks it too, to say more than Nix's
/// bare mismatch does (whether the branch may have moved, and the commit to pin).
fn fetch_checking_hash(
    spec: &FetchSpec,
    dir: &Path,
    options: &FetchOptions,
) -> Result<FetchOutcome> {
    if spec.hash.is_none() {
        return fetch_into(spec, dir, options);
    }
    let (outcome, got) = fetch_into_with_nar_hash(spec, dir, options)?;
    verify_nar_hash(spec, &outcome, &got.hash)?;
    Ok(outcome)
}

/// In a Nix builder (`--direct`, or inside a Nix build), a repo that wants a token the build
/// cannot see gets the ways out added to its error.
fn explain_for_builder(error: Error, builder: bool) -> Error {
    match error {
        Error::Gated { .. } | Error::RepoNotFound { .. } if builder => Error::NoTokenInBuilder {
            cause: Box::new(error),
        },
        other => other,
    }
}

pub fn read_spec(path: &Path) -> Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .at("(standard input)")?;
        return Ok(text);
    }
    std::fs::read_to_string(path).at(path)
}
