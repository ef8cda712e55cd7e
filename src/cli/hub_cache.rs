//! Where huggingface_hub keeps its cache, and the repo a folder of it holds: what `import`
//! reads and `export` writes.

use std::path::{Path, PathBuf};

use nix_fetch_model::hub::RepoType;

/// The Hub cache huggingface_hub uses: `HF_HUB_CACHE`, else `HF_HOME/hub`, else
/// `XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
pub fn cache_dir() -> Result<PathBuf, String> {
    let var = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(cache) = var("HF_HUB_CACHE") {
        return Ok(cache.into());
    }
    if let Some(home) = var("HF_HOME") {
        return Ok(Path::new(&home).join("hub"));
    }
    if let Some(cache) = var("XDG_CACHE_HOME") {
        return Ok(Path::new(&cache).join("huggingface/hub"));
    }
    match var("HOME") {
        Some(home) => Ok(Path::new(&home).join(".cache/huggingface/hub")),
        None => Err("no Hub cache: set HF_HUB_CACHE (or HF_HOME, or HOME)".into()),
    }
}

/// The repo a cache folder named `models--org--name` (`datasets--`, `spaces--`) holds, as a
/// reference: `hf:org/name`, `hf:datasets/org/name`.
pub fn reference_of_folder(name: &str) -> Option<String> {
    let (plural, id) = name.split_once("--")?;
    let kind = [RepoType::Model, RepoType::Dataset, RepoType::Space]
        .into_iter()
        .find(|kind| kind.plural() == plural)?;
    if id.is_empty() {
        return None;
    }
    let prefix = match kind {
        RepoType::Model => "",
        _ => kind.plural(),
    };
    let slash = if prefix.is_empty() { "" } else { "/" };
    Some(format!("hf:{prefix}{slash}{}", id.replace("--", "/")))
}

/// The commit `refs/<revision>` of the repo folder `folder` names, if it has that file.
pub fn read_ref(folder: &Path, revision: &str) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(folder.join("refs").join(revision)) {
        Ok(commit) => Ok(Some(commit.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The commits of the snapshots of `folder`, sorted.
pub fn snapshots(folder: &Path) -> Vec<String> {
    let mut commits: Vec<String> = std::fs::read_dir(folder.join("snapshots"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    commits.sort();
    commits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_give_references() {
        assert_eq!(
            reference_of_folder("models--org--name").unwrap(),
            "hf:org/name"
        );
        assert_eq!(reference_of_folder("models--gpt2").unwrap(), "hf:gpt2");
        assert_eq!(
            reference_of_folder("datasets--org--d").unwrap(),
            "hf:datasets/org/d"
        );
        assert_eq!(reference_of_folder("blobs"), None);
        assert_eq!(reference_of_folder("other--org--name"), None);
        assert_eq!(reference_of_folder("models--"), None);
    }
}
