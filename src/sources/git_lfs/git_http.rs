//! The HTTP of gix's smart-HTTP transport, done by the same client as every other request of
//! nix-fetch-model (its TLS roots, timeouts, retries and notices) and with the same
//! credentials as the LFS server ([`Credentials`]).
//!
//! gix's transport is blocking: it runs on a blocking thread of the fetch's runtime, and each
//! request is the async client's, waited for with the runtime's handle. A POST is sent when
//! gix first reads its answer: gix writes the whole request body first (a fetch's is a few
//! packet lines), so the body is kept in memory and can be sent again with credentials after
//! a 401, or after a failure worth retrying.

use std::io::{BufRead, Cursor, Read, Write};
use std::sync::{Arc, Mutex};

use gix_transport::client::blocking_io::http::{GetResponse, Http, PostBodyDataKind, PostResponse};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use url::Url;

use super::credentials::Credentials;
use crate::error::{Error, ShownUrl};

/// What every request of the transport shares.
pub struct Bridge {
    pub http: Arc<crate::http::Http>,
    pub credentials: Arc<Credentials>,
    pub runtime: tokio::runtime::Handle,
    /// Why the last request failed, in nix-fetch-model's words: what the fetch reports
    /// rather than gix's error, which wraps it.
    pub failure: Mutex<Option<Error>>,
}

impl Bridge {
    fn send(
        &self,
        method: Method,
        url: &str,
        lines: &[String],
        body: Option<Vec<u8>>,
    ) -> std::io::Result<Response> {
        let url = Url::parse(url).map_err(std::io::Error::other)?;
        let mut headers = HeaderMap::new();
        for line in lines {
            if let Some((name, value)) = line.split_once(':') {
                if let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(name.trim().as_bytes()),
                    HeaderValue::from_str(value.trim()),
                ) {
                    headers.append(name, value);
                }
            }
        }
        let sending = self
            .credentials
            .send(&self.http, method, &url, headers, body);
        let answer = match self.runtime.block_on(sending) {
            Ok(answer) => answer,
            Err(error) => return Err(self.failed(error)),
        };
        let response = answer.response;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let remedy = match status {
            StatusCode::UNAUTHORIZED => {
                self.credentials
                    .remedy("the git remote", &url, answer.sent.as_ref())
            }
            StatusCode::FORBIDDEN => "the git remote denies these credentials access to the \
                                      repository: check that their account may read it"
                .to_string(),
            StatusCode::NOT_FOUND | StatusCode::GONE => "check source.git-lfs.url: it should be \
                                                         the URL git clones the repository from"
                .to_string(),
            _ => "the git remote refused the request".to_string(),
        };
        let refused = Error::Refused {
            url: ShownUrl::from(response.url()),
            status: status.as_u16(),
            detail: String::new(),
            remedy,
        };
        Err(self.failed(refused))
    }

    fn failed(&self, error: Error) -> std::io::Error {
        let io = std::io::Error::other(error.to_string());
        *self.failure.lock().unwrap() = Some(error);
        io
    }

    /// Takes the reason of the last failure, if a request failed.
    pub fn take_failure(&self) -> Option<Error> {
        self.failure.lock().unwrap().take()
    }
}

/// gix's view of the bridge.
#[derive(Clone)]
pub struct GitHttp(pub Arc<Bridge>);

fn header_lines(response: &Response) -> Cursor<Vec<u8>> {
    let mut text = Vec::new();
    for (name, value) in response.headers() {
        text.extend_from_slice(name.as_str().as_bytes());
        text.push(b':');
        text.extend_from_slice(value.as_bytes());
        text.push(b'\n');
    }
    Cursor::new(text)
}

fn lines(headers: impl IntoIterator<Item = impl AsRef<str>>) -> Vec<String> {
    headers
        .into_iter()
        .map(|h| h.as_ref().to_string())
        .collect()
}

impl Http for GitHttp {
    type Headers = Headers;
    type ResponseBody = Body;
    type PostBody = PostBody;

    fn get(
        &mut self,
        url: &str,
        _base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> gix::error::Result<GetResponse<Headers, Body>> {
        let response = self
            .0
            .send(Method::GET, url, &lines(headers), None)
            .map_err(gix::error::Error::from_error)?;
        let pending = Arc::new(Mutex::new(Pending {
            request: None,
            headers: Some(header_lines(&response)),
            response: Some(Ok(response)),
        }));
        Ok(GetResponse {
            headers: Headers::new(pending.clone(), self.0.clone()),
            body: Body::new(pending, self.0.clone()),
        })
    }

    fn post(
        &mut self,
        url: &str,
        _base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
        _body: PostBodyDataKind,
    ) -> gix::error::Result<PostResponse<Headers, Body, PostBody>> {
        let pending = Arc::new(Mutex::new(Pending {
            request: Some((url.to_string(), lines(headers), Vec::new())),
            headers: None,
            response: None,
        }));
        Ok(PostResponse {
            post_body: PostBody(pending.clone()),
            headers: Headers::new(pending.clone(), self.0.clone()),
            body: Body::new(pending, self.0.clone()),
        })
    }

    fn configure(&mut self, _config: &dyn std::any::Any) -> gix::error::Result {
        // gix's options come from git config, which the fetch does not read (it opens its
        // repository isolated): the client's settings are the spec's `network`.
        Ok(())
    }
}

/// A request and its answer: a POST is sent when its headers or body are first read.
struct Pending {
    /// The POST not sent yet: URL, header lines and the body written so far.
    request: Option<(String, Vec<String>, Vec<u8>)>,
    headers: Option<Cursor<Vec<u8>>>,
    /// The answer, until the body takes it.
    response: Option<std::io::Result<Response>>,
}

impl Pending {
    fn send_if_due(&mut self, bridge: &Bridge) {
        if let Some((url, lines, body)) = self.request.take() {
            let sent = bridge.send(Method::POST, &url, &lines, Some(body));
            self.headers = Some(match &sent {
                Ok(response) => header_lines(response),
                Err(_) => Cursor::new(Vec::new()),
            });
            self.response = Some(sent);
        }
    }
}

pub struct PostBody(Arc<Mutex<Pending>>);

impl Write for PostBody {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match &mut self.0.lock().unwrap().request {
            Some((_, _, body)) => body.extend_from_slice(bytes),
            None => return Err(std::io::Error::other("the request was sent already")),
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct Headers {
    pending: Arc<Mutex<Pending>>,
    bridge: Arc<Bridge>,
    /// The header lines, once the answer came.
    text: Option<Cursor<Vec<u8>>>,
}

impl Headers {
    fn new(pending: Arc<Mutex<Pending>>, bridge: Arc<Bridge>) -> Self {
        Headers {
            pending,
            bridge,
            text: None,
        }
    }
}

impl Read for Headers {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        read_through_buffer(self, buf)
    }
}

/// `Read::read` of a reader whose bytes come through its `BufRead` buffer.
fn read_through_buffer(reader: &mut impl BufRead, buf: &mut [u8]) -> std::io::Result<usize> {
    let available = reader.fill_buf()?;
    let n = available.len().min(buf.len());
    buf[..n].copy_from_slice(&available[..n]);
    reader.consume(n);
    Ok(n)
}

impl BufRead for Headers {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.text.is_none() {
            let mut pending = self.pending.lock().unwrap();
            pending.send_if_due(&self.bridge);
            if let Some(Err(error)) = &pending.response {
                return Err(std::io::Error::new(error.kind(), error.to_string()));
            }
            self.text = Some(pending.headers.take().unwrap_or_default());
        }
        self.text.as_mut().expect("set above").fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        if let Some(text) = self.text.as_mut() {
            text.consume(amount);
        }
    }
}

pub struct Body {
    pending: Arc<Mutex<Pending>>,
    bridge: Arc<Bridge>,
    response: Option<Response>,
    chunk: Vec<u8>,
    position: usize,
    ended: bool,
}

impl Body {
    fn new(pending: Arc<Mutex<Pending>>, bridge: Arc<Bridge>) -> Self {
        Body {
            pending,
            bridge,
            response: None,
            chunk: Vec::new(),
            position: 0,
            ended: false,
        }
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        read_through_buffer(self, buf)
    }
}

impl BufRead for Body {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.response.is_none() && !self.ended {
            let mut pending = self.pending.lock().unwrap();
            pending.send_if_due(&self.bridge);
            match pending.response.take() {
                Some(Ok(response)) => self.response = Some(response),
                Some(Err(error)) => return Err(error),
                None => self.ended = true,
            }
        }
        while self.position == self.chunk.len() && !self.ended {
            let Some(response) = self.response.as_mut() else {
                self.ended = true;
                break;
            };
            match self.bridge.runtime.block_on(response.chunk()) {
                Ok(Some(chunk)) => {
                    self.chunk = chunk.to_vec();
                    self.position = 0;
                }
                Ok(None) => self.ended = true,
                Err(error) => {
                    let cut = crate::http::describe_cut(&error);
                    return Err(std::io::Error::other(format!(
                        "the git remote's answer broke off: {cut}"
                    )));
                }
            }
        }
        Ok(&self.chunk[self.position..])
    }

    fn consume(&mut self, amount: usize) {
        self.position = (self.position + amount).min(self.chunk.len());
    }
}
