//! Decoding the chunks of a xorb range, as the Xet CAS serves them.
//!
//! A range of a xorb is a run of chunks, each an 8-byte header followed by its stored bytes:
//!
//! | byte | meaning |
//! | --- | --- |
//! | 0 | format version, 0 |
//! | 1-3 | length of the stored bytes, little-endian |
//! | 4 | how they are stored: 0 as they are, 1 one LZ4 frame, 2 one LZ4 frame of the bytes grouped by 4 |
//! | 5-7 | length of the chunk once decoded, little-endian |
//!
//! "Grouped by 4" (BG4) puts the bytes at offsets 0, 4, 8, ... first, then those at 1, 5, 9, ...,
//! then 2, 6, ... and 3, 7, ...; the first `len % 4` groups have one byte more.
//!
//! Why our own decoder and not xet-core's (`xet-core-structures`, whose `deserialize_chunks`
//! does this): that crate depends on `xet-runtime`, which brings a second HTTP stack (reqwest
//! 0.13, besides our 0.12) and 101 more packages into the plugin's static library, for 150 lines
//! of format. The decoder is checked against chunks made by xet-core itself (hf-xet 1.8.0:
//! tests/support/fixtures/xet/, and the tests below), and every file it decodes is checked
//! against the sha256 the Hub lists for it.

use std::io::Read;

/// The length of a chunk header.
pub const HEADER_LEN: usize = 8;

/// The largest chunk accepted, decoded or stored: xet-core makes chunks of at most 128 KiB;
/// this leaves room and keeps the memory of a download bounded.
pub const MAX_CHUNK_LEN: usize = 1 << 20;

/// A chunk's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    /// The length of the bytes stored after the header.
    pub stored: usize,
    pub scheme: Scheme,
    /// The length of the chunk once decoded.
    pub decoded: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Stored,
    Lz4,
    ByteGrouping4Lz4,
}

impl ChunkHeader {
    /// Reads a header; what is wrong with it otherwise.
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Result<Self, String> {
        let length =
            |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], 0]) as usize;
        if bytes[0] != 0 {
            return Err(format!("a chunk header of version {}, not 0", bytes[0]));
        }
        let scheme = match bytes[4] {
            0 => Scheme::Stored,
            1 => Scheme::Lz4,
            2 => Scheme::ByteGrouping4Lz4,
            other => return Err(format!("a chunk stored by unknown scheme {other}")),
        };
        let (stored, decoded) = (length(1), length(5));
        if stored > MAX_CHUNK_LEN || decoded > MAX_CHUNK_LEN {
            return Err(format!(
                "a chunk of {decoded} bytes stored in {stored}, more than the {MAX_CHUNK_LEN} a chunk can have"
            ));
        }
        if scheme == Scheme::Stored && stored != decoded {
            return Err(format!(
                "a chunk stored as it is in {stored} bytes, said to have {decoded}"
            ));
        }
        Ok(ChunkHeader {
            stored,
            scheme,
            decoded,
        })
    }
}

/// Decodes chunks one after the other, reusing its buffer of grouped bytes.
#[derive(Default)]
pub struct ChunkDecoder {
    grouped: Vec<u8>,
}

impl ChunkDecoder {
    /// Decodes the chunk of `header` whose stored bytes are `stored` into `out` (replacing what
    /// it held); what is wrong with it otherwise.
    pub fn decode(
        &mut self,
        header: &ChunkHeader,
        stored: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        out.clear();
        match header.scheme {
            Scheme::Stored => out.extend_from_slice(stored),
            Scheme::Lz4 => lz4_frame(header, stored, out)?,
            Scheme::ByteGrouping4Lz4 => {
                lz4_frame(header, stored, &mut self.grouped)?;
                ungroup4(&self.grouped, out);
            }
        }
        if out.len() != header.decoded {
            return Err(format!(
                "a chunk decoded to {} bytes, its header says {}",
                out.len(),
                header.decoded
            ));
        }
        Ok(())
    }
}

/// The content of `stored`, one LZ4 frame, into `out`; at most one byte more than
/// `header.decoded` of it (a frame that holds more is caught without decoding it all). A decoder
/// of its own for each frame: lz4_flex's expects the block size of the frame it began with.
fn lz4_frame(header: &ChunkHeader, stored: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    let mut frame = lz4_flex::frame::FrameDecoder::new(stored);
    (&mut frame)
        .take(header.decoded as u64 + 1)
        .read_to_end(out)
        .map_err(|error| format!("a chunk's LZ4 frame does not decode: {error}"))?;
    if out.len() <= header.decoded && !frame.get_ref().is_empty() {
        return Err("a chunk's stored bytes hold more than its LZ4 frame".to_string());
    }
    Ok(())
}

/// Puts back in place the bytes of `grouped`, grouped by 4 (see the module's documentation).
pub fn ungroup4(grouped: &[u8], out: &mut Vec<u8>) {
    let len = grouped.len();
    let (whole, extra) = (len / 4, len % 4);
    let mut starts = [0usize; 4];
    for group in 1..4 {
        starts[group] = starts[group - 1] + whole + usize::from(group - 1 < extra);
    }
    out.clear();
    out.reserve(len);
    for i in 0..whole {
        out.extend(starts.iter().map(|start| grouped[start + i]));
    }
    out.extend(starts[..extra].iter().map(|start| grouped[start + whole]));
}

/// Reads the chunks of a xorb range as its bytes come in, whatever pieces they come in.
#[derive(Default)]
pub struct ChunkStream {
    pending: Vec<u8>,
    decoder: ChunkDecoder,
}

impl ChunkStream {
    /// Takes more bytes of the range.
    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// The next whole chunk, decoded into `out`, and the bytes it took in the range (header
    /// included); `None` until the bytes of a whole chunk have come.
    pub fn next_chunk(&mut self, out: &mut Vec<u8>) -> Result<Option<usize>, String> {
        let Some(header) = self.pending.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let header = ChunkHeader::parse(header)?;
        let taken = HEADER_LEN + header.stored;
        if self.pending.len() < taken {
            return Ok(None);
        }
        self.decoder
            .decode(&header, &self.pending[HEADER_LEN..taken], out)?;
        self.pending.drain(..taken);
        Ok(Some(taken))
    }

    /// Bytes that came and are not a whole chunk yet.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Drops the bytes of a chunk not yet whole (its download broke off).
    pub fn reset(&mut self) {
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(stored: usize, scheme: u8, decoded: usize) -> [u8; 8] {
        let (s, d) = (
            (stored as u32).to_le_bytes(),
            (decoded as u32).to_le_bytes(),
        );
        [0, s[0], s[1], s[2], scheme, d[0], d[1], d[2]]
    }

    #[test]
    fn ungrouping_puts_every_byte_back() {
        for len in 0..=13usize {
            let data: Vec<u8> = (0..len as u8).collect();
            // Grouped by hand: offsets 0,4,8.. then 1,5,9.. then 2,6.. then 3,7..
            let grouped: Vec<u8> = (0..4)
                .flat_map(|g| data.iter().copied().skip(g).step_by(4))
                .collect();
            let mut out = Vec::new();
            ungroup4(&grouped, &mut out);
            assert_eq!(out, data, "{len} bytes");
        }
    }

    #[test]
    fn headers_are_checked() {
        assert_eq!(
            ChunkHeader::parse(&header(70_000, 1, 131_072)).unwrap(),
            ChunkHeader {
                stored: 70_000,
                scheme: Scheme::Lz4,
                decoded: 131_072
            }
        );
        let mut newer = header(1, 0, 1);
        newer[0] = 1;
        assert!(ChunkHeader::parse(&newer)
            .unwrap_err()
            .contains("version 1"));
        assert!(ChunkHeader::parse(&header(1, 3, 1))
            .unwrap_err()
            .contains("unknown scheme 3"));
        assert!(ChunkHeader::parse(&header(5, 0, 6)).is_err());
        assert!(ChunkHeader::parse(&header(10, 1, MAX_CHUNK_LEN + 1)).is_err());
        // The footer of a xorb ("XETBLOB") is no chunk.
        assert!(ChunkHeader::parse(b"XETBLOB\0").is_err());
    }

    #[test]
    fn a_stream_gives_whole_chunks_whatever_the_pieces() {
        let mut range = header(3, 0, 3).to_vec();
        range.extend_from_slice(b"abc");
        range.extend_from_slice(&header(2, 0, 2));
        range.extend_from_slice(b"de");
        for piece in 1..range.len() {
            let mut stream = ChunkStream::default();
            let mut chunks = Vec::new();
            let mut out = Vec::new();
            for bytes in range.chunks(piece) {
                stream.push(bytes);
                while let Some(taken) = stream.next_chunk(&mut out).unwrap() {
                    chunks.push((out.clone(), taken));
                }
            }
            assert_eq!(chunks, vec![(b"abc".to_vec(), 11), (b"de".to_vec(), 10)]);
            assert_eq!(stream.pending(), 0);
        }
    }

    #[test]
    fn a_chunk_that_does_not_decode_is_refused() {
        let mut decoder = ChunkDecoder::default();
        let mut out = Vec::new();
        let not_lz4 = ChunkHeader {
            stored: 16,
            scheme: Scheme::Lz4,
            decoded: 10,
        };
        let refused = decoder.decode(&not_lz4, &[b'x'; 16], &mut out);
        assert!(
            refused
                .as_ref()
                .unwrap_err()
                .contains("LZ4 frame does not decode"),
            "{refused:?}"
        );
        // Too short to be a frame: nothing comes out of it, which is not the 10 bytes said.
        let short = ChunkHeader {
            stored: 4,
            scheme: Scheme::ByteGrouping4Lz4,
            decoded: 10,
        };
        let refused = decoder.decode(&short, b"abcd", &mut out);
        assert!(
            refused
                .as_ref()
                .unwrap_err()
                .contains("decoded to 0 bytes, its header says 10"),
            "{refused:?}"
        );
    }
}
