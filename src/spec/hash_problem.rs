//! What is wrong with a `hash` that [`crate::hash::parse_sha256`] refuses, in the words of
//! the library's `parseHash` (lib/hash.nix), whose steps this follows: the first `:` splits
//! off the algorithm; else a `[A-Za-z0-9]+-` prefix does (then the digits are base-64); else the
//! length of the digits says their base.

const NIX32_ALPHABET: &str = "0123456789abcdfghijklmnpqrsvwxyz";

/// The problem line of `hash`, or None when it is a sha256 in a form Nix reads.
pub fn hash_problem(hash: &str) -> Option<String> {
    let problem = if let Some((algorithm, digits)) = hash.split_once(':') {
        algorithm_problem(algorithm).or_else(|| digits_problem(digits))
    } else if let Some((algorithm, digits)) = dash_split(hash) {
        algorithm_problem(algorithm).or_else(|| base64_problem(digits))
    } else {
        digits_problem(hash)
    }?;
    Some(format!("'{hash}': {problem}"))
}

/// `sha256-<digits>` as the regex `([A-Za-z0-9]+)-(.*)` splits it.
fn dash_split(hash: &str) -> Option<(&str, &str)> {
    let (algorithm, digits) = hash.split_once('-')?;
    let alnum = |b: u8| b.is_ascii_alphanumeric();
    (!algorithm.is_empty() && algorithm.bytes().all(alnum)).then_some((algorithm, digits))
}

fn algorithm_problem(algorithm: &str) -> Option<String> {
    (algorithm != "sha256").then(|| format!("only sha256 is supported, not '{algorithm}'"))
}

fn digits_problem(digits: &str) -> Option<String> {
    match digits.len() {
        64 => first_bad(digits, |c| c.is_ascii_hexdigit())
            .map(|c| format!("'{c}' is not a base-16 digit")),
        52 => nix32_problem(digits),
        44 => base64_problem(digits),
        len => Some(format!(
            "sha256 digits are 64 (base-16), 52 (Nix base-32) or 44 (base-64) characters, not {len}"
        )),
    }
}

fn nix32_problem(digits: &str) -> Option<String> {
    if let Some(c) = first_bad(digits, |c| NIX32_ALPHABET.contains(c)) {
        return Some(format!(
            "'{c}' is not a Nix base-32 digit (alphabet {NIX32_ALPHABET})"
        ));
    }
    crate::hash::nix32_decode(digits).err().map(|_| {
        "it is not a valid Nix base-32 sha256 (its high bits overflow 32 bytes)".to_string()
    })
}

/// 43 digits, then at most one `=`.
fn base64_problem(text: &str) -> Option<String> {
    let digits = text.trim_end_matches('=');
    let is_digit = |c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/';
    if let Some(c) = first_bad(digits, is_digit) {
        return Some(format!("'{c}' is not a base-64 digit"));
    }
    (digits.len() != 43 || text.len() > 44)
        .then(|| "base-64 sha256 digits are 43 characters and at most one '='".to_string())
}

fn first_bad(text: &str, valid: impl Fn(char) -> bool) -> Option<char> {
    text.chars().find(|&c| !valid(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::parse_sha256;

    /// Both say yes to the same strings: a spec the check passes is one the fetch can read.
    #[test]
    fn refuses_exactly_what_parse_sha256_refuses() {
        let digest = crate::hash::Sha256Hash([0x9c; 32]);
        let sri = digest.to_sri();
        let b64 = &sri["sha256-".len()..];
        let forms = [
            sri.clone(),
            format!("sha256-{}", &b64[..43]),
            format!("sha256-{b64}="),
            format!("sha256:{b64}"),
            b64.to_string(),
            format!("sha256:{}", digest.to_nix32()),
            digest.to_nix32(),
            digest.to_base16(),
            digest.to_base16().to_uppercase(),
            format!("sha256:{}", digest.to_base16()),
        ];
        let mut mutants: Vec<String> = Vec::new();
        for form in &forms {
            mutants.push(form.clone());
            for (at, _) in form.char_indices() {
                for replacement in ["", "=", "-", ":", "!", "e", "Z", "zz", "A"] {
                    mutants.push(format!("{}{replacement}{}", &form[..at], &form[at + 1..]));
                }
            }
        }
        mutants.extend(
            [
                "",
                "md5-abc",
                "SHA256-abc",
                "-abc",
                ":abc",
                "sha256:",
                "sha256-",
                "sha512:abc",
                "sha256-AAAA=AAAA",
            ]
            .map(String::from),
        );
        for text in mutants {
            assert_eq!(
                hash_problem(&text).is_none(),
                parse_sha256(&text).is_ok(),
                "{text:?}: {:?}",
                hash_problem(&text)
            );
        }
    }

    #[test]
    fn words() {
        assert_eq!(
            hash_problem("sha256:12").unwrap(),
            "'sha256:12': sha256 digits are 64 (base-16), 52 (Nix base-32) or 44 (base-64) characters, not 2"
        );
        assert_eq!(
            hash_problem("md5-abc").unwrap(),
            "'md5-abc': only sha256 is supported, not 'md5'"
        );
    }
}
