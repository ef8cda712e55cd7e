//! The problem line of an attribute no check knows, with what to write instead: the
//! attribute it was likely meant to be, or where it belongs. lib/sources/check.nix
//! (unknownKeys) words it the same.

/// `<at>.<key> is not a known <noun>; ...`: what to write instead (`instead`), else the known
/// name it is meant to be (`meant`, else the closest) and the known names.
pub fn unknown(
    noun: &str,
    at: &str,
    key: &str,
    known: &[&str],
    instead: Option<String>,
    meant: Option<&str>,
) -> String {
    let head = format!("{at}.{key} is not a known {noun}");
    if let Some(instead) = instead {
        return format!("{head}; {instead}");
    }
    let known_list = known.join(", ");
    match meant.or_else(|| closest(key, known)) {
        Some(name) => format!("{head}; did you mean {name}? Known: {known_list}"),
        None => format!("{head}; known: {known_list}"),
    }
}

/// The known name nearest to `key` (edit distance, in bytes) if it is near enough: at most
/// one edit for every three bytes of `key`, and at least one. The first of equals wins.
pub fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let most = (key.len() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for candidate in known {
        let distance = edit_distance(key.as_bytes(), candidate.as_bytes());
        if distance <= most && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, name)| name)
}

/// Levenshtein distance.
fn edit_distance(a: &[u8], b: &[u8]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance(b"revison", b"revision"), 1);
        assert_eq!(edit_distance(b"", b"abc"), 3);
        assert_eq!(edit_distance(b"kitten", b"sitting"), 3);
    }

    #[test]
    fn near_names_only() {
        let known = ["repo", "revision", "commit", "repoType", "files", "exclude"];
        assert_eq!(closest("revison", &known), Some("revision"));
        assert_eq!(closest("repo_type", &known), Some("repoType"));
        assert_eq!(closest("rev", &known), None);
        assert_eq!(closest("x", &known), None);
    }
}
