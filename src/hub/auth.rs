//! Finding the user's Hub token. The token is never printed, logged or written.

use std::fmt;
use std::path::{Path, PathBuf};

use reqwest::header::HeaderValue;

use crate::error::{Error, Result};
use crate::spec::Auth;

/// A Hub token, kept as the `Authorization` header value it is sent as (marked sensitive).
/// `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(HeaderValue);

/// A token holds a character an HTTP header cannot carry (a line break, a control character).
#[derive(Debug)]
pub struct Unsendable;

impl Token {
    /// The token in `text`, surrounding whitespace dropped; `None` if that leaves nothing.
    pub fn new(text: &str) -> Result<Option<Self>, Unsendable> {
        let secret = text.trim();
        if secret.is_empty() {
            return Ok(None);
        }
        let mut header =
            HeaderValue::from_str(&format!("Bearer {secret}")).map_err(|_| Unsendable)?;
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
    Token::new(text).map_err(|Unsendable| Error::UnsendableToken { place: source() })
}

/// The token, looked up in order: `auth.tokenFile`; the variable named by
/// `auth.tokenEnvVar` (by default `HF_TOKEN`, then `HUGGING_FACE_HUB_TOKEN`);
/// `$HF_TOKEN_PATH`; `$HF_HOME/token`; `~/.cache/huggingface/token`.
/// `env` reads an environment variable (the process environment in production).
pub fn find_token(auth: &Auth, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Token>> {
    if let Some(file) = &auth.token_file {
        let text = std::fs::read_to_string(file).map_err(|e| {
            Error::Spec(format!(
                "auth.tokenFile: cannot read {}: {e}",
                file.display()
            ))
        })?;
        return token_from(&text, || {
            format!("the file {} (auth.tokenFile)", file.display())
        })?
        .map(Some)
        .ok_or_else(|| Error::Spec(format!("auth.tokenFile: {} is empty", file.display())));
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
    fn a_token_a_header_cannot_carry_names_where_it_is() {
        let env = lookup(&[("HF_TOKEN", "hf_a\nb")]);
        let err = find_token(&Auth::default(), &env).unwrap_err().to_string();
        assert!(
            err.contains("the variable HF_TOKEN") && !err.contains("hf_a"),
            "{err}"
        );
    }
}
