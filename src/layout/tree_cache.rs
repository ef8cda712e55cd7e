//! `trees/<commit>.json`: the repo's whole file listing at the commit, as
//! huggingface_hub (>= 1.x) caches it beside the snapshots and reads it offline
//! (`get_cached_repo_tree`). Written byte for byte as huggingface_hub writes it:
//! `json.dump(data, f, indent=1)`, ASCII only, no trailing newline.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::hub::{ListedFile, RepoFile};

const FORMAT_VERSION: u32 = 1;

#[derive(Serialize)]
struct TreeCache<'a> {
    format_version: u32,
    files: BTreeMap<&'a str, Entry<'a>>,
}

#[derive(Serialize)]
struct Entry<'a> {
    size: u64,
    blob_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    lfs_sha256: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lfs_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    xet_hash: Option<&'a str>,
}

/// Writes the listing of every file of the repo at `commit`. Like huggingface_hub,
/// writes nothing when a Xet hash is malformed.
pub fn write_tree_cache(root: &Path, commit: &str, listing: &[RepoFile]) -> Result<()> {
    let valid_xet = |hash: &String| crate::hub::is_hex(hash, 64);
    if !listing
        .iter()
        .all(|f| f.listed.xet_hash.as_ref().is_none_or(valid_xet))
    {
        return Ok(());
    }
    let files = listing
        .iter()
        .map(|file| {
            let listed = &file.listed;
            let entry = Entry {
                size: listed.size,
                blob_id: &listed.blob_id,
                lfs_sha256: listed.lfs.as_ref().map(|(sha, _)| sha.as_str()),
                lfs_size: listed.lfs.as_ref().map(|(_, size)| *size),
                xet_hash: listed.xet_hash.as_deref(),
            };
            (file.path.as_str(), entry)
        })
        .collect();
    let text = python_json(&TreeCache {
        format_version: FORMAT_VERSION,
        files,
    });
    let folder = root.join("trees");
    std::fs::create_dir_all(&folder).at(&folder)?;
    let path = folder.join(format!("{commit}.json"));
    std::fs::write(&path, text).at(&path)
}

/// The listing `trees/<commit>.json` of the repo folder `root` holds, if it has that file.
pub fn read_tree_cache(root: &Path, commit: &str) -> Result<Option<Vec<RepoFile>>> {
    #[derive(Deserialize)]
    struct Read {
        files: BTreeMap<String, ReadEntry>,
    }
    #[derive(Deserialize)]
    struct ReadEntry {
        size: u64,
        blob_id: String,
        lfs_sha256: Option<String>,
        lfs_size: Option<u64>,
        xet_hash: Option<String>,
    }
    let path = root.join("trees").join(format!("{commit}.json"));
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let unreadable = |problem: String| {
        Error::Cli(format!(
        "{}: {problem}: the cached listing is damaged; remove it to read the Hub's listing instead",
        path.display()
    ))
    };
    let read: Read = serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
    read.files
        .into_iter()
        .map(|(name, entry)| {
            let lfs = match (entry.lfs_sha256, entry.lfs_size) {
                (Some(sha256), Some(size)) => Some((sha256, size)),
                (None, None) => None,
                _ => return Err(unreadable(format!("file {name:?} has half an LFS entry"))),
            };
            let listed = ListedFile {
                size: entry.size,
                blob_id: entry.blob_id,
                lfs,
                xet_hash: entry.xet_hash,
            };
            RepoFile::from_listed(name, listed).map_err(unreadable)
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// JSON as Python's `json.dumps(value, indent=1)`: one space of indent, `": "`, and
/// every non-ASCII character escaped as `\uXXXX` (UTF-16 surrogate pairs beyond the BMP).
fn python_json<T: Serialize>(value: &T) -> String {
    let mut bytes = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b" ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, formatter);
    value
        .serialize(&mut serializer)
        .expect("serializing to memory cannot fail");
    let text = String::from_utf8(bytes).expect("serde_json writes UTF-8");
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            escaped.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                escaped.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_it_writes() {
        let root = tempfile::tempdir().unwrap();
        let listed = |path: &str, blob: &str, lfs: Option<(&str, u64)>| {
            let listed = ListedFile {
                size: 3,
                blob_id: blob.into(),
                lfs: lfs.map(|(sha, size)| (sha.into(), size)),
                xet_hash: None,
            };
            RepoFile::from_listed(path.into(), listed).unwrap()
        };
        let listing = vec![
            listed("a/b.txt", &"1".repeat(40), None),
            listed("m.bin", &"2".repeat(40), Some((&"3".repeat(64), 9))),
        ];
        write_tree_cache(root.path(), "c0", &listing).unwrap();
        assert_eq!(read_tree_cache(root.path(), "c0").unwrap(), Some(listing));
        assert_eq!(read_tree_cache(root.path(), "c1").unwrap(), None);
        std::fs::write(root.path().join("trees/c2.json"), "{").unwrap();
        let error = read_tree_cache(root.path(), "c2").unwrap_err().to_string();
        assert!(
            error.contains("trees/c2.json") && error.contains("remove it"),
            "{error}"
        );
    }

    #[test]
    fn matches_python_json_dumps_indent_1() {
        let mut files = BTreeMap::new();
        files.insert(
            "é/𝄞.txt",
            Entry {
                size: 1,
                blob_id: "ab",
                lfs_sha256: None,
                lfs_size: None,
                xet_hash: None,
            },
        );
        files.insert(
            "m.bin",
            Entry {
                size: 2,
                blob_id: "cd",
                lfs_sha256: Some("ef"),
                lfs_size: Some(2),
                xet_hash: None,
            },
        );
        let text = python_json(&TreeCache {
            format_version: 1,
            files,
        });
        let expected = "{\n \"format_version\": 1,\n \"files\": {\n  \"m.bin\": {\n   \"size\": 2,\n   \"blob_id\": \"cd\",\n   \"lfs_sha256\": \"ef\",\n   \"lfs_size\": 2\n  },\n  \"\\u00e9/\\ud834\\udd1e.txt\": {\n   \"size\": 1,\n   \"blob_id\": \"ab\"\n  }\n }\n}";
        assert_eq!(text, expected);
    }
}
