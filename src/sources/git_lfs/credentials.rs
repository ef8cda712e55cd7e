//! Credentials of the git remote and of the LFS server, from where git and git-lfs take them:
//! a netrc file ($NETRC, else ~/.netrc), sent from the first request as curl (and so git)
//! does; then, when the server answers 401, git's credential helpers through
//! `git credential fill`, exactly as git-lfs asks them. Nothing is asked on the terminal
//! (`GIT_TERMINAL_PROMPT=0`; an askpass program the user configured may still ask), nothing is
//! stored back, and no credential is ever printed.
//!
//! The fixed-output builder has no `git` and no home: there only `$NETRC` (an impure
//! variable) can give credentials.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::{Method, Response, StatusCode};
use url::Url;

use super::super::url::Netrc;
use crate::error::Result;
use crate::http::Http;

/// Where the credentials sent came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Giver {
    Netrc(PathBuf),
    Helper,
}

#[derive(Clone)]
struct Found {
    header: HeaderValue,
    giver: Giver,
}

pub struct Credentials {
    netrc: Netrc,
    /// The credentials that worked, by origin.
    worked: Mutex<HashMap<String, Found>>,
}

/// A server's answer and the credentials it was sent with.
pub struct Answer {
    pub response: Response,
    pub sent: Option<Giver>,
}

impl Credentials {
    pub fn new(env: &(dyn Fn(&str) -> Option<String> + Sync)) -> Self {
        Credentials {
            netrc: Netrc::find(env),
            worked: Mutex::new(HashMap::new()),
        }
    }

    fn netrc_header(&self, url: &Url) -> Option<Found> {
        let header = self.netrc.headers_for(url).remove(AUTHORIZATION)?;
        let file = self.netrc.file.clone()?;
        Some(Found {
            header,
            giver: Giver::Netrc(file),
        })
    }

    /// Sends the request (retried as every request is), with the credentials that worked for
    /// its origin, else netrc's; on a 401, once more with what git's credential helpers give.
    pub async fn send(
        &self,
        http: &Http,
        method: Method,
        url: &Url,
        headers: HeaderMap,
        body: Option<Vec<u8>>,
    ) -> Result<Answer> {
        let origin = url.origin().ascii_serialization();
        let known = self.worked.lock().unwrap().get(&origin).cloned();
        let mut sent = known.or_else(|| self.netrc_header(url));
        let mut helper_asked = false;
        loop {
            let mut with = headers.clone();
            if let Some(found) = &sent {
                with.insert(AUTHORIZATION, found.header.clone());
            }
            let response = http
                .request(method.clone(), url, with, body.clone())
                .await?;
            if response.status() != StatusCode::UNAUTHORIZED {
                if let Some(found) = &sent {
                    self.worked.lock().unwrap().insert(origin, found.clone());
                }
                let sent = sent.map(|found| found.giver);
                return Ok(Answer { response, sent });
            }
            if !helper_asked && sent.as_ref().is_none_or(|s| s.giver != Giver::Helper) {
                helper_asked = true;
                let asked = url.clone();
                let filled = tokio::task::spawn_blocking(move || git_credential_fill(&asked))
                    .await
                    .ok()
                    .flatten();
                if let Some(header) = filled {
                    sent = Some(Found {
                        header,
                        giver: Giver::Helper,
                    });
                    continue;
                }
            }
            let sent = sent.map(|found| found.giver);
            return Ok(Answer { response, sent });
        }
    }

    /// The `Authorization` that worked for `url`'s origin, if credentials did.
    pub fn worked_for(&self, url: &Url) -> Option<HeaderValue> {
        let origin = url.origin().ascii_serialization();
        let worked = self.worked.lock().unwrap();
        worked.get(&origin).map(|found| found.header.clone())
    }

    /// What to do about a 401 of `what` (the git remote, the LFS server) at `url`, which was
    /// sent the credentials of `sent`.
    pub fn remedy(&self, what: &str, url: &Url, sent: Option<&Giver>) -> String {
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            (None, _) => "the host".into(),
        };
        let machine = url.host_str().unwrap_or("<host>");
        match sent {
            Some(Giver::Netrc(file)) => format!(
                "{what} refused the credentials {} holds for {machine}: check them",
                file.display()
            ),
            Some(Giver::Helper) => format!(
                "{what} refused the credentials git's credential helper gave for {host}: \
                 check them (git credential reject forgets stored ones)"
            ),
            None => format!(
                "{what} wants credentials: give them to a git credential helper (`git \
                 credential fill` found none for {host}) or put them in a netrc file ($NETRC, \
                 else ~/.netrc): machine {machine} login <user> password <password>; the \
                 fixed-output derivation reads only $NETRC"
            ),
        }
    }
}

/// `Authorization: Basic ...` of what `git credential fill` gives for `url`, if git runs and
/// a helper has credentials for it (no prompt).
fn git_credential_fill(url: &Url) -> Option<HeaderValue> {
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str()?),
        None => url.host_str()?.to_string(),
    };
    let path = url.path().trim_start_matches('/');
    let mut child = Command::new("git")
        .args(["credential", "fill"])
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let question = format!("protocol={}\nhost={host}\npath={path}\n\n", url.scheme());
    child.stdin.take()?.write_all(question.as_bytes()).ok()?;
    let output = child.wait_with_output().ok()?;
    if !output.status.success() {
        return None;
    }
    let answer = String::from_utf8(output.stdout).ok()?;
    let field = |name: &str| {
        answer
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix('='))
            .map(String::from)
    };
    let (user, password) = (field("username")?, field("password")?);
    basic(&user, &password)
}

pub fn basic(user: &str, password: &str) -> Option<HeaderValue> {
    use base64::Engine as _;
    let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut value = HeaderValue::from_str(&format!("Basic {pair}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}
