//! Xet, the storage of the Hugging Face Hub's large files: the read token the Hub gives, the
//! reconstruction of a file the storage (CAS) answers, and the decoding of the xorb chunks that
//! rebuild it. The fetch engine downloads the xorb ranges (`fetch::xet`).

pub mod cas;
pub mod chunks;
pub mod reconstruction;

use std::sync::Arc;

pub use cas::{Cas, Offer};

/// A file stored with Xet: its bytes are rebuilt from the xorb ranges the storage lists for its
/// hash, instead of the body of its request's URL (which serves the same bytes).
#[derive(Clone)]
pub struct XetFile {
    /// Its Xet hash (the tree's `xetHash`).
    pub hash: String,
    pub cas: Arc<Cas>,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use sha2::{Digest, Sha256};

    use super::chunks::ChunkStream;
    use super::reconstruction;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/fixtures/xet")
    }

    /// Every file of tests/support/fixtures/xet, uploaded by xet-core (hf-xet 1.8.0) and rebuilt
    /// here from the reconstruction its CAS server answered and the xorbs it wrote: the chunks
    /// of every scheme (stored, LZ4, byte grouping + LZ4) decode, and each file's terms, one
    /// download serving several of them, give its bytes.
    #[test]
    fn files_uploaded_by_xet_core_are_rebuilt() {
        let root = fixtures();
        let index: BTreeMap<String, serde_json::Value> =
            serde_json::from_slice(&std::fs::read(root.join("cas/index.json")).unwrap()).unwrap();
        let mut files = BTreeMap::new();
        for revision in ["v1", "v2"] {
            for entry in walk(&root.join("repo").join(revision)) {
                let bytes = std::fs::read(&entry).unwrap();
                files.insert(hex::encode(Sha256::digest(&bytes)), bytes);
            }
        }
        let mut schemes = std::collections::BTreeSet::new();
        for (sha256, entry) in &index {
            let hash = entry["xetHash"].as_str().unwrap();
            let size = entry["size"].as_u64().unwrap();
            let answer =
                std::fs::read(root.join(format!("cas/reconstructions/{hash}.json"))).unwrap();
            let plan = reconstruction::read(&answer, size).unwrap();
            let mut terms: Vec<Vec<u8>> = plan.terms.iter().map(|_| Vec::new()).collect();
            for fetch in &plan.fetches {
                let xorb = std::fs::read(root.join("cas/xorbs").join(&fetch.xorb)).unwrap();
                let range = &xorb[fetch.bytes.start as usize..=fetch.bytes.end as usize];
                let mut at = 0;
                while at < range.len() {
                    schemes.insert(range[at + 4]);
                    let stored =
                        u32::from_le_bytes([range[at + 1], range[at + 2], range[at + 3], 0]);
                    at += 8 + stored as usize;
                }
                let mut stream = ChunkStream::default();
                // In pieces of 1000 bytes, as a download brings them.
                let (mut chunk, mut out) = (fetch.chunks.start, Vec::new());
                for piece in range.chunks(1000) {
                    stream.push(piece);
                    while stream.next_chunk(&mut out).unwrap().is_some() {
                        for serves in fetch
                            .serves
                            .iter()
                            .filter(|s| (s.chunks.start..s.chunks.end).contains(&chunk))
                        {
                            terms[serves.term].extend_from_slice(&out);
                        }
                        chunk += 1;
                    }
                }
                assert_eq!((chunk, stream.pending()), (fetch.chunks.end, 0));
            }
            for (term, len) in terms.iter().zip(&plan.terms) {
                assert_eq!(term.len() as u64, *len);
            }
            let rebuilt = terms.concat();
            assert_eq!(hex::encode(Sha256::digest(&rebuilt)), *sha256);
            assert_eq!(Some(&rebuilt), files.get(sha256), "{hash}");
        }
        assert_eq!(schemes, [0, 1, 2].into(), "chunks of every scheme");
        assert!(index.len() >= 5);
    }

    fn walk(folder: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                found.extend(walk(&path));
            } else {
                found.push(path);
            }
        }
        found
    }
}
