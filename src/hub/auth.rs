//! Finding the user's Hub token. The token is never printed, logged or written.

use std::fmt;
use std::path::{Path, PathBuf};

use reqwest::header::HeaderValue;

use crate::error::{Error, Result};
use crate::nix_build::in_nix_build;
use crate::spec::Auth;

/// A Hub token, kept as the `Authorization` header value it is sent as (marked sensitive).
/// `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(HeaderValue);

/// A character no Hub token holds: a token is printable ASCII (`hf_` and letters and digits).
#[derive(Debug, PartialEq, Eq)]
pub enum Unsendable {
    /// A line break or another control character, which an HTTP header cannot carry.
    ControlCharacter,
    /// A space inside it.
    Space,
    /// U+FEFF, which some editors write at the start of a file.
    ByteOrderMark,
    /// Another character beyond ASCII (a curly quote from a web page...).
    NotAscii(char),
}

impl Unsendable {
    /// What the token holds, as its error says it.
    fn problem(&self) -> String {
        let alone = "it must be the token alone, on one line";
        match self {
            Unsendable::ControlCharacter => format!(
                "holds a character an HTTP header cannot carry (a line break or another control \
                 character inside it): {alone}"
            ),
            Unsendable::Space => format!("holds a space: {alone}"),
            Unsendable::ByteOrderMark => format!(
                "holds a byte-order mark (U+FEFF), which some editors write at the start of a \
                 file: save it without one; {alone}"
            ),
            Unsendable::NotAscii(c) => format!(
                "holds a character other than printable ASCII (U+{:04X}), as a curly quote copied \
                 from a web page or a document is: a token is ASCII letters, digits and \
                 punctuation; {alone}",
                u32::from(*c)
            ),
        }
    }
}

impl Token {
    /// The token in `text`, surrounding whitespace dropped; `None` if that leaves nothing.
    pub fn new(text: &str) -> Result<Option<Self>, Unsendable> {
        let secret = text.trim();
        if secret.is_empty() {
            return Ok(None);
        }
        if let Some(c) = secret.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(match c {
                ' ' => Unsendable::Space,
                '\u{feff}' => Unsendable::ByteOrderMark,
                c if c.is_control() => Unsendable::ControlCharacter,
                c => Unsendable::NotAscii(c),
            });
        }
        let mut header = HeaderValue::from_str(&format!("Bearer {secret}"))
            .map_err(|_| Unsendable::ControlCharacter)?;
        header.set_sensitive(true);
        Ok(Some(Token(header)))
    }

    /// `Bearer <token>`.
    pub fn header(&self) -> HeaderValue {
        self.0.clone()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<hidden>)")
    }
}

/// The token in `text`, read from `source` ("the variable HF_TOKEN", "the file ...").
fn token_from(text: &str, source: impl FnOnce() -> String) -> Result<Option<Token>> {
    Token::new(text).map_err(|unsendable| Error::UnsendableToken {
        place: source(),
        problem: unsendable.problem(),
    })
}

/// The token, looked up in order: `auth.tokenFile`; the variable named by
/// `auth.tokenEnvVar` (by default `HF_TOKEN`, then `HUGGING_FACE_HUB_TOKEN`);
/// `$HF_TOKEN_PATH`; `$HF_HOME/token`; `~/.cache/huggingface/token`.
/// `env` reads an environment variable (the process environment in production).
pub fn find_token(auth: &Auth, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Token>> {
    if let Some(file) = &auth.token_file {
        let unreadable = |problem| Error::TokenFile {
            file: file.clone(),
            problem,
        };
        let text = std::fs::read_to_string(file)
            .map_err(|e| unreadable(token_file_problem(&e, in_nix_build(env))))?;
        return token_from(&text, || {
            format!("the file {} (auth.tokenFile)", file.display())
        })?
        .map(Some)
        .ok_or_else(|| unreadable("is empty: it must hold the token".into()));
    }
    let variables: Vec<&str> = match &auth.token_env_var {
        Some(name) => vec![name.as_str()],
        None => vec!["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"],
    };
    for name in variables {
        if let Some(text) = env(name) {
            if let Some(token) = token_from(&text, || format!("the variable {name}"))? {
                return Ok(Some(token));
            }
        }
    }
    for path in token_file_candidates(env) {
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Some(token) = token_from(&text, || format!("the file {}", path.display()))? {
                return Ok(Some(token));
            }
        }
    }
    Ok(None)
}

/// Why the file of `auth.tokenFile` could not be read, and what to do, in a Nix build (the
/// fixed-output builder) or not.
fn token_file_problem(error: &std::io::Error, in_build: bool) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound if in_build => format!(
            "this Nix build cannot see ({error}): a build sees only its sandbox, and the paths \
             of Nix's extra-sandbox-paths setting"
        ),
        std::io::ErrorKind::NotFound => "does not exist".into(),
        std::io::ErrorKind::PermissionDenied => {
            let reader = if in_build {
                "this build user cannot read"
            } else {
                "this user cannot read"
            };
            format!(
                "{reader} ({error}): it must be readable by whoever fetches: your user with the \
                 plugin or prefetch; the build users (group nixbld) in a fixed-output build, e.g. \
                 chgrp nixbld FILE && chmod 640 FILE"
            )
        }
        std::io::ErrorKind::InvalidData => {
            "is not text (UTF-8): it must hold the token alone, on one line".into()
        }
        _ => format!("cannot be read: {error}"),
    }
}

fn token_file_candidates(env: &dyn Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(path) = env("HF_TOKEN_PATH") {
        candidates.push(PathBuf::from(path));
    }
    if let Some(home) = env("HF_HOME") {
        candidates.push(Path::new(&home).join("token"));
    }
    if let Some(home) = env("HOME") {
        candidates.push(Path::new(&home).join(".cache/huggingface/token"));
    }
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_env::lookup;

    fn token(text: &str) -> Option<Token> {
        Token::new(text).unwrap()
    }

    #[test]
    fn order_of_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.to_string_lossy().into_owned()
        };
        let spec_file = file("spec-token", "hf_from_spec\n");
        let path_file = file("path-token", "hf_from_path");
        std::fs::create_dir_all(dir.path().join("home/.cache/huggingface")).unwrap();
        file("home/.cache/huggingface/token", "hf_from_home");
        let home = dir.path().join("home").to_string_lossy().into_owned();

        let with_file = Auth {
            token_file: Some(spec_file.into()),
            token_env_var: None,
        };
        let env = lookup(&[("HF_TOKEN", "hf_env")]);
        assert_eq!(find_token(&with_file, &env).unwrap(), token("hf_from_spec"));

        let default = Auth::default();
        assert_eq!(find_token(&default, &env).unwrap(), token("hf_env"));
        let env = lookup(&[
            ("HUGGING_FACE_HUB_TOKEN", "hf_old"),
            ("HF_TOKEN_PATH", &path_file),
        ]);
        assert_eq!(find_token(&default, &env).unwrap(), token("hf_old"));

        let named = Auth {
            token_file: None,
            token_env_var: Some("MY_TOKEN".into()),
        };
        let env = lookup(&[("HF_TOKEN", "hf_env"), ("MY_TOKEN", "hf_mine")]);
        assert_eq!(find_token(&named, &env).unwrap(), token("hf_mine"));

        let env = lookup(&[("HF_TOKEN_PATH", &path_file), ("HOME", &home)]);
        assert_eq!(find_token(&default, &env).unwrap(), token("hf_from_path"));
        let env = lookup(&[("HOME", &home)]);
        assert_eq!(find_token(&default, &env).unwrap(), token("hf_from_home"));
        assert_eq!(find_token(&default, &lookup(&[])).unwrap(), None);
    }

    #[test]
    fn missing_token_file_is_an_error() {
        let auth = Auth {
            token_file: Some("/nonexistent/token".into()),
            token_env_var: None,
        };
        let err = find_token(&auth, &|_| None).unwrap_err().to_string();
        assert!(
            err.contains("auth.tokenFile") && err.contains("/nonexistent/token"),
            "{err}"
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let token = Token::new("hf_secret").unwrap().unwrap();
        assert!(!format!("{token:?}").contains("hf_secret"));
        assert!(!format!("{:?}", token.header()).contains("hf_secret"));
    }

    #[test]
    fn a_token_beyond_printable_ascii_says_what_it_holds() {
        assert_eq!(
            Token::new("\u{feff}hf_abc\n").unwrap_err(),
            Unsendable::ByteOrderMark
        );
        assert_eq!(
            Token::new("hf_ab\u{2019}c").unwrap_err(),
            Unsendable::NotAscii('\u{2019}')
        );
        assert_eq!(Token::new("hf_a bc").unwrap_err(), Unsendable::Space);
        assert_eq!(
            Token::new("hf_a\tbc").unwrap_err(),
            Unsendable::ControlCharacter
        );
        let env = lookup(&[("HF_TOKEN", "\u{feff}hf_secret")]);
        let err = find_token(&Auth::default(), &env).unwrap_err().to_string();
        assert!(
            err.starts_with("the token in the variable HF_TOKEN holds a byte-order mark (U+FEFF)")
                && !err.contains("hf_secret"),
            "{err}"
        );
        let env = lookup(&[("HF_TOKEN", "hf_\u{201c}secret\u{201d}")]);
        let err = find_token(&Auth::default(), &env).unwrap_err().to_string();
        assert!(
            err.contains("holds a character other than printable ASCII (U+201C)")
                && !err.contains("secret\u{201d}"),
            "{err}"
        );
    }

    #[test]
    fn an_unreadable_token_file_says_who_must_read_it() {
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let error = Error::TokenFile {
            file: "/run/secrets/hf".into(),
            problem: token_file_problem(&denied, true),
        }
        .to_string();
        assert!(
            error.starts_with(
                "auth.tokenFile names /run/secrets/hf, which this build user cannot read ("
            ) && error.contains("the build users (group nixbld)")
                && !error.starts_with("invalid fetch spec"),
            "{error}"
        );
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("token");
        std::fs::write(&empty, "\n").unwrap();
        let auth = Auth {
            token_file: Some(empty.clone()),
            token_env_var: None,
        };
        let error = find_token(&auth, &lookup(&[])).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "auth.tokenFile names {}, which is empty: it must hold the token",
                empty.display()
            )
        );
    }

    #[test]
    fn a_token_a_header_cannot_carry_names_where_it_is() {
        let env = lookup(&[("HF_TOKEN", "hf_a\nb")]);
        let err = find_token(&Auth::default(), &env).unwrap_err().to_string();
        assert!(
            err.contains("the variable HF_TOKEN") && !err.contains("hf_a"),
            "{err}"
        );
    }
}
