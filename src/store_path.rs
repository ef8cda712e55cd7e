//! Store paths of fixed-output, recursively hashed (NAR sha256) objects.
//!
//! This is where Nix puts a directory added with a known NAR hash, so a
//! pinned hash tells the path before anything is downloaded. Nix computes it
//! as `<store>/<nix32(fold20(sha256(fingerprint)))>-<name>` with the
//! fingerprint `source:sha256:<base16 NAR hash>:<store>:<name>`, where
//! `fold20` XORs the 32-byte digest into 20 bytes.

use crate::hash::{nix32_encode, Sha256Hash};
use sha2::{Digest, Sha256};

/// Longest store path name Nix accepts.
pub const MAX_NAME_LEN: usize = 211;
/// Bytes of the digest in a store path's hash part.
const STORE_PATH_HASH_LEN: usize = 20;
/// The characters besides ASCII letters and digits that a name may contain.
const NAME_PUNCTUATION: &str = "+-._?=";

/// What was wrong with a store directory or store path name.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StorePathError {
    /// The name is the empty string.
    #[error("store path name is empty; give a name such as 'model-name'")]
    EmptyName,
    /// The name has more than [`MAX_NAME_LEN`] characters.
    #[error("store path name '{name}' has {len} characters, but Nix allows at most {MAX_NAME_LEN}; shorten it, for example to '{suggestion}'")]
    NameTooLong {
        name: String,
        len: usize,
        suggestion: String,
    },
    /// The name starts with a period, which some Nix versions refuse.
    #[error("store path name '{name}' starts with '.', which some Nix versions refuse; drop the leading period, for example '{suggestion}'")]
    LeadingPeriod { name: String, suggestion: String },
    /// The name contains a character outside `[A-Za-z0-9+\-._?=]`.
    #[error("store path name '{name}' contains '{bad_char}' at character {position}, but names may only contain ASCII letters, digits and '{NAME_PUNCTUATION}'; use for example '{suggestion}'")]
    IllegalCharacter {
        name: String,
        bad_char: char,
        position: usize,
        suggestion: String,
    },
    /// The store directory is not an absolute, canonical path.
    #[error("store directory '{0}' must be an absolute path without a trailing '/', '//', '.' or '..' components, like '/nix/store'")]
    BadStoreDir(String),
}

/// The store path of a fixed-output object with the given NAR sha256, as
/// `nix-store --print-fixed-path --recursive sha256 <hash> <name>` prints it
/// for a store at `store_dir` (e.g. `/nix/store`).
pub fn fixed_output_path(
    store_dir: &str,
    name: &str,
    nar_sha256: &Sha256Hash,
) -> Result<String, StorePathError> {
    validate_store_dir(store_dir)?;
    validate_name(name)?;
    let digest = Sha256::new()
        .chain_update(b"source:sha256:")
        .chain_update(nar_sha256.to_base16())
        .chain_update(b":")
        .chain_update(store_dir)
        .chain_update(b":")
        .chain_update(name)
        .finalize();
    let hash_part = nix32_encode(&fold_digest(&digest));
    Ok([store_dir, "/", &hash_part, "-", name].concat())
}

/// Checks `name` against the rules every supported Nix version applies to
/// store path names: 1 to 211 characters from `[A-Za-z0-9+\-._?=]`, not
/// starting with `.`. The error says which rule failed and suggests a name.
pub fn validate_name(name: &str) -> Result<(), StorePathError> {
    if name.is_empty() {
        return Err(StorePathError::EmptyName);
    }
    // Checked on every cache hit of the plugin: bytes first, characters only to say which.
    if !name.bytes().all(is_name_byte) {
        let (position, bad_char) = name
            .chars()
            .enumerate()
            .find(|&(_, c)| !is_name_char(c))
            .expect("a byte outside the name characters is part of a character outside them");
        return Err(StorePathError::IllegalCharacter {
            name: name.to_owned(),
            bad_char,
            position: position + 1,
            suggestion: suggest_name(name),
        });
    }
    // Nix before 2.4 and some later releases refuse a leading '.', the newest refuse only '.',
    // '..', '.-…' and '..-…'; refusing every leading '.' keeps a name valid in all of them.
    if name.starts_with('.') {
        return Err(StorePathError::LeadingPeriod {
            name: name.to_owned(),
            suggestion: suggest_name(name),
        });
    }
    if name.len() > MAX_NAME_LEN {
        return Err(StorePathError::NameTooLong {
            name: name.to_owned(),
            len: name.len(),
            suggestion: suggest_name(name),
        });
    }
    Ok(())
}

fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || NAME_PUNCTUATION.as_bytes().contains(&byte)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii() && is_name_byte(c as u8)
}

/// A valid name close to `name`: illegal characters become '-', leading
/// periods go, and the result is cut to the maximum length.
fn suggest_name(name: &str) -> String {
    let replaced: String = name
        .chars()
        .map(|c| if is_name_char(c) { c } else { '-' })
        .collect();
    let trimmed: String = replaced
        .trim_start_matches('.')
        .chars()
        .take(MAX_NAME_LEN)
        .collect();
    if trimmed.is_empty() {
        "source".to_owned()
    } else {
        trimmed
    }
}

fn validate_store_dir(store_dir: &str) -> Result<(), StorePathError> {
    let components_are_canonical = store_dir
        .split('/')
        .skip(1)
        .all(|component| !matches!(component, "" | "." | ".."));
    if store_dir.starts_with('/') && components_are_canonical {
        Ok(())
    } else {
        Err(StorePathError::BadStoreDir(store_dir.to_owned()))
    }
}

/// XORs a digest into [`STORE_PATH_HASH_LEN`] bytes: byte `i` goes into `i % 20`.
fn fold_digest(digest: &[u8]) -> [u8; STORE_PATH_HASH_LEN] {
    let mut folded = [0u8; STORE_PATH_HASH_LEN];
    for (i, byte) in digest.iter().enumerate() {
        folded[i % STORE_PATH_HASH_LEN] ^= byte;
    }
    folded
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn sample_hash(seed: &str) -> Sha256Hash {
        Sha256Hash(Sha256::digest(seed.as_bytes()).into())
    }

    /// `nix-store --print-fixed-path --recursive sha256 HASH NAME` for a store at `store_dir`,
    /// or None if nix-store is missing.
    fn nix_fixed_path(store_dir: &str, hash_arg: &str, name: &str) -> Option<String> {
        // The dummy store computes paths for any store directory and touches no files.
        let store = format!("dummy://?store={store_dir}");
        let output = Command::new("nix-store")
            .args([
                "--store",
                &store,
                "--print-fixed-path",
                "--recursive",
                "sha256",
            ])
            .args([hash_arg, name])
            .output()
            .ok()?;
        assert!(
            output.status.success(),
            "nix-store failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Some(String::from_utf8(output.stdout).unwrap().trim().to_owned())
    }

    #[test]
    fn agrees_with_nix_store_print_fixed_path() {
        let names = [
            "source",
            "hf-bert-base-uncased",
            "models--Qwen--Qwen2.5-0.5B",
            "a",
            "x+y=z?_.-",
            &"n".repeat(MAX_NAME_LEN),
        ];
        for (index, name) in names.iter().enumerate() {
            let hash = sample_hash(&format!("tree {index}"));
            for store_dir in ["/nix/store", "/gnu/store", "/tmp/nfm-test/store"] {
                let ours = fixed_output_path(store_dir, name, &hash).unwrap();
                // Nix 2.8 takes the hash as base-16, Nix base-32 or SRI; try each.
                for hash_arg in [hash.to_base16(), hash.to_nix32(), hash.to_sri()] {
                    let Some(nix) = nix_fixed_path(store_dir, &hash_arg, name) else {
                        println!(
                            "SKIP: nix-store is not installed, so Nix cannot be used as the oracle"
                        );
                        return;
                    };
                    assert_eq!(ours, nix, "name {name}, store {store_dir}, hash {hash_arg}");
                }
            }
        }
    }

    #[test]
    fn path_has_store_dir_32_char_hash_and_name() {
        let path = fixed_output_path("/nix/store", "m", &sample_hash("x")).unwrap();
        let hash_part = path
            .strip_prefix("/nix/store/")
            .unwrap()
            .strip_suffix("-m")
            .unwrap();
        assert_eq!(hash_part.len(), 32);
        assert_eq!(crate::hash::nix32_decode(hash_part).unwrap().len(), 20);
    }

    #[test]
    fn fold_xors_bytes_past_twenty_into_the_start() {
        let digest: Vec<u8> = (1..=32).collect();
        let folded = fold_digest(&digest);
        assert_eq!(folded[0], 1 ^ 21);
        assert_eq!(folded[11], 12 ^ 32);
        assert_eq!(folded[12], 13);
        assert_eq!(folded[19], 20);
    }

    #[test]
    fn valid_names_pass() {
        for name in [
            "a",
            "Z9",
            "model-v1.0",
            "x+y",
            "a?b=c",
            "_",
            "-leading-dash",
            "a.",
            &"n".repeat(211),
        ] {
            assert_eq!(validate_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn invalid_names_say_what_is_wrong_and_suggest_a_fix() {
        let long = "n".repeat(MAX_NAME_LEN + 1);
        let cases: [(&str, &str, &str); 7] = [
            ("", "empty", "'model-name'"),
            (
                "Qwen/Qwen2.5",
                "contains '/' at character 5",
                "'Qwen-Qwen2.5'",
            ),
            ("with space", "contains ' ' at character 5", "'with-space'"),
            ("café", "contains 'é' at character 4", "'caf-'"),
            (".hidden", "starts with '.'", "'hidden'"),
            ("..", "starts with '.'", "'source'"),
            (&long, "has 212 characters", "at most 211"),
        ];
        for (name, problem, fix) in cases {
            let message = validate_name(name).unwrap_err().to_string();
            assert!(message.contains(problem), "'{message}' lacks '{problem}'");
            assert!(message.contains(fix), "'{message}' lacks '{fix}'");
        }
        assert!(fixed_output_path("/nix/store", "a/b", &sample_hash("x")).is_err());
    }

    #[test]
    fn suggestions_are_valid_names() {
        for name in ["Qwen/Qwen2.5", "...", ".a b", "日本語", &"é".repeat(300)] {
            assert_eq!(validate_name(&suggest_name(name)), Ok(()), "{name}");
        }
    }

    #[test]
    fn store_dir_must_be_absolute_and_canonical() {
        let hash = sample_hash("x");
        for store_dir in [
            "nix/store",
            "/nix/store/",
            "/nix//store",
            "/nix/./store",
            "/",
            "",
        ] {
            assert_eq!(
                fixed_output_path(store_dir, "m", &hash),
                Err(StorePathError::BadStoreDir(store_dir.to_owned())),
                "{store_dir}"
            );
        }
    }
}
