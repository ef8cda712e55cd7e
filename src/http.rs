//! One HTTP client for the Hub API and the downloads: timeouts, the token sent
//! to the endpoint's origin only, and retries with exponential backoff that honour
//! `Retry-After` and the Hub's `RateLimit` header.

use std::time::Duration;

use reqwest::header::{HeaderMap, ACCEPT_ENCODING, AUTHORIZATION, USER_AGENT};
use reqwest::{Response, StatusCode};
use url::Url;

use crate::error::{Error, Result};
use crate::hub::Token;
use crate::spec::Network;

/// The longest wait between two tries, whatever the server asks for.
const MAX_BACKOFF: Duration = Duration::from_secs(120);
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

pub struct Http {
    client: reqwest::Client,
    token: Option<Token>,
    /// Origin (scheme, host, port) the token may be sent to.
    token_origin: url::Origin,
    pub retries: u32,
}

/// Why one try failed, and whether another may succeed.
pub enum Failure {
    /// A status worth retrying (408, 429, 5xx), with the wait the server asked for.
    Status {
        status: StatusCode,
        wait: Option<Duration>,
        detail: String,
    },
    /// The connection failed, timed out or was cut.
    Transport(String),
}

impl Http {
    pub fn new(network: &Network, endpoint: &Url, token: Option<Token>) -> Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(network.timeout())
            .read_timeout(network.timeout())
            .pool_max_idle_per_host(network.concurrency.max(8))
            .build()
            .map_err(|e| Error::Unreachable {
                url: endpoint.to_string(),
                cause: e.to_string(),
            })?;
        Ok(Http {
            client,
            token,
            token_origin: endpoint.origin(),
            retries: network.retries,
        })
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Sends one GET (or HEAD), without retrying. The token goes only to the
    /// endpoint's origin; reqwest drops it when a redirect leaves that origin.
    pub async fn send_once(
        &self,
        url: &Url,
        head: bool,
        headers: HeaderMap,
    ) -> Result<Response, Failure> {
        let method = if head {
            reqwest::Method::HEAD
        } else {
            reqwest::Method::GET
        };
        let mut request = self
            .client
            .request(method, url.clone())
            .headers(headers)
            .header(
                USER_AGENT,
                concat!("nix-fetch-model/", env!("CARGO_PKG_VERSION")),
            )
            .header(ACCEPT_ENCODING, "identity");
        if let Some(token) = self
            .token
            .as_ref()
            .filter(|_| url.origin() == self.token_origin)
        {
            request = request.header(AUTHORIZATION, token.bearer());
        }
        let response = request
            .send()
            .await
            .map_err(|e| Failure::Transport(describe(&e)))?;
        let status = response.status();
        if is_retryable(status) {
            let wait = requested_wait(response.headers());
            let detail = error_detail(response.headers());
            return Err(Failure::Status {
                status,
                wait,
                detail,
            });
        }
        Ok(response)
    }

    /// GET with retries. Answers with any response that is not worth retrying
    /// (the caller maps 4xx to errors) or the error of the last try.
    pub async fn get(&self, url: &Url) -> Result<Response> {
        let mut backoff = Backoff::new(self.retries);
        loop {
            match self.send_once(url, false, HeaderMap::new()).await {
                Ok(response) => return Ok(response),
                Err(failure) => backoff.wait_or_fail(url, failure).await?,
            }
        }
    }
}

/// Counts tries and sleeps between them.
pub struct Backoff {
    attempt: u32,
    retries: u32,
}

impl Backoff {
    pub fn new(retries: u32) -> Self {
        Backoff {
            attempt: 0,
            retries,
        }
    }

    /// Progress was made since the last failure: the next failure starts a fresh count.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Sleeps before the next try, or turns the failure into the final error
    /// when the retries are used up.
    pub async fn wait_or_fail(&mut self, url: &Url, failure: Failure) -> Result<()> {
        if self.attempt >= self.retries {
            return Err(final_error(url, failure, self.retries));
        }
        let asked = match &failure {
            Failure::Status { wait, .. } => *wait,
            Failure::Transport(_) => None,
        };
        let delay = asked
            .unwrap_or_else(|| exponential(self.attempt))
            .min(MAX_BACKOFF);
        self.attempt += 1;
        tokio::time::sleep(delay).await;
        Ok(())
    }
}

fn exponential(attempt: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1 << attempt.min(10))
        .min(Duration::from_secs(20))
}

fn final_error(url: &Url, failure: Failure, retries: u32) -> Error {
    let endpoint = url.origin().ascii_serialization();
    match failure {
        Failure::Status {
            status: StatusCode::TOO_MANY_REQUESTS,
            ..
        } => Error::RateLimited { endpoint, retries },
        Failure::Status { status, detail, .. } => Error::Http {
            url: url.to_string(),
            status: status.as_u16(),
            detail,
            retries,
        },
        Failure::Transport(cause) => Error::Unreachable {
            url: url.to_string(),
            cause,
        },
    }
}

pub fn is_retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

/// The wait a server asks for: `Retry-After: <seconds>`, or the reset time `t`
/// of the Hub's `RateLimit: "api";r=0;t=<seconds>` header.
pub fn requested_wait(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let retry_after = header("retry-after").and_then(|v| v.trim().parse::<f64>().ok());
    let ratelimit_reset = header("ratelimit").and_then(|v| {
        v.split(';')
            .filter_map(|param| param.trim().strip_prefix("t="))
            .find_map(|t| t.trim().parse::<f64>().ok())
    });
    retry_after
        .or(ratelimit_reset)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// The Hub's own words about an error, from `X-Error-Message`, as ": message".
pub fn error_detail(headers: &HeaderMap) -> String {
    headers
        .get("x-error-message")
        .and_then(|v| v.to_str().ok())
        .map(|m| format!(": {m}"))
        .unwrap_or_default()
}

/// A transport error with its causes, without the URL (which the caller names).
pub fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        "connection failed".to_string()
    } else if error.is_body() || error.is_decode() {
        "connection cut while reading the answer".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn waits_asked_by_the_server() {
        let mut headers = HeaderMap::new();
        assert_eq!(requested_wait(&headers), None);
        headers.insert("ratelimit", HeaderValue::from_static("\"api\";r=0;t=7"));
        assert_eq!(requested_wait(&headers), Some(Duration::from_secs(7)));
        headers.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(requested_wait(&headers), Some(Duration::from_secs(2)));
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        assert_eq!(exponential(0), FIRST_BACKOFF);
        assert_eq!(exponential(1), FIRST_BACKOFF * 2);
        assert_eq!(exponential(30), Duration::from_secs(20));
    }

    #[test]
    fn which_statuses_are_retried() {
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable(StatusCode::from_u16(code).unwrap()), "{code}");
        }
        for code in [200, 206, 302, 400, 401, 403, 404, 416] {
            assert!(!is_retryable(StatusCode::from_u16(code).unwrap()), "{code}");
        }
    }
}
