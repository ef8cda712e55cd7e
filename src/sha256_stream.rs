//! SHA-256 over a stream of bytes, and two such hashes fed the same bytes side by side.
//!
//! A fetch for the store hashes every blob twice: once for the Hub's checksum, once inside
//! the NAR. Within one SHA-256 each block waits for the one before, which leaves the CPU's
//! SHA unit mostly idle; two independent hashes fed block by block in turn overlap, so both
//! cost about 1.45x one hash instead of 2x (on x86 with SHA extensions). The blocks go through
//! `sha2`'s own compression function, which picks the CPU's SHA instructions when it has them.

use sha2::digest::generic_array::GenericArray;
use sha2::digest::typenum::U64;

const BLOCK: usize = 64;

/// The initial hash value of SHA-256 (FIPS 180-4, 5.3.3).
const INITIAL_STATE: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

#[derive(Clone)]
pub struct Sha256Stream {
    state: [u32; 8],
    /// The start of a block that the bytes so far have not completed.
    pending: [u8; BLOCK],
    pending_len: usize,
    length: u64,
}

impl Default for Sha256Stream {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256Stream {
    pub fn new() -> Self {
        Sha256Stream {
            state: INITIAL_STATE,
            pending: [0; BLOCK],
            pending_len: 0,
            length: 0,
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        let rest = self.complete_pending(bytes);
        let (blocks, tail) = split_blocks(rest);
        self.compress(blocks);
        self.keep(tail);
    }

    /// Feeds `bytes` to both `a` and `b`, their blocks in turn.
    pub fn update_both(a: &mut Self, b: &mut Self, bytes: &[u8]) {
        let (blocks_a, tail_a) = split_blocks(a.complete_pending(bytes));
        let (blocks_b, tail_b) = split_blocks(b.complete_pending(bytes));
        let mut blocks_a = blocks_a.chunks_exact(BLOCK);
        let mut blocks_b = blocks_b.chunks_exact(BLOCK);
        loop {
            match (blocks_a.next(), blocks_b.next()) {
                (Some(block_a), Some(block_b)) => {
                    a.compress(block_a);
                    b.compress(block_b);
                }
                (Some(block_a), None) => a.compress(block_a),
                (None, Some(block_b)) => b.compress(block_b),
                (None, None) => break,
            }
        }
        a.keep(tail_a);
        b.keep(tail_b);
    }

    pub fn finalize(mut self) -> [u8; 32] {
        let bit_length = self.length.wrapping_mul(8);
        let padding_len = if self.pending_len < BLOCK - 8 {
            BLOCK - self.pending_len
        } else {
            2 * BLOCK - self.pending_len
        };
        let mut padding = [0u8; 2 * BLOCK];
        padding[0] = 0x80;
        padding[padding_len - 8..padding_len].copy_from_slice(&bit_length.to_be_bytes());
        self.update(&padding[..padding_len]);
        let mut digest = [0u8; 32];
        for (bytes, word) in digest.chunks_exact_mut(4).zip(self.state) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        digest
    }

    /// Absorbs the bytes that complete a pending block; returns the rest of `bytes`.
    fn complete_pending<'a>(&mut self, bytes: &'a [u8]) -> &'a [u8] {
        self.length += bytes.len() as u64;
        if self.pending_len == 0 {
            return bytes;
        }
        let take = (BLOCK - self.pending_len).min(bytes.len());
        self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&bytes[..take]);
        self.pending_len += take;
        if self.pending_len == BLOCK {
            let block = self.pending;
            self.compress(&block);
            self.pending_len = 0;
        }
        &bytes[take..]
    }

    /// Keeps `tail` (shorter than a block) for later. Bytes are left after the pending block
    /// only once it is complete, so `tail` starts a new one.
    fn keep(&mut self, tail: &[u8]) {
        if !tail.is_empty() {
            self.pending[..tail.len()].copy_from_slice(tail);
            self.pending_len = tail.len();
        }
    }

    /// Hashes whole blocks.
    fn compress(&mut self, blocks: &[u8]) {
        sha2::compress256(&mut self.state, as_blocks(blocks));
    }
}

/// Whole blocks as `sha2` takes them, without a copy: one call for many blocks is faster
/// than a call a block when only one hash runs.
fn as_blocks(bytes: &[u8]) -> &[GenericArray<u8, U64>] {
    debug_assert_eq!(bytes.len() % BLOCK, 0);
    // SAFETY: GenericArray<u8, U64> is a #[repr(transparent)] [u8; 64], alignment 1, and
    // `bytes` holds exactly `len / 64` of them.
    unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast(), bytes.len() / BLOCK) }
}

/// `bytes` as whole blocks and what is left.
fn split_blocks(bytes: &[u8]) -> (&[u8], &[u8]) {
    bytes.split_at(bytes.len() / BLOCK * BLOCK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn bytes(len: usize, seed: usize) -> Vec<u8> {
        (0..len)
            .map(|i| ((i * 131 + seed * 7) % 251) as u8)
            .collect()
    }

    #[test]
    fn equals_sha2_for_every_length_around_the_padding_edges() {
        for len in (0..200).chain([1000, 4096, 100_003]) {
            let data = bytes(len, len);
            let mut stream = Sha256Stream::new();
            stream.update(&data);
            assert_eq!(
                stream.finalize()[..],
                Sha256::digest(&data)[..],
                "length {len}"
            );
        }
    }

    #[test]
    fn two_streams_at_different_offsets_fed_side_by_side() {
        // `a` has a prefix (as the NAR has headers before a file's contents), `b` starts fresh;
        // the shared bytes come in uneven chunks.
        for prefix_len in [0, 1, 13, 63, 64, 65, 130] {
            let prefix = bytes(prefix_len, 1);
            let shared = bytes(50_000, 2);
            let mut a = Sha256Stream::new();
            a.update(&prefix);
            let mut b = Sha256Stream::new();
            let mut chunk_len = 1;
            let mut fed = 0;
            while fed < shared.len() {
                let end = (fed + chunk_len).min(shared.len());
                Sha256Stream::update_both(&mut a, &mut b, &shared[fed..end]);
                fed = end;
                chunk_len = chunk_len * 3 % 997 + 1;
            }
            a.update(b"trailer");
            let mut whole = prefix.clone();
            whole.extend_from_slice(&shared);
            whole.extend_from_slice(b"trailer");
            assert_eq!(
                a.finalize()[..],
                Sha256::digest(&whole)[..],
                "prefix {prefix_len}"
            );
            assert_eq!(
                b.finalize()[..],
                Sha256::digest(&shared)[..],
                "prefix {prefix_len}"
            );
        }
    }
}
