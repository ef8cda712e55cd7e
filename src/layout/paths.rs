//! Refusing hostile paths from the Hub before anything is written.

use std::path::Path;

use crate::error::{name_too_long, Error, LongNameRemedy, Result, NAME_MAX};

/// What keeps a `/`-separated path from being joined to a folder as a plain relative path
/// there, in the order [`relative_path_problem`] looks for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathProblem {
    Empty,
    NulByte,
    Backslash,
    Absolute,
    EmptySegment,
    DotSegment,
    /// A name longer than a file name can be: harmless, but no file system writes it.
    LongName,
}

impl PathProblem {
    /// The problem as it follows the path in a message: `'a//b' has an empty segment`.
    pub fn words(self) -> &'static str {
        match self {
            PathProblem::Empty => "is empty",
            PathProblem::NulByte => "holds a NUL byte",
            PathProblem::Backslash => "holds a backslash",
            PathProblem::Absolute => "starts with '/'",
            PathProblem::EmptySegment => "has an empty segment",
            PathProblem::DotSegment => "has a '.' or '..' segment",
            PathProblem::LongName => "has a name longer than the 255 bytes a file name can have",
        }
    }
}

/// The first problem of `path` as a plain relative path that stays inside the folder it is
/// joined to, and that a file system can hold: the rule of the listed paths and of a revision
/// (written as `refs/<revision>`). lib/sources/huggingface.nix checks a revision in this order.
pub fn relative_path_problem(path: &str) -> Option<PathProblem> {
    let problem = if path.is_empty() {
        PathProblem::Empty
    } else if path.contains('\0') {
        PathProblem::NulByte
    } else if path.contains('\\') {
        PathProblem::Backslash
    } else if path.starts_with('/') {
        PathProblem::Absolute
    } else if path.ends_with('/') || path.contains("//") {
        PathProblem::EmptySegment
    } else if path.split('/').any(|name| name == "." || name == "..") {
        PathProblem::DotSegment
    } else if path.split('/').any(|name| name.len() > NAME_MAX) {
        PathProblem::LongName
    } else {
        return None;
    };
    Some(problem)
}

/// Checks every listed path, and that no path is listed twice or is both a file
/// and the folder of another file. A name too long for a file system is no problem here: only
/// the files selected are written ([`check_names_fit`]).
pub fn check_listing<'a>(paths: impl IntoIterator<Item = &'a str>) -> Result<()> {
    let mut sorted: Vec<&str> = paths.into_iter().collect();
    for path in &sorted {
        let problem = relative_path_problem(path).filter(|p| *p != PathProblem::LongName);
        if let Some(problem) = problem {
            return Err(Error::UnsafePath {
                path: path.to_string(),
                reason: problem.words(),
            });
        }
    }
    sorted.sort_unstable();
    for pair in sorted.windows(2) {
        let (first, second) = (pair[0], pair[1]);
        if first == second {
            return Err(Error::UnsafePath {
                path: first.into(),
                reason: "is listed twice",
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
            reason: "is both a file and a folder",
        });
    }
    Ok(())
}

/// Checks that the names of the selected files fit in a file name; the error says to leave
/// the file out.
pub fn check_names_fit<'a>(paths: impl IntoIterator<Item = &'a str>) -> Result<()> {
    for path in paths {
        if let Some(error) = name_too_long(Path::new(path), LongNameRemedy::LeaveOut) {
            return Err(error);
        }
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
            &"n".repeat(NAME_MAX),
        ] {
            assert_eq!(relative_path_problem(path), None, "{path}");
        }
    }

    #[test]
    fn hostile_paths_are_refused() {
        use PathProblem::*;
        for (path, problem) in [
            ("", Empty),
            ("/etc/passwd", Absolute),
            ("../x", DotSegment),
            ("a/../../x", DotSegment),
            ("a//b", EmptySegment),
            ("a/", EmptySegment),
            ("./a", DotSegment),
            ("a\\b", Backslash),
            ("a\0b", NulByte),
            ("..", DotSegment),
            // The whole path is looked at for each problem in turn, not name by name.
            ("../a//b", EmptySegment),
            (&"n".repeat(NAME_MAX + 1), LongName),
            (&format!("{}/..", "n".repeat(NAME_MAX + 1)), DotSegment),
        ] {
            assert_eq!(relative_path_problem(path), Some(problem), "{path:?}");
        }
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
        // Only a file that is written must have names a file system holds.
        let long = format!("{}.bin", "n".repeat(NAME_MAX));
        assert!(check_listing(["ok", &long]).is_ok());
        let err = check_names_fit(["ok", &long]).unwrap_err().to_string();
        assert!(
            err.contains("259 bytes long")
                && err.ends_with("leave the file out with source.huggingface.exclude"),
            "{err}"
        );
    }
}
