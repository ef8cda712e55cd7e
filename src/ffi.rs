//! The bridge the Nix plugin (cpp/) calls: plain data in and out, errors as
//! messages (C++ gets them as `rust::Error` exceptions, text intact).
//!
//! A fetch runs on its own thread; the C++ caller polls it ([`Fetch::wait`])
//! so that Nix's interrupt state and logger are only touched from Nix's thread.

use std::path::Path;

use crate::sources::{self, Addresses};
use crate::spec;
use crate::store_path::fixed_output_path;

mod fetch;
mod locks;
mod memo;

use fetch::{start_fetch, Fetch};
use locks::FetchLock;
use memo::{commit_in_store, remembered_commit};

#[cxx::bridge(namespace = "nfm")]
mod bridge {
    /// What a spec asks for, known without any network use.
    struct Plan {
        /// Store path name.
        name: String,
        /// What the source names: `org/name`, a URL, a bucket's prefix.
        subject: String,
        revision: String,
        /// Where the files come from (the Hub, a server).
        endpoint: String,
        /// The URL prefixes the fetch will contact (restricted mode checks them).
        urls: Vec<String>,
        /// The pinned NAR hash (SRI), empty when the spec has none.
        hash: String,
        /// The store path of the pinned hash, empty when the spec has none.
        store_path: String,
    }

    /// The store path a spec pins, if it has a hash: all a cache hit needs.
    #[derive(Debug)]
    struct Pinned {
        /// The pinned NAR hash (SRI), empty when the spec has none.
        hash: String,
        /// Its store path, empty when the spec has no hash.
        store_path: String,
    }

    /// A finished, verified fetch, still in its temporary directory.
    #[derive(Clone)]
    struct Fetched {
        /// The directory to add to the store (removed when the `Fetch` is dropped).
        dir: String,
        commit: String,
        /// NAR hash of `dir` (SRI).
        nar_hash: String,
        /// Size of the NAR serialisation of `dir`.
        nar_size: u64,
        /// The store path `dir` gets when added (recursive, sha256).
        store_path: String,
    }

    struct FetchProgress {
        done_bytes: u64,
        total_bytes: u64,
    }

    /// A model an unpinned fetch of the same spec put into the store; empty when none.
    struct Remembered {
        store_path: String,
        nar_hash: String,
        commit: String,
    }

    /// What a read of the NAR stream gave: `bytes` bytes, or none yet, or its end.
    struct NarChunk {
        bytes: usize,
        end: bool,
    }

    extern "Rust" {
        type Fetch;
        type FetchLock;

        /// Parses and checks the spec (JSON as `builtins.toJSON` prints it) for a store at `store_dir`.
        fn plan(spec_json: &str, store_dir: &str) -> Result<Plan>;

        /// Checks the spec as [`plan`] does and gives the store path its `hash` and `name` pin
        /// (no URLs, no lock: all a cache hit needs). Empty when the spec has no `hash`.
        fn pinned(spec_json: &str, store_dir: &str) -> Result<Pinned>;

        /// Starts fetching into a fresh temporary directory; returns at once. With `stream_nar`,
        /// the NAR is also offered as a stream while it downloads ([`Fetch::read_nar`]), for a
        /// store that is not local. `ca_file`: Nix's `ssl-cert-file`, roots trusted besides the
        /// built-in ones (empty: none).
        fn start_fetch(
            spec_json: &str,
            store_dir: &str,
            stream_nar: bool,
            ca_file: &str,
        ) -> Result<Box<Fetch>>;

        /// Waits up to `timeout_ms` for the fetch to end; true when it has ended.
        fn wait(self: &mut Fetch, timeout_ms: u32) -> bool;

        fn progress(self: &Fetch) -> FetchProgress;

        /// Messages for the user (retries, server waits) since the last call.
        fn take_notices(self: &Fetch) -> Vec<String>;

        /// The result of an ended fetch; an error if it failed, was cancelled or
        /// its NAR hash differs from the spec's `hash`.
        fn result(self: &mut Fetch) -> Result<Fetched>;

        /// Waits up to `timeout_ms` until the store may start reading the NAR stream: the
        /// whole NAR is there and checked, or enough of it that a failure later leaves nothing
        /// in the store. An error when the fetch failed first.
        fn nar_ready(self: &Fetch, timeout_ms: u32) -> Result<bool>;

        /// Copies the next bytes of the NAR stream into `buffer`, waiting up to `timeout_ms`.
        /// An error when the fetch failed: the store must then not take what it read.
        fn read_nar(self: &Fetch, buffer: &mut [u8], timeout_ms: u32) -> Result<NarChunk>;

        /// The lock that serialises fetches of `store_path` across processes and users.
        fn fetch_lock(store_path: &str) -> Box<FetchLock>;

        /// Takes the lock without waiting; true when it is held (or when there is none).
        fn try_acquire(self: &mut FetchLock) -> bool;

        /// Why the fetch is not locked (for a warning); empty when it is.
        fn warning(self: &FetchLock) -> String;

        /// The commit of a model already in the store (its one `snapshots/<commit>`), whose
        /// NAR hash is `nar_hash` (SRI); remembered for [`remembered_commit`].
        fn commit_in_store(store_path: &str, nar_hash: &str) -> Result<String>;

        /// The commit [`commit_in_store`] last gave for `nar_hash`; empty if none.
        fn remembered_commit(nar_hash: &str) -> String;

        /// The snapshot folder of a model pinned by `commit`, relative to its store path:
        /// `snapshots/<commit>` for the Hub cache layout; empty for a layout without snapshots
        /// (an Ollama model, pinned by its manifest's digest).
        fn snapshot_of(commit: &str) -> String;

        /// What an unpinned fetch of the spec got less than `ttl_seconds` ago (Nix's
        /// `tarball-ttl`), if its store path is named in `store_dir`; empty fields if none.
        fn remembered_unpinned(
            spec_json: &str,
            store_dir: &str,
            ttl_seconds: u64,
        ) -> Result<Remembered>;

        /// Remembers what an unpinned fetch of the spec got (ended fetch, its result).
        fn remember_unpinned(spec_json: &str, fetched: &Fetched) -> Result<()>;
    }
}

pub use bridge::{FetchProgress, Fetched, NarChunk, Pinned, Plan, Remembered};

fn plan(spec_json: &str, store_dir: &str) -> Result<Plan, String> {
    let spec = spec::check(spec_json).map_err(message)?;
    let env = |name: &str| std::env::var(name).ok();
    let Addresses { endpoint, urls } = sources::addresses(&spec, &env).map_err(message)?;
    let (hash, store_path) = match &spec.hash {
        None => Default::default(),
        Some(hash) => {
            let store_path = fixed_output_path(store_dir, &spec.name, hash).map_err(message)?;
            (hash.to_sri(), store_path)
        }
    };
    Ok(Plan {
        name: spec.name.clone(),
        subject: spec.source.subject(),
        revision: spec.source.revision().to_string(),
        endpoint,
        urls,
        hash,
        store_path,
    })
}

fn pinned(spec_json: &str, store_dir: &str) -> Result<Pinned, String> {
    let spec = spec::check(spec_json).map_err(message)?;
    let Some(hash) = &spec.hash else {
        return Ok(Pinned {
            hash: String::new(),
            store_path: String::new(),
        });
    };
    Ok(Pinned {
        store_path: fixed_output_path(store_dir, &spec.name, hash).map_err(message)?,
        hash: hash.to_sri(),
    })
}

fn snapshot_of(commit: &str) -> String {
    match spec::is_commit(commit) {
        true => format!("snapshots/{commit}"),
        false => String::new(),
    }
}

/// The lock of `store_path`, by its base name: not `<store path>.lock`, which Nix itself locks
/// while it adds the path (and its garbage collector removes).
fn fetch_lock(store_path: &str) -> Box<FetchLock> {
    let base = Path::new(store_path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Box::new(FetchLock::for_store_path(&base))
}

fn remembered_unpinned(
    spec_json: &str,
    store_dir: &str,
    ttl_seconds: u64,
) -> Result<Remembered, String> {
    let spec = spec::check(spec_json).map_err(message)?;
    Ok(
        match memo::remembered_unpinned(&spec, store_dir, ttl_seconds) {
            Some((remembered, store_path)) => Remembered {
                store_path,
                nar_hash: remembered.nar_hash,
                commit: remembered.commit,
            },
            None => Remembered {
                store_path: String::new(),
                nar_hash: String::new(),
                commit: String::new(),
            },
        },
    )
}

fn remember_unpinned(spec_json: &str, fetched: &Fetched) -> Result<(), String> {
    let spec = spec::check(spec_json).map_err(message)?;
    memo::remember_unpinned(&spec, &fetched.nar_hash, &fetched.commit);
    Ok(())
}

fn message(error: impl std::fmt::Display) -> String {
    error.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"{"name":"m","source":{"huggingface":{"repo":"org/name"}},
        "hash":"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        "network":{"endpoint":"http://127.0.0.1:9/"}}"#;

    #[test]
    fn plan_names_the_store_path_and_every_url() {
        let plan = plan(SPEC, "/nix/store").unwrap();
        assert_eq!(plan.endpoint, "http://127.0.0.1:9");
        assert_eq!(
            plan.urls,
            vec![
                "http://127.0.0.1:9/api/models/org/name",
                "http://127.0.0.1:9/org/name"
            ]
        );
        assert!(plan.store_path.starts_with("/nix/store/") && plan.store_path.ends_with("-m"));
    }

    #[test]
    fn pinned_is_the_plans_store_path_and_checks_the_whole_spec() {
        let plan = plan(SPEC, "/nix/store").unwrap();
        for hash in [
            "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
            "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            let spec = SPEC.replace("sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", hash);
            let pin = pinned(&spec, "/nix/store").unwrap();
            assert_eq!((&pin.hash, &pin.store_path), (&plan.hash, &plan.store_path));
        }
        let unpinned = pinned(
            r#"{"source":{"huggingface":{"repo":"org/name"}}}"#,
            "/nix/store",
        );
        assert_eq!(unpinned.unwrap().store_path, "");
        // What a fetch refuses, a cache hit refuses: every problem, not only the hash's.
        let typo = SPEC.replace(
            r#""repo":"org/name""#,
            r#""repo":"org/name","revison":"v1""#,
        );
        let refused = pinned(&typo, "/nix/store").unwrap_err();
        assert!(
            refused.contains("revison") && refused.contains("did you mean revision"),
            "{refused}"
        );
    }

    #[test]
    fn plan_without_hash_has_no_store_path() {
        let plan = plan(
            r#"{"source":{"huggingface":{"repo":"org/name"}}}"#,
            "/nix/store",
        )
        .unwrap();
        assert_eq!((plan.hash.as_str(), plan.store_path.as_str()), ("", ""));
        assert_eq!(plan.name, "models--org--name");
    }
}
