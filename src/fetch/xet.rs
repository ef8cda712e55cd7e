//! Downloading a file stored with Xet: each xorb range its reconstruction lists is one request
//! (bounded, retried and resumed as any range), whose chunks are decoded as they come and
//! written, in order, into the terms they rebuild. A term is a range of the blob's
//! [`Frontier`], so the blob's hasher (its own or the NAR hasher) reads the rebuilt bytes right
//! behind the writes and checks the file's sha256, as for any download.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue, RANGE};
use reqwest::{Response, StatusCode};
use tokio::sync::OwnedSemaphorePermit;

use super::download::{parse_content_range, real_progress, Downloads};
use super::segments::{Frontier, Range};
use crate::error::{Error, Result, ShownUrl};
use crate::http::Failure;
use crate::xet::chunks::ChunkStream;
use crate::xet::reconstruction::{Reconstruction, XorbFetch};
use crate::xet::XetFile;

/// How many times one xorb range has its URL signed again after a 403 (an expired signature).
const RESIGNS: u32 = 3;

/// The blob's ranges: its terms, one after the other.
pub fn term_ranges(reconstruction: &Reconstruction) -> Vec<Range> {
    let mut start = 0;
    reconstruction
        .terms
        .iter()
        .map(|&len| {
            let range = Range {
                start,
                end: start + len,
            };
            start = range.end;
            range
        })
        .collect()
}

/// One xorb range of a blob, downloaded until all its chunks are decoded and written.
pub struct XorbJob {
    pub shared: Arc<Downloads>,
    pub fetch: XorbFetch,
    /// The file, whose reconstruction is asked again when a URL's signature has expired.
    pub xet: XetFile,
    pub size: u64,
    pub file: Arc<File>,
    /// Where `file` is on disk.
    pub partial: PathBuf,
    pub frontier: Arc<Frontier>,
    /// The repo path of the blob, as messages name it.
    pub path: String,
}

/// How far the download of a xorb range went: the chunks decoded, and the bytes they took.
struct Progress {
    next_chunk: u32,
    taken: u64,
}

impl XorbJob {
    /// Runs holding `_permit`, its place among the requests in flight.
    pub async fn run(mut self, _permit: OwnedSemaphorePermit) -> Result<()> {
        let http = self.shared.origin.http();
        let mut backoff = http.backoff();
        let mut stream = ChunkStream::default();
        let mut done = Progress {
            next_chunk: self.fetch.chunks.start,
            taken: 0,
        };
        let what = format!("{} (xorb {})", self.path, self.fetch.xorb);
        let mut resigned = 0;
        loop {
            let taken_before = done.taken;
            // A retry asks from the first chunk not yet decoded.
            let start = self.fetch.bytes.start + done.taken;
            stream.reset();
            let mut headers = HeaderMap::new();
            let range = format!("bytes={start}-{}", self.fetch.bytes.end);
            headers.insert(RANGE, HeaderValue::from_str(&range).expect("ascii range"));
            let failure = match http.send_once(&self.fetch.url, false, headers).await? {
                Ok(response)
                    if response.status() == StatusCode::FORBIDDEN && resigned < RESIGNS =>
                {
                    // A presigned URL lives about an hour: a long fetch asks for a new one.
                    resigned += 1;
                    self.fetch.url = self.signed_again().await?;
                    continue;
                }
                Ok(response) => {
                    let response = self.accept(response, start)?;
                    match self.stream(response, &mut stream, &mut done).await? {
                        None => return Ok(()),
                        Some(failure) => failure,
                    }
                }
                Err(failure) => failure,
            };
            if done.taken - taken_before >= real_progress(self.fetch.bytes.count()) {
                backoff.refill();
            }
            backoff
                .wait_or_fail(&self.fetch.url, &what, failure)
                .await?;
        }
    }

    /// The URL of this xorb range in a reconstruction asked again.
    async fn signed_again(&self) -> Result<url::Url> {
        let fresh = self
            .xet
            .cas
            .reconstruction(&self.xet.hash, &self.path, self.size)
            .await?;
        let same = |fetch: &XorbFetch| {
            fetch.xorb == self.fetch.xorb
                && fetch.chunks == self.fetch.chunks
                && fetch.bytes == self.fetch.bytes
        };
        fresh
            .fetches
            .into_iter()
            .find(same)
            .map(|fetch| fetch.url)
            .ok_or_else(|| Error::Protocol {
                url: ShownUrl::from(&self.fetch.url),
                problem: format!(
                    "{}: the reconstruction asked again no longer holds chunks {}..{} of xorb {}",
                    self.path, self.fetch.chunks.start, self.fetch.chunks.end, self.fetch.xorb
                ),
            })
    }

    /// Checks the answer is the bytes from `start` asked for.
    fn accept(&self, response: Response, start: u64) -> Result<Response> {
        let url = ShownUrl::from(response.url());
        let status = response.status();
        let asked = self.fetch.bytes.end + 1 - start;
        match status {
            StatusCode::PARTIAL_CONTENT => match parse_content_range(response.headers()) {
                Some((first, _)) if first == start => Ok(response),
                Some((first, _)) => Err(Error::Protocol {
                    url,
                    problem: format!(
                        "asked bytes from {start} of xorb {}, got from {first}",
                        self.fetch.xorb
                    ),
                }),
                None => Err(Error::Protocol {
                    url,
                    problem: "206 without a valid Content-Range".into(),
                }),
            },
            // xet-core's own CAS server answers a range with 200 and just its bytes.
            StatusCode::OK if response.content_length() == Some(asked) => Ok(response),
            StatusCode::OK => Err(Error::Protocol {
                url,
                problem: format!(
                    "asked bytes {start}-{} of xorb {} ({asked} bytes), got HTTP 200 with {}: \
                     the storage, or a proxy between, does not serve byte ranges",
                    self.fetch.bytes.end,
                    self.fetch.xorb,
                    response
                        .content_length()
                        .map_or("no length".to_string(), |n| format!("{n} bytes"))
                ),
            }),
            status if status.is_client_error() => Err(Error::Refused {
                url,
                status: status.as_u16(),
                detail: crate::http::error_detail(response.headers()),
                remedy: format!("the Xet storage refused a part of {}", self.path),
            }),
            status => Err(Error::Protocol {
                url,
                problem: format!("asked a byte range, got HTTP {status}"),
            }),
        }
    }

    /// Decodes the body's chunks as they come and writes them. `Ok(None)`: every chunk is
    /// written. `Ok(Some(failure))`: the connection broke; the range resumes at the first chunk
    /// not yet whole.
    async fn stream(
        &self,
        response: Response,
        stream: &mut ChunkStream,
        done: &mut Progress,
    ) -> Result<Option<Failure>> {
        let url = ShownUrl::from(response.url());
        let asked = self.fetch.bytes.count() - done.taken;
        let mut received = 0u64;
        let mut body = response.bytes_stream();
        let mut decoded = Vec::new();
        let mut broken = None;
        let corrupt = |problem: String| Error::Protocol {
            url: url.clone(),
            problem: format!("{}: {problem} (xorb {})", self.path, self.fetch.xorb),
        };
        while let Some(bytes) = body.next().await {
            if self.shared.cancel.is_cancelled() {
                return Err(Error::Interrupted);
            }
            let bytes = match bytes {
                Ok(bytes) => bytes,
                Err(e) => {
                    broken = Some(crate::http::describe_cut(&e));
                    break;
                }
            };
            received += bytes.len() as u64;
            if received > asked {
                return Err(corrupt(format!(
                    "the storage sent more than the {asked} bytes asked"
                )));
            }
            stream.push(&bytes);
            while let Some(taken) = stream
                .next_chunk(&mut decoded)
                .map_err(|p| corrupt(format!("{p}, chunk {}", done.next_chunk)))?
            {
                if done.next_chunk >= self.fetch.chunks.end {
                    return Err(corrupt(format!(
                        "the range holds more than its chunks {}..{}",
                        self.fetch.chunks.start, self.fetch.chunks.end
                    )));
                }
                self.write_chunk(done.next_chunk, &decoded)
                    .map_err(|e| match e {
                        Error::Protocol { problem, .. } => corrupt(problem),
                        other => other,
                    })?;
                done.next_chunk += 1;
                done.taken += taken as u64;
            }
        }
        if done.next_chunk == self.fetch.chunks.end && stream.pending() == 0 && received == asked {
            return Ok(None);
        }
        if received == asked {
            return Err(corrupt(format!(
                "the range ends with chunk {} of {}..{} not whole",
                done.next_chunk, self.fetch.chunks.start, self.fetch.chunks.end
            )));
        }
        Ok(Some(Failure::Cut {
            received,
            cause: broken.unwrap_or_else(|| "the server closed it".into()),
        }))
    }

    /// Writes decoded chunk `chunk` of the xorb into every term that holds it, where that term
    /// is written up to.
    fn write_chunk(&self, chunk: u32, bytes: &[u8]) -> Result<()> {
        for serves in &self.fetch.serves {
            if !(serves.chunks.start..serves.chunks.end).contains(&chunk) {
                continue;
            }
            let term = self.frontier.ranges()[serves.term];
            let at = self.frontier.position(serves.term);
            let end = at + bytes.len() as u64;
            let last = chunk + 1 == serves.chunks.end;
            if end > term.end || (last && end != term.end) {
                return Err(Error::Protocol {
                    url: ShownUrl::from(&self.fetch.url),
                    problem: format!(
                        "term {} decodes to {} bytes, the reconstruction says {}",
                        serves.term,
                        if end > term.end {
                            format!("more than {}", term.len())
                        } else {
                            (end - term.start).to_string()
                        },
                        term.len()
                    ),
                });
            }
            self.file
                .write_all_at(bytes, at)
                .map_err(|e| Error::blob_write(&self.path, &self.partial, e))?;
            self.frontier.advance(serves.term, bytes.len() as u64);
            self.shared.progress.advanced(bytes.len() as u64);
        }
        Ok(())
    }
}
