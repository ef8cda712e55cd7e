//! The errors a fetch can end with. Each message says what happened, to what,
//! and what the user can do next.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid fetch spec: {0}")]
    Spec(String),

    /// Every problem of a spec, one a line, under the heading the library's check uses.
    #[error("{}", problem_list(&heading(repo.as_deref()), problems))]
    InvalidSpec {
        /// `source.huggingface.repo`, when it is a string.
        repo: Option<String>,
        problems: Vec<String>,
    },

    /// Problems of the command line, each naming its flag.
    #[error("{}", problem_list(heading, problems))]
    InvalidArguments {
        heading: String,
        problems: Vec<String>,
    },

    /// `setting` names where the endpoint came from: `network.endpoint` or `HF_ENDPOINT`.
    #[error("{setting} {problem}")]
    InvalidEndpoint {
        setting: &'static str,
        problem: String,
    },

    #[error("{}: the spec is not valid JSON: {problem}", json_position(file.as_deref(), *line, *column))]
    SpecJson {
        /// The file it was read from, when the caller knows it.
        file: Option<PathBuf>,
        line: usize,
        column: usize,
        problem: String,
    },

    #[error(
        "repo {repo} is gated: accept its license at {url} and set HF_TOKEN \
         (or auth.tokenFile) to a token of that account"
    )]
    Gated { repo: String, url: String },

    #[error(
        "the token has no access to gated repo {repo}: accept its license at {url} \
         with the account that owns the token"
    )]
    GatedDenied { repo: String, url: String },

    #[error(
        "repo {repo} ({kind}) not found on {endpoint}, or it is private: check the id; \
         for a private repo set HF_TOKEN (or auth.tokenFile)"
    )]
    RepoNotFound {
        repo: String,
        kind: String,
        endpoint: String,
    },

    #[error(
        "repo {repo} ({kind}) not found on {endpoint}, or the token cannot read it: \
         check the id and that the token's account has access"
    )]
    RepoNotFoundWithToken {
        repo: String,
        kind: String,
        endpoint: String,
    },

    #[error("revision '{revision}' not found in repo {repo}: check the branch, tag or commit")]
    RevisionNotFound { repo: String, revision: String },

    #[error(
        "commit {commit} ({attribute}) not found in repo {repo}: check that it is \
         a commit of this repo (nix-fetch-model prefetch prints the one to pin), or leave it out \
         to fetch what the revision holds now"
    )]
    PinnedCommitNotFound {
        repo: String,
        commit: String,
        /// The spec's attribute that pins it (`source.huggingface.commit`).
        attribute: &'static str,
    },

    #[error("file '{path}' not found in repo {repo} at commit {commit}")]
    EntryNotFound {
        repo: String,
        path: String,
        commit: String,
    },

    /// A token that cannot be a Hub token: `problem` says what it holds.
    #[error("the token in {place} {problem}")]
    UnsendableToken { place: String, problem: String },

    /// `auth.tokenFile` names a file whose token cannot be read.
    #[error("auth.tokenFile names {}, which {problem}", file.display())]
    TokenFile { file: PathBuf, problem: String },

    #[error(
        "{endpoint} refused the token (HTTP 401): check HF_TOKEN / auth.tokenFile, \
         or unset it for a public repo"
    )]
    Unauthorized { endpoint: String },

    #[error(
        "rate limited by {endpoint} after {retries} retries: wait and try again, \
         or set HF_TOKEN to get a higher limit"
    )]
    RateLimited { endpoint: String, retries: u32 },

    #[error(
        "cannot reach {url}: {cause}. Check the network, a proxy (HTTPS_PROXY), \
         or check {}", names.endpoint()
    )]
    Unreachable {
        url: ShownUrl,
        cause: String,
        names: SettingNames,
    },

    #[error(
        "the download of {url} kept breaking off: {tries} tries, the last one after {received} \
         bytes ({cause}). The server, or a proxy or firewall between, keeps cutting the \
         connection: try again later or from another network, or raise {}",
        names.retries()
    )]
    KeptCutting {
        url: ShownUrl,
        tries: u32,
        received: u64,
        cause: String,
        names: SettingNames,
    },

    #[error(
        "the TLS certificate of {origin} is refused: {problem}. If a proxy or mirror between \
         uses its own certificate authority, give its root certificate in a PEM file named by \
         NIX_SSL_CERT_FILE or SSL_CERT_FILE (with the Nix plugin: Nix's ssl-cert-file \
         setting), which add to the roots built in"
    )]
    Certificate { origin: String, problem: String },

    #[error(
        "{named_by} names {path}, which {problem}: it should be a PEM file of root \
         certificates"
    )]
    CaBundle {
        path: String,
        named_by: String,
        problem: String,
    },

    #[error("cannot set up the HTTP client: {0}")]
    HttpClient(String),

    #[error("{url} answered HTTP {status}{detail}{}", after_retries(*retries))]
    Http {
        url: ShownUrl,
        status: u16,
        detail: String,
        retries: u32,
    },

    #[error(
        "the file listing of repo {repo} loops: its next page, {url}, was read already. {}",
        pagination_remedy(*names)
    )]
    ListingLoops {
        repo: String,
        url: ShownUrl,
        names: SettingNames,
    },

    #[error(
        "the file listing of repo {repo} goes round: its page {url} lists no path that earlier \
         pages did not, yet names a next page. {}",
        pagination_remedy(*names)
    )]
    ListingRepeats {
        repo: String,
        url: ShownUrl,
        names: SettingNames,
    },

    #[error(
        "the file listing of repo {repo} goes on past {pages} pages, more than any repo \
         takes. {}",
        pagination_remedy(*names)
    )]
    ListingTooLong {
        repo: String,
        pages: usize,
        names: SettingNames,
    },

    #[error(
        "the file listing of repo {repo} on {endpoint} sends its next page to another host, \
         {url}: refusing it (a Hub lists a repo on its own host, and the token goes nowhere \
         else). Check {}", names.endpoint()
    )]
    ListingLeavesHost {
        repo: String,
        endpoint: String,
        url: ShownUrl,
        names: SettingNames,
    },

    #[error(
        "the file listing of repo {repo} stops short: its next page, {url}, answered HTTP \
         {status}{detail}. The server's pagination is broken: try again later"
    )]
    ListingPageFailed {
        repo: String,
        url: ShownUrl,
        status: u16,
        detail: String,
    },

    #[error(
        "{url} redirected to {location}, which is not an http(s) URL: refusing to follow it \
         (a Hub and its CDN redirect only to http(s)). Check {}",
        names.endpoint()
    )]
    BadRedirect {
        url: ShownUrl,
        location: ShownUrl,
        names: SettingNames,
    },

    #[error(
        "nix-store --add-fixed added {added}, but the fixed-output path of the fetched tree is \
         {expected}: set NIX_STORE_DIR to the store folder nix-store uses, or, if it is that \
         already, report this bug to nix-fetch-model"
    )]
    StorePathDiffers { added: String, expected: String },

    #[error(
        "{url} ignored the Range request for bytes {first}-{last} of {path} and sent the whole \
         file (HTTP 200): the server, or a proxy between, does not serve byte ranges, which \
         the download of a large file in parts and the resumption of a cut one need. Check {} \
         and the proxy (HTTPS_PROXY)",
        names.endpoint()
    )]
    RangeIgnored {
        url: ShownUrl,
        path: String,
        first: u64,
        last: u64,
        names: SettingNames,
    },

    #[error("{url} answered HTTP {status}{detail}: {remedy}")]
    Refused {
        url: ShownUrl,
        status: u16,
        detail: String,
        /// What to do about it, in the source's terms.
        remedy: String,
    },

    #[error("{url}: unexpected answer: {problem}")]
    Protocol { url: ShownUrl, problem: String },

    /// gix's fetch from a git remote failed (not an HTTP refusal, which is [`Error::Refused`]).
    #[error("the git fetch from {remote} failed, {problem}")]
    GitFetch { remote: ShownUrl, problem: String },

    #[error(
        "rev '{rev}' is neither a branch nor a tag of {remote}: check source.git-lfs.rev \
         (git ls-remote {remote} lists them), or give a commit"
    )]
    GitRevNotFound { remote: ShownUrl, rev: String },

    #[error(
        "commit {commit} (source.git-lfs.commit) is not on {remote}{}: check that it is a \
         commit of this repository (nix-fetch-model prefetch prints the one to pin), or leave \
         it out to fetch what the rev holds now",
        rev.as_ref().map(|rev| format!(" in the history of '{rev}'")).unwrap_or_default()
    )]
    GitCommitNotFound {
        remote: ShownUrl,
        commit: String,
        rev: Option<String>,
    },

    #[error(
        "{path} is a Git LFS pointer to object {oid} ({size} bytes), which the LFS server \
         {endpoint} does not have{detail}: the object was never pushed there, or was deleted. \
         Push it again from a clone that has it (git lfs push --all origin), check lfs.url in \
         the repository's .lfsconfig, or leave the file out with source.git-lfs.exclude"
    )]
    LfsObjectMissing {
        path: String,
        oid: String,
        size: u64,
        endpoint: ShownUrl,
        detail: String,
    },

    /// A source's own error, worded whole by its adapter: what happened, to what, and what to do.
    #[error("{0}")]
    Source(String),

    /// An object store (S3, GCS, Azure Blob) that cannot be used: what, why, what to do.
    #[error("{what}: {problem}; {remedy}")]
    ObjectStore {
        what: String,
        problem: String,
        remedy: String,
    },

    #[error("{path}: {algorithm} mismatch: expected {expected}, got {got}")]
    DigestMismatch {
        path: String,
        algorithm: &'static str,
        expected: String,
        got: String,
    },

    /// The fetched tree's NAR hash is not the spec's `hash`.
    #[error("{0}")]
    HashMismatch(Box<HashMismatch>),

    /// A repo that needs a token, met by the fixed-output builder, which sees no token.
    #[error("{cause}\n{}", BUILDER_TOKEN_HELP)]
    NoTokenInBuilder { cause: Box<Error> },

    #[error("{path}: size mismatch: expected {expected} bytes, got {got}")]
    SizeMismatch {
        path: String,
        expected: u64,
        got: u64,
    },

    #[error("refusing unsafe path {path:?} listed by the Hub: it {reason}")]
    UnsafePath { path: String, reason: &'static str },

    #[error(
        "no file of repo {repo} at {commit} matches {}",
        names.selection(include, exclude)
    )]
    NothingSelected {
        repo: String,
        commit: String,
        include: Vec<String>,
        exclude: Vec<String>,
        names: SettingNames,
    },

    #[error("{path}: {problem}: {}", remedy.text(*names))]
    NameTooLong {
        path: String,
        problem: String,
        remedy: LongNameRemedy,
        names: SettingNames,
    },

    /// The blobs of a fetch cannot fit in the folder it writes into.
    #[error(
        "not enough room in {}: {} {}, and its file system has {} free. {}",
        folder.display(),
        if *streamed { "the largest selected file needs" } else { "the selected files need" },
        needed.map_or("more bytes than 64 bits count (the server's listing is wrong)".into(), human_size),
        free.map_or("an unknown number of bytes".into(), human_size),
        room_remedy(*names)
    )]
    NoRoom {
        folder: PathBuf,
        /// `None`: more than a u64 counts.
        needed: Option<u64>,
        /// `None`: the file system does not say.
        free: Option<u64>,
        /// Whether the blobs go to the store as they download (then the largest counts).
        streamed: bool,
        names: SettingNames,
    },

    /// Writing the blob of the repo file `path` into `file` failed.
    #[error("cannot write {}, the download of {path}: {}", file.display(), blob_write_problem(source, *names))]
    BlobWrite {
        path: String,
        file: PathBuf,
        source: std::io::Error,
        names: SettingNames,
    },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "{out} appeared while this fetch ran, probably made by another fetch into the same \
         output: it is left as it is, and this fetch's copy is dropped"
    )]
    OutputAppeared { out: PathBuf },

    /// A command's refusal, whole: what happened, to what, and what to do.
    #[error("{0}")]
    Cli(String),

    #[error("interrupted")]
    Interrupted,

    /// A bug of nix-fetch-model, not a problem of the user's, the network's or a server's.
    #[error("internal error: {0}; please report this bug to nix-fetch-model, with this message")]
    Internal(String),

    /// An error, and below it what the user most likely meant (a command to run instead).
    #[error("{error}\n{hint}")]
    WithHint { error: Box<Error>, hint: String },

    #[error(transparent)]
    Nar(#[from] crate::nar::NarError),

    #[error(transparent)]
    Hash(#[from] crate::hash::HashError),

    #[error(transparent)]
    StorePath(#[from] crate::store_path::StorePathError),
}

/// How the user gave the settings a message suggests: as attributes of a spec (the plugin, the
/// library's builder, `fetch --spec`), or as the flags of `prefetch`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SettingNames {
    /// The attributes of a spec of `source.huggingface` (errors are made with these; see
    /// [`Error::in_source_terms`] for the other sources).
    #[default]
    Spec,
    /// The attributes of a spec of another source, by its type (`git-xet`, `url`, ...).
    SourceSpec(&'static str),
    PrefetchFlags,
}

impl SettingNames {
    /// Where the server that answers comes from.
    fn endpoint(self) -> String {
        match self {
            SettingNames::Spec => "network.endpoint / HF_ENDPOINT".into(),
            SettingNames::PrefetchFlags => "--endpoint / HF_ENDPOINT".into(),
            // The URL names the server (git-xet's Hub too: HF_ENDPOINT does not move it).
            SettingNames::SourceSpec(kind @ ("git-xet" | "git-lfs")) => {
                format!("source.{kind}.url")
            }
            SettingNames::SourceSpec("url") => "the URLs of source.url.files".into(),
            SettingNames::SourceSpec("mlflow") => "source.mlflow.trackingUri".into(),
            SettingNames::SourceSpec("ollama") => {
                "network.endpoint (a mirror of the registry)".into()
            }
            SettingNames::SourceSpec(kind) => format!("source.{kind}.endpoint"),
        }
    }

    fn retries(self) -> &'static str {
        match self {
            SettingNames::Spec | SettingNames::SourceSpec(_) => "network.retries",
            SettingNames::PrefetchFlags => {
                "network.retries in a spec for nix-fetch-model fetch (prefetch has no flag for it)"
            }
        }
    }

    fn exclude(self) -> String {
        match self {
            SettingNames::Spec => "source.huggingface.exclude".into(),
            SettingNames::SourceSpec("url") => "source.url.files (leave out its entry)".into(),
            SettingNames::SourceSpec(kind) => format!("source.{kind}.exclude"),
            SettingNames::PrefetchFlags => "--exclude".into(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            SettingNames::Spec | SettingNames::SourceSpec(_) => "name",
            SettingNames::PrefetchFlags => "--name",
        }
    }

    /// The settings that select files.
    fn selection_settings(self) -> String {
        match self {
            SettingNames::Spec => "source.huggingface.files / exclude".into(),
            SettingNames::SourceSpec(kind) => format!("source.{kind}.files / exclude"),
            SettingNames::PrefetchFlags => "--include / --exclude".into(),
        }
    }

    /// The selection of files, as the user wrote it.
    fn selection(self, include: &[String], exclude: &[String]) -> String {
        match self {
            SettingNames::Spec => {
                format!("source.huggingface.files = {include:?} / exclude = {exclude:?}")
            }
            SettingNames::SourceSpec(kind) => {
                format!("source.{kind}.files = {include:?} / exclude = {exclude:?}")
            }
            SettingNames::PrefetchFlags => format!("--include {include:?} / --exclude {exclude:?}"),
        }
    }
}

/// What makes a name or path that is too long for the system shorter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongNameRemedy {
    /// It is the output the user named (`fetch --out`).
    ShorterOut,
    /// It is a file of the repo.
    LeaveOut,
    /// It is somewhere under the output.
    ShorterFolderOrLeaveOut,
}

impl LongNameRemedy {
    fn text(self, names: SettingNames) -> String {
        let exclude = names.exclude();
        match self {
            LongNameRemedy::ShorterOut => "choose a shorter --out".to_string(),
            LongNameRemedy::LeaveOut => format!("leave the file out with {exclude}"),
            LongNameRemedy::ShorterFolderOrLeaveOut => format!(
                "choose a shorter output folder ({OUTPUT_FOLDERS}) or {}, or leave the file out \
                 with {exclude}",
                names.name()
            ),
        }
    }
}

/// A URL as a message shows it: without its query and fragment, where a CDN's signed URL carries
/// its signature (`?X-Amz-Signature=...`), and without user information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownUrl(String);

impl ShownUrl {
    pub fn new(url: &str) -> Self {
        let end = url.find(['?', '#']).unwrap_or(url.len());
        ShownUrl(crate::spec::redact_userinfo(&url[..end]).into_owned())
    }
}

impl From<&url::Url> for ShownUrl {
    fn from(url: &url::Url) -> Self {
        ShownUrl::new(url.as_str())
    }
}

impl std::fmt::Display for ShownUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where each front end writes a fetch: what a user changes to fetch elsewhere.
const OUTPUT_FOLDERS: &str = "TMPDIR for the plugin and prefetch, --out for nix-fetch-model fetch";

/// `8.00 EiB (9223372036854775807 bytes)`, `512 bytes`.
fn human_size(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes} bytes")
    } else {
        format!("{} ({bytes} bytes)", indicatif::HumanBytes(bytes))
    }
}

/// What to do when the folder a fetch writes into has no room for it.
fn room_remedy(names: SettingNames) -> String {
    format!(
        "Free space there, fetch into a larger file system ({OUTPUT_FOLDERS}), or select fewer \
         files with {}",
        names.selection_settings()
    )
}

/// Why a blob could not be written, in the user's terms when the file system is full or
/// holds no file that large.
fn blob_write_problem(error: &std::io::Error, names: SettingNames) -> String {
    match error.raw_os_error() {
        Some(libc::ENOSPC | libc::EDQUOT) => {
            format!("its file system is full ({error}). {}", room_remedy(names))
        }
        Some(libc::EFBIG) => format!(
            "its file system holds no file that large ({error}). Fetch into another file system \
             ({OUTPUT_FOLDERS}), or leave the file out with {}",
            names.exclude()
        ),
        _ => error.to_string(),
    }
}

/// What to do when a server's pagination goes round.
fn pagination_remedy(names: SettingNames) -> String {
    format!(
        "The server's pagination (its Link: rel=\"next\" header) is broken: try again later, or \
         tell the operator of the server ({})",
        names.endpoint()
    )
}

fn after_retries(retries: u32) -> String {
    match retries {
        0 => String::new(),
        n => format!(" after {n} retries"),
    }
}

/// The heading of a spec's problems, the same in the library (lib/util.nix throwIfErrors).
pub fn heading(repo: Option<&str>) -> String {
    match repo {
        Some(repo) => format!("fetchModel ({repo})"),
        None => "fetchModel".to_string(),
    }
}

/// `file:line:column`, as compilers print it; `line L, column C` without a file.
fn json_position(file: Option<&std::path::Path>, line: usize, column: usize) -> String {
    match file {
        Some(file) => format!("{}:{line}:{column}", file.display()),
        None => format!("line {line}, column {column}"),
    }
}

fn problem_list(heading: &str, problems: &[String]) -> String {
    let mut text = format!("{heading}:");
    for problem in problems {
        text.push_str("\n  - ");
        text.push_str(problem);
    }
    text
}

/// The digest `lib.fakeHash` and nixpkgs' `lib.fakeHash` stand for: a hash pinned only to be
/// told the real one.
fn is_fake_hash(sri: &str) -> bool {
    sri == "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
}

/// A fetched tree whose NAR hash is not the spec's `hash`. Without a pinned commit the branch
/// may have moved: the message says so, and how to pin the commit.
#[derive(Debug)]
pub struct HashMismatch {
    /// The store path name.
    pub name: String,
    /// What the source names: a repo id, a URL, a bucket's prefix.
    pub subject: String,
    pub revision: String,
    /// The commit (the pin) that was fetched.
    pub commit: String,
    /// The line that pins `commit`, unless the spec fixed it (`source.huggingface.commit`, or
    /// a commit as the revision), so that the content could not have moved.
    pub pin: Option<String>,
    /// SRI.
    pub specified: String,
    /// SRI.
    pub got: String,
}

impl std::fmt::Display for HashMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let HashMismatch {
            name,
            subject,
            revision,
            commit,
            pin,
            specified,
            got,
        } = self;
        write!(
            f,
            "hash mismatch in the fetched model '{name}' ({subject} at commit {commit}):\n  \
             specified: {specified}\n     got:    {got}"
        )?;
        if let Some(pin) = pin.as_ref().filter(|_| !is_fake_hash(specified)) {
            write!(
                f,
                "\nThe spec pins no commit, so revision '{revision}' may have moved since the \
                 hash was pinned: it is now at commit {commit}. To take what it holds now, pin \
                 both:\n  {pin}\n  hash = \"{got}\";\n\
                 To keep what the hash was made from, pin the commit it was made from instead."
            )?;
        }
        Ok(())
    }
}

const BUILDER_TOKEN_HELP: &str = "\
This is a fixed-output derivation, built as a build user (nixbld) with its own HOME: it does \
not see a token that `hf auth login` stored ($HF_HOME/token, ~/.cache/huggingface/token, \
$HF_TOKEN_PATH), nor your HF_TOKEN unless the nix-daemon has it. Either:
  - load the plugin (plugin-files = .../libnix_fetch_model.so in nix.conf): builtins.fetchModel \
fetches at evaluation with your own token; or
  - set auth.tokenFile = \"/path/to/token\" to a file the build users (nixbld) can read, or \
auth.tokenEnvVar = \"NAME\" with NAME set in the nix-daemon's environment.";

impl Error {
    /// The JSON error of a spec: where and what.
    pub fn spec_json(error: serde_json::Error) -> Self {
        let message = error.to_string();
        let problem = match message.find(" at line ") {
            Some(at) => message[..at].to_string(),
            None => message,
        };
        Error::SpecJson {
            file: None,
            line: error.line(),
            column: error.column(),
            problem,
        }
    }

    /// This error, naming `file` if it is about the JSON read from it.
    pub fn in_file(self, file: &std::path::Path) -> Self {
        match self {
            Error::SpecJson {
                line,
                column,
                problem,
                ..
            } => Error::SpecJson {
                file: Some(file.to_path_buf()),
                line,
                column,
                problem,
            },
            other => other,
        }
    }

    /// This error, its suggestions naming the flags of `prefetch` where the spec's attributes
    /// have one.
    pub fn in_prefetch_terms(mut self) -> Self {
        if let Some(names) = self.setting_names() {
            *names = SettingNames::PrefetchFlags;
        }
        self
    }

    /// This error, its suggestions naming the attributes of a spec of the source type `kind`
    /// (errors are made naming those of `source.huggingface`).
    pub fn in_source_terms(mut self, kind: &'static str) -> Self {
        if let Some(names) = self.setting_names() {
            if kind != "huggingface" && *names == SettingNames::Spec {
                *names = SettingNames::SourceSpec(kind);
            }
        }
        self
    }

    /// The settings this error's suggestions name, if it suggests any.
    fn setting_names(&mut self) -> Option<&mut SettingNames> {
        match self {
            Error::Unreachable { names, .. }
            | Error::KeptCutting { names, .. }
            | Error::ListingLoops { names, .. }
            | Error::ListingRepeats { names, .. }
            | Error::ListingTooLong { names, .. }
            | Error::ListingLeavesHost { names, .. }
            | Error::BadRedirect { names, .. }
            | Error::NothingSelected { names, .. }
            | Error::NameTooLong { names, .. }
            | Error::NoRoom { names, .. }
            | Error::BlobWrite { names, .. }
            | Error::RangeIgnored { names, .. } => Some(names),
            _ => None,
        }
    }

    /// The error of writing the blob of the repo file `path` into `file`.
    pub fn blob_write(path: &str, file: &Path, source: std::io::Error) -> Self {
        Error::BlobWrite {
            path: path.to_string(),
            file: file.to_path_buf(),
            source,
            names: SettingNames::Spec,
        }
    }

    /// An I/O error on `path`; a name or path too long for the system says which and the limit.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.raw_os_error() == Some(libc::ENAMETOOLONG) {
            if let Some(error) = name_too_long(&path, LongNameRemedy::ShorterFolderOrLeaveOut) {
                return error;
            }
        }
        Error::Io { path, source }
    }
}

/// The most bytes a file name (NAME_MAX) and a path (PATH_MAX, less its NUL) can have on Linux.
pub const NAME_MAX: usize = 255;
pub const PATH_MAX: usize = 4095;

/// The error for `path` if a name in it, or the whole, is longer than the system allows; what
/// makes it shorter is `remedy`.
pub fn name_too_long(path: &Path, remedy: LongNameRemedy) -> Option<Error> {
    let too_long = |path: String, problem: String| Error::NameTooLong {
        path,
        problem,
        remedy,
        names: SettingNames::Spec,
    };
    let long_name = path
        .components()
        .map(|c| c.as_os_str())
        .find(|name| name.len() > NAME_MAX);
    if let Some(name) = long_name {
        let shown: PathBuf = path
            .components()
            .map(|c| match c.as_os_str() {
                long if long.len() > NAME_MAX => head(long).into(),
                short => short.to_os_string(),
            })
            .collect();
        return Some(too_long(
            shown.display().to_string(),
            format!(
                "a name in it is {} bytes long, more than the {NAME_MAX} bytes a file name can \
                 have",
                name.len()
            ),
        ));
    }
    let length = path.as_os_str().len();
    (length > PATH_MAX).then(|| {
        too_long(
            tail(path.as_os_str()),
            format!(
                "the path is {length} bytes long, more than the {PATH_MAX} bytes a path can have"
            ),
        )
    })
}

/// Bytes of a long name or path shown: enough to tell it.
const SHOWN_BYTES: usize = 40;

/// The first bytes of a long name, and "...": where the name starts is what tells it.
fn head(name: &OsStr) -> String {
    let bytes = name.as_bytes();
    let mut end = bytes.len().min(SHOWN_BYTES);
    while end < bytes.len() && (bytes[end] & 0b1100_0000) == 0b1000_0000 {
        end -= 1;
    }
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    if end < bytes.len() {
        head + "..."
    } else {
        head
    }
}

/// "..." and the last bytes of a long path: where it ends is what tells it, its start is the
/// output folder or a temporary one.
fn tail(path: &OsStr) -> String {
    let bytes = path.as_bytes();
    let mut start = bytes.len().saturating_sub(SHOWN_BYTES);
    while start < bytes.len() && (bytes[start] & 0b1100_0000) == 0b1000_0000 {
        start += 1;
    }
    let tail = String::from_utf8_lossy(&bytes[start..]).into_owned();
    if start > 0 {
        format!("...{tail}")
    } else {
        tail
    }
}

/// Attaches the path an I/O error happened on.
pub trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mismatch(commit_pinned: bool, specified: &str) -> String {
        Error::HashMismatch(Box::new(HashMismatch {
            name: "models--org--name".into(),
            subject: "org/name".into(),
            revision: "main".into(),
            commit: "c".repeat(40),
            pin: (!commit_pinned)
                .then(|| format!("source.huggingface.commit = \"{}\";", "c".repeat(40))),
            specified: specified.into(),
            got: "sha256-GOT".into(),
        }))
        .to_string()
    }

    #[test]
    fn a_hash_mismatch_says_the_branch_may_have_moved_only_when_it_can_have() {
        let pinned = mismatch(true, "sha256-OLD");
        assert_eq!(
            pinned,
            format!(
                "hash mismatch in the fetched model 'models--org--name' (org/name at commit {}):\n  \
                 specified: sha256-OLD\n     got:    sha256-GOT",
                "c".repeat(40)
            )
        );
        let moved = mismatch(false, "sha256-OLD");
        assert!(moved.starts_with(&pinned), "{moved}");
        assert!(
            moved.contains("revision 'main' may have moved")
                && moved.contains(&format!(
                    "source.huggingface.commit = \"{}\";",
                    "c".repeat(40)
                ))
                && moved.contains("hash = \"sha256-GOT\";"),
            "{moved}"
        );
        // lib.fakeHash asks for the hash: nothing moved.
        let fake = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        assert!(!mismatch(false, fake).contains("moved"));
    }

    #[test]
    fn a_long_path_shows_its_end_and_a_long_name_its_start() {
        let root = format!("/tmp/{}", "t".repeat(100));
        let long_path = format!("{root}/{}end-of-it.bin", "d/".repeat(2100));
        let message = name_too_long(Path::new(&long_path), LongNameRemedy::LeaveOut)
            .unwrap()
            .to_string();
        assert!(
            message
                .starts_with(".../d/d/d/d/d/d/d/d/d/d/d/d/d/end-of-it.bin: the path is 4319 bytes"),
            "{message}"
        );
        let long_name = format!("{root}/é{}", "n".repeat(300));
        let message = name_too_long(Path::new(&long_name), LongNameRemedy::ShorterOut)
            .unwrap()
            .to_string();
        assert!(
            message.starts_with(&format!(
                "{root}/é{}...: a name in it is 302 bytes",
                "n".repeat(38)
            )) && message.ends_with(": choose a shorter --out"),
            "{message}"
        );
    }

    #[test]
    fn a_full_disk_or_a_file_too_large_names_the_file_on_disk_and_the_repo_file() {
        let file = Path::new("/tmp/x/blobs/abc.incomplete");
        let written = |errno| {
            let error =
                Error::blob_write("model.bin", file, std::io::Error::from_raw_os_error(errno));
            error.to_string()
        };
        let full = written(libc::ENOSPC);
        assert!(
            full.starts_with("cannot write /tmp/x/blobs/abc.incomplete, the download of model.bin: its file system is full")
                && full.contains("TMPDIR")
                && full.contains("source.huggingface.files / exclude"),
            "{full}"
        );
        let too_large = written(libc::EFBIG);
        assert!(
            too_large.contains("holds no file that large")
                && too_large.ends_with("leave the file out with source.huggingface.exclude"),
            "{too_large}"
        );
        let in_prefetch =
            Error::blob_write("m", file, std::io::Error::from_raw_os_error(libc::EDQUOT))
                .in_prefetch_terms()
                .to_string();
        assert!(
            in_prefetch.ends_with("select fewer files with --include / --exclude"),
            "{in_prefetch}"
        );
    }

    #[test]
    fn urls_are_shown_without_query_fragment_or_credentials() {
        for (url, shown) in [
            (
                "https://cdn.test/repos/ab?X-Amz-Signature=secret&X-Amz-Credential=key",
                "https://cdn.test/repos/ab",
            ),
            ("https://cdn.test/a#token=secret", "https://cdn.test/a"),
            ("https://user:secret@hub.test/x?y", "https://***@hub.test/x"),
            (
                "http://hub.test/api/models/a/b",
                "http://hub.test/api/models/a/b",
            ),
        ] {
            assert_eq!(ShownUrl::new(url).to_string(), shown);
        }
    }

    fn unreachable() -> Error {
        Error::Unreachable {
            url: ShownUrl("https://h/x".into()),
            cause: "connection refused".into(),
            names: SettingNames::Spec,
        }
    }

    #[test]
    fn only_a_hub_source_is_told_to_check_hf_endpoint_when_unreachable() {
        let ends = |error: Error, end: &str| {
            let message = error.to_string();
            assert!(message.ends_with(end), "{message}");
        };
        let hub =
            "Check the network, a proxy (HTTPS_PROXY), or check network.endpoint / HF_ENDPOINT";
        ends(unreachable(), hub);
        ends(unreachable().in_source_terms("huggingface"), hub);
        ends(
            unreachable().in_prefetch_terms(),
            "or check --endpoint / HF_ENDPOINT",
        );
        for (kind, setting) in [
            ("git-xet", "source.git-xet.url"),
            ("git-lfs", "source.git-lfs.url"),
            ("url", "the URLs of source.url.files"),
            ("ollama", "network.endpoint (a mirror of the registry)"),
        ] {
            let message = unreachable().in_source_terms(kind).to_string();
            assert!(
                message.ends_with(&format!("or check {setting}"))
                    && !message.contains("HF_ENDPOINT"),
                "{kind}: {message}"
            );
        }
    }

    #[test]
    fn git_xet_messages_name_source_git_xet() {
        let nothing = Error::NothingSelected {
            repo: "org/name".into(),
            commit: "c".into(),
            include: vec!["*.gguf".into()],
            exclude: vec![],
            names: SettingNames::Spec,
        };
        let long = name_too_long(
            Path::new(&format!("/tmp/{}", "n".repeat(300))),
            LongNameRemedy::LeaveOut,
        )
        .unwrap();
        let no_room = Error::blob_write(
            "m",
            Path::new("/tmp/x"),
            std::io::Error::from_raw_os_error(libc::ENOSPC),
        );
        for error in [nothing, long, no_room] {
            let hub = error.to_string();
            assert!(hub.contains("source.huggingface."), "{hub}");
            let xet = error.in_source_terms("git-xet").to_string();
            assert!(
                xet.contains("source.git-xet.") && !xet.contains("huggingface"),
                "{xet}"
            );
        }
        // A prefetch's flags stay flags.
        let flags = unreachable()
            .in_prefetch_terms()
            .in_source_terms("git-xet")
            .to_string();
        assert!(flags.ends_with("--endpoint / HF_ENDPOINT"), "{flags}");
    }

    #[test]
    fn problems_are_listed_under_the_library_heading() {
        let error = Error::InvalidSpec {
            repo: Some("org/name".into()),
            problems: vec!["a".into(), "b".into()],
        };
        assert_eq!(error.to_string(), "fetchModel (org/name):\n  - a\n  - b");
    }
}
