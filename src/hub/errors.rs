//! Turns the Hub's error answers (`X-Error-Code` and the status) into errors a user can act on.

use reqwest::{Response, StatusCode};

use super::RepoId;
use crate::error::Error;
use crate::http::error_detail;

/// What was asked when the Hub answered with an error.
pub enum Asked<'a> {
    Revision(&'a str),
    Tree(&'a str),
    File { path: &'a str, commit: &'a str },
}

pub struct ErrorContext<'a> {
    pub repo: &'a RepoId,
    pub endpoint: &'a str,
    pub has_token: bool,
}

impl ErrorContext<'_> {
    pub fn error_for(&self, response: &Response, asked: Asked) -> Error {
        let code = response
            .headers()
            .get("x-error-code")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let status = response.status();
        let repo = self.repo.id.clone();
        let url = self.repo.web_url(self.endpoint);
        let endpoint = self.endpoint.to_string();
        let kind = self.repo.kind.as_str().to_string();
        match (code, status) {
            ("GatedRepo", _) if self.has_token => Error::GatedDenied { repo, url },
            ("GatedRepo", _) => Error::Gated { repo, url },
            ("RepoNotFound", _) if self.has_token => Error::RepoNotFoundWithToken {
                repo,
                kind,
                endpoint,
            },
            ("RepoNotFound", _) => Error::RepoNotFound {
                repo,
                kind,
                endpoint,
            },
            ("RevisionNotFound", _) => Error::RevisionNotFound {
                repo,
                revision: revision_of(&asked),
            },
            ("EntryNotFound", _) => match asked {
                Asked::File { path, commit } => Error::EntryNotFound {
                    repo,
                    path: path.into(),
                    commit: commit.into(),
                },
                Asked::Revision(revision) | Asked::Tree(revision) => Error::RevisionNotFound {
                    repo,
                    revision: revision.into(),
                },
            },
            (_, StatusCode::UNAUTHORIZED) if self.has_token => Error::Unauthorized { endpoint },
            (_, StatusCode::UNAUTHORIZED) => Error::RepoNotFound {
                repo,
                kind,
                endpoint,
            },
            (_, StatusCode::NOT_FOUND) => match asked {
                Asked::File { path, commit } => Error::EntryNotFound {
                    repo,
                    path: path.into(),
                    commit: commit.into(),
                },
                _ if self.has_token => Error::RepoNotFoundWithToken {
                    repo,
                    kind,
                    endpoint,
                },
                _ => Error::RepoNotFound {
                    repo,
                    kind,
                    endpoint,
                },
            },
            _ => Error::Http {
                url: response.url().into(),
                status: status.as_u16(),
                detail: error_detail(response.headers()),
                retries: 0,
            },
        }
    }
}

fn revision_of(asked: &Asked) -> String {
    match asked {
        Asked::Revision(revision) | Asked::Tree(revision) => revision.to_string(),
        Asked::File { commit, .. } => commit.to_string(),
    }
}
