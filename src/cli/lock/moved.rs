//! Where a spec's revision points now, without downloading its files.

use std::sync::Arc;
use std::time::Duration;

use nix_fetch_model::fetch::CancelFlag;
use nix_fetch_model::notice::Notify;
use nix_fetch_model::sources::{self, Context};
use nix_fetch_model::spec::FetchSpec;
use nix_fetch_model::{tls, Error, Result};

/// The commit `spec`'s revision points at now, from the source's plan (the calls that resolve
/// the revision and list the files; no file is downloaded). `None` when the source knows its
/// pin only from the files' content (files at plain URLs): only a fetch tells.
pub fn current_commit(spec: &FetchSpec, cancel: &CancelFlag) -> Result<Option<String>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("(tokio runtime)", e))?;
    let env = |name: &str| std::env::var(name).ok();
    let notify: Notify =
        Arc::new(|notice: &str| super::super::eprint_line(&format!("warning: {notice}")));
    runtime.block_on(async {
        let context = Context {
            extra_roots: tls::extra_roots(None, &env, &notify)?,
            notify,
            env: &env,
        };
        tokio::select! {
            plan = sources::plan(spec, context) => Ok(plan.map_err(Error::in_prefetch_terms)?.commit),
            _ = async {
                while !cancel.is_cancelled() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            } => Err(Error::Interrupted),
        }
    })
}
