//! The git side, with gix: a shallow fetch of one commit into a temporary bare repository,
//! then its tree and the blobs of the selected files.
//!
//! The commit is asked for by its id (`want <sha>`, depth 1) when the spec pins it. Over smart
//! HTTP, git's own upload-pack gives any commit reachable from a ref (protocol v0 in stateless
//! mode checks reachability whatever `uploadpack.allowReachableSHA1InWant` says; protocol v2
//! gives any object the repository has); a server that refuses the want (a stricter server, or
//! a commit no ref reaches, or one it does not have) answers "not our ref", and the fetch falls
//! back to the ref `rev` names (all branches and tags when `rev` is itself the commit): depth 1
//! when the ref still points at the commit, else its whole history, in which the commit must
//! then be. An unpinned `rev` is resolved by the
//! remote's ref listing, with git's rules (`<rev>`, `refs/<rev>`, `refs/tags/<rev>`,
//! `refs/heads/<rev>`, `refs/remotes/<rev>`), and fetched at depth 1 in the same connection.

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use gix::remote::fetch::Shallow;
use gix::remote::Direction;
use url::Url;

use super::git_http::{Bridge, GitHttp};
use crate::error::{Error, Result, ShownUrl};

/// A file of the tree: its path, git blob id and content.
pub struct GitFile {
    pub path: String,
    pub blob: String,
    pub data: Vec<u8>,
}

/// What the fetch gives.
pub struct Snapshot {
    pub commit: String,
    /// The selected files, in tree order.
    pub files: Vec<GitFile>,
    /// `.lfsconfig` at the root of the tree, if there is one.
    pub lfsconfig: Option<Vec<u8>>,
    /// Entries that are not files: symlinks and submodules (path, what).
    pub skipped: Vec<(String, &'static str)>,
}

/// Fetches the commit of `rev` (or `pinned`) from `remote` into a bare repository made in
/// `dir`, and reads the files of its tree that `select` keeps.
pub fn fetch(
    dir: &Path,
    remote: &Url,
    rev: &str,
    pinned: Option<&str>,
    bridge: Arc<Bridge>,
    select: &dyn Fn(&str) -> bool,
    interrupt: &AtomicBool,
) -> Result<Snapshot> {
    let repo = gix::ThreadSafeRepository::init_opts(
        dir,
        gix::create::Kind::Bare,
        gix::create::Options::default(),
        gix::open::Options::isolated(),
    )
    .map_err(|e| internal("cannot create the temporary git repository", e))?
    .to_thread_local();
    let git = Git {
        repo: &repo,
        remote,
        bridge,
        interrupt,
    };
    let commit = match pinned {
        Some(sha) => git.fetch_pinned(sha, rev)?,
        None => git.fetch_named(rev)?,
    };
    read_tree(&repo, commit, select)
}

struct Git<'a> {
    repo: &'a gix::Repository,
    remote: &'a Url,
    bridge: Arc<Bridge>,
    interrupt: &'a AtomicBool,
}

/// How deep to fetch once the remote's refs are known, and the commit wanted.
type Choose<'c> = dyn FnMut(&gix::remote::fetch::RefMap) -> Result<(gix::ObjectId, Shallow)> + 'c;

fn depth_one() -> Shallow {
    Shallow::DepthAtRemote(NonZeroU32::new(1).expect("one"))
}

impl Git<'_> {
    /// One connection: the refs `specs` match, then a pack of what `choose` picks.
    fn receive(&self, specs: &[String], choose: &mut Choose<'_>) -> Result<gix::ObjectId> {
        let shown = ShownUrl::from(self.remote);
        let remote = self
            .repo
            .remote_at(self.remote.as_str())
            .map_err(|e| internal("cannot set up the git remote", e))?
            .with_fetch_tags(gix::remote::fetch::Tags::None)
            .with_refspecs(specs.iter().map(String::as_str), Direction::Fetch)
            .map_err(|e| internal("cannot set up the refspecs", e))?;
        let url = gix::url::parse(gix::bstr::BStr::new(self.remote.as_str()))
            .map_err(|e| internal("cannot read the remote's URL", e))?;
        let transport = gix_transport::client::blocking_io::http::connect_http(
            GitHttp(self.bridge.clone()),
            url,
            gix_transport::Protocol::V2,
            false,
        );
        // Credentials are the bridge's (netrc, then git's credential helpers): gix is never
        // asked for them, and never prompts.
        let connection = remote
            .to_connection_with_transport(transport)
            .with_credentials(|_| Ok(None));
        let prepared = connection
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(|e| self.failed(&shown, "listing its refs", e))?;
        let (commit, shallow) = choose(prepared.ref_map())?;
        prepared
            .with_shallow(shallow)
            .receive(gix::progress::Discard, self.interrupt)
            .map_err(|e| self.failed(&shown, "fetching the commit", e))?;
        Ok(commit)
    }

    /// The error of a failed step: the bridge's own (an HTTP refusal in our words), else gix's.
    fn failed(&self, remote: &ShownUrl, step: &str, error: impl std::fmt::Display) -> Error {
        if let Some(failure) = self.bridge.take_failure() {
            return failure;
        }
        let text = format!("{error:#}");
        Error::GitFetch {
            remote: remote.clone(),
            problem: format!("{step}: {}", one_line(&text)),
        }
    }

    fn fetch_named(&self, rev: &str) -> Result<gix::ObjectId> {
        let remote = self.remote;
        self.receive(&[rev.to_string()], &mut |refs| {
            let commit = named(refs, rev).ok_or_else(|| Error::GitRevNotFound {
                remote: ShownUrl::from(remote),
                rev: rev.to_string(),
            })?;
            Ok((commit, depth_one()))
        })
    }

    fn fetch_pinned(&self, sha: &str, rev: &str) -> Result<gix::ObjectId> {
        let commit = gix::ObjectId::from_hex(sha.as_bytes())
            .map_err(|e| internal("a pinned commit is not hex", e))?;
        let direct = self.receive(&[sha.to_string()], &mut |_| Ok((commit, depth_one())));
        match direct {
            Ok(commit) => return Ok(commit),
            Err(Error::GitFetch { problem, .. }) if refused_want(&problem) => {}
            Err(other) => return Err(other),
        }
        // The server does not give unadvertised commits: the refs that may hold it.
        let by_name = !super::super::super::spec::is_commit(rev);
        let specs: Vec<String> = match by_name {
            true => vec![rev.to_string()],
            false => vec![
                "refs/heads/*:refs/heads/*".into(),
                "refs/tags/*:refs/tags/*".into(),
            ],
        };
        let remote = self.remote;
        self.receive(&specs, &mut |refs| {
            if by_name && named(refs, rev).is_none() {
                return Err(Error::GitRevNotFound {
                    remote: ShownUrl::from(remote),
                    rev: rev.to_string(),
                });
            }
            let at_tip = tips(refs).any(|tip| tip == commit);
            Ok((
                commit,
                if at_tip {
                    depth_one()
                } else {
                    Shallow::NoChange
                },
            ))
        })?;
        if self.repo.find_commit(commit).is_err() {
            return Err(Error::GitCommitNotFound {
                remote: ShownUrl::from(self.remote),
                commit: sha.to_string(),
                rev: by_name.then(|| rev.to_string()),
            });
        }
        Ok(commit)
    }
}

/// Whether the server refused a want of an object it did not advertise.
fn refused_want(problem: &str) -> bool {
    let problem = problem.to_ascii_lowercase();
    problem.contains("not our ref") || problem.contains("want") && problem.contains("not valid")
}

/// The commits the listed refs point at (tags peeled).
fn tips(refs: &gix::remote::fetch::RefMap) -> impl Iterator<Item = gix::ObjectId> + '_ {
    refs.remote_refs.iter().filter_map(|r| {
        let (_, target, peeled) = r.unpack();
        peeled.or(target).map(|id| id.to_owned())
    })
}

/// The commit `rev` names among the listed refs, by git's rules (`git rev-parse`).
fn named(refs: &gix::remote::fetch::RefMap, rev: &str) -> Option<gix::ObjectId> {
    let listed: Vec<(String, gix::ObjectId)> = refs
        .remote_refs
        .iter()
        .filter_map(|r| {
            let (name, target, peeled) = r.unpack();
            Some((name.to_string(), peeled.or(target)?.to_owned()))
        })
        .collect();
    pick(&listed, rev)
}

/// The commit of the first of `<rev>`, `refs/<rev>`, `refs/tags/<rev>`, `refs/heads/<rev>`,
/// `refs/remotes/<rev>` that `listed` (ref names and the commits they point at) has.
fn pick(listed: &[(String, gix::ObjectId)], rev: &str) -> Option<gix::ObjectId> {
    let candidates = [
        rev.to_string(),
        format!("refs/{rev}"),
        format!("refs/tags/{rev}"),
        format!("refs/heads/{rev}"),
        format!("refs/remotes/{rev}"),
    ];
    candidates.iter().find_map(|wanted| {
        listed
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, id)| *id)
    })
}

fn read_tree(
    repo: &gix::Repository,
    commit: gix::ObjectId,
    select: &dyn Fn(&str) -> bool,
) -> Result<Snapshot> {
    let broken = |e: &dyn std::fmt::Display| Error::GitFetch {
        remote: ShownUrl::new("(the fetched pack)"),
        problem: format!("cannot read commit {commit}: {e}"),
    };
    let tree = repo
        .find_commit(commit)
        .map_err(|e| broken(&e))?
        .tree()
        .map_err(|e| broken(&e))?;
    let mut recorder = gix::traverse::tree::Recorder::default();
    tree.traverse()
        .breadthfirst(&mut recorder)
        .map_err(|e| broken(&e))?;
    let mut snapshot = Snapshot {
        commit: commit.to_string(),
        files: Vec::new(),
        lfsconfig: None,
        skipped: Vec::new(),
    };
    for entry in recorder.records {
        let path = String::from_utf8(entry.filepath.to_vec()).map_err(|_| Error::UnsafePath {
            path: String::from_utf8_lossy(&entry.filepath).into_owned(),
            reason: "is not UTF-8",
        })?;
        let mode = entry.mode;
        if mode.is_tree() {
            continue;
        }
        if mode.is_commit() {
            snapshot.skipped.push((path, "a submodule"));
            continue;
        }
        if mode.is_link() {
            snapshot.skipped.push((path, "a symbolic link"));
            continue;
        }
        let wanted = select(&path);
        if !wanted && path != ".lfsconfig" {
            continue;
        }
        let data = repo
            .find_object(entry.oid)
            .map_err(|e| broken(&e))?
            .detach()
            .data;
        if path == ".lfsconfig" {
            snapshot.lfsconfig = Some(data.clone());
        }
        if wanted {
            snapshot.files.push(GitFile {
                path,
                blob: entry.oid.to_string(),
                data,
            });
        }
    }
    Ok(snapshot)
}

fn internal(what: &str, error: impl std::fmt::Display) -> Error {
    Error::Internal(format!("{what}: {error}"))
}

/// The text of a chain of errors on one line.
fn one_line(text: &str) -> String {
    text.split('\n')
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rev_is_resolved_as_git_resolves_it() {
        let id = |n: u8| gix::ObjectId::from_hex(format!("{n:02x}").repeat(20).as_bytes()).unwrap();
        let listed = vec![
            ("HEAD".to_string(), id(1)),
            ("refs/heads/main".to_string(), id(1)),
            ("refs/heads/v1".to_string(), id(2)),
            ("refs/tags/v1".to_string(), id(3)),
            ("refs/pr/7".to_string(), id(4)),
        ];
        assert_eq!(pick(&listed, "main"), Some(id(1)));
        assert_eq!(pick(&listed, "v1"), Some(id(3)), "a tag before a branch");
        assert_eq!(pick(&listed, "heads/v1"), Some(id(2)));
        assert_eq!(pick(&listed, "refs/heads/v1"), Some(id(2)));
        assert_eq!(pick(&listed, "pr/7"), Some(id(4)));
        assert_eq!(pick(&listed, "HEAD"), Some(id(1)));
        assert_eq!(pick(&listed, "nope"), None);
    }

    #[test]
    fn a_refused_want_is_told_apart() {
        assert!(refused_want(
            "fetching the commit: upload-pack: not our ref 0000000000000000000000000000000000000001"
        ));
        assert!(!refused_want("listing its refs: connection refused"));
        assert_eq!(one_line("a\n  b\n\nc"), "a: b: c");
    }
}
