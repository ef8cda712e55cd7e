//! Every problem of a spec, one line each, in the words and order of the library's check
//! (lib/types.nix `validateConfigWith`): unknown top-level attributes, then `source`, `name`,
//! `hash`, `network` and `auth`; within each, unknown attributes (sorted) first, then the
//! known ones in the order they are listed. Only a spec that [`super::check`]'s one typed
//! pass refused comes here, so the cost of a walk over the JSON is paid by errors only.
//! A null attribute is one not given.

use serde_json::{Map, Value};

use super::fields::{self, nix_string, with_article, wrong_type};
use super::unknown::unknown;
use super::{AUTH_KEYS, HF_KEYS, LIBRARY_KEYS, NETWORK_KEYS, SOURCE_TYPES, TOP_KEYS};

/// The repo a spec names, for the heading of its problems (`fetchModel (org/name):`).
pub fn subject(spec: &Value) -> Option<&str> {
    let repo = spec.pointer("/source/huggingface/repo")?.as_str()?;
    (!repo.is_empty()).then_some(repo)
}

pub fn problems(spec: &Value) -> Vec<String> {
    let Value::Object(spec) = spec else {
        return vec![format!(
            "the argument {}",
            wrong_type(type_name(spec), "an attrset { source; hash; ... }")
        )];
    };
    let mut lines = Vec::new();
    for (key, value) in sorted(spec) {
        if !super::SPEC_KEYS.contains(&key) {
            lines.push(unknown_top_level(key, value));
        }
    }
    source_problems(given(spec, "source"), &mut lines);
    if let Some(name) = given(spec, "name") {
        match name.as_str() {
            None => lines.push(format!("name {}", wrong_type(type_name(name), "a string"))),
            Some(text) => push_err(&mut lines, "name", fields::name(text)),
        }
    }
    match given(spec, "hash") {
        None => {}
        Some(Value::String(text)) if text.is_empty() => {}
        Some(Value::String(text)) => {
            if let Err(problem) = crate::hash::parse_sha256(text) {
                lines.push(problem.to_string());
            }
        }
        Some(other) => lines.push(format!(
            "hash {}",
            wrong_type(type_name(other), "a string such as \"sha256-...\"")
        )),
    }
    if let Some(network) = given(spec, "network") {
        network_problems(network, &mut lines);
    }
    if let Some(auth) = given(spec, "auth") {
        auth_problems(auth, &mut lines);
    }
    lines
}

fn unknown_top_level(key: &str, value: &Value) -> String {
    let instead = match key {
        "sha256" | "narHash" | "outputHash" => Some(match value.as_str().map(crate::hash::parse_sha256) {
            Some(Ok(hash)) => format!("write hash = {} instead", nix_string(&hash.to_sri())),
            _ => "write hash = \"sha256-...\" instead (SRI, or sha256: followed by Nix base-32, base-16 or base-64 digits)".to_string(),
        }),
        "token" => return token_refused("argument"),
        _ if LIBRARY_KEYS.contains(&key) => Some(
            "only lib.fetchModel reads it (builtins.fetchModel and nix-fetch-model fetch do not \
             validate or integrate): call lib.fetchModel, or leave it out"
                .to_string(),
        ),
        _ => [("source.huggingface", HF_KEYS), ("network", NETWORK_KEYS), ("auth", AUTH_KEYS)]
            .iter()
            .find(|(_, keys)| keys.contains(&key))
            .map(|(section, _)| format!("write {section}.{key} instead")),
    };
    unknown("attribute", "argument", key, TOP_KEYS, instead, None)
}

pub(super) fn token_refused(at: &str) -> String {
    format!(
        "{at}.token is refused: a token written in the argument ends up in the world-readable \
         Nix store; put it in a file and set auth.tokenFile = \"/run/secrets/hf-token\", or set \
         auth.tokenEnvVar = \"HF_TOKEN\""
    )
}

fn source_problems(source: Option<&Value>, lines: &mut Vec<String>) {
    let types = SOURCE_TYPES.join(", ");
    let source = match source {
        None => {
            lines.push(format!(
                "source is missing: give one of {types}, e.g. source.huggingface.repo = \"org/name\""
            ));
            return;
        }
        Some(Value::Object(source)) => source,
        Some(other) => {
            let wanted = format!("an attrset with one of {types}");
            lines.push(format!("source {}", wrong_type(type_name(other), &wanted)));
            return;
        }
    };
    for (kind, _) in sorted(source) {
        if !SOURCE_TYPES.contains(&kind) {
            let meant = (kind == "hf").then_some("huggingface");
            lines.push(unknown(
                "source type",
                "source",
                kind,
                SOURCE_TYPES,
                None,
                meant,
            ));
        }
    }
    let mut given: Vec<&str> = source
        .iter()
        .filter(|(_, config)| !config.is_null())
        .map(|(kind, _)| kind.as_str())
        .collect();
    given.sort_unstable();
    match given.as_slice() {
        [] => lines.push(format!("source is empty: give exactly one of {types}")),
        ["huggingface"] => hf_problems(&source["huggingface"], lines),
        ["url"] => {
            if let Err(problems) = super::url::check(&source["url"]) {
                lines.extend(problems);
            }
        }
        ["mlflow"] => {
            if let Err(problems) = super::mlflow::check(&source["mlflow"]) {
                lines.extend(problems);
            }
        }
        [kind @ ("s3" | "gcs" | "azure")] => {
            use super::object_store::{check, StoreKind};
            let store = match *kind {
                "s3" => StoreKind::S3,
                "gcs" => StoreKind::Gcs,
                _ => StoreKind::Azure,
            };
            if let Err(problems) = check(store, &source[*kind]) {
                lines.extend(problems);
            }
        }
        ["ollama"] => {
            if let Err(problems) = super::ollama::check(&source["ollama"]) {
                lines.extend(problems);
            }
        }
        ["git-lfs"] => {
            if let Err(problems) = super::git_lfs::check(&source["git-lfs"]) {
                lines.extend(problems);
            }
        }
        ["git-xet"] => {
            if let Err(problems) = super::git_xet::check(&source["git-xet"]) {
                lines.extend(problems);
            }
        }
        [_] => {}
        several => lines.push(format!(
            "source: give exactly one source, got {}: {}",
            several.len(),
            several.join(", ")
        )),
    }
}

fn hf_problems(config: &Value, lines: &mut Vec<String>) {
    const AT: &str = "source.huggingface";
    let Value::Object(config) = config else {
        let wanted = "an attrset { repo = \"org/name\"; }";
        lines.push(format!("{AT} {}", wrong_type(type_name(config), wanted)));
        return;
    };
    for (key, _) in sorted(config) {
        if !HF_KEYS.contains(&key) {
            let meant = match key {
                "rev" => Some("revision"),
                "include" | "allow_patterns" | "allowPatterns" => Some("files"),
                "ignore_patterns" | "ignorePatterns" => Some("exclude"),
                _ => None,
            };
            let instead = (key == "token").then(|| token_refused(AT));
            match instead {
                Some(line) => lines.push(line),
                None => lines.push(unknown("attribute", AT, key, HF_KEYS, None, meant)),
            }
        }
    }
    match given(config, "repo") {
        None => lines.push(format!(
            "{AT}.repo is missing: give the repo id, e.g. repo = \"{}\"",
            fields::REPO_EXAMPLE
        )),
        Some(Value::String(repo)) => push_err(
            lines,
            "source.huggingface.repo",
            fields::repo(repo).map(drop),
        ),
        Some(other) => lines.push(format!(
            "{AT}.repo {}",
            wrong_type(type_name(other), "a string such as \"org/name\"")
        )),
    }
    let revision = match given(config, "revision") {
        None => Some("main"),
        Some(Value::String(revision)) => {
            push_err(
                lines,
                "source.huggingface.revision",
                fields::revision(revision),
            );
            Some(revision.as_str())
        }
        Some(other) => {
            let wanted = "a string: a branch, a tag, refs/pr/N or a commit";
            lines.push(format!(
                "{AT}.revision {}",
                wrong_type(type_name(other), wanted)
            ));
            None
        }
    };
    match given(config, "commit") {
        None => {}
        Some(Value::String(commit)) => push_err(
            lines,
            "source.huggingface.commit",
            fields::commit(commit, revision.unwrap_or("main")),
        ),
        Some(other) => lines.push(format!(
            "{AT}.commit {}",
            wrong_type(type_name(other), "a string: the 40 hex digits of a commit")
        )),
    }
    match given(config, "repoType") {
        None => {}
        Some(Value::String(kind)) => push_err(
            lines,
            "source.huggingface.repoType",
            fields::repo_type(kind).map(drop),
        ),
        Some(other) => lines.push(format!(
            "{AT}.repoType {}",
            wrong_type(type_name(other), &format!("one of {}", fields::REPO_TYPES))
        )),
    }
    for key in ["files", "exclude"] {
        if let Some(value) = given(config, key) {
            if let Some(problem) = string_list_problem(key, value) {
                lines.push(format!("{AT}.{key} {problem}"));
            }
        }
    }
}

/// What is wrong with `value` as a list of strings, with the list to write for one string.
pub(super) fn string_list_problem(key: &str, value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(format!(
            "is a string, give a list: {key} = [ {} ];",
            nix_string(text)
        )),
        Value::Array(items) => items
            .iter()
            .find(|i| !i.is_string())
            .map(|item| format!("holds {}, give only strings", with_article(type_name(item)))),
        other => Some(wrong_type(type_name(other), "a list of strings")),
    }
}

fn network_problems(network: &Value, lines: &mut Vec<String>) {
    let Value::Object(network) = network else {
        lines.push(format!(
            "network {}",
            wrong_type(type_name(network), "an attrset")
        ));
        return;
    };
    for (key, _) in sorted(network) {
        if !NETWORK_KEYS.contains(&key) {
            lines.push(unknown(
                "attribute",
                "network",
                key,
                NETWORK_KEYS,
                None,
                None,
            ));
        }
    }
    match given(network, "endpoint") {
        None => {}
        Some(Value::String(endpoint)) => {
            push_err(lines, "network.endpoint", fields::endpoint(endpoint))
        }
        Some(other) => lines.push(format!(
            "network.endpoint {}",
            wrong_type(type_name(other), "a URL such as \"https://huggingface.co\"")
        )),
    }
    let whole = |key: &str| given(network, key).map(|v| v.as_u64().ok_or(()));
    if let Some(value) = whole("concurrency") {
        let checked = value.map_err(|_| fields::CONCURRENCY_PROBLEM.to_string());
        push_err(
            lines,
            "network.concurrency",
            checked.and_then(fields::concurrency),
        );
    }
    if let Some(value) = given(network, "timeout") {
        let checked = value
            .as_f64()
            .ok_or_else(|| fields::TIMEOUT_PROBLEM.to_string());
        push_err(lines, "network.timeout", checked.and_then(fields::timeout));
    }
    if let Some(value) = whole("retries") {
        let checked = value.map_err(|_| fields::RETRIES_PROBLEM.to_string());
        push_err(lines, "network.retries", checked.and_then(fields::retries));
    }
}

fn auth_problems(auth: &Value, lines: &mut Vec<String>) {
    let Value::Object(auth) = auth else {
        lines.push(format!(
            "auth {}",
            wrong_type(type_name(auth), "an attrset")
        ));
        return;
    };
    for (key, _) in sorted(auth) {
        if key == "token" {
            lines.push(token_refused("auth"));
        } else if !AUTH_KEYS.contains(&key) {
            lines.push(unknown("attribute", "auth", key, AUTH_KEYS, None, None));
        }
    }
    match given(auth, "tokenFile") {
        None => {}
        Some(Value::String(file)) => push_err(lines, "auth.tokenFile", fields::token_file(file)),
        Some(path) if type_name(path) == "path" => lines.push(
            "auth.tokenFile is a Nix path, which would copy the token into the world-readable \
             store; give it as a string: \"/run/secrets/hf-token\""
                .to_string(),
        ),
        Some(other) => lines.push(format!(
            "auth.tokenFile {}",
            wrong_type(
                type_name(other),
                "an absolute path as a string, e.g. \"/run/secrets/hf-token\""
            )
        )),
    }
    match given(auth, "tokenEnvVar") {
        None => {}
        Some(Value::String(name)) => {
            push_err(lines, "auth.tokenEnvVar", fields::token_env_var(name))
        }
        Some(other) => lines.push(format!(
            "auth.tokenEnvVar {}",
            wrong_type(type_name(other), "a variable name such as \"HF_TOKEN\"")
        )),
    }
}

pub(super) fn push_err<T>(lines: &mut Vec<String>, at: &str, checked: Result<T, String>) {
    if let Err(problem) = checked {
        lines.push(format!("{at} {problem}"));
    }
}

/// The value of `key`, unless it is absent or null.
pub(super) fn given<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !value.is_null())
}

/// The attributes by name, as Nix's `attrNames` orders them (bytewise).
pub(super) fn sorted(object: &Map<String, Value>) -> Vec<(&str, &Value)> {
    let mut entries: Vec<(&str, &Value)> = object.iter().map(|(k, v)| (k.as_str(), v)).collect();
    entries.sort_unstable_by_key(|(key, _)| *key);
    entries
}

/// The name Nix gives the type of the value the JSON came from (`builtins.typeOf`, with
/// `set` called `attrset` and `lambda` called `function`), also for the values the plugin
/// writes as [`super::NIX_TYPE`].
pub(super) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(number) if number.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(object) => match object.get(super::NIX_TYPE).and_then(Value::as_str) {
            Some("path") if object.len() == 1 => "path",
            Some("function") if object.len() == 1 => "function",
            Some("float") if object.len() == 1 => "float",
            _ => "attrset",
        },
    }
}
