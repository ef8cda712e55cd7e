//! Nix ARchive (NAR) serialisation of a file system tree, and its sha256.
//!
//! The NAR of a path is what `nix-store --dump` prints, and its sha256 is
//! the hash `nix-hash --type sha256` prints and fixed-output paths pin. Every
//! string is a little-endian u64 length, the bytes, and zero padding to a
//! multiple of 8. A node is `( type regular [executable ""] contents <data> )`,
//! `( type symlink target <target> )` or `( type directory entry ( name <n>
//! node <node> ) ... )` with entries in byte order of their names. Only the
//! owner's execute bit is kept; times, owners and other mode bits are not.

use crate::hash::Sha256Hash;
use crate::sha256_stream::Sha256Stream;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Size of the buffer file contents are streamed through.
const CONTENTS_BUFFER_SIZE: usize = 1 << 20;
/// The owner's execute bit (`S_IXUSR`), the one Nix looks at.
const OWNER_EXECUTE_BIT: u32 = 0o100;

/// What went wrong while serialising a tree.
#[derive(Debug, thiserror::Error)]
pub enum NarError {
    /// A path could not be inspected or read.
    #[error("cannot read '{path}' for its NAR serialisation: {source}")]
    Read { path: PathBuf, source: io::Error },
    /// A path is a socket, fifo or device, which a NAR cannot hold.
    #[error("'{path}' is a {kind}; a NAR can only hold regular files, directories and symlinks, so remove it from the tree")]
    UnsupportedFileType { path: PathBuf, kind: &'static str },
    /// A file's size changed between reading its metadata and its contents.
    #[error("'{path}' changed while it was being serialised (expected {expected} bytes, read {actual}); make sure nothing writes to the tree while it is hashed")]
    FileChanged {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
    /// The destination of the NAR refused bytes.
    #[error("cannot write the NAR serialisation: {0}")]
    Write(#[source] io::Error),
}

/// The sha256 of the NAR serialisation of `path`, as `nix-hash --type sha256 PATH`
/// computes it. Symlinks are not followed, including `path` itself.
pub fn nar_hash(path: &Path) -> Result<Sha256Hash, NarError> {
    let mut hasher = NarHasher::new();
    hasher.node(path)?;
    Ok(hasher.finish().0)
}

/// Writes the NAR serialisation of `path` to `out`, as `nix-store --dump PATH` does.
pub fn write_nar<W: Write>(path: &Path, out: &mut W) -> Result<(), NarError> {
    let mut writer = NarWriter {
        out,
        buffer: vec![0u8; CONTENTS_BUFFER_SIZE],
    };
    writer.string(b"nix-archive-1")?;
    writer.node(path)
}

/// Writes the NAR serialisation of `path` without the magic string that starts a NAR: the
/// node, as it appears inside one.
pub fn write_node<W: Write>(path: &Path, out: &mut W) -> Result<(), NarError> {
    let mut writer = NarWriter {
        out,
        buffer: vec![0u8; CONTENTS_BUFFER_SIZE],
    };
    writer.node(path)
}

/// The sha256 and size of a NAR written piece by piece, for a caller that knows the shape
/// of a tree before its contents are all on disk (a fetch hashes its blobs while they
/// download). The caller writes the tokens in NAR order; [`NarHasher::node`] serialises
/// a part that is already on disk. The result equals [`nar_hash`] of the finished tree
/// when the calls describe it exactly.
pub struct NarHasher {
    sha256: Sha256Stream,
    size: u64,
    copy: Option<Box<dyn NarCopy>>,
}

/// Where a [`NarHasher`] also writes the bytes of the NAR it hashes, in order (a store that
/// takes a NAR as a stream).
pub trait NarCopy: Send {
    fn copy(&mut self, bytes: &[u8]);
}

impl Default for NarHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl NarHasher {
    /// A NAR that has only its magic string so far.
    pub fn new() -> Self {
        Self::copying_to(None)
    }

    /// [`NarHasher::new`], and every byte of the NAR goes to `copy` too.
    pub fn copying_to(copy: Option<Box<dyn NarCopy>>) -> Self {
        let mut hasher = NarHasher {
            sha256: Sha256Stream::new(),
            size: 0,
            copy,
        };
        hasher.string(b"nix-archive-1");
        hasher
    }

    /// `( type directory`: a directory node opens; its entries follow in name order.
    pub fn start_directory(&mut self) {
        self.string(b"(");
        self.string(b"type");
        self.string(b"directory");
    }

    /// `entry ( name <name> node`: the entry's node follows.
    pub fn start_entry(&mut self, name: &[u8]) {
        self.string(b"entry");
        self.string(b"(");
        self.string(b"name");
        self.string(name);
        self.string(b"node");
    }

    /// `)`: closes an entry or a node (a directory, or a file after its contents).
    pub fn close(&mut self) {
        self.string(b")");
    }

    /// `( type regular [executable ""] contents <size>`: the `size` bytes of the file follow
    /// through [`NarHasher::contents`], then [`NarHasher::end_file`].
    pub fn start_file(&mut self, size: u64, executable: bool) {
        self.string(b"(");
        self.string(b"type");
        self.string(b"regular");
        if executable {
            self.string(b"executable");
            self.string(b"");
        }
        self.string(b"contents");
        self.raw(&size.to_le_bytes());
    }

    pub fn contents(&mut self, bytes: &[u8]) {
        self.raw(bytes);
    }

    /// [`NarHasher::contents`] for bytes that `other` hashes too: the two run side by side
    /// (see [`Sha256Stream::update_both`]).
    pub fn contents_beside(&mut self, other: &mut Sha256Stream, bytes: &[u8]) {
        Sha256Stream::update_both(&mut self.sha256, other, bytes);
        self.size += bytes.len() as u64;
        if let Some(copy) = &mut self.copy {
            copy.copy(bytes);
        }
    }

    /// Pads the contents of a file of `size` bytes and closes its node.
    pub fn end_file(&mut self, size: u64) {
        self.raw(&[0u8; 8][..((8 - size % 8) % 8) as usize]);
        self.close();
    }

    /// The node of `path`, read from disk, as [`write_nar`] writes it.
    pub fn node(&mut self, path: &Path) -> Result<(), NarError> {
        write_node(path, self)
    }

    /// The sha256 of the NAR and its size in bytes.
    pub fn finish(self) -> (Sha256Hash, u64) {
        (Sha256Hash(self.sha256.finalize()), self.size)
    }

    fn string(&mut self, bytes: &[u8]) {
        self.raw(&(bytes.len() as u64).to_le_bytes());
        self.raw(bytes);
        self.raw(&[0u8; 8][..((8 - bytes.len() % 8) % 8)]);
    }

    fn raw(&mut self, bytes: &[u8]) {
        self.sha256.update(bytes);
        self.size += bytes.len() as u64;
        if let Some(copy) = &mut self.copy {
            copy.copy(bytes);
        }
    }
}

impl Write for NarHasher {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.raw(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct NarWriter<'a, W: Write> {
    out: &'a mut W,
    /// Reused for the contents of every file.
    buffer: Vec<u8>,
}

impl<W: Write> NarWriter<'_, W> {
    fn node(&mut self, path: &Path) -> Result<(), NarError> {
        let metadata = fs::symlink_metadata(path).map_err(|source| read_error(path, source))?;
        self.string(b"(")?;
        self.string(b"type")?;
        let file_type = metadata.file_type();
        if file_type.is_file() {
            self.regular_file(path, &metadata)?;
        } else if file_type.is_dir() {
            self.directory(path)?;
        } else if file_type.is_symlink() {
            self.symlink(path)?;
        } else {
            return Err(NarError::UnsupportedFileType {
                path: path.to_owned(),
                kind: describe_special_file(&metadata),
            });
        }
        self.string(b")")
    }

    fn regular_file(&mut self, path: &Path, metadata: &Metadata) -> Result<(), NarError> {
        self.string(b"regular")?;
        if metadata.permissions().mode() & OWNER_EXECUTE_BIT != 0 {
            self.string(b"executable")?;
            self.string(b"")?;
        }
        self.string(b"contents")?;
        let size = metadata.len();
        self.u64(size)?;
        let mut file = File::open(path).map_err(|source| read_error(path, source))?;
        let copied = self.copy_contents(path, &mut file)?;
        if copied != size {
            return Err(NarError::FileChanged {
                path: path.to_owned(),
                expected: size,
                actual: copied,
            });
        }
        self.padding(size)
    }

    /// Streams a file through the buffer and returns how many bytes it had.
    fn copy_contents(&mut self, path: &Path, file: &mut File) -> Result<u64, NarError> {
        let mut copied = 0u64;
        loop {
            let read = match file.read(&mut self.buffer) {
                Ok(0) => return Ok(copied),
                Ok(read) => read,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(read_error(path, source)),
            };
            self.out
                .write_all(&self.buffer[..read])
                .map_err(NarError::Write)?;
            copied += read as u64;
        }
    }

    fn directory(&mut self, path: &Path) -> Result<(), NarError> {
        self.string(b"directory")?;
        for name in sorted_entry_names(path)? {
            self.string(b"entry")?;
            self.string(b"(")?;
            self.string(b"name")?;
            self.string(name.as_bytes())?;
            self.string(b"node")?;
            self.node(&path.join(&name))?;
            self.string(b")")?;
        }
        Ok(())
    }

    fn symlink(&mut self, path: &Path) -> Result<(), NarError> {
        let target = fs::read_link(path).map_err(|source| read_error(path, source))?;
        self.string(b"symlink")?;
        self.string(b"target")?;
        self.string(target.as_os_str().as_bytes())
    }

    /// A NAR string: length, bytes, zero padding to a multiple of 8.
    fn string(&mut self, bytes: &[u8]) -> Result<(), NarError> {
        self.u64(bytes.len() as u64)?;
        self.raw(bytes)?;
        self.padding(bytes.len() as u64)
    }

    fn u64(&mut self, value: u64) -> Result<(), NarError> {
        self.raw(&value.to_le_bytes())
    }

    fn padding(&mut self, data_len: u64) -> Result<(), NarError> {
        let pad_len = (8 - data_len % 8) % 8;
        self.raw(&[0u8; 8][..pad_len as usize])
    }

    fn raw(&mut self, bytes: &[u8]) -> Result<(), NarError> {
        self.out.write_all(bytes).map_err(NarError::Write)
    }
}

/// The names in a directory, sorted by their bytes as Nix sorts them.
pub(crate) fn sorted_entry_names(dir: &Path) -> Result<Vec<std::ffi::OsString>, NarError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|source| read_error(dir, source))? {
        let entry = entry.map_err(|source| read_error(dir, source))?;
        names.push(entry.file_name());
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

fn describe_special_file(metadata: &Metadata) -> &'static str {
    let file_type = metadata.file_type();
    if file_type.is_socket() {
        "socket"
    } else if file_type.is_fifo() {
        "fifo (named pipe)"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_char_device() {
        "character device"
    } else {
        "file of unknown type"
    }
}

fn read_error(path: &Path, source: io::Error) -> NarError {
    NarError::Read {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::os::unix::fs::symlink;
    use std::process::Command;

    fn nix_available() -> bool {
        let available = ["nix-hash", "nix-store"].iter().all(|program| {
            Command::new(program)
                .arg("--version")
                .output()
                .is_ok_and(|output| output.status.success())
        });
        if !available {
            println!(
                "SKIP: nix-hash or nix-store is not installed, so Nix cannot be used as the oracle"
            );
        }
        available
    }

    fn run_nix(program: &str, args: &[&str], path: &Path) -> Option<Vec<u8>> {
        let output = Command::new(program).args(args).arg(path).output().unwrap();
        output.status.success().then_some(output.stdout)
    }

    fn trimmed(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap().trim().to_owned()
    }

    /// Checks our hash and bytes against Nix for `path`.
    fn assert_agrees_with_nix(path: &Path) {
        let ours = nar_hash(path).unwrap();
        let nix32 = trimmed(run_nix("nix-hash", &["--type", "sha256", "--base32"], path).unwrap());
        assert_eq!(ours.to_nix32(), nix32, "nar hash of {}", path.display());
        // `nix-hash --sri` exists from Nix 2.9 on; 2.8 has `nix hash path`, which prints SRI.
        let nix_hash_path = [
            "--extra-experimental-features",
            "nix-command",
            "hash",
            "path",
        ];
        let sri = run_nix("nix-hash", &["--type", "sha256", "--sri"], path)
            .or_else(|| run_nix("nix", &nix_hash_path, path));
        match sri {
            Some(sri) => assert_eq!(ours.to_sri(), trimmed(sri)),
            None => println!(
                "neither 'nix-hash --sri' nor 'nix hash path' worked: compared base-32 only"
            ),
        }
        let mut nar = Vec::new();
        write_nar(path, &mut nar).unwrap();
        let dumped = run_nix("nix-store", &["--dump"], path).unwrap();
        assert!(
            nar == dumped,
            "NAR bytes of {} differ from nix-store --dump",
            path.display()
        );
        assert_eq!(Sha256Hash(Sha256::digest(&nar).into()), ours);
    }

    fn write_file(path: &Path, contents: &[u8], mode: u32) {
        fs::write(path, contents).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A tree with every shape the NAR format distinguishes.
    fn build_varied_tree(root: &Path) {
        fs::create_dir_all(root.join("nested/deeper/deepest")).unwrap();
        fs::create_dir(root.join("empty-dir")).unwrap();
        write_file(&root.join("empty-file"), b"", 0o644);
        write_file(&root.join("run.sh"), b"#!/bin/sh\necho hi\n", 0o755);
        write_file(&root.join("owner-exec-only"), b"x", 0o700);
        write_file(&root.join("group-exec-only"), b"x", 0o654);
        write_file(&root.join("eight"), b"12345678", 0o644);
        write_file(&root.join("nine"), b"123456789", 0o644);
        write_file(&root.join("nested/deeper/deepest/leaf.json"), b"{}", 0o444);
        for name in [
            "B", "a", "a.b", "a-b", "a_b", ".hidden", "Z", "_", "aa", "a0",
        ] {
            write_file(&root.join("nested").join(name), name.as_bytes(), 0o644);
        }
        for name in [&b"caf\xc3\xa9"[..], b"\xff-not-utf8", b"cafe"] {
            let name = std::ffi::OsStr::from_bytes(name);
            write_file(&root.join("nested").join(name), b"bytes", 0o644);
        }
        symlink(
            "nested/deeper/deepest/leaf.json",
            root.join("link-relative"),
        )
        .unwrap();
        symlink("../../empty-file", root.join("nested/deeper/link-up")).unwrap();
        symlink("does/not/exist", root.join("link-dangling")).unwrap();
        symlink("nested", root.join("link-to-dir")).unwrap();
        symlink("/etc/hostname", root.join("link-absolute")).unwrap();
    }

    #[test]
    fn varied_tree_agrees_with_nix() {
        if !nix_available() {
            return;
        }
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().join("tree");
        fs::create_dir(&root).unwrap();
        build_varied_tree(&root);
        assert_agrees_with_nix(&root);
    }

    #[test]
    fn single_nodes_as_root_agree_with_nix() {
        if !nix_available() {
            return;
        }
        let temp = tempfile::tempdir().unwrap();
        let file = temp.path().join("model.safetensors");
        write_file(&file, b"not really a model", 0o644);
        let executable = temp.path().join("tool");
        write_file(&executable, b"\x7fELF", 0o755);
        let empty_dir = temp.path().join("empty");
        fs::create_dir(&empty_dir).unwrap();
        let link = temp.path().join("link");
        symlink("model.safetensors", &link).unwrap();
        for path in [&file, &executable, &empty_dir, &link] {
            assert_agrees_with_nix(path);
        }
    }

    #[test]
    fn padding_for_every_length_mod_8_agrees_with_nix() {
        if !nix_available() {
            return;
        }
        let temp = tempfile::tempdir().unwrap();
        for len in 0..=17usize {
            let name = "n".repeat(len.max(1));
            let dir = temp.path().join(format!("d{len}"));
            fs::create_dir(&dir).unwrap();
            write_file(&dir.join(&name), &vec![b'x'; len], 0o644);
            symlink("t".repeat(len.max(1)), dir.join("link")).unwrap();
            assert_agrees_with_nix(&dir);
        }
    }

    #[test]
    fn file_larger_than_the_buffer_agrees_with_nix() {
        if !nix_available() {
            return;
        }
        let temp = tempfile::tempdir().unwrap();
        let file = temp.path().join("big.bin");
        let contents: Vec<u8> = (0..CONTENTS_BUFFER_SIZE * 2 + 13)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        write_file(&file, &contents, 0o644);
        assert_agrees_with_nix(&file);
    }

    #[test]
    fn known_nar_of_a_small_file() {
        let temp = tempfile::tempdir().unwrap();
        let file = temp.path().join("f");
        write_file(&file, b"hi", 0o644);
        let mut nar = Vec::new();
        write_nar(&file, &mut nar).unwrap();
        let mut expected = Vec::new();
        for token in [
            &b"nix-archive-1"[..],
            b"(",
            b"type",
            b"regular",
            b"contents",
            b"hi",
            b")",
        ] {
            expected.extend_from_slice(&(token.len() as u64).to_le_bytes());
            expected.extend_from_slice(token);
            expected.resize(expected.len().next_multiple_of(8), 0);
        }
        assert_eq!(nar, expected);
    }

    #[test]
    fn piecewise_hasher_equals_nar_hash() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().join("tree");
        fs::create_dir_all(root.join("blobs")).unwrap();
        fs::create_dir_all(root.join("snapshots/c")).unwrap();
        let files: [(&str, &[u8], u32); 3] = [
            ("a", b"", 0o644),
            ("b", b"123456789", 0o755),
            ("c", b"12345678", 0o644),
        ];
        for (name, contents, mode) in files {
            write_file(&root.join("blobs").join(name), contents, mode);
        }
        symlink("../../blobs/b", root.join("snapshots/c/f")).unwrap();
        let mut hasher = NarHasher::new();
        hasher.start_directory();
        hasher.start_entry(b"blobs");
        hasher.start_directory();
        for (name, contents, mode) in files {
            hasher.start_entry(name.as_bytes());
            hasher.start_file(contents.len() as u64, mode & OWNER_EXECUTE_BIT != 0);
            for chunk in contents.chunks(4) {
                hasher.contents(chunk);
            }
            hasher.end_file(contents.len() as u64);
            hasher.close();
        }
        hasher.close();
        hasher.close();
        hasher.start_entry(b"snapshots");
        hasher.node(&root.join("snapshots")).unwrap();
        hasher.close();
        hasher.close();
        let mut nar = Vec::new();
        write_nar(&root, &mut nar).unwrap();
        assert_eq!(
            hasher.finish(),
            (nar_hash(&root).unwrap(), nar.len() as u64)
        );
    }

    #[test]
    fn fifo_is_refused_with_its_path() {
        let temp = tempfile::tempdir().unwrap();
        let fifo = temp.path().join("pipe");
        let made = Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|status| status.success()) {
            println!("SKIP: mkfifo is not available");
            return;
        }
        let err = nar_hash(temp.path()).unwrap_err();
        assert!(matches!(&err, NarError::UnsupportedFileType { path, .. } if *path == fifo));
        let message = err.to_string();
        assert!(
            message.contains("pipe") && message.contains("fifo"),
            "{message}"
        );
    }

    #[test]
    fn socket_is_refused_with_its_path() {
        let temp = tempfile::tempdir().unwrap();
        let socket_path = temp.path().join("sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket_path).unwrap();
        let err = nar_hash(temp.path()).unwrap_err();
        assert!(
            matches!(&err, NarError::UnsupportedFileType { path, kind: "socket" } if *path == socket_path)
        );
    }

    #[test]
    fn missing_path_is_a_read_error_naming_it() {
        let temp = tempfile::tempdir().unwrap();
        let missing = temp.path().join("missing");
        let message = nar_hash(&missing).unwrap_err().to_string();
        assert!(message.contains(&*missing.to_string_lossy()), "{message}");
    }
}
