//! The answer of the CAS to `GET /v1/reconstructions/<file hash>`, and what to download to
//! rebuild the file from it.
//!
//! ```json
//! { "offset_into_first_range": 0,
//!   "terms": [ { "hash": "<xorb>", "unpacked_length": 131072, "range": { "start": 0, "end": 2 } } ],
//!   "fetch_info": { "<xorb>": [ { "range": { "start": 0, "end": 2 }, "url": "<presigned>",
//!                                 "url_range": { "start": 0, "end": 70123 } } ] } }
//! ```
//!
//! The file is its terms in order; a term is the chunks `range` (end excluded) of a xorb, which
//! decode to `unpacked_length` bytes. `fetch_info` says, for each xorb, which URL serves which
//! chunks: the bytes `url_range` (end included) of it, to ask for with a `Range` header. One
//! download can serve several terms (a file that repeats itself). Version 2 of the API
//! (`/v2/reconstructions`) signs one URL for several ranges of a xorb, to be asked for in one
//! multi-range request; version 1, which the Hub and xet-core still serve, is what is used here.

use std::collections::HashMap;

use serde::Deserialize;
use url::Url;

#[derive(Deserialize)]
struct Answer {
    offset_into_first_range: u64,
    terms: Vec<Term>,
    fetch_info: HashMap<String, Vec<FetchInfo>>,
}

#[derive(Deserialize)]
struct Term {
    hash: String,
    unpacked_length: u64,
    range: Chunks,
}

#[derive(Deserialize)]
struct FetchInfo {
    range: Chunks,
    url: String,
    url_range: Bytes,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub struct Chunks {
    pub start: u32,
    /// Excluded.
    pub end: u32,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub struct Bytes {
    pub start: u64,
    /// Included, as in a `Range` header.
    pub end: u64,
}

impl Bytes {
    /// How many bytes: the range includes its end.
    pub fn count(&self) -> u64 {
        self.end - self.start + 1
    }
}

/// How to rebuild a file: its terms' lengths, in file order, and the downloads that give them.
#[derive(Debug, PartialEq, Eq)]
pub struct Reconstruction {
    /// The length of each term, in file order: they add up to the file's size.
    pub terms: Vec<u64>,
    /// One for each range of a xorb to download, in the order of the first term each serves.
    pub fetches: Vec<XorbFetch>,
}

/// A range of a xorb to download, and the terms its chunks give.
#[derive(Debug, PartialEq, Eq)]
pub struct XorbFetch {
    pub xorb: String,
    pub url: Url,
    /// The bytes to ask for.
    pub bytes: Bytes,
    /// The chunks they hold.
    pub chunks: Chunks,
    /// The terms it serves, in file order.
    pub serves: Vec<TermUse>,
}

/// A term served by a download: which chunks of the xorb it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermUse {
    /// Its place in [`Reconstruction::terms`].
    pub term: usize,
    pub chunks: Chunks,
}

/// Reads the answer for a file of `size` bytes (asked for whole); what is wrong with it
/// otherwise.
pub fn read(answer: &[u8], size: u64) -> Result<Reconstruction, String> {
    let answer: Answer = serde_json::from_slice(answer)
        .map_err(|e| format!("the answer is not a reconstruction: {e}"))?;
    if answer.offset_into_first_range != 0 {
        return Err(format!(
            "the reconstruction of the whole file starts {} bytes into its first term, not at 0",
            answer.offset_into_first_range
        ));
    }
    let total = answer
        .terms
        .iter()
        .map(|t| t.unpacked_length)
        .fold(0u64, u64::saturating_add);
    if total != size {
        return Err(format!(
            "the reconstruction gives {total} bytes, the Hub lists {size}"
        ));
    }
    // (xorb, index in its fetch_info) -> the download's place in `fetches`.
    let mut chosen: HashMap<(&str, usize), usize> = HashMap::new();
    let mut fetches: Vec<XorbFetch> = Vec::new();
    for (index, term) in answer.terms.iter().enumerate() {
        if term.range.start >= term.range.end || term.unpacked_length == 0 {
            return Err(format!(
                "term {index} is empty (chunks {}..{})",
                term.range.start, term.range.end
            ));
        }
        let infos = answer.fetch_info.get(&term.hash).ok_or_else(|| {
            format!(
                "term {index} is in xorb {}, for which no download is given",
                term.hash
            )
        })?;
        let within = |info: &&FetchInfo| {
            info.range.start <= term.range.start && term.range.end <= info.range.end
        };
        let (at, info) = infos
            .iter()
            .enumerate()
            .find(|(_, info)| within(info))
            .ok_or_else(|| {
                format!(
                    "no download given for chunks {}..{} of xorb {} (term {index})",
                    term.range.start, term.range.end, term.hash
                )
            })?;
        let serves = TermUse {
            term: index,
            chunks: term.range,
        };
        match chosen.get(&(term.hash.as_str(), at)) {
            Some(&fetch) => fetches[fetch].serves.push(serves),
            None => {
                if info.url_range.end < info.url_range.start || info.range.start >= info.range.end {
                    return Err(format!("an empty download is given for xorb {}", term.hash));
                }
                let url = Url::parse(&info.url)
                    .ok()
                    .filter(|url| matches!(url.scheme(), "http" | "https"))
                    .ok_or_else(|| {
                        format!("the download of xorb {} is no http(s) URL", term.hash)
                    })?;
                chosen.insert((term.hash.as_str(), at), fetches.len());
                fetches.push(XorbFetch {
                    xorb: term.hash.clone(),
                    url,
                    bytes: info.url_range,
                    chunks: info.range,
                    serves: vec![serves],
                });
            }
        }
    }
    Ok(Reconstruction {
        terms: answer.terms.iter().map(|t| t.unpacked_length).collect(),
        fetches,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(terms: &str, fetch_info: &str) -> Vec<u8> {
        format!(
            r#"{{"offset_into_first_range":0,"terms":[{terms}],"fetch_info":{{{fetch_info}}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn terms_that_share_a_download_are_served_by_one() {
        // A file that repeats itself: chunks 0..2 of xorb a, 0..3 of b, 0..2 of a again.
        let json = answer(
            r#"{"hash":"a","unpacked_length":10,"range":{"start":0,"end":2}},
               {"hash":"b","unpacked_length":7,"range":{"start":0,"end":3}},
               {"hash":"a","unpacked_length":10,"range":{"start":0,"end":2}}"#,
            r#""a":[{"range":{"start":0,"end":4},"url":"https://cdn/a?sig","url_range":{"start":0,"end":99}}],
               "b":[{"range":{"start":0,"end":3},"url":"https://cdn/b?sig","url_range":{"start":0,"end":49}}]"#,
        );
        let plan = read(&json, 27).unwrap();
        assert_eq!(plan.terms, vec![10, 7, 10]);
        assert_eq!(plan.fetches.len(), 2);
        assert_eq!(plan.fetches[0].xorb, "a");
        assert_eq!(plan.fetches[0].bytes.count(), 100);
        assert_eq!(
            plan.fetches[0]
                .serves
                .iter()
                .map(|s| s.term)
                .collect::<Vec<_>>(),
            vec![0, 2]
        );
        assert_eq!(
            plan.fetches[1].serves[0].chunks,
            Chunks { start: 0, end: 3 }
        );
    }

    #[test]
    fn a_wrong_answer_says_what_is_wrong() {
        let term = r#"{"hash":"a","unpacked_length":10,"range":{"start":1,"end":2}}"#;
        let fetch = |range: &str, url: &str| {
            format!(r#""a":[{{"range":{range},"url":"{url}","url_range":{{"start":0,"end":9}}}}]"#)
        };
        let whole = fetch(r#"{"start":0,"end":2}"#, "https://cdn/a");
        assert!(read(&answer(term, &whole), 11)
            .unwrap_err()
            .contains("gives 10 bytes, the Hub lists 11"));
        assert!(read(&answer(term, ""), 10)
            .unwrap_err()
            .contains("no download is given"));
        let short = fetch(r#"{"start":0,"end":1}"#, "https://cdn/a");
        assert!(read(&answer(term, &short), 10)
            .unwrap_err()
            .contains("no download given for chunks 1..2"));
        let file = fetch(r#"{"start":0,"end":2}"#, "file:///etc/passwd");
        assert!(read(&answer(term, &file), 10)
            .unwrap_err()
            .contains("no http(s) URL"));
        assert!(read(b"<html>", 10)
            .unwrap_err()
            .contains("not a reconstruction"));
        let offset = String::from_utf8(answer(term, &whole))
            .unwrap()
            .replace(":0,\"terms", ":5,\"terms");
        assert!(read(offset.as_bytes(), 10)
            .unwrap_err()
            .contains("5 bytes into its first term"));
    }
}
