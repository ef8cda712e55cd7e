//! Content checks while bytes stream in: sha256 for LFS files, the git blob
//! sha1 (`"blob {len}\0"` + bytes) for the others.

use sha1::{Digest, Sha1};

use crate::error::Error;
use crate::hub::Oid;
use crate::nar::NarHasher;
use crate::sha256_stream::Sha256Stream;

pub enum ContentHasher {
    Sha256(Sha256Stream),
    GitSha1(Sha1),
}

impl ContentHasher {
    /// A hasher for the content `oid` names, of `size` bytes.
    pub fn for_oid(oid: &Oid, size: u64) -> Self {
        match oid {
            Oid::Sha256(_) => ContentHasher::Sha256(Sha256Stream::new()),
            Oid::GitSha1(_) => {
                let mut sha1 = Sha1::new();
                sha1.update(format!("blob {size}\0").as_bytes());
                ContentHasher::GitSha1(sha1)
            }
        }
    }

    /// A sha256 hasher, for content whose digest the download gives ([`Self::finish_hex`]).
    pub fn sha256() -> Self {
        ContentHasher::Sha256(Sha256Stream::new())
    }

    /// The digest, in hex.
    pub fn finish_hex(self) -> String {
        match self {
            ContentHasher::Sha256(h) => hex::encode(h.finalize()),
            ContentHasher::GitSha1(h) => hex::encode(h.finalize()),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            ContentHasher::Sha256(h) => h.update(bytes),
            ContentHasher::GitSha1(h) => h.update(bytes),
        }
    }

    /// Feeds `bytes` to this hasher and, as the contents of its current file, to `nar`.
    pub fn update_with_nar(&mut self, nar: &mut NarHasher, bytes: &[u8]) {
        match self {
            ContentHasher::Sha256(h) => nar.contents_beside(h, bytes),
            ContentHasher::GitSha1(h) => {
                h.update(bytes);
                nar.contents(bytes);
            }
        }
    }

    /// Compares the digest with `oid`; the error names `path`, expected and got.
    pub fn check(self, oid: &Oid, path: &str) -> Result<(), Error> {
        let algorithm = match self {
            ContentHasher::Sha256(_) => "sha256",
            ContentHasher::GitSha1(_) => "git blob sha1",
        };
        let got = self.finish_hex();
        if got == oid.etag() {
            return Ok(());
        }
        Err(Error::DigestMismatch {
            path: path.to_string(),
            algorithm,
            expected: oid.etag().into(),
            got,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_blob_sha1_matches_git() {
        // `printf 'hello\n' | git hash-object --stdin`
        let oid = Oid::GitSha1("ce013625030ba8dba906f756967f9e9ca394464a".into());
        let mut hasher = ContentHasher::for_oid(&oid, 6);
        hasher.update(b"hello\n");
        hasher.check(&oid, "greeting").unwrap();
    }

    #[test]
    fn mismatch_names_file_expected_and_got() {
        let oid = Oid::Sha256("00".repeat(32));
        let mut hasher = ContentHasher::for_oid(&oid, 1);
        hasher.update(b"x");
        let err = hasher
            .check(&oid, "model.safetensors")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("model.safetensors") && err.contains(&"00".repeat(32)),
            "{err}"
        );
        assert!(
            err.contains("2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"),
            "{err}"
        );
    }
}
