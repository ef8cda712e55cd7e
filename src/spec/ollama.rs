//! `source.ollama`: a model of an Ollama registry (registry.ollama.ai by default), pinned by
//! the digest of its manifest.
//!
//! ```nix
//! source.ollama = { model = "llama3:8b"; };
//! source.ollama = { model = "llama3"; tag = "8b"; namespace = "library";
//!                   registry = "registry.ollama.ai"; digest = "sha256:..."; };
//! ```
//!
//! `model` may be a whole Ollama name, `[registry/][namespace/]model[:tag]`, split as Ollama
//! splits it (types/model/name.go `ParseNameBare`); each part follows Ollama's rule of that part
//! (`isValidPart`). One walk over the JSON gives both the problems (every one, in the words of
//! lib/sources/ollama.nix) and the checked source.

use serde_json::Value;

use super::fields::wrong_type;
use super::problems::{given, sorted, type_name};
use super::unknown::unknown;

pub const OLLAMA_KEYS: &[&str] = &["model", "tag", "namespace", "registry", "digest"];
const AT: &str = "source.ollama";

pub const DEFAULT_REGISTRY: &str = "registry.ollama.ai";
pub const DEFAULT_NAMESPACE: &str = "library";
pub const DEFAULT_TAG: &str = "latest";

const NAME_RULE: &str =
    "1 to 80 letters, digits, '_', '-' and '.', starting with a letter, a digit or '_'";
const NAMESPACE_RULE: &str =
    "1 to 80 letters, digits, '_' and '-', starting with a letter, a digit or '_'";
const REGISTRY_RULE: &str = "a host, or host:port, of at most 350 letters, digits, '_', '-', \
     '.' and ':', starting with a letter, a digit or '_', optionally after http:// or https://";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OllamaSource {
    /// `https`, or `http` when the registry is given as `http://host`.
    pub scheme: &'static str,
    /// `host` or `host:port`: the folder of `manifests/` Ollama reads the model from.
    pub registry: String,
    pub namespace: String,
    pub model: String,
    pub tag: String,
    /// The manifest's digest, `sha256:<64 hex>`: the pin. With it, the manifest is asked for by
    /// digest, so a tag that moves changes nothing.
    pub digest: Option<String>,
}

impl OllamaSource {
    /// `manifests/<registry>/<namespace>/<model>/<tag>`: where Ollama reads the manifest
    /// (manifest/paths.go `PathForName`, types/model/name.go `Filepath`).
    pub fn manifest_path(&self) -> String {
        format!(
            "manifests/{}/{}/{}/{}",
            self.registry, self.namespace, self.model, self.tag
        )
    }

    /// The registry's base URL, as Ollama makes it from the name (`BaseURL`).
    pub fn registry_url(&self) -> String {
        format!("{}://{}", self.scheme, self.registry)
    }

    /// The name as Ollama shows it (`DisplayShortest`): `llama3:8b`, `ns/model:tag`, or with
    /// the registry when it is not the default one.
    pub fn display(&self) -> String {
        if !self.registry.eq_ignore_ascii_case(DEFAULT_REGISTRY) {
            format!(
                "{}/{}/{}:{}",
                self.registry, self.namespace, self.model, self.tag
            )
        } else if !self.namespace.eq_ignore_ascii_case(DEFAULT_NAMESPACE) {
            format!("{}/{}:{}", self.namespace, self.model, self.tag)
        } else {
            format!("{}:{}", self.model, self.tag)
        }
    }

    /// The store path name when the spec gives none: `ollama-<model>-<tag>`.
    pub fn default_name(&self) -> String {
        format!("ollama-{}-{}", self.model, self.tag)
    }
}

/// The source `config` describes, or every problem of it.
pub fn check(config: &Value) -> Result<OllamaSource, Vec<String>> {
    let mut lines = Vec::new();
    let source = walk(config, &mut lines);
    match source {
        Some(source) if lines.is_empty() => Ok(source),
        _ => Err(lines),
    }
}

/// The parts of an Ollama name, as `ParseNameBare` cuts them; `None` for a part not given.
#[derive(Debug, Default, PartialEq, Eq)]
struct NameParts<'a> {
    registry: Option<&'a str>,
    namespace: Option<&'a str>,
    model: &'a str,
    tag: Option<&'a str>,
}

/// `[registry/][namespace/]model[:tag]`: the tag after the last ':' if it comes after the last
/// '/', then the parts from the right at '/'; what is left of the namespace is the registry.
fn split_name(name: &str) -> NameParts<'_> {
    let mut parts = NameParts::default();
    let mut rest = name;
    if let Some(colon) = rest.rfind(':') {
        if rest.rfind('/').is_none_or(|slash| colon > slash) {
            parts.tag = Some(&rest[colon + 1..]);
            rest = &rest[..colon];
        }
    }
    match rest.rsplit_once('/') {
        None => parts.model = rest,
        Some((before, model)) => {
            parts.model = model;
            match before.rsplit_once('/') {
                None => parts.namespace = Some(before),
                Some((registry, namespace)) => {
                    parts.namespace = Some(namespace);
                    parts.registry = Some(registry);
                }
            }
        }
    }
    parts
}

/// Ollama's rule of a part (`isValidPart`): a first character that is a letter, a digit or
/// '_', then those, '-' and the characters `more` allows.
fn valid_part(text: &str, max: usize, more: &[u8]) -> bool {
    let bytes = text.as_bytes();
    (1..=max).contains(&bytes.len())
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes[1..]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || more.contains(&b))
}

fn valid_name(text: &str) -> bool {
    valid_part(text, 80, b".")
}

fn valid_namespace(text: &str) -> bool {
    valid_part(text, 80, b"")
}

/// A registry: a host (Ollama's rule), optionally after `http://` or `https://`; its scheme
/// and host, or the problem (the rule, or the URL parser's reason).
fn registry(text: &str) -> Result<(&'static str, String), String> {
    let (scheme, host) = match text.split_once("://") {
        Some(("https", host)) => ("https", host),
        Some(("http", host)) => ("http", host),
        _ => ("https", text),
    };
    if !valid_part(host, 350, b".:") {
        return Err(format!("is not a registry: give {REGISTRY_RULE}"));
    }
    let url = format!("{scheme}://{host}/");
    match url::Url::parse(&url) {
        Ok(parsed) if parsed.path() == "/" && parsed.query().is_none() => {
            Ok((scheme, host.to_string()))
        }
        Ok(_) => Err(format!("is not a registry: give {REGISTRY_RULE}")),
        Err(error) => Err(format!("is not a valid host: {error}")),
    }
}

/// `sha256:` and 64 lowercase hex digits.
pub fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:")
        .is_some_and(|hex| crate::hub::is_hex(hex, 64))
}

fn walk(config: &Value, lines: &mut Vec<String>) -> Option<OllamaSource> {
    let Value::Object(config) = config else {
        let wanted = "an attrset { model = \"llama3:8b\"; }";
        lines.push(format!("{AT} {}", wrong_type(type_name(config), wanted)));
        return None;
    };
    for (key, _) in sorted(config) {
        if !OLLAMA_KEYS.contains(&key) {
            let meant = match key {
                "name" => Some("model"),
                "host" => Some("registry"),
                _ => None,
            };
            lines.push(unknown("attribute", AT, key, OLLAMA_KEYS, None, meant));
        }
    }
    let name = match given(config, "model") {
        None => {
            lines.push(format!(
                "{AT}.model is missing: give the model's name, e.g. model = \"llama3:8b\""
            ));
            None
        }
        Some(Value::String(text)) => {
            let parts = split_name(text);
            let bad = |lines: &mut Vec<String>, part: &str, value: &str, rule: &str| {
                lines.push(format!(
                    "{AT}.model '{text}': its {part} '{value}' is not valid: give {rule}"
                ))
            };
            let before = lines.len();
            if let Some(given) = parts.registry {
                if let Err(problem) = registry(given) {
                    lines.push(format!(
                        "{AT}.model '{text}': its registry '{given}' {problem}"
                    ));
                }
            }
            if let Some(namespace) = parts.namespace.filter(|n| !valid_namespace(n)) {
                bad(lines, "namespace", namespace, NAMESPACE_RULE);
            }
            if !valid_name(parts.model) {
                bad(lines, "model", parts.model, NAME_RULE);
            }
            if let Some(tag) = parts.tag.filter(|t| !valid_name(t)) {
                bad(lines, "tag", tag, NAME_RULE);
            }
            (lines.len() == before).then_some(parts)
        }
        Some(other) => {
            let wanted = "a string such as \"llama3:8b\"";
            lines.push(format!(
                "{AT}.model {}",
                wrong_type(type_name(other), wanted)
            ));
            None
        }
    };
    let model_text = given(config, "model").and_then(Value::as_str).unwrap_or("");
    let named = split_name(model_text);
    // One attribute: its value if it is a valid string not named by `model` too.
    let mut part = |key: &str,
                    in_model: bool,
                    example: &str,
                    check: &dyn Fn(&str) -> Result<(), String>|
     -> Option<String> {
        match given(config, key) {
            None => None,
            Some(Value::String(text)) => {
                let checked = check(text);
                if let Err(problem) = &checked {
                    lines.push(format!("{AT}.{key} '{text}' {problem}"));
                }
                if in_model {
                    lines.push(format!(
                        "{AT}.{key}: the model '{model_text}' names its {key} already: give it \
                         in one place"
                    ));
                }
                checked.ok().map(|()| text.clone())
            }
            Some(other) => {
                let wanted = format!("a string such as \"{example}\"");
                lines.push(format!(
                    "{AT}.{key} {}",
                    wrong_type(type_name(other), &wanted)
                ));
                None
            }
        }
    };
    let rule = |valid: fn(&str) -> bool, what: &'static str, rule: &'static str| {
        move |text: &str| match valid(text) {
            true => Ok(()),
            false => Err(format!("is not {what}: give {rule}")),
        }
    };
    let tag = part(
        "tag",
        named.tag.is_some(),
        "8b",
        &rule(valid_name, "a tag", NAME_RULE),
    );
    let namespace = part(
        "namespace",
        named.namespace.is_some(),
        "library",
        &rule(valid_namespace, "a namespace", NAMESPACE_RULE),
    );
    let registry_given = part(
        "registry",
        named.registry.is_some(),
        DEFAULT_REGISTRY,
        &|text| registry(text).map(drop),
    );
    let digest = part(
        "digest",
        false,
        "sha256:...",
        &|text| match is_digest(text) {
            true => Ok(()),
            false => Err(
                "is not a manifest digest: give sha256: and its 64 lowercase hex digits, \
                      as nix-fetch-model prefetch prints it"
                    .into(),
            ),
        },
    );
    let name = name?;
    let registry_text = registry_given
        .as_deref()
        .or(name.registry)
        .unwrap_or(DEFAULT_REGISTRY);
    let (scheme, host) = registry(registry_text).ok()?;
    Some(OllamaSource {
        scheme,
        registry: host,
        namespace: namespace
            .as_deref()
            .or(name.namespace)
            .unwrap_or(DEFAULT_NAMESPACE)
            .to_string(),
        model: name.model.to_string(),
        tag: tag
            .as_deref()
            .or(name.tag)
            .unwrap_or(DEFAULT_TAG)
            .to_string(),
        digest,
    })
}

/// The `model` attribute of a spec made from an Ollama name on the command line, checked as
/// the spec checks it.
pub fn is_name(text: &str) -> bool {
    check(&serde_json::json!({ "model": text })).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(json: &str) -> Result<OllamaSource, Vec<String>> {
        check(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn names_split_as_ollama_splits_them() {
        for (name, registry, namespace, model, tag) in [
            ("llama3", None, None, "llama3", None),
            ("llama3:8b", None, None, "llama3", Some("8b")),
            ("ns/m:t", None, Some("ns"), "m", Some("t")),
            ("host:5000/ns/m", Some("host:5000"), Some("ns"), "m", None),
            (
                "http://h:1/ns/m:t",
                Some("http://h:1"),
                Some("ns"),
                "m",
                Some("t"),
            ),
            ("a/b/c/d", Some("a/b"), Some("c"), "d", None),
            ("m:", None, None, "m", Some("")),
            ("/m", None, Some(""), "m", None),
        ] {
            assert_eq!(
                split_name(name),
                NameParts {
                    registry,
                    namespace,
                    model,
                    tag
                },
                "{name}"
            );
        }
    }

    #[test]
    fn a_short_name_takes_ollamas_defaults() {
        let source = checked(r#"{"model":"llama3.2"}"#).unwrap();
        assert_eq!(
            source,
            OllamaSource {
                scheme: "https",
                registry: "registry.ollama.ai".into(),
                namespace: "library".into(),
                model: "llama3.2".into(),
                tag: "latest".into(),
                digest: None,
            }
        );
        assert_eq!(
            source.manifest_path(),
            "manifests/registry.ollama.ai/library/llama3.2/latest"
        );
        assert_eq!(source.display(), "llama3.2:latest");
        assert_eq!(source.default_name(), "ollama-llama3.2-latest");
    }

    #[test]
    fn attributes_and_whole_names_give_the_same_source() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let whole = checked(&format!(
            r#"{{"model":"http://127.0.0.1:5000/team/tiny:v1","digest":"{digest}"}}"#
        ))
        .unwrap();
        let parts = checked(&format!(
            r#"{{"model":"tiny","tag":"v1","namespace":"team","registry":"http://127.0.0.1:5000","digest":"{digest}"}}"#
        ))
        .unwrap();
        assert_eq!(whole, parts);
        assert_eq!(whole.registry_url(), "http://127.0.0.1:5000");
        assert_eq!(
            whole.manifest_path(),
            "manifests/127.0.0.1:5000/team/tiny/v1"
        );
        assert_eq!(whole.display(), "127.0.0.1:5000/team/tiny:v1");
    }

    #[test]
    fn every_problem_is_given() {
        let problems = checked(
            r#"{"model":"-x/m!:8b","tag":"v.1","namespace":"a.b","registry":7,"digest":"sha256:AB","name":"y"}"#,
        )
        .unwrap_err();
        assert_eq!(
            problems,
            vec![
                "source.ollama.name is not a known attribute; did you mean model? Known: model, tag, namespace, registry, digest",
                "source.ollama.model '-x/m!:8b': its namespace '-x' is not valid: give 1 to 80 letters, digits, '_' and '-', starting with a letter, a digit or '_'",
                "source.ollama.model '-x/m!:8b': its model 'm!' is not valid: give 1 to 80 letters, digits, '_', '-' and '.', starting with a letter, a digit or '_'",
                "source.ollama.tag: the model '-x/m!:8b' names its tag already: give it in one place",
                "source.ollama.namespace 'a.b' is not a namespace: give 1 to 80 letters, digits, '_' and '-', starting with a letter, a digit or '_'",
                "source.ollama.namespace: the model '-x/m!:8b' names its namespace already: give it in one place",
                "source.ollama.registry is an int, give a string such as \"registry.ollama.ai\"",
                "source.ollama.digest 'sha256:AB' is not a manifest digest: give sha256: and its 64 lowercase hex digits, as nix-fetch-model prefetch prints it",
            ]
        );
    }

    #[test]
    fn a_registry_is_a_host_that_parses() {
        assert_eq!(
            checked(r#"{"model":"m","registry":"h:99999"}"#).unwrap_err(),
            vec!["source.ollama.registry 'h:99999' is not a valid host: invalid port number"]
        );
        assert!(checked(r#"{"model":"m","registry":"ftp://h"}"#).is_err());
        assert!(checked(r#"{"model":"m","registry":"https://h.example:8443"}"#).is_ok());
        assert_eq!(
            checked(r#"{"ollama":1}"#).unwrap_err()[1],
            "source.ollama.model is missing: give the model's name, e.g. model = \"llama3:8b\""
        );
        assert_eq!(
            checked(r#""llama3""#).unwrap_err(),
            vec!["source.ollama is a string, give an attrset { model = \"llama3:8b\"; }"]
        );
    }
}
