//! The models file (`models.toml`: what to lock) and the lock file (`models.lock.json`: what
//! was locked), read and written.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix_fetch_model::error::IoContext;
use nix_fetch_model::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The format of the lock files this version writes and reads (the library checks it too).
pub const LOCK_VERSION: u64 = 1;

/// An entry of the models file: what to fetch.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wanted {
    /// A reference as `prefetch` takes it: `hf:org/name@main`, `s3://bucket/prefix`, ...
    #[serde(rename = "ref")]
    pub reference: String,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// An entry of the lock file: what was asked (the models file's entry and its fetch spec) and
/// what it was locked to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Locked {
    #[serde(rename = "ref")]
    pub reference: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// The fetch spec of the entry, before the fetch pinned it.
    pub spec: Value,
    pub revision: String,
    pub commit: String,
    /// The NAR hash (SRI).
    pub hash: String,
    /// Bytes of the files.
    pub size: u64,
    /// How many files.
    pub files: usize,
    /// The argument of `fetchModel` that gives this entry: the spec, pinned.
    pub pin: Value,
}

impl Locked {
    /// Whether this was locked from `wanted` (else the models file changed since).
    pub fn is_of(&self, wanted: &Wanted) -> bool {
        (&self.reference, &self.include, &self.exclude)
            == (&wanted.reference, &wanted.include, &wanted.exclude)
    }
}

pub type Lock = BTreeMap<String, Locked>;

/// The entries of the models file `path`, by name.
pub fn read_models(path: &Path) -> Result<BTreeMap<String, Wanted>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(problem(
                path,
                "there is no such file: write one table per model, e.g. [minilm] with \
                 ref = \"hf:sentence-transformers/all-MiniLM-L6-v2@main\" (and optional \
                 include = [\"*.json\"], exclude = [\"onnx/*\"]), or name it with --models",
            ))
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    let models: BTreeMap<String, Wanted> = toml::from_str(&text)
        .map_err(|e| problem(path, e.to_string().trim_end().replace('\n', "\n    ")))?;
    let bad: Vec<String> = models
        .keys()
        .filter(|name| !is_nix_name(name))
        .map(|name| {
            format!(
                "'{name}' is not a model name: use letters, digits, _, - and ' (starting with \
                 a letter or _), as a Nix attribute name without quotes"
            )
        })
        .collect();
    if !bad.is_empty() {
        return Err(Error::InvalidArguments {
            heading: path.display().to_string(),
            problems: bad,
        });
    }
    Ok(models)
}

/// The lock file `path`; empty when there is none yet.
pub fn read_lock(path: &Path) -> Result<Lock> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Lock::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let redo = "remove it and run `nix-fetch-model lock` to write it again";
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| problem(path, format!("is not JSON ({e}): {redo}")))?;
    match value.get("version") {
        Some(Value::Number(n)) if n.as_u64() == Some(LOCK_VERSION) => {}
        Some(version) => {
            return Err(problem(
                path,
                format!(
                    "is a lock file of format version {version}, and this nix-fetch-model \
                     reads version {LOCK_VERSION} only: use the nix-fetch-model that wrote it, \
                     or {redo}"
                ),
            ))
        }
        None => {
            return Err(problem(
                path,
                format!("is not a lock file of nix-fetch-model (no \"version\"): {redo}"),
            ))
        }
    }
    let models = value.get("models").cloned().unwrap_or(json!({}));
    serde_path_to_error::deserialize(models).map_err(|e| {
        let at = e.path().to_string();
        problem(path, format!("models.{at}: {}: {redo}", e.inner()))
    })
}

/// The bytes of the lock file holding `lock`: keys sorted, two-space indents, a final newline.
pub fn lock_text(lock: &Lock) -> String {
    // Through a Value, whose objects sort their keys (serde_json's map is a BTreeMap here).
    let value = json!({ "version": LOCK_VERSION, "models": lock });
    serde_json::to_string_pretty(&value).expect("JSON") + "\n"
}

/// Writes `lock` to `path` unless it holds those bytes already; atomically: a temporary file
/// beside it, synced, renamed onto it. Answers whether it wrote.
pub fn write_lock(path: &Path, lock: &Lock) -> Result<bool> {
    let text = lock_text(lock);
    if std::fs::read(path).ok().as_deref() == Some(text.as_bytes()) {
        return Ok(false);
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut file = tempfile::Builder::new()
        .prefix(".models.lock.")
        .tempfile_in(&dir)
        .at(&dir)?;
    let mode = std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode());
    file.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .at(file.path())?;
    file.write_all(text.as_bytes()).at(file.path())?;
    file.as_file().sync_all().at(file.path())?;
    file.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(true)
}

fn problem(path: &Path, problem: impl Into<String>) -> Error {
    Error::InvalidArguments {
        heading: path.display().to_string(),
        problems: vec![problem.into()],
    }
}

/// A name Nix reads as an attribute name without quotes.
fn is_nix_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || "_-'".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locked(reference: &str) -> Locked {
        Locked {
            reference: reference.into(),
            include: vec!["*.json".into()],
            exclude: vec![],
            spec: json!({ "source": { "huggingface": { "repo": "org/a", "revision": "main" } } }),
            revision: "main".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            hash: "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
            size: 12,
            files: 1,
            pin: json!({ "name": "models--org--a", "hash": "sha256-x" }),
        }
    }

    #[test]
    fn the_lock_text_is_sorted_and_reads_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("models.lock.json");
        let lock = Lock::from([
            ("b".into(), locked("hf:org/b")),
            ("a".into(), locked("hf:org/a")),
        ]);
        assert!(write_lock(&path, &lock).unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("{\n  \"models\": {\n    \"a\": {\n      \"commit\""),
            "{text}"
        );
        assert!(text.ends_with("}\n  },\n  \"version\": 1\n}\n"), "{text}");
        assert_eq!(read_lock(&path).unwrap(), lock);
        assert!(
            !write_lock(&path, &lock).unwrap(),
            "the same bytes are not written again"
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }

    #[test]
    fn another_format_version_is_refused_saying_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("models.lock.json");
        std::fs::write(&path, r#"{"version": 2, "models": {}}"#).unwrap();
        let message = read_lock(&path).unwrap_err().to_string();
        assert!(message.contains("format version 2"), "{message}");
        assert!(message.contains("reads version 1 only"), "{message}");
        std::fs::write(&path, r#"{"models": {}}"#).unwrap();
        let message = read_lock(&path).unwrap_err().to_string();
        assert!(message.contains("no \"version\""), "{message}");
    }

    #[test]
    fn a_models_file_with_unknown_keys_or_bad_names_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("models.toml");
        std::fs::write(&path, "[a]\nref = \"hf:org/a\"\nincludes = [\"*.json\"]\n").unwrap();
        let message = read_models(&path).unwrap_err().to_string();
        assert!(message.contains("unknown field `includes`"), "{message}");
        std::fs::write(&path, "[\"my model\"]\nref = \"hf:org/a\"\n").unwrap();
        let message = read_models(&path).unwrap_err().to_string();
        assert!(
            message.contains("'my model' is not a model name"),
            "{message}"
        );
        std::fs::write(
            &path,
            "[a]\nref = \"hf:org/a@v1\"\nexclude = [\"onnx/*\"]\n",
        )
        .unwrap();
        let models = read_models(&path).unwrap();
        assert_eq!(models["a"].reference, "hf:org/a@v1");
        assert_eq!(models["a"].exclude, ["onnx/*"]);
        assert!(models["a"].include.is_empty());
    }
}
