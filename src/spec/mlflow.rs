//! `source.mlflow`: a version of a model of an MLflow Model Registry, through the tracking
//! server's REST API and its proxied artifacts.
//!
//! ```nix
//! source.mlflow = {
//!   trackingUri = "https://mlflow.example.org";
//!   modelName = "my-model";
//!   alias = "champion";        # or version = "3", or the deprecated stage = "Production"
//!   version = "3";             # the pin: prefetch adds it, the alias is then not asked
//!   artifactPath = "model";    # a folder of the version's artifacts (default: all of them)
//!   files = [ "*.json" ]; exclude = [ ];
//!   repo = "mlflow/my-model";  # the Hub cache repo id (default mlflow/<modelName>)
//! };
//! ```
//!
//! One walk over the JSON gives both the problems (every one, in the words of
//! lib/sources/mlflow.nix) and the checked source.

use serde_json::Value;
use url::Url;

use super::fields::{self, redact_userinfo, wrong_type};
use super::problems::{given, push_err, sorted, string_list_problem, type_name};
use super::unknown::unknown;
use crate::hub::RepoId;
use crate::layout::relative_path_problem;

/// The attributes, in the order messages and `prefetch --nix` list them.
pub const MLFLOW_KEYS: &[&str] = &[
    "trackingUri",
    "modelName",
    "version",
    "alias",
    "stage",
    "artifactPath",
    "files",
    "exclude",
    "repo",
];
/// The stages of MLflow's (deprecated) model stages.
pub const STAGES: &[&str] = &["Staging", "Production", "Archived", "None"];
/// The variables of MLflow's client that hold credentials.
pub const CREDENTIAL_VARIABLES: &str =
    "MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD";
const AT: &str = "source.mlflow";

#[derive(Debug, Clone)]
pub struct MlflowSource {
    /// The tracking server (http or https, no credentials).
    pub tracking_uri: Url,
    pub model_name: String,
    /// The version number (digits): the pin. An alias or stage resolves to one when absent.
    pub version: Option<String>,
    pub alias: Option<String>,
    pub stage: Option<String>,
    /// A folder of the version's artifacts; only what is under it is fetched, by paths
    /// relative to it.
    pub artifact_path: Option<String>,
    pub files: Vec<String>,
    pub exclude: Vec<String>,
    /// The Hub cache repo the files are laid out as (`mlflow/<modelName>` by default).
    pub repo: RepoId,
}

impl MlflowSource {
    /// What the spec asks for: the version, else the alias, else the stage.
    pub fn asked(&self) -> &str {
        self.version
            .as_deref()
            .or(self.alias.as_deref())
            .or(self.stage.as_deref())
            .unwrap_or_default()
    }

    /// The tracking server, as messages show it (no trailing '/').
    pub fn base(&self) -> String {
        self.tracking_uri.as_str().trim_end_matches('/').to_string()
    }
}

/// The source `config` describes, or every problem of it.
pub fn check(config: &Value) -> Result<MlflowSource, Vec<String>> {
    let mut lines = Vec::new();
    let source = walk(config, &mut lines);
    match source {
        Some(source) if lines.is_empty() => Ok(source),
        _ => Err(lines),
    }
}

fn walk(config: &Value, lines: &mut Vec<String>) -> Option<MlflowSource> {
    let Value::Object(config) = config else {
        let wanted = "an attrset { trackingUri = \"https://...\"; modelName = \"...\"; alias = \"champion\"; }";
        lines.push(format!("{AT} {}", wrong_type(type_name(config), wanted)));
        return None;
    };
    for (key, _) in sorted(config) {
        if MLFLOW_KEYS.contains(&key) {
            continue;
        }
        if ["token", "password", "username"].contains(&key) {
            lines.push(format!(
                "{AT}.{key} is refused: a credential written in the argument ends up in the \
                 world-readable Nix store; set {CREDENTIAL_VARIABLES} in the environment, as for \
                 MLflow's own client"
            ));
            continue;
        }
        let meant = match key {
            "name" | "model" | "registeredModel" => Some("modelName"),
            "uri" | "trackingURI" | "tracking_uri" | "endpoint" | "url" => Some("trackingUri"),
            "artifact_path" | "path" => Some("artifactPath"),
            "include" | "allow_patterns" | "allowPatterns" => Some("files"),
            "ignore_patterns" | "ignorePatterns" => Some("exclude"),
            _ => None,
        };
        lines.push(unknown("attribute", AT, key, MLFLOW_KEYS, None, meant));
    }
    let tracking_uri = match given(config, "trackingUri") {
        None => {
            lines.push(format!(
                "{AT}.trackingUri is missing: give the tracking server's URL, e.g. trackingUri = \
                 \"https://mlflow.example.org\""
            ));
            None
        }
        Some(Value::String(text)) => match tracking_uri(text) {
            Ok(url) => Some(url),
            Err(problem) => {
                lines.push(format!("{AT}.trackingUri {problem}"));
                None
            }
        },
        Some(other) => {
            let wanted = "a string: the tracking server's http:// or https:// URL";
            lines.push(format!(
                "{AT}.trackingUri {}",
                wrong_type(type_name(other), wanted)
            ));
            None
        }
    };
    let model_name = match given(config, "modelName") {
        None => {
            lines.push(format!(
                "{AT}.modelName is missing: give the registered model's name, e.g. modelName = \
                 \"my-model\""
            ));
            None
        }
        Some(Value::String(text)) if text.is_empty() => {
            lines.push(format!(
                "{AT}.modelName is empty: give the registered model's name"
            ));
            None
        }
        Some(Value::String(text)) => Some(text.clone()),
        Some(other) => {
            let wanted = "a string: the registered model's name";
            lines.push(format!(
                "{AT}.modelName {}",
                wrong_type(type_name(other), wanted)
            ));
            None
        }
    };
    let version =
        given(config, "version").map(|value| version(value).map_err(|line| lines.push(line)));
    let alias = given(config, "alias").map(|value| match value {
        Value::String(text) if text.is_empty() => {
            lines.push(format!(
                "{AT}.alias is empty: give the alias, e.g. alias = \"champion\""
            ));
            Err(())
        }
        Value::String(text) => Ok(text.clone()),
        other => {
            let wanted = "a string such as \"champion\"";
            lines.push(format!(
                "{AT}.alias {}",
                wrong_type(type_name(other), wanted)
            ));
            Err(())
        }
    });
    let stage = given(config, "stage").map(|value| {
        let one_of = format!("one of {}", quoted(STAGES));
        match value {
            Value::String(text) if STAGES.contains(&text.as_str()) => Ok(text.clone()),
            Value::String(text) => {
                lines.push(format!(
                    "{AT}.stage '{text}' is not {one_of} (stages are deprecated since MLflow 2.9: \
                     prefer an alias)"
                ));
                Err(())
            }
            other => {
                lines.push(format!(
                    "{AT}.stage {}",
                    wrong_type(type_name(other), &one_of)
                ));
                Err(())
            }
        }
    });
    if alias.is_some() && stage.is_some() {
        lines.push(format!("{AT}: give alias or stage, not both"));
    }
    if version.is_none() && alias.is_none() && stage.is_none() {
        lines.push(format!(
            "{AT}.version is missing: give version = \"3\", or alias = \"champion\" (or the \
             deprecated stage = \"Production\") to take the version it names"
        ));
    }
    let artifact_path = given(config, "artifactPath").map(|value| match value {
        Value::String(text) => match relative_path_problem(text) {
            None => Ok(text.clone()),
            Some(problem) => {
                lines.push(format!(
                    "{AT}.artifactPath '{text}' {}: give a folder of the version's artifacts, \
                     such as \"model\"",
                    problem.words()
                ));
                Err(())
            }
        },
        other => {
            let wanted = "a string: a folder of the version's artifacts, such as \"model\"";
            lines.push(format!(
                "{AT}.artifactPath {}",
                wrong_type(type_name(other), wanted)
            ));
            Err(())
        }
    });
    let mut lists = Vec::new();
    for key in ["files", "exclude"] {
        let list = match given(config, key) {
            None => Some(Vec::new()),
            Some(value) => match string_list_problem(key, value) {
                Some(problem) => {
                    lines.push(format!("{AT}.{key} {problem}"));
                    None
                }
                None => Some(strings(value)),
            },
        };
        lists.push(list);
    }
    let repo = match given(config, "repo") {
        None => None,
        Some(Value::String(text)) => {
            let checked = fields::repo(text);
            push_err(lines, &format!("{AT}.repo"), checked.clone());
            Some(checked.ok())
        }
        Some(other) => {
            let wanted = "a string such as \"org/name\"";
            lines.push(format!(
                "{AT}.repo {}",
                wrong_type(type_name(other), wanted)
            ));
            Some(None)
        }
    };
    let model_name = model_name?;
    let repo = match repo {
        Some(repo) => repo?,
        None => default_repo(&model_name),
    };
    let exclude = lists.pop()??;
    let files = lists.pop()??;
    Some(MlflowSource {
        tracking_uri: tracking_uri?,
        version: version.transpose().ok()?,
        alias: alias.transpose().ok()?,
        stage: stage.transpose().ok()?,
        artifact_path: artifact_path.transpose().ok()?,
        model_name,
        files,
        exclude,
        repo,
    })
}

/// A version number, from a string of digits or an int: its digits.
fn version(value: &Value) -> Result<String, String> {
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Number(number) if !number.is_f64() => number.to_string(),
        other => {
            let wanted = "a string such as \"3\" (or an int)";
            return Err(format!(
                "{AT}.version {}",
                wrong_type(type_name(other), wanted)
            ));
        }
    };
    if is_version(&text) {
        Ok(text)
    } else {
        Err(format!(
            "{AT}.version '{text}' is not a version number: give the number MLflow gave the \
             version, e.g. version = \"3\""
        ))
    }
}

/// 1 to 18 digits, not starting with 0: a version number MLflow can have.
pub fn is_version(text: &str) -> bool {
    (1..=18).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_digit())
        && !text.starts_with('0')
}

/// The tracking server's URL: http(s), without credentials (the library's check, then a parse).
pub fn tracking_uri(text: &str) -> Result<Url, String> {
    let shown = redact_userinfo(text);
    if shown != text {
        return Err(format!(
            "'{shown}' holds credentials: a URL is printed, logged and stored, so it must not \
             hold a password; set {CREDENTIAL_VARIABLES} in the environment instead"
        ));
    }
    fields::endpoint(text).map_err(|problem| {
        if problem.ends_with("is not an http:// or https:// URL") {
            format!(
                "{problem}: nix-fetch-model reads a model registry through an MLflow tracking \
                 server's REST API"
            )
        } else {
            problem
        }
    })
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn quoted(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    quoted.join(", ")
}

/// `mlflow/<name>`, the name being the model's name with every run of characters other than
/// letters, digits and `_` made one `-`, at most 96 characters, `model` if nothing is left.
/// lib/sources/mlflow.nix derives the same.
pub fn default_repo(model_name: &str) -> RepoId {
    fields::derived_repo("mlflow", model_name, "model")
}

/// The source as it names what it fetches, for an entry remembering a fetch.
pub fn identity(source: &MlflowSource) -> Value {
    serde_json::json!({
        "type": "mlflow",
        "trackingUri": source.tracking_uri.as_str(),
        "modelName": source.model_name,
        "version": source.version,
        "alias": source.alias,
        "stage": source.stage,
        "artifactPath": source.artifact_path,
        "files": source.files,
        "exclude": source.exclude,
        "repo": source.repo.id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::RepoType;

    fn checked(json: &str) -> Result<MlflowSource, Vec<String>> {
        check(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn an_alias_takes_the_defaults() {
        let source =
            checked(r#"{"trackingUri":"http://127.0.0.1:5000/","modelName":"My Model.v2","alias":"champion"}"#)
                .unwrap();
        assert_eq!(source.repo.id, "mlflow/My-Model-v2");
        assert_eq!(source.asked(), "champion");
        assert_eq!(source.base(), "http://127.0.0.1:5000");
        assert!(source.version.is_none() && source.files.is_empty());
    }

    #[test]
    fn a_version_is_digits_or_an_int_and_pins_an_alias() {
        let source = checked(
            r#"{"trackingUri":"https://m.test","modelName":"m","version":12,"alias":"champion"}"#,
        )
        .unwrap();
        assert_eq!(source.version.as_deref(), Some("12"));
        assert_eq!(source.asked(), "12");
        for bad in [
            r#""0""#,
            r#""03""#,
            r#""v3""#,
            "0",
            "-1",
            r#""1234567890123456789""#,
        ] {
            let json =
                format!(r#"{{"trackingUri":"https://m.test","modelName":"m","version":{bad}}}"#);
            let problems = checked(&json).unwrap_err();
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
            assert!(
                problems[0].contains("is not a version number"),
                "{problems:?}"
            );
        }
    }

    #[test]
    fn every_problem_is_given() {
        let problems = checked(
            r#"{"trackingUri":"databricks","name":"x","token":"t","alias":"","stage":"prod","artifactPath":"../m","files":"*.json","repo":"a/b/c"}"#,
        )
        .unwrap_err();
        assert_eq!(
            problems,
            vec![
                "source.mlflow.name is not a known attribute; did you mean modelName? Known: trackingUri, modelName, version, alias, stage, artifactPath, files, exclude, repo",
                "source.mlflow.token is refused: a credential written in the argument ends up in the world-readable Nix store; set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD in the environment, as for MLflow's own client",
                "source.mlflow.trackingUri 'databricks' is not an http:// or https:// URL: nix-fetch-model reads a model registry through an MLflow tracking server's REST API",
                "source.mlflow.modelName is missing: give the registered model's name, e.g. modelName = \"my-model\"",
                "source.mlflow.alias is empty: give the alias, e.g. alias = \"champion\"",
                "source.mlflow.stage 'prod' is not one of 'Staging', 'Production', 'Archived', 'None' (stages are deprecated since MLflow 2.9: prefer an alias)",
                "source.mlflow: give alias or stage, not both",
                "source.mlflow.artifactPath '../m' has a '.' or '..' segment: give a folder of the version's artifacts, such as \"model\"",
                "source.mlflow.files is a string, give a list: files = [ \"*.json\" ];",
                "source.mlflow.repo 'a/b/c' is not 'org/name' (or a bare 'name'): letters, digits, '.', '_' and '-', at most 96 a part, not starting or ending with '.' or '-', no '--' or '..'",
            ]
        );
    }

    #[test]
    fn credentials_in_the_uri_are_refused_unshown() {
        let problems =
            checked(r#"{"trackingUri":"https://u:secret@m.test","modelName":"m","version":"1"}"#)
                .unwrap_err();
        assert!(
            problems[0]
                .starts_with("source.mlflow.trackingUri 'https://***@m.test' holds credentials")
                && !problems[0].contains("secret"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_default_repo_is_a_valid_repo_id() {
        for name in ["--", "a..b", "é", "catalog.schema.model", &"x".repeat(200)] {
            let repo = default_repo(name);
            assert!(
                RepoId::parse(&repo.id, RepoType::Model).is_ok(),
                "{}",
                repo.id
            );
        }
        assert_eq!(default_repo("..").id, "mlflow/model");
        assert_eq!(
            default_repo("catalog.schema.model").id,
            "mlflow/catalog-schema-model"
        );
    }
}
