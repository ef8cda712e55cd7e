//! One HTTP client for the Hub API and the downloads: timeouts, the token sent
//! to the endpoint's origin only, and retries with exponential backoff that honour
//! `Retry-After` and the Hub's `RateLimit` header, each retry told to the user.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, ACCEPT_ENCODING, AUTHORIZATION, USER_AGENT};
use reqwest::{Response, StatusCode};
use url::Url;

use crate::error::{Error, Result, SettingNames};
use crate::hub::Token;
use crate::notice::Notify;
use crate::spec::Network;

/// The longest wait between two tries, whatever the server asks for.
const MAX_BACKOFF: Duration = Duration::from_secs(120);
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// However much progress its tries make, one request gets at most this many times
/// `network.retries + 1` tries.
const MAX_TRIES_FACTOR: u32 = 4;

/// What the client needs besides the spec's `network` settings.
pub struct ClientSetup {
    pub token: Option<Token>,
    /// Root certificates trusted besides the built-in ones ([`crate::tls::extra_roots`]).
    pub extra_roots: Vec<reqwest::Certificate>,
    pub notify: Notify,
}

impl Default for ClientSetup {
    fn default() -> Self {
        ClientSetup {
            token: None,
            extra_roots: Vec::new(),
            notify: Arc::new(|_| {}),
        }
    }
}

pub struct Http {
    client: reqwest::Client,
    token: Option<Token>,
    /// Origin (scheme, host, port) the token may be sent to.
    token_origin: url::Origin,
    retries: u32,
    notify: Notify,
}

/// Why one try failed, and whether another may succeed.
pub enum Failure {
    /// A status worth retrying (408, 429, 5xx), with the wait the server asked for.
    Status {
        status: StatusCode,
        wait: Option<Duration>,
        detail: String,
    },
    /// The connection failed or timed out before an answer came.
    Transport(String),
    /// The answer's body broke off after `received` bytes (resumable).
    Cut { received: u64, cause: String },
}

impl Http {
    pub fn new(network: &Network, endpoint: &Url, setup: ClientSetup) -> Result<Self> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(network.timeout())
            .read_timeout(network.timeout())
            .pool_max_idle_per_host(network.concurrency.max(8))
            // The roots built in (webpki-roots) and those given (src/tls.rs), not the system's,
            // which reqwest's native-roots feature (object_store turns it on) would add.
            .tls_built_in_native_certs(false);
        for root in setup.extra_roots {
            builder = builder.add_root_certificate(root);
        }
        let client = builder
            .build()
            .map_err(|e| Error::HttpClient(describe(&e)))?;
        Ok(Http {
            client,
            token: setup.token,
            token_origin: endpoint.origin(),
            retries: network.retries,
            notify: setup.notify,
        })
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The retry count and notices of one request.
    pub fn backoff(&self) -> Backoff {
        Backoff::new(self.retries, self.notify.clone())
    }

    /// Sends one GET (or HEAD), without retrying: the answer, or why this try failed, or
    /// (the outer error) why no try can succeed (the server's certificate is refused). The
    /// token goes only to the endpoint's origin, and not with a request that carries its own
    /// (a Xet storage's); reqwest drops it when a redirect leaves the origin.
    pub async fn send_once(
        &self,
        url: &Url,
        head: bool,
        headers: HeaderMap,
    ) -> Result<Result<Response, Failure>> {
        let method = if head {
            reqwest::Method::HEAD
        } else {
            reqwest::Method::GET
        };
        self.request_once(method, url, headers, None).await
    }

    /// [`Http::send_once`] of any method, with a body (a POST to an API that only reads, which
    /// is as safe to retry as a GET).
    pub async fn request_once(
        &self,
        method: reqwest::Method,
        url: &Url,
        headers: HeaderMap,
        body: Option<Vec<u8>>,
    ) -> Result<Result<Response, Failure>> {
        let own_agent = !headers.contains_key(USER_AGENT);
        let own_token = headers.contains_key(AUTHORIZATION);
        let mut request = self
            .client
            .request(method, url.clone())
            .headers(headers)
            .header(ACCEPT_ENCODING, "identity");
        if own_agent {
            let agent = concat!("nix-fetch-model/", env!("CARGO_PKG_VERSION"));
            request = request.header(USER_AGENT, agent);
        }
        if let Some(token) = self
            .token
            .as_ref()
            .filter(|_| url.origin() == self.token_origin && !own_token)
        {
            request = request.header(AUTHORIZATION, token.header());
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                if let Some(problem) = crate::tls::certificate_problem(&error) {
                    return Err(Error::Certificate {
                        origin: url.origin().ascii_serialization(),
                        problem,
                    });
                }
                return Ok(Err(Failure::Transport(describe(&error))));
            }
        };
        let status = response.status();
        if is_retryable(status) {
            let wait = requested_wait(response.headers());
            let detail = error_detail(response.headers());
            return Ok(Err(Failure::Status {
                status,
                wait,
                detail,
            }));
        }
        Ok(Ok(response))
    }

    /// GET with retries. Answers with any response that is not worth retrying
    /// (the caller maps 4xx to errors) or the error of the last try.
    pub async fn get(&self, url: &Url) -> Result<Response> {
        self.send(url, false, HeaderMap::new()).await
    }

    /// [`Http::get`], or a HEAD, with headers of its own.
    pub async fn send(&self, url: &Url, head: bool, headers: HeaderMap) -> Result<Response> {
        let mut backoff = self.backoff();
        loop {
            match self.send_once(url, head, headers.clone()).await? {
                Ok(response) => return Ok(response),
                Err(failure) => backoff.wait_or_fail(url, url.as_str(), failure).await?,
            }
        }
    }
}

impl Http {
    /// [`Http::request_once`] with retries, as [`Http::send`].
    pub async fn request(
        &self,
        method: reqwest::Method,
        url: &Url,
        headers: HeaderMap,
        body: Option<Vec<u8>>,
    ) -> Result<Response> {
        let mut backoff = self.backoff();
        loop {
            let once = self.request_once(method.clone(), url, headers.clone(), body.clone());
            match once.await? {
                Ok(response) => return Ok(response),
                Err(failure) => backoff.wait_or_fail(url, url.as_str(), failure).await?,
            }
        }
    }
}

/// Counts the failed tries of one request, says why each is retried and sleeps before it.
pub struct Backoff {
    /// Failures since the start, or since the last real progress.
    failures: u32,
    /// Failures in all: the tries so far, less the one going on.
    failed_tries: u32,
    retries: u32,
    notify: Notify,
}

impl Backoff {
    pub fn new(retries: u32, notify: Notify) -> Self {
        Backoff {
            failures: 0,
            failed_tries: 0,
            retries,
            notify,
        }
    }

    /// The last try made real progress: the next failures have `retries` retries again,
    /// within the cap of `MAX_TRIES_FACTOR * (retries + 1)` tries in all.
    pub fn refill(&mut self) {
        self.failures = 0;
    }

    /// Tells the user that `what` (at `url`) failed and when it is tried again, then sleeps;
    /// or turns the failure into the final error when the retries are used up.
    pub async fn wait_or_fail(&mut self, url: &Url, what: &str, failure: Failure) -> Result<()> {
        let retry = self.next_retry(url, &failure)?;
        (self.notify)(&retry_notice(
            what,
            &failure,
            retry.delay,
            retry.number,
            retry.last,
        ));
        tokio::time::sleep(retry.delay).await;
        Ok(())
    }

    /// Counts one more failure: the retry it leads to, or the final error.
    fn next_retry(&mut self, url: &Url, failure: &Failure) -> Result<Retry> {
        self.failed_tries += 1;
        let max_tries = MAX_TRIES_FACTOR.saturating_mul(self.retries + 1);
        if self.failures >= self.retries || self.failed_tries >= max_tries {
            return Err(final_error(url, failure, self.failed_tries));
        }
        let asked = match failure {
            Failure::Status { wait, .. } => *wait,
            Failure::Transport(_) | Failure::Cut { .. } => None,
        };
        let delay = asked
            .unwrap_or_else(|| exponential(self.failures))
            .min(MAX_BACKOFF);
        self.failures += 1;
        let retries_left = self.retries - self.failures;
        Ok(Retry {
            delay,
            number: self.failed_tries,
            last: (self.failed_tries + retries_left).min(max_tries - 1),
        })
    }
}

/// The next try of a request after a failure.
#[derive(Debug)]
struct Retry {
    delay: Duration,
    /// Which retry it is, counting every retry of the request.
    number: u32,
    /// The last retry there can be if no try makes progress from now on.
    last: u32,
}

/// The one wording of a retry, as Nix words its own: `<what>: <why>; retrying in 2.3 s (retry
/// 3 of 7)`, where 7 is the last retry there can be unless the tries make progress (the CLI
/// adds "warning: ", the plugin hands it to Nix's `warn`).
pub fn retry_notice(
    what: &str,
    failure: &Failure,
    delay: Duration,
    retry: u32,
    last: u32,
) -> String {
    let why = match failure {
        Failure::Status { status, detail, .. } => format!("HTTP {status}{detail}"),
        Failure::Transport(cause) => cause.clone(),
        Failure::Cut { received, cause } => {
            format!("the connection broke after {received} bytes of the answer ({cause})")
        }
    };
    format!(
        "{what}: {why}; retrying in {} (retry {retry} of {last})",
        seconds(delay)
    )
}

/// `250 ms`, `2.3 s`.
fn seconds(delay: Duration) -> String {
    if delay < Duration::from_secs(1) {
        format!("{} ms", delay.as_millis())
    } else {
        format!("{:.1} s", delay.as_secs_f64())
    }
}

fn exponential(attempt: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1 << attempt.min(10))
        .min(Duration::from_secs(20))
}

/// The error that ends a request after `failed_tries` tries.
fn final_error(url: &Url, failure: &Failure, failed_tries: u32) -> Error {
    let endpoint = url.origin().ascii_serialization();
    let retries = failed_tries - 1;
    match failure {
        Failure::Status {
            status: StatusCode::TOO_MANY_REQUESTS,
            ..
        } => Error::RateLimited { endpoint, retries },
        Failure::Status { status, detail, .. } => Error::Http {
            url: url.into(),
            status: status.as_u16(),
            detail: detail.clone(),
            retries,
        },
        Failure::Transport(cause) => Error::Unreachable {
            url: url.into(),
            cause: cause.clone(),
            names: SettingNames::Spec,
        },
        Failure::Cut { received, cause } => Error::KeptCutting {
            url: url.into(),
            tries: failed_tries,
            received: *received,
            cause: cause.clone(),
            names: SettingNames::Spec,
        },
    }
}

pub fn is_retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

/// The wait a server asks for: `Retry-After: <seconds>`, or the reset time `t`
/// of the Hub's `RateLimit: "api";r=0;t=<seconds>` header; at most [`MAX_BACKOFF`], which is
/// also what `1e20` seconds, more than a `Duration` holds, comes to.
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
        .map(|s| Duration::from_secs_f64(s.min(MAX_BACKOFF.as_secs_f64())))
}

/// The Hub's own words about an error, from `X-Error-Message`, as ": message".
pub fn error_detail(headers: &HeaderMap) -> String {
    headers
        .get("x-error-message")
        .and_then(|v| v.to_str().ok())
        .map(|m| format!(": {m}"))
        .unwrap_or_default()
}

/// Why a body broke off: its deepest cause ("end of file before message length reached").
pub fn describe_cut(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out waiting for more bytes".into();
    }
    let mut cause: &dyn std::error::Error = error;
    while let Some(deeper) = cause.source() {
        cause = deeper;
    }
    cause.to_string()
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
    fn a_wait_too_long_for_a_duration_is_the_longest_wait() {
        for (name, value) in [("retry-after", "1e20"), ("ratelimit", "\"api\";r=0;t=1e20")] {
            let mut headers = HeaderMap::new();
            headers.insert(name, HeaderValue::from_static(value));
            assert_eq!(
                requested_wait(&headers),
                Some(MAX_BACKOFF),
                "{name}: {value}"
            );
        }
    }

    fn url() -> Url {
        Url::parse("http://hub.test/f").unwrap()
    }

    fn cut() -> Failure {
        Failure::Cut {
            received: 1000,
            cause: "closed".into(),
        }
    }

    #[test]
    fn retries_run_out_and_name_the_tries() {
        let mut backoff = Backoff::new(2, Arc::new(|_| {}));
        assert!(backoff.next_retry(&url(), &cut()).is_ok());
        assert!(backoff.next_retry(&url(), &cut()).is_ok());
        let error = backoff.next_retry(&url(), &cut()).unwrap_err().to_string();
        assert!(
            error.contains("3 tries") && error.contains("after 1000 bytes"),
            "{error}"
        );
    }

    #[test]
    fn real_progress_refills_the_retries_up_to_a_cap() {
        let mut backoff = Backoff::new(1, Arc::new(|_| {}));
        let mut tries = 1;
        while backoff.next_retry(&url(), &cut()).is_ok() {
            backoff.refill();
            tries += 1;
        }
        assert_eq!(tries, MAX_TRIES_FACTOR * 2);
    }

    /// After a try that made progress, the retries go on counting, against the last retry there
    /// can be now, within the cap of tries.
    #[test]
    fn retries_count_on_after_progress_against_the_last_one_there_can_be() {
        let mut backoff = Backoff::new(5, Arc::new(|_| {}));
        let next = |backoff: &mut Backoff| {
            let retry = backoff.next_retry(&url(), &cut()).unwrap();
            (retry.number, retry.last)
        };
        assert_eq!(next(&mut backoff), (1, 5));
        assert_eq!(next(&mut backoff), (2, 5));
        backoff.refill();
        assert_eq!(next(&mut backoff), (3, 7));
        for _ in 0..20 {
            backoff.refill();
            let (number, last) = next(&mut backoff);
            assert!(
                last < MAX_TRIES_FACTOR * 6 && number <= last,
                "{number} of {last}"
            );
        }
    }

    #[test]
    fn retry_notices_say_what_why_and_when() {
        let status = Failure::Status {
            status: StatusCode::TOO_MANY_REQUESTS,
            wait: Some(Duration::from_secs(2)),
            detail: ": slow down".into(),
        };
        assert_eq!(
            retry_notice("http://h/x", &status, Duration::from_millis(2300), 1, 5),
            "http://h/x: HTTP 429 Too Many Requests: slow down; retrying in 2.3 s (retry 1 of 5)"
        );
        assert_eq!(
            retry_notice("a.bin", &cut(), Duration::from_millis(250), 2, 5),
            "a.bin: the connection broke after 1000 bytes of the answer (closed); \
             retrying in 250 ms (retry 2 of 5)"
        );
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
