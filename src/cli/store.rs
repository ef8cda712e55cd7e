//! Adding a fetched folder to the Nix store, when one is reachable, so the next
//! build finds it (as `nix-prefetch-url` does), and what a path of the store holds.

use std::collections::BTreeSet;
use std::path::Path;

use nix_fetch_model::fetch::FetchOutcome;
use std::process::Command;

/// Adds `dir` (whose name is the store path name) as a recursive sha256
/// fixed-output path. `Err` says why it was not added.
pub fn add_fixed(dir: &Path) -> Result<String, String> {
    let output = Command::new("nix-store")
        .args(["--add-fixed", "--recursive", "sha256"])
        .arg(dir)
        .output()
        .map_err(|e| format!("cannot run nix-store ({e}); is Nix installed?"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("nix-store --add-fixed failed: {}", stderr.trim()));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The store folder: `NIX_STORE_DIR`, else /nix/store.
pub fn store_dir() -> String {
    std::env::var("NIX_STORE_DIR").unwrap_or_else(|_| "/nix/store".to_string())
}

/// Whether `path` is a valid path of the Nix store (`nix-store --check-validity`, through the
/// daemon for a user who is not root); false when the store cannot be asked.
pub fn is_valid(path: &str) -> bool {
    Command::new("nix-store")
        .args(["--check-validity", path])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// What a Hub cache repo folder in the store holds at `revision`, read from it (no network):
/// the commit of `refs/<revision>` (or `revision` itself, a commit), each file of its snapshot
/// with its blob. `None` when `path` is not such a folder.
pub fn outcome_in(path: &Path, revision: &str, endpoint: String) -> Option<FetchOutcome> {
    let commit = match std::fs::read_to_string(path.join("refs").join(revision)) {
        Ok(commit) => commit,
        Err(_) => revision.to_string(),
    };
    let snapshot = path.join("snapshots").join(&commit);
    let mut files = Vec::new();
    let mut folders = vec![snapshot.clone()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).ok()? {
            let entry = entry.ok()?;
            let kind = entry.file_type().ok()?;
            if kind.is_dir() {
                folders.push(entry.path());
            } else if kind.is_symlink() {
                let blob = std::fs::read_link(entry.path()).ok()?;
                let digest = blob.file_name()?.to_str()?.to_string();
                let file = entry
                    .path()
                    .strip_prefix(&snapshot)
                    .ok()?
                    .to_str()?
                    .to_string();
                files.push((file, digest));
            } else {
                return None;
            }
        }
    }
    files.sort();
    let digests: BTreeSet<&str> = files.iter().map(|(_, digest)| digest.as_str()).collect();
    let mut bytes = 0;
    for digest in digests {
        bytes += std::fs::metadata(path.join("blobs").join(digest))
            .ok()?
            .len();
    }
    Some(FetchOutcome {
        endpoint,
        revision: revision.to_string(),
        commit,
        digests: files.iter().map(|(_, digest)| digest.clone()).collect(),
        files: files.into_iter().map(|(file, _)| file).collect(),
        bytes,
        pin: Default::default(),
    })
}
