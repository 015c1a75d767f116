//! A clean work tree told from the index alone, the way git does before it reads any file: each
//! tracked file's `lstat` matches the stat data recorded in its index entry, and the index's entries
//! make HEAD's tree. A few system calls per file instead of libgit2's status (configuration,
//! attributes, ignore rules, a directory walk). Anything this check cannot vouch for (a changed stat,
//! a conflict, an index feature it does not read) is left to libgit2's status.

use std::path::Path;

use git2::{ObjectType, Odb, Oid, Repository};

/// What the index's stat data says about the work tree.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum StatCheck {
    /// Every tracked file matches its entry, none racily, and the index is HEAD's tree: clean.
    Clean,
    /// As `Clean`, except that some files were written in the same clock tick as the index was
    /// (racily clean: their content must be read). Rewriting the index once they are known clean
    /// makes the next check `Clean` (git's `status` does the same).
    Racy,
    /// Not known from the stat data: ask libgit2's status.
    Unknown,
}

/// Checks `repo`'s work tree against its index and HEAD.
pub(super) fn check(repo: &Repository) -> StatCheck {
    (|| {
        let head_tree = repo.head().ok()?.peel_to_commit().ok()?.tree_id();
        index_state(repo.workdir()?, repo.path(), head_tree)
    })()
    .unwrap_or(StatCheck::Unknown)
}

/// True when the clone whose work tree is `dir` has HEAD at `commit` and a clean work tree, told
/// from its files without opening it with libgit2 (an opening reads every git configuration file,
/// and each later step reads them again). `tree` is the commit's tree when known (the lock records
/// it), else it is read from the object database. `false` means "not known": open it and ask.
pub(crate) fn clean_at(dir: &Path, commit: Oid, tree: Option<Oid>) -> bool {
    (|| {
        let git_dir = dir.join(".git");
        if head_of(&git_dir)? != commit {
            return None;
        }
        let tree = match tree {
            Some(tree) => tree,
            None => commit_tree(&git_dir, commit)?,
        };
        index_state(dir, &git_dir, tree)
    })() == Some(StatCheck::Clean)
}

/// The tree of `commit`, read from the object database of `git_dir` alone.
fn commit_tree(git_dir: &Path, commit: Oid) -> Option<Oid> {
    let odb = Odb::new().ok()?;
    odb.add_disk_alternate(git_dir.join("objects").to_str()?)
        .ok()?;
    let object = odb.read(commit).ok()?;
    let tree = object.data().strip_prefix(b"tree ")?.get(..40)?;
    full_oid(std::str::from_utf8(tree).ok()?)
}

/// HEAD's branch read from `git_dir`'s files as [`super::head_branch`] gives it (`HEAD` when
/// detached); `None` when `git_dir` is not a plain repository directory.
pub(crate) fn head_name(git_dir: &Path) -> Option<String> {
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let head = head.trim_end();
    match head.strip_prefix("ref: ") {
        Some(target) => Some(
            target
                .strip_prefix("refs/heads/")
                .unwrap_or(target)
                .to_string(),
        ),
        None => full_oid(head).map(|_| "HEAD".to_string()),
    }
}

/// HEAD's commit read from the files of `git_dir` (a directory, not a linked work tree's file): a
/// detached HEAD, or a branch whose ref is loose or packed.
fn head_of(git_dir: &Path) -> Option<Oid> {
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let head = head.trim_end();
    let Some(name) = head.strip_prefix("ref: ") else {
        return full_oid(head);
    };
    if !name.starts_with("refs/heads/") || name.split('/').any(|c| c.is_empty() || c == "..") {
        return None;
    }
    match std::fs::read_to_string(git_dir.join(name)) {
        Ok(target) => full_oid(target.trim_end()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let packed = std::fs::read_to_string(git_dir.join("packed-refs")).ok()?;
            packed.lines().find_map(|line| {
                let (oid, refname) = line.split_once(' ')?;
                (refname == name).then(|| full_oid(oid)).flatten()
            })
        }
        Err(_) => None,
    }
}

/// A full 40-digit hexadecimal object id (libgit2 would take a shorter one as a prefix).
fn full_oid(hex: &str) -> Option<Oid> {
    (hex.len() == 40 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| Oid::from_str(hex).ok())
        .flatten()
}

/// The work tree `workdir` against the index in `git_dir` and the tree `head_tree`.
fn index_state(workdir: &Path, git_dir: &Path, head_tree: Oid) -> Option<StatCheck> {
    let path = git_dir.join("index");
    let stamp = Stamp::of(&std::fs::metadata(&path).ok()?)?;
    let index = Index::parse(&std::fs::read(&path).ok()?)?;
    let mut racy = false;
    for entry in &index.entries {
        if entry.mode == GITLINK {
            // Submodules are left out of the dirty check (as `exclude_submodules`).
            continue;
        }
        if !entry.matches(&std::fs::symlink_metadata(workdir.join(entry.path_os()?)).ok()?) {
            return None;
        }
        racy |= entry.mtime >= stamp;
    }
    if tree_id(&index.entries)? != head_tree {
        return None;
    }
    Some(if racy {
        StatCheck::Racy
    } else {
        StatCheck::Clean
    })
}

/// The mode git records for a submodule.
const GITLINK: u32 = 0o160000;

/// A file time as the index stores it: seconds (32 bits) and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Stamp {
    secs: u32,
    nanos: u32,
}

impl Stamp {
    #[cfg(unix)]
    fn of(meta: &std::fs::Metadata) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        Some(Stamp {
            secs: meta.mtime() as u32,
            nanos: meta.mtime_nsec() as u32,
        })
    }

    #[cfg(not(unix))]
    fn of(_meta: &std::fs::Metadata) -> Option<Stamp> {
        None
    }
}

/// One stage-0 entry of the index.
#[derive(Debug)]
struct Entry {
    ctime: Stamp,
    mtime: Stamp,
    ino: u32,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u32,
    oid: Oid,
    path: Vec<u8>,
}

impl Entry {
    #[cfg(unix)]
    fn path_os(&self) -> Option<&std::ffi::OsStr> {
        use std::os::unix::ffi::OsStrExt;
        Some(std::ffi::OsStr::from_bytes(&self.path))
    }

    #[cfg(not(unix))]
    fn path_os(&self) -> Option<&std::ffi::OsStr> {
        None
    }

    /// True when the file's stat data is the one recorded (git's `ie_match_stat`, with the
    /// inode, owner and change time checked, and the mode as git normalises it).
    #[cfg(unix)]
    fn matches(&self, meta: &std::fs::Metadata) -> bool {
        use std::os::unix::fs::MetadataExt;
        let mode = if meta.file_type().is_symlink() {
            0o120000
        } else if meta.is_file() {
            if meta.mode() & 0o100 != 0 {
                0o100755
            } else {
                0o100644
            }
        } else {
            return false;
        };
        mode == self.mode
            && self.mtime
                == Stamp {
                    secs: meta.mtime() as u32,
                    nanos: meta.mtime_nsec() as u32,
                }
            && self.ctime
                == Stamp {
                    secs: meta.ctime() as u32,
                    nanos: meta.ctime_nsec() as u32,
                }
            && self.ino == meta.ino() as u32
            && self.uid == meta.uid()
            && self.gid == meta.gid()
            && self.size == meta.size() as u32
    }

    #[cfg(not(unix))]
    fn matches(&self, _meta: &std::fs::Metadata) -> bool {
        false
    }
}

/// The entries of an index file (versions 2 to 4), when it has only what this check can vouch for:
/// no conflict, no assume-unchanged, skip-worktree or intent-to-add entry, no split or sparse index.
#[derive(Debug)]
struct Index {
    entries: Vec<Entry>,
}

impl Index {
    fn parse(data: &[u8]) -> Option<Index> {
        let mut r = Reader { data, at: 0 };
        if r.take(4)? != b"DIRC" {
            return None;
        }
        let version = r.u32()?;
        if !(2..=4).contains(&version) {
            return None;
        }
        let count = r.u32()? as usize;
        let mut entries: Vec<Entry> = Vec::with_capacity(count.min(data.len() / 62));
        for _ in 0..count {
            let start = r.at;
            let stamp = |r: &mut Reader| {
                Some(Stamp {
                    secs: r.u32()?,
                    nanos: r.u32()?,
                })
            };
            let ctime = stamp(&mut r)?;
            let mtime = stamp(&mut r)?;
            let _dev = r.u32()?;
            let ino = r.u32()?;
            let mode = r.u32()?;
            let uid = r.u32()?;
            let gid = r.u32()?;
            let size = r.u32()?;
            let oid = Oid::from_bytes(r.take(20)?).ok()?;
            let flags = r.u16()?;
            // Assume-unchanged, a conflict stage, or extended flags (skip-worktree, intent-to-add).
            if flags & 0x8000 != 0 || flags & 0x3000 != 0 || flags & 0x4000 != 0 {
                return None;
            }
            let path = if version == 4 {
                let strip = r.varint()?;
                let previous = entries.last().map_or(&[][..], |e| &e.path[..]);
                let keep = previous.len().checked_sub(strip)?;
                let mut path = previous[..keep].to_vec();
                path.extend_from_slice(r.until_nul()?);
                path
            } else {
                let path = r.until_nul()?.to_vec();
                // Entries are padded with NULs to a multiple of 8 bytes (the NUL read is the first).
                let len = r.at - start;
                r.take((8 - len % 8) % 8)?;
                path
            };
            entries.push(Entry {
                ctime,
                mtime,
                ino,
                mode,
                uid,
                gid,
                size,
                oid,
                path,
            });
        }
        // Extensions: a split index (`link`) or a sparse one (`sdir`) holds entries elsewhere.
        let end = data.len().checked_sub(20)?;
        while r.at + 8 <= end {
            let signature = r.take(4)?;
            if signature == b"link" || signature == b"sdir" {
                return None;
            }
            let len = r.u32()? as usize;
            r.take(len)?;
        }
        Some(Index { entries })
    }
}

/// A cursor over the index bytes.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let bytes = self.data.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    /// The bytes up to a NUL, which is consumed.
    fn until_nul(&mut self) -> Option<&'a [u8]> {
        let rest = self.data.get(self.at..)?;
        let len = rest.iter().position(|&b| b == 0)?;
        self.at += len + 1;
        Some(&rest[..len])
    }

    /// Git's offset varint (index version 4's prefix length).
    fn varint(&mut self) -> Option<usize> {
        let mut byte = self.take(1)?[0];
        let mut value = usize::from(byte & 0x7f);
        while byte & 0x80 != 0 {
            byte = self.take(1)?[0];
            value = value
                .checked_add(1)?
                .checked_mul(128)?
                .checked_add(usize::from(byte & 0x7f))?;
        }
        Some(value)
    }
}

/// The id of the tree the entries make (what `git write-tree` would write), computed without writing
/// anything. Index order is tree order, so one pass builds every sub-tree.
fn tree_id(entries: &[Entry]) -> Option<Oid> {
    let (oid, used) = subtree(entries, 0)?;
    (used == entries.len()).then_some(oid)
}

/// The tree of the consecutive entries under the directory whose path (with its `/`) is `prefix`
/// bytes long; returns its id and how many entries it took.
fn subtree(entries: &[Entry], prefix: usize) -> Option<(Oid, usize)> {
    let mut content = Vec::new();
    let mut i = 0;
    while let Some(entry) = entries.get(i) {
        if entry.path.get(..prefix) != entries[0].path.get(..prefix) {
            break;
        }
        let rest = entry.path.get(prefix..)?;
        match rest.iter().position(|&b| b == b'/') {
            Some(slash) => {
                let name = &rest[..slash];
                let (oid, used) = subtree(&entries[i..], prefix + slash + 1)?;
                content.extend_from_slice(b"40000 ");
                content.extend_from_slice(name);
                content.push(0);
                content.extend_from_slice(oid.as_bytes());
                i += used;
            }
            None => {
                content.extend_from_slice(format!("{:o} ", entry.mode).as_bytes());
                content.extend_from_slice(rest);
                content.push(0);
                content.extend_from_slice(entry.oid.as_bytes());
                i += 1;
            }
        }
    }
    Some((Oid::hash_object(ObjectType::Tree, &content).ok()?, i))
}

#[cfg(test)]
mod tests;
