//! Adding a fetched folder to the Nix store, when one is reachable, so the next
//! build finds it (as `nix-prefetch-url` does).

use std::path::Path;
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
