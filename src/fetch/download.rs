//! Downloading one blob: its byte ranges in parallel (bounded by a shared
//! semaphore), each resumed with `Range` after a cut, verified by a hasher that
//! reads right behind the writes (its own, or the fetch's NAR hasher), then renamed
//! into `blobs/<etag>`.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_RANGE, RANGE};
use reqwest::{Response, StatusCode};
use tokio::sync::{oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use url::Url;

use super::nar_trail::NarFollow;
use super::segments::{hash_behind, plan_ranges, Frontier, Range, BUFFER_SIZE};
use super::verify::ContentHasher;
use super::{joined, CancelFlag, Progress};
use crate::error::{Error, IoContext, Result, SettingNames, ShownUrl};
use crate::http::Failure;
use crate::hub::Oid;
use crate::sources::{Content, Digest, Origin, Request};

/// What every download of one fetch shares.
pub struct Downloads {
    pub origin: Arc<dyn Origin>,
    /// One permit per request in flight.
    pub requests: Arc<Semaphore>,
    /// With a NAR hasher, the blob (its index in NAR order) whose ranges are asked for next:
    /// ranges are then asked for in NAR order, the order the hasher follows. Without one, the
    /// ranges of every open blob share the requests, so their own hashers run side by side.
    pub turn: Option<watch::Sender<usize>>,
    /// Files larger than this are split into ranges of about this size.
    pub range_size: u64,
    pub progress: Arc<dyn Progress>,
    pub cancel: CancelFlag,
}

/// One blob to fetch: the first repo path that names it, its size and digest.
pub struct Blob {
    /// Its place among the blobs of the fetch: NAR order, for blobs of known digests.
    pub order: usize,
    pub path: String,
    pub size: u64,
    pub digest: Digest,
    pub content: Content,
    pub dest: BlobDest,
    /// How the NAR hasher of the fetch follows this download and checks it, if one does.
    pub nar: Option<NarFollow>,
}

impl Blob {
    pub fn oid(&self) -> Option<&Oid> {
        match &self.digest {
            Digest::Known(oid) => Some(oid),
            Digest::Sha256Computed => None,
        }
    }
}

/// Where a blob goes once verified.
pub enum BlobDest {
    /// This file, named by the known digest.
    Known(PathBuf),
    /// This folder, under the sha256 of the content.
    Computed(PathBuf),
}

/// Who checks the content of a blob.
enum Verification {
    /// The NAR hasher, which says when the blob is verified (and, if it is not, stops: the
    /// fetch then reports the hasher's error).
    ByNarHasher(oneshot::Receiver<()>),
    /// A hasher of its own.
    Own(JoinHandle<Result<ContentHasher>>),
}

impl Verification {
    /// The blob's name in `blobs/` once its content is verified: its known digest, or the
    /// sha256 computed.
    async fn outcome(self, blob: &Blob) -> Result<String> {
        match (self, &blob.digest) {
            (Verification::ByNarHasher(verified), Digest::Known(oid)) => {
                verified.await.map_err(|_| Error::Interrupted)?;
                Ok(oid.etag().to_string())
            }
            (Verification::Own(hashing), Digest::Known(oid)) => {
                joined(hashing.await)??.check(oid, &blob.path)?;
                Ok(oid.etag().to_string())
            }
            (Verification::Own(hashing), Digest::Sha256Computed) => {
                Ok(joined(hashing.await)??.finish_hex())
            }
            (Verification::ByNarHasher(_), Digest::Sha256Computed) => Err(Error::Internal(
                "the NAR hasher followed a blob of unknown digest".into(),
            )),
        }
    }
}

/// Downloads `blob` and moves it into place once its content is verified; gives its name.
pub async fn download_blob(shared: Arc<Downloads>, mut blob: Blob) -> Result<String> {
    let partial = match &blob.dest {
        BlobDest::Known(dest) => dest.with_extension("incomplete"),
        BlobDest::Computed(folder) => folder.join(format!("{}.incomplete", blob.order)),
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&partial)
        .map_err(|e| Error::blob_write(&blob.path, &partial, e))?;
    file.set_len(blob.size)
        .map_err(|e| Error::blob_write(&blob.path, &partial, e))?;
    let file = Arc::new(file);
    // A Xet file comes as its terms, each written in order by the download of its xorb range.
    let xet = match &blob.content {
        Content::Download(Request { xet: Some(xet), .. }) => Some(
            xet.cas
                .reconstruction(&xet.hash, &blob.path, blob.size)
                .await?,
        ),
        _ => None,
    };
    let ranges = match (&xet, &blob.content) {
        (Some(xet), _) => super::xet::term_ranges(xet),
        (None, Content::Download(request)) if request.ranges => {
            plan_ranges(blob.size, shared.range_size)
        }
        (None, _) => plan_ranges(blob.size, blob.size.max(1)),
    };
    let frontier = Arc::new(Frontier::new(ranges));
    let _abandon_on_exit = AbandonOnDrop(frontier.clone());
    let verification = match blob.nar.take() {
        Some(follow) => {
            follow.slot.publish(file.clone(), frontier.clone());
            Verification::ByNarHasher(follow.verdict)
        }
        None => {
            let (file, frontier, cancel) = (file.clone(), frontier.clone(), shared.cancel.clone());
            let hasher = match blob.oid() {
                Some(oid) => ContentHasher::for_oid(oid, blob.size),
                None => ContentHasher::sha256(),
            };
            let size = blob.size;
            Verification::Own(tokio::task::spawn_blocking(move || {
                hash_behind(&file, &frontier, size, hasher, &cancel)
            }))
        }
    };

    let mut ranges = JoinSet::new();
    if let Some(turn) = &shared.turn {
        turn.subscribe()
            .wait_for(|next| *next == blob.order)
            .await
            .map_err(|_| Error::Interrupted)?;
    }
    let request = match &blob.content {
        Content::Download(request) => request.clone(),
        Content::InHand(bytes) => {
            // The bytes go where a download's would, through the same frontier: the
            // hasher that follows it checks them as it checks downloaded ones.
            write_in_hand(&shared, &blob, bytes, &file, &partial, &frontier)?;
            if let Some(turn) = &shared.turn {
                turn.send_modify(|next| *next += 1);
            }
            return finish(&shared, &blob, verification, partial).await;
        }
        Content::Local(source) => {
            let copy = LocalCopy {
                shared: shared.clone(),
                path: blob.path.clone(),
                size: blob.size,
                source: source.clone(),
                file: file.clone(),
                partial: partial.clone(),
                frontier: frontier.clone(),
            };
            joined(tokio::task::spawn_blocking(move || copy.run()).await)??;
            if let Some(turn) = &shared.turn {
                turn.send_modify(|next| *next += 1);
            }
            return finish(&shared, &blob, verification, partial).await;
        }
    };
    let url = request.url.clone();
    let jobs = match &xet {
        Some(xet) => xet.fetches.len(),
        None => frontier.ranges().len(),
    };
    let mut fetches = xet.map(|xet| xet.fetches.into_iter());
    for index in 0..jobs {
        // A range that failed for good fails the blob now: the ranges still queued are not
        // asked for, and those in flight are aborted when `ranges` drops.
        let permit = loop {
            tokio::select! {
                permit = shared.requests.clone().acquire_owned() => {
                    break permit.map_err(|_| Error::Interrupted)?;
                }
                Some(ended) = ranges.join_next() => joined(ended)??,
            }
        };
        if let (Some(fetch), Some(xet)) = (fetches.as_mut().and_then(Iterator::next), &request.xet)
        {
            let job = super::xet::XorbJob {
                shared: shared.clone(),
                fetch,
                xet: xet.clone(),
                size: blob.size,
                file: file.clone(),
                partial: partial.clone(),
                frontier: frontier.clone(),
                path: blob.path.clone(),
            };
            ranges.spawn(job.run(permit));
            continue;
        }
        let job = RangeJob {
            shared: shared.clone(),
            url: url.clone(),
            headers: request.headers.clone(),
            file: file.clone(),
            partial: partial.clone(),
            frontier: frontier.clone(),
            index,
            size: blob.size,
            path: blob.path.clone(),
        };
        ranges.spawn(job.run(permit));
    }
    if let Some(turn) = &shared.turn {
        turn.send_modify(|next| *next += 1);
    }
    while let Some(ended) = ranges.join_next().await {
        joined(ended)??;
    }
    finish(&shared, &blob, verification, partial).await
}

/// Moves the blob into place once `verification` passes; gives its name.
async fn finish(
    shared: &Downloads,
    blob: &Blob,
    verification: Verification,
    partial: PathBuf,
) -> Result<String> {
    let name = verification.outcome(blob).await?;
    let dest = match &blob.dest {
        BlobDest::Known(dest) => dest.clone(),
        BlobDest::Computed(folder) => folder.join(&name),
    };
    std::fs::rename(&partial, &dest).at(&dest)?;
    shared.progress.file_done(&blob.path);
    Ok(name)
}

/// Writes content the source gave with its listing ([`Content::InHand`]) as the one range of
/// its blob.
fn write_in_hand(
    shared: &Downloads,
    blob: &Blob,
    bytes: &[u8],
    file: &File,
    partial: &std::path::Path,
    frontier: &Frontier,
) -> Result<()> {
    if bytes.len() as u64 != blob.size {
        return Err(Error::SizeMismatch {
            path: blob.path.clone(),
            expected: blob.size,
            got: bytes.len() as u64,
        });
    }
    for (index, range) in frontier.ranges().iter().enumerate() {
        let part = &bytes[range.start as usize..range.end as usize];
        file.write_all_at(part, range.start)
            .map_err(|e| Error::blob_write(&blob.path, partial, e))?;
        frontier.advance(index, part.len() as u64);
        shared.progress.advanced(part.len() as u64);
    }
    Ok(())
}

/// The copy of a local file ([`Content::Local`]) into the blob of the repo file `path`, as the
/// one range of its blob.
struct LocalCopy {
    shared: Arc<Downloads>,
    path: String,
    size: u64,
    source: PathBuf,
    file: Arc<File>,
    partial: PathBuf,
    frontier: Arc<Frontier>,
}

impl LocalCopy {
    fn run(self) -> Result<()> {
        use std::io::Read;
        let mut source = File::open(&self.source).at(&self.source)?;
        let got = source.metadata().at(&self.source)?.len();
        if got != self.size {
            return Err(Error::SizeMismatch {
                path: self.path,
                expected: self.size,
                got,
            });
        }
        let mut buffer = vec![0; BUFFER_SIZE];
        let mut written = 0;
        while written < self.size {
            if self.shared.cancel.is_cancelled() {
                return Err(Error::Interrupted);
            }
            let want = (self.size - written).min(BUFFER_SIZE as u64) as usize;
            let read = source.read(&mut buffer[..want]).at(&self.source)?;
            if read == 0 {
                break;
            }
            self.file
                .write_all_at(&buffer[..read], written)
                .map_err(|e| Error::blob_write(&self.path, &self.partial, e))?;
            written += read as u64;
            self.frontier.advance(0, read as u64);
            self.shared.progress.advanced(read as u64);
        }
        if self.size == 0 {
            self.frontier.advance(0, 0);
        }
        if written != self.size {
            return Err(Error::SizeMismatch {
                path: self.path,
                expected: self.size,
                got: written,
            });
        }
        Ok(())
    }
}

struct AbandonOnDrop(Arc<Frontier>);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        self.0.abandon();
    }
}

/// One byte range of a blob, fetched until complete with retries and resumption.
struct RangeJob {
    shared: Arc<Downloads>,
    url: Url,
    /// The request's own headers.
    headers: HeaderMap,
    file: Arc<File>,
    /// Where `file` is on disk.
    partial: PathBuf,
    frontier: Arc<Frontier>,
    index: usize,
    size: u64,
    path: String,
}

impl RangeJob {
    /// Runs holding `_permit`, its place among the requests in flight.
    async fn run(self, _permit: OwnedSemaphorePermit) -> Result<()> {
        let range = self.frontier.ranges()[self.index];
        let mut backoff = self.shared.origin.http().backoff();
        loop {
            let start = self.frontier.position(self.index);
            if start >= range.end {
                return Ok(());
            }
            let origin = &self.shared.origin;
            let (url, headers) = origin
                .authorized(&self.url, self.range_header(start, range.end))
                .await?;
            let failure = match origin.http().send_once(&url, false, headers).await? {
                Ok(response) => {
                    let response = self.accept(response, start, range.end)?;
                    match self.stream(response, start, range.end).await? {
                        None => return Ok(()),
                        Some(failure) => failure,
                    }
                }
                Err(failure) => failure,
            };
            if self.frontier.position(self.index) - start >= real_progress(range.len()) {
                backoff.refill();
            }
            backoff
                .wait_or_fail(&self.url, &self.what(range), failure)
                .await?;
        }
    }

    /// The file, and the range when it is not the whole file: what a retry notice names.
    fn what(&self, range: Range) -> String {
        if range.len() == self.size {
            return self.path.clone();
        }
        format!("{} (bytes {}-{})", self.path, range.start, range.end - 1)
    }

    /// Whether bytes `start..end` are asked for with a `Range` header: unless they are the whole
    /// file.
    fn asks_range(&self, start: u64, end: u64) -> bool {
        start > 0 || end < self.size
    }

    fn range_header(&self, start: u64, end: u64) -> HeaderMap {
        let mut headers = self.headers.clone();
        if self.asks_range(start, end) {
            let value = format!("bytes={}-{}", start, end - 1);
            headers.insert(RANGE, HeaderValue::from_str(&value).expect("ascii range"));
        }
        headers
    }

    /// Checks the answer is the bytes `start..end` asked for; maps Hub errors (404...) to their
    /// errors.
    fn accept(&self, response: Response, start: u64, end: u64) -> Result<Response> {
        let response = self.shared.origin.checked(response, &self.path)?;
        let url = ShownUrl::from(response.url());
        match response.status() {
            StatusCode::PARTIAL_CONTENT => {
                let (first, total) =
                    parse_content_range(response.headers()).ok_or_else(|| Error::Protocol {
                        url: url.clone(),
                        problem: "206 without a valid Content-Range".into(),
                    })?;
                if total != self.size {
                    return Err(Error::SizeMismatch {
                        path: self.path.clone(),
                        expected: self.size,
                        got: total,
                    });
                }
                if first != start {
                    return Err(Error::Protocol {
                        url,
                        problem: format!("asked bytes from {start}, got from {first}"),
                    });
                }
            }
            StatusCode::OK if self.asks_range(start, end) => {
                return Err(Error::RangeIgnored {
                    url,
                    path: self.path.clone(),
                    first: start,
                    last: end - 1,
                    names: SettingNames::Spec,
                });
            }
            StatusCode::OK => {
                if let Some(length) = response.content_length().filter(|&l| l != self.size) {
                    return Err(Error::SizeMismatch {
                        path: self.path.clone(),
                        expected: self.size,
                        got: length,
                    });
                }
            }
            status => {
                return Err(Error::Protocol {
                    url,
                    problem: format!("asked a byte range, got HTTP {status}"),
                });
            }
        }
        Ok(response)
    }

    /// Writes the body at its offsets. `Ok(None)`: the range is complete.
    /// `Ok(Some(failure))`: the connection broke; the range resumes where it stopped.
    async fn stream(&self, response: Response, start: u64, end: u64) -> Result<Option<Failure>> {
        let mut body = response.bytes_stream();
        let mut buffer: Vec<u8> = Vec::with_capacity(BUFFER_SIZE);
        let mut position = start;
        let mut broken = None;
        while let Some(chunk) = body.next().await {
            if self.shared.cancel.is_cancelled() {
                return Err(Error::Interrupted);
            }
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    broken = Some(crate::http::describe_cut(&e));
                    break;
                }
            };
            if position + (buffer.len() + chunk.len()) as u64 > end {
                return Err(Error::SizeMismatch {
                    path: self.path.clone(),
                    expected: self.size,
                    got: position + (buffer.len() + chunk.len()) as u64,
                });
            }
            buffer.extend_from_slice(&chunk);
            if buffer.len() >= BUFFER_SIZE {
                position = self.flush(&mut buffer, position)?;
            }
        }
        position = self.flush(&mut buffer, position)?;
        if position == end {
            return Ok(None);
        }
        Ok(Some(Failure::Cut {
            received: position - start,
            cause: broken.unwrap_or_else(|| "the server closed it".into()),
        }))
    }

    fn flush(&self, buffer: &mut Vec<u8>, position: u64) -> Result<u64> {
        if buffer.is_empty() {
            return Ok(position);
        }
        self.file
            .write_all_at(buffer, position)
            .map_err(|e| Error::blob_write(&self.path, &self.partial, e))?;
        let written = buffer.len() as u64;
        self.frontier.advance(self.index, written);
        self.shared.progress.advanced(written);
        buffer.clear();
        Ok(position + written)
    }
}

/// A failed try that brought this many bytes of a range of `len` bytes was real progress, which
/// refills the range's retries: 1 MiB, or an eighth of a smaller range.
pub(super) fn real_progress(len: u64) -> u64 {
    (len / 8).clamp(1, 1 << 20)
}

/// `Content-Range: bytes <first>-<last>/<total>` as (first, total).
pub(super) fn parse_content_range(headers: &HeaderMap) -> Option<(u64, u64)> {
    let value = headers.get(CONTENT_RANGE)?.to_str().ok()?;
    let (range, total) = value.strip_prefix("bytes ")?.split_once('/')?;
    let (first, _) = range.split_once('-')?;
    Some((first.trim().parse().ok()?, total.trim().parse().ok()?))
}
