//! Refusing hostile paths from the Hub before anything is written.

use crate::error::{Error, Result, NAME_MAX};

/// Checks that `path` is a plain relative path that stays inside the folder it is
/// joined to: not empty or absolute, no `.`/`..` or empty segment, no backslash, no NUL.
pub fn check_relative_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("it is empty");
    }
    if path.starts_with('/') {
        return Err("it is absolute");
    }
    if path.contains('\0') {
        return Err("it contains a NUL byte");
    }
    if path.contains('\\') {
        return Err("it contains a backslash");
    }
    for segment in path.split('/') {
        match segment {
            "" => return Err("it has an empty segment"),
            "." | ".." => return Err("it has a '.' or '..' segment"),
            long if long.len() > NAME_MAX => {
                return Err("one of its names is longer than the 255 bytes a file name can have")
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks every listed path, and that no path is listed twice or is both a file
/// and the folder of another file.
pub fn check_listing<'a>(paths: impl IntoIterator<Item = &'a str>) -> Result<()> {
    let mut sorted: Vec<&str> = paths.into_iter().collect();
    for path in &sorted {
        check_relative_path(path).map_err(|reason| Error::UnsafePath {
            path: path.to_string(),
            reason,
        })?;
    }
    sorted.sort_unstable();
    for pair in sorted.windows(2) {
        let (first, second) = (pair[0], pair[1]);
        if first == second {
            return Err(Error::UnsafePath {
                path: first.into(),
                reason: "it is listed twice",
            });
        }
    }
    let folders: std::collections::HashSet<&str> = sorted
        .iter()
        .flat_map(|p| p.match_indices('/').map(move |(i, _)| &p[..i]))
        .collect();
    if let Some(clash) = sorted.iter().find(|p| folders.contains(*p)) {
        return Err(Error::UnsafePath {
            path: clash.to_string(),
            reason: "it is both a file and a folder",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_pass() {
        for path in [
            "config.json",
            "1_Pooling/config.json",
            "a/b/c.d",
            ".gitattributes",
            "a..b",
        ] {
            assert_eq!(check_relative_path(path), Ok(()), "{path}");
        }
    }

    #[test]
    fn hostile_paths_are_refused() {
        for path in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "a/",
            "./a",
            "a\\b",
            "a\0b",
            "..",
            &"n".repeat(256),
        ] {
            assert!(check_relative_path(path).is_err(), "{path:?}");
        }
        assert_eq!(check_relative_path(&"n".repeat(255)), Ok(()));
    }

    #[test]
    fn listing_clashes_are_refused() {
        assert!(check_listing(["a", "b/c", "b/d"]).is_ok());
        let err = check_listing(["a", "a/b"]).unwrap_err().to_string();
        assert!(err.contains("both a file and a folder"), "{err}");
        let err = check_listing(["x/y", "x/y"]).unwrap_err().to_string();
        assert!(err.contains("listed twice"), "{err}");
        let err = check_listing(["ok", "../evil"]).unwrap_err().to_string();
        assert!(err.contains("../evil"), "{err}");
    }
}
