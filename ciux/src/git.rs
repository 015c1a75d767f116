//! Git operations through libgit2: opening a project, versions (`git describe` style), dirty state,
//! remote listings without cloning, clones and updates of dependencies, code-change detection.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use git2::{
    AutotagOption, BranchType, Direction, FetchOptions, Oid, Repository, RepositoryOpenFlags, Sort,
    StatusOptions,
};

use crate::git_http;
use crate::remote_url::{self, Unsupported, redact};
use crate::revision::Revision;
use crate::semver_tag::TagVersion;
use stat_check::StatCheck;
pub(crate) use stat_check::{clean_at, head_name};

/// A failed git operation, with what was being done and where.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GitError {
    /// The path is not inside a git work tree.
    #[error("{path} is not a git repository: {}", reason.message())]
    NotARepository {
        /// The path given.
        path: PathBuf,
        /// libgit2's reason.
        reason: git2::Error,
    },
    /// The path is inside a work tree but not at its root.
    #[error("{path} is a sub-directory of the git repository {root}: pass the repository root")]
    NotRoot {
        /// The path given.
        path: PathBuf,
        /// The work tree root.
        root: PathBuf,
    },
    /// A bare repository has no work tree.
    #[error("{0} is a bare git repository; ciux needs a work tree")]
    Bare(PathBuf),
    /// An ssh remote (ciux's libgit2 speaks `git://`, `http(s)://` and `file://`).
    #[error(
        "{url}: ssh remotes are not supported; use the https URL (with CIUX_GIT_TOKEN or a git credential helper for a private repository)"
    )]
    SshRemote {
        /// The remote URL (redacted).
        url: String,
    },
    /// A `<helper>::<address>` URL, which git hands to a remote helper program.
    #[error(
        "{url}: `{helper}::` URLs make git {}; ciux does not run git remote helpers: use an https://, git:// or file:// URL",
        helper_does(helper)
    )]
    RemoteHelper {
        /// The remote URL (redacted).
        url: String,
        /// The helper's name (`ext`, `fd`, …).
        helper: String,
    },
    /// Any other libgit2 failure.
    #[error("{what}: {}", reason.message())]
    Git {
        /// What was being done.
        what: String,
        /// libgit2's reason.
        reason: git2::Error,
    },
}

/// What git does with a `<helper>::` URL.
fn helper_does(helper: &str) -> String {
    match helper {
        "ext" => "run the command they contain as the transport".to_string(),
        "fd" => "talk over file descriptors it inherited".to_string(),
        other => format!("run the remote helper `git-remote-{other}`"),
    }
}

/// Wraps a libgit2 error with a description of the operation.
pub(crate) fn ctx(what: impl FnOnce() -> String) -> impl FnOnce(git2::Error) -> GitError {
    move |reason| GitError::Git {
        what: what(),
        reason,
    }
}

/// A project's repository, opened with libgit2 on first use: a run that needs only its files
/// (`ignite --frozen` at the locked commit) never reads the git configuration.
pub(crate) struct ProjectRepo {
    root: PathBuf,
    repo: std::cell::OnceCell<Repository>,
}

impl ProjectRepo {
    /// The repository of the work tree `root`; opened now unless `root/.git` is a directory (so a
    /// path that is no repository root fails here, with [`open_root`]'s error).
    pub(crate) fn new(root: &Path) -> Result<ProjectRepo, GitError> {
        let repo = std::cell::OnceCell::new();
        if !root.join(".git").is_dir() {
            let _ = repo.set(open_root(root)?);
        }
        Ok(ProjectRepo {
            root: root.to_path_buf(),
            repo,
        })
    }

    /// The opened repository.
    pub(crate) fn get(&self) -> Result<&Repository, GitError> {
        if let Some(repo) = self.repo.get() {
            return Ok(repo);
        }
        let repo = open_root(&self.root)?;
        Ok(self.repo.get_or_init(|| repo))
    }

    /// HEAD's branch ([`head_branch`]), from the files when they are plain.
    pub(crate) fn head_branch(&self) -> Result<String, GitError> {
        match head_name(&self.root.join(".git")) {
            Some(name) => Ok(name),
            None => Ok(head_branch(self.get()?)),
        }
    }
}

/// Opens the repository whose work-tree root is `path` (no upward search; a sub-directory is an error).
pub(crate) fn open_root(path: &Path) -> Result<Repository, GitError> {
    let repo = Repository::open_ext(
        path,
        RepositoryOpenFlags::NO_SEARCH,
        std::iter::empty::<&str>(),
    )
    .map_err(|reason| match Repository::discover(path) {
        Ok(found) if found.workdir().is_some() => GitError::NotRoot {
            path: path.to_path_buf(),
            root: found.workdir().map(trim_slash).unwrap_or_default(),
        },
        _ => GitError::NotARepository {
            path: path.to_path_buf(),
            reason,
        },
    })?;
    if repo.workdir().is_none() {
        return Err(GitError::Bare(path.to_path_buf()));
    }
    Ok(repo)
}

fn trim_slash(p: &Path) -> PathBuf {
    let s = p.to_string_lossy();
    PathBuf::from(s.strip_suffix('/').filter(|s| !s.is_empty()).unwrap_or(&s))
}

/// The work-tree root of a repository, without a trailing slash.
pub(crate) fn root(repo: &Repository) -> PathBuf {
    repo.workdir().map(trim_slash).unwrap_or_default()
}

/// HEAD's short branch name, or `HEAD` when detached (an unborn branch gives its name too).
pub(crate) fn head_branch(repo: &Repository) -> String {
    if repo.head_detached().unwrap_or(false) {
        return "HEAD".into();
    }
    match repo
        .find_reference("HEAD")
        .ok()
        .and_then(|h| h.symbolic_target().ok().flatten().map(str::to_string))
    {
        Some(target) => target
            .strip_prefix("refs/heads/")
            .unwrap_or(&target)
            .to_string(),
        None => "HEAD".into(),
    }
}

/// The commit HEAD points at.
pub(crate) fn head_commit(repo: &Repository) -> Result<Oid, GitError> {
    let path = root(repo);
    repo.head()
        .and_then(|h| h.peel_to_commit())
        .map(|c| c.id())
        .map_err(ctx(|| {
            format!(
                "{} has no commit at HEAD (commit something first)",
                path.display()
            )
        }))
}

/// Whether a dirty check may rewrite a racily clean index, as `git status` does: a write, hence never
/// under `--dry-run`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IndexRefresh {
    /// Rewrite the index when racily clean files turn out unchanged.
    WhenRacy,
    /// Leave the index as it is.
    Never,
}

impl IndexRefresh {
    /// [`IndexRefresh::Never`] in a dry run, else [`IndexRefresh::WhenRacy`].
    pub(crate) fn unless_dry_run(dry_run: bool) -> IndexRefresh {
        if dry_run {
            IndexRefresh::Never
        } else {
            IndexRefresh::WhenRacy
        }
    }
}

/// True when a tracked file is modified, staged, deleted, renamed or conflicted (untracked files do not
/// count, like `git describe --dirty`).
/// The index's stat data answers first (a few system calls per file); libgit2's status decides what it
/// cannot vouch for. When racily clean files turn out unchanged and `refresh` allows it, the index is
/// rewritten (best effort, as `git status` does) so that the next check needs no file content.
pub(crate) fn is_dirty(repo: &Repository, refresh: IndexRefresh) -> Result<bool, GitError> {
    let fast = stat_check::check(repo);
    if fast == StatCheck::Clean {
        return Ok(false);
    }
    let dirty = !changed_tracked_files(repo)?.is_empty();
    if fast == StatCheck::Racy
        && !dirty
        && refresh == IndexRefresh::WhenRacy
        && let Err(e) = repo.index().and_then(|mut index| index.write())
    {
        tracing::debug!(
            "{}: index not refreshed: {}",
            root(repo).display(),
            e.message()
        );
    }
    Ok(dirty)
}

/// The paths of the tracked files that are modified, staged, deleted, renamed or conflicted.
fn changed_tracked_files(repo: &Repository) -> Result<Vec<String>, GitError> {
    let mut opts = StatusOptions::new();
    opts.include_untracked(false)
        .include_ignored(false)
        .exclude_submodules(true);
    let statuses = repo.statuses(Some(&mut opts)).map_err(ctx(|| {
        format!("reading the status of {}", root(repo).display())
    }))?;
    Ok(statuses
        .iter()
        .filter(|e| e.status() != git2::Status::CURRENT)
        .filter_map(|e| e.path().ok().map(str::to_string))
        .collect())
}

/// Commit → tag name for every annotated tag whose name is a version. When several qualify on one
/// commit, the highest semver precedence wins, then the greatest name (a documented, stable rule).
/// Lightweight tags are skipped; a tag that does not point at a commit is skipped with a warning.
pub(crate) fn version_tags(repo: &Repository) -> Result<HashMap<Oid, String>, GitError> {
    let mut map: HashMap<Oid, (TagVersion, String)> = HashMap::new();
    let refs = repo
        .references_glob("refs/tags/*")
        .map_err(ctx(|| "listing tags".to_string()))?;
    for reference in refs.flatten() {
        let Some(name) = reference.shorthand().ok().map(str::to_string) else {
            continue;
        };
        let Some(version) = TagVersion::parse(&name) else {
            continue;
        };
        let Ok(tag) = reference.peel_to_tag() else {
            continue;
        }; // lightweight
        let Some(commit) = tag.target().ok().and_then(|t| t.into_commit().ok()) else {
            tracing::warn!("tag {name} does not point at a commit; ignored");
            continue;
        };
        let better = match map.get(&commit.id()) {
            None => true,
            Some((v, n)) => version.precedence(v).then_with(|| name.cmp(n)).is_gt(),
        };
        if better {
            map.insert(commit.id(), (version, name));
        }
    }
    Ok(map.into_iter().map(|(k, (_, n))| (k, n)).collect())
}

/// How many candidate tags `describe` compares (git describe's default `--candidates`).
const CANDIDATES: usize = 10;

/// The nearest version tag of `commit` and its graph distance, like `git describe`: the number of
/// commits reachable from `commit` and not from the tag. The closest of the first 10 tagged ancestors met
/// in a newest-first walk wins; a tie goes to the one met first.
pub(crate) fn describe(
    repo: &Repository,
    commit: Oid,
    tags: &HashMap<Oid, String>,
) -> Result<(Option<String>, usize), GitError> {
    if let Some(tag) = tags.get(&commit) {
        return Ok((Some(tag.clone()), 0));
    }
    let mut walk = repo
        .revwalk()
        .map_err(ctx(|| "walking history".to_string()))?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)
        .and_then(|()| walk.push(commit))
        .map_err(ctx(|| format!("walking history from {commit}")))?;
    let mut candidates = Vec::new();
    for oid in walk {
        match oid {
            Ok(oid) => {
                if tags.contains_key(&oid) {
                    candidates.push(oid);
                    if candidates.len() == CANDIDATES {
                        break;
                    }
                }
            }
            Err(e) => {
                tracing::warn!("no full history for {}: {e}", root(repo).display());
                break;
            }
        }
    }
    let mut best: Option<(usize, Oid)> = None;
    for candidate in candidates {
        let distance = distance(repo, commit, candidate)?;
        if best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    Ok(match best {
        Some((distance, oid)) => (tags.get(&oid).cloned(), distance),
        None => (None, 0),
    })
}

fn distance(repo: &Repository, from: Oid, tagged: Oid) -> Result<usize, GitError> {
    let mut walk = repo
        .revwalk()
        .map_err(ctx(|| "walking history".to_string()))?;
    walk.push(from)
        .and_then(|()| walk.hide(tagged))
        .map_err(ctx(|| {
            format!("counting commits between {tagged} and {from}")
        }))?;
    Ok(walk.filter(Result::is_ok).count())
}

/// The revision of `commit` (never dirty: only HEAD can be).
pub(crate) fn revision_of(
    repo: &Repository,
    commit: Oid,
    tags: &HashMap<Oid, String>,
) -> Result<Revision, GitError> {
    let (tag, counter) = describe(repo, commit, tags)?;
    Ok(Revision {
        tag,
        counter,
        hash: commit.to_string(),
        dirty: false,
        branch: head_branch(repo),
    })
}

/// The revision of HEAD, dirty state included ([`is_dirty`] with `refresh`).
pub(crate) fn head_revision(
    repo: &Repository,
    refresh: IndexRefresh,
) -> Result<Revision, GitError> {
    if repo.is_shallow() {
        tracing::warn!(
            "{} is a shallow clone: versions may be bare hashes (fetch the full history, e.g. `fetch-depth: 0`)",
            root(repo).display()
        );
    }
    let tags = version_tags(repo)?;
    let head = head_commit(repo)?;
    let mut rev = revision_of(repo, head, &tags)?;
    rev.dirty = is_dirty(repo, refresh)?;
    Ok(rev)
}

/// Whether a changed file belongs to the source paths (classified once against the work tree).
pub(crate) struct SourcePaths {
    /// Each entry and whether it is a directory; `None` when missing from the work tree.
    entries: Vec<(String, Option<bool>)>,
}

impl SourcePaths {
    /// Classifies each entry of `sourcePathes` as directory or file. An entry missing from the work
    /// tree (a project at its first commit) matches no change, with one warning.
    pub(crate) fn new(root: &Path, entries: &[String]) -> Self {
        let entries = entries
            .iter()
            .map(|e| match std::fs::metadata(root.join(e)) {
                Ok(m) => (e.clone(), Some(m.is_dir())),
                Err(err) => {
                    tracing::warn!(
                        "source path {e:?} listed in {}/.ciux is not in the work tree ({err}): it counts as unchanged",
                        root.display()
                    );
                    (e.clone(), None)
                }
            })
            .collect();
        Self { entries }
    }

    /// True when `file` (relative, `/`-separated) is one of the paths or below one of the directories.
    pub(crate) fn contains(&self, file: &str) -> bool {
        self.entries.is_empty() || self.entry_of(file).is_some()
    }

    /// The entry `file` is or lies below (`None` also when no entry is given).
    fn entry_of(&self, file: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(e, is_dir)| match is_dir {
                Some(true) => file
                    .strip_prefix(e.as_str())
                    .is_some_and(|rest| rest.starts_with('/')),
                Some(false) => file == e,
                None => false,
            })
            .map(|(e, _)| e.as_str())
    }

    /// The entries (`.` for "every file" when none is given) that `files` touch, in entry order.
    pub(crate) fn touched<'a>(&self, files: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut hit = Vec::new();
        for file in files {
            let entry = if self.entries.is_empty() {
                Some(".")
            } else {
                self.entry_of(file)
            };
            if let Some(entry) = entry
                && !hit.iter().any(|h| h == entry)
            {
                hit.push(entry.to_string());
            }
        }
        let order = |e: &String| self.entries.iter().position(|(x, _)| x == e);
        hit.sort_by_key(order);
        hit
    }
}

/// The source entries that commit `oid` changes against its first parent (or the empty tree).
pub(crate) fn touched_entries(
    repo: &Repository,
    oid: Oid,
    sources: &SourcePaths,
) -> Result<Vec<String>, GitError> {
    let commit = repo
        .find_commit(oid)
        .map_err(ctx(|| format!("reading commit {oid}")))?;
    let tree = commit
        .tree()
        .map_err(ctx(|| format!("reading the tree of {oid}")))?;
    let parent = match commit.parent(0) {
        Ok(p) => Some(
            p.tree()
                .map_err(ctx(|| format!("reading the parent of {oid}")))?,
        ),
        Err(_) => None,
    };
    let diff = repo
        .diff_tree_to_tree(parent.as_ref(), Some(&tree), None)
        .map_err(ctx(|| format!("diffing {oid} against its parent")))?;
    let files: Vec<String> = diff
        .deltas()
        .flat_map(|d| [d.old_file().path(), d.new_file().path()])
        .flatten()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    Ok(sources.touched(files.iter().map(String::as_str)))
}

/// The source entries with uncommitted changes to tracked files (as [`is_dirty`] sees them).
pub(crate) fn dirty_entries(
    repo: &Repository,
    sources: &SourcePaths,
) -> Result<Vec<String>, GitError> {
    let files = changed_tracked_files(repo)?;
    Ok(sources.touched(files.iter().map(String::as_str)))
}

/// Whether the change `parent` → `commit` touches the source paths.
pub(crate) fn touches(
    repo: &Repository,
    parent: Oid,
    commit: Oid,
    sources: &SourcePaths,
) -> Result<bool, GitError> {
    let tree = |oid: Oid| {
        repo.find_commit(oid)
            .and_then(|c| c.tree())
            .map_err(ctx(|| format!("reading the tree of {oid}")))
    };
    let diff = repo
        .diff_tree_to_tree(Some(&tree(parent)?), Some(&tree(commit)?), None)
        .map_err(ctx(|| format!("diffing {parent}..{commit}")))?;
    Ok(diff.deltas().any(|d| {
        [d.old_file().path(), d.new_file().path()]
            .into_iter()
            .flatten()
            .any(|p| sources.contains(&p.to_string_lossy()))
    }))
}

/// Whether a root commit adds a file of the source paths (its diff against the empty tree).
fn root_touches(
    repo: &Repository,
    commit: &git2::Commit<'_>,
    sources: &SourcePaths,
) -> Result<bool, GitError> {
    let tree = commit
        .tree()
        .map_err(ctx(|| format!("reading the tree of {}", commit.id())))?;
    let diff = repo
        .diff_tree_to_tree(None, Some(&tree), None)
        .map_err(ctx(|| format!("listing the files of {}", commit.id())))?;
    Ok(diff.deltas().any(|d| {
        d.new_file()
            .path()
            .is_some_and(|p| sources.contains(&p.to_string_lossy()))
    }))
}

/// The commits from the last one that changed the source paths up to `start`, oldest first (first-parent
/// chain). The root commit counts as a change when it adds source files; a root `start` gives `[start]`;
/// when no commit touched the sources the root is left out.
pub(crate) fn code_change_commits(
    repo: &Repository,
    start: Oid,
    sources: &SourcePaths,
) -> Result<Vec<Oid>, GitError> {
    let mut out = Vec::new();
    let mut current = start;
    loop {
        let commit = repo
            .find_commit(current)
            .map_err(ctx(|| format!("reading commit {current}")))?;
        let Ok(parent) = commit.parent_id(0) else {
            if current == start || root_touches(repo, &commit, sources)? {
                out.push(current);
            }
            break;
        };
        out.push(current);
        if touches(repo, parent, current, sources)? {
            break;
        }
        current = parent;
    }
    out.reverse();
    Ok(out)
}

/// Branch heads and tags of a remote, listed without cloning (one connection).
pub(crate) fn ls_remote(url: &str) -> Result<Vec<(String, Oid)>, GitError> {
    let shown = || format!("unable to list the branches of {}", redact(url));
    let effective = connect_url(url, shown)?;
    let mut remote = git2::Remote::create_detached(effective)
        .map_err(ctx(|| format!("invalid remote URL {}", redact(url))))?;
    remote.connect(Direction::Fetch).map_err(ctx(shown))?;
    let heads = remote.list().map_err(ctx(shown))?;
    Ok(heads
        .iter()
        .map(|h| (h.name().to_string(), h.oid()))
        .collect())
}

fn fetch_options<'a>() -> FetchOptions<'a> {
    let mut fo = FetchOptions::new();
    fo.download_tags(AutotagOption::All);
    fo
}

/// The fetch refspec of `branch`, or of every branch.
fn branch_refspec(branch: Option<&str>) -> String {
    match branch {
        Some(branch) => format!("+refs/heads/{branch}:refs/remotes/origin/{branch}"),
        None => "+refs/heads/*:refs/remotes/origin/*".to_string(),
    }
}

/// Clones `url` into the empty directory `dest`: only `branch` (with its history and every tag),
/// checked out and tracking `origin/<branch>`, when given; else every branch, with nothing checked out
/// (the caller checks out a revision). `origin` keeps `url` as written: an `insteadOf` rewrite, and
/// the credentials it may carry, is applied at each fetch and never stored. A failed clone leaves
/// `dest` empty.
pub(crate) fn clone(url: &str, dest: &Path, branch: Option<&str>) -> Result<Repository, GitError> {
    clone_listed(url, dest, |_| Ok::<_, GitError>(branch.map(str::to_string))).map(|(repo, _)| repo)
}

/// A clone over one connection: the remote's refs are listed, `choose` picks from them the branch to
/// clone (`None`: every branch), and the pack comes over the same connection (see [`clone`]).
/// Returns the repository and the listing.
pub(crate) fn clone_listed<E: From<GitError>>(
    url: &str,
    dest: &Path,
    choose: impl FnOnce(&[(String, Oid)]) -> Result<Option<String>, E>,
) -> Result<(Repository, Vec<(String, Oid)>), E> {
    let shown = || format!("unable to clone {} into {}", redact(url), dest.display());
    if std::fs::read_dir(dest).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(ctx(shown)(git2::Error::from_str(
            "the directory exists and is not empty",
        ))
        .into());
    }
    let cloned = (|| {
        let repo = Repository::init(dest).map_err(ctx(shown))?;
        let effective = connect_url(url, shown)?;
        let (branch, listing) = {
            let mut remote = repo
                .remote_anonymous(&effective)
                .map_err(ctx(|| format!("invalid remote URL {}", redact(url))))?;
            let listing_failed = || format!("unable to list the branches of {}", redact(url));
            remote
                .connect(Direction::Fetch)
                .map_err(ctx(listing_failed))?;
            let listing: Vec<(String, Oid)> = remote
                .list()
                .map_err(ctx(listing_failed))?
                .iter()
                .map(|h| (h.name().to_string(), h.oid()))
                .collect();
            let branch = choose(&listing)?;
            let refspec = branch_refspec(branch.as_deref());
            repo.remote_with_fetch("origin", url, &refspec)
                .map_err(ctx(shown))?;
            // Still connected: the pack comes over the listing's connection.
            remote
                .fetch(&[refspec], Some(&mut fetch_options()), None)
                .map_err(ctx(shown))?;
            (branch, listing)
        };
        if let Some(branch) = branch.as_deref() {
            let target = repo
                .refname_to_id(&format!("refs/remotes/origin/{branch}"))
                .map_err(ctx(shown))?;
            create_branch(&repo, branch, target)?;
            repo.find_branch(branch, BranchType::Local)
                .and_then(|mut b| b.set_upstream(Some(&format!("origin/{branch}"))))
                .map_err(ctx(shown))?;
            checkout(&repo, &format!("refs/heads/{branch}"))?;
        }
        Ok((repo, listing))
    })();
    if cloned.is_err()
        && let Ok(entries) = std::fs::read_dir(dest)
    {
        for entry in entries.flatten() {
            let path = entry.path();
            let _ = if path.is_dir() && !path.is_symlink() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
    cloned
}

/// The URL libgit2 connects to for `url`: git's `insteadOf` rules applied, ssh and remote-helper URLs
/// refused with what to do instead, the network transports readied (`what` describes the operation in
/// errors). libgit2 applies the rules it reads itself (`~/.gitconfig`, XDG, system) to the result once
/// more: only a chain of rules, which git does not follow, could then lead elsewhere.
fn connect_url(url: &str, what: impl FnOnce() -> String) -> Result<String, GitError> {
    let effective = remote_url::rewrite(url);
    match remote_url::check_supported(&effective) {
        Ok(()) => {}
        Err(Unsupported::Ssh) => {
            return Err(GitError::SshRemote {
                url: redact(&effective),
            });
        }
        Err(Unsupported::RemoteHelper(helper)) => {
            return Err(GitError::RemoteHelper {
                url: redact(&effective),
                helper,
            });
        }
    }
    git_http::register().map_err(ctx(what))?;
    Ok(effective)
}

/// The URL of `origin` as configured (before any `insteadOf` rewrite).
fn origin_url(repo: &Repository) -> Option<String> {
    repo.config()
        .and_then(|c| c.get_string("remote.origin.url"))
        .ok()
}

/// The refs a remote advertised, from [`ls_remote`] of `url`.
pub(crate) struct Listing<'a> {
    /// The URL that was listed.
    pub(crate) url: &'a str,
    /// Ref names and the objects they point at.
    pub(crate) refs: &'a [(String, Oid)],
}

/// True when `origin` of `repo` is the listed URL and the clone already holds what a fetch would bring:
/// the listed branch (`Some`) or every listed branch (`None`) as `origin/<name>`, and every listed tag.
/// Then the fetch is skipped: a warm `ignite` costs one remote round trip per dependency, not two.
pub(crate) fn has_everything(
    repo: &Repository,
    listing: &Listing<'_>,
    branch: Option<&str>,
) -> bool {
    let origin_matches = origin_url(repo).as_deref() == Some(listing.url);
    let local = |name: &str| repo.refname_to_id(name).ok();
    let mut saw_branch = branch.is_none();
    origin_matches
        && listing.refs.iter().all(|(name, oid)| {
            if name.ends_with("^{}") {
                true
            } else if name.starts_with("refs/tags/") {
                local(name) == Some(*oid)
            } else if let Some(head) = name.strip_prefix("refs/heads/") {
                if branch.is_some_and(|b| b != head) {
                    return true;
                }
                saw_branch = true;
                local(&format!("refs/remotes/origin/{head}")) == Some(*oid)
            } else {
                true
            }
        })
        && saw_branch
}

/// Brings an existing clone to `branch`: fetch it from `origin` (unless `listing` shows there is nothing
/// new), fast-forward or create the local branch, check it out. A dirty clone or a diverged local branch
/// is left alone, with a warning.
pub(crate) fn update(
    repo: &Repository,
    branch: &str,
    listing: Option<&Listing<'_>>,
) -> Result<(), GitError> {
    let dir = root(repo);
    if is_dirty(repo, IndexRefresh::WhenRacy)? {
        tracing::warn!(
            "{} has local changes: left as it is, not moved to branch {branch}",
            dir.display()
        );
        return Ok(());
    }
    if listing.is_some_and(|l| has_everything(repo, l, Some(branch))) {
        tracing::debug!("{}: nothing new upstream, no fetch", dir.display());
    } else {
        fetch_origin(repo, &branch_refspec(Some(branch)), branch)?;
    }
    let target = repo
        .refname_to_id(&format!("refs/remotes/origin/{branch}"))
        .map_err(ctx(|| {
            format!("origin/{branch} missing in {}", dir.display())
        }))?;
    let local_ref = format!("refs/heads/{branch}");
    match repo.find_branch(branch, BranchType::Local) {
        Ok(local) => {
            let current = local.get().target().unwrap_or(target);
            if current == target && head_branch(repo) == branch {
                // Clean, on the branch, at origin's commit: no checkout to do (a warm run's case).
                return Ok(());
            }
            if current != target {
                let ff = repo.graph_descendant_of(target, current).unwrap_or(false);
                if !ff {
                    tracing::warn!(
                        "{}: local branch {branch} has diverged from origin/{branch}; left as it is",
                        dir.display()
                    );
                    return checkout(repo, &local_ref);
                }
                // The work tree moves first, while HEAD still names the old commit: moved after the
                // ref, a safe checkout would take the new files for local changes and keep the old ones.
                let commit = repo.find_object(target, None).map_err(ctx(|| {
                    format!("reading origin/{branch} in {}", dir.display())
                }))?;
                repo.checkout_tree(&commit, Some(git2::build::CheckoutBuilder::new().safe()))
                    .map_err(ctx(|| {
                        format!("checking out origin/{branch} in {}", dir.display())
                    }))?;
                repo.reference(&local_ref, target, true, "ciux: fast-forward")
                    .map_err(ctx(|| {
                        format!("fast-forwarding {branch} in {}", dir.display())
                    }))?;
            }
        }
        Err(_) => create_branch(repo, branch, target)?,
    }
    checkout(repo, &local_ref)
}

/// Creates the local branch `name` at `origin/<name>`'s commit `target`.
fn create_branch(repo: &Repository, name: &str, target: Oid) -> Result<(), GitError> {
    let dir = root(repo);
    let commit = repo.find_commit(target).map_err(ctx(|| {
        format!("reading origin/{name} in {}", dir.display())
    }))?;
    repo.branch(name, &commit, false).map_err(ctx(|| {
        format!("creating branch {name} in {}", dir.display())
    }))?;
    Ok(())
}

fn checkout(repo: &Repository, refname: &str) -> Result<(), GitError> {
    let dir = root(repo);
    let obj = repo
        .revparse_single(refname)
        .map_err(ctx(|| format!("resolving {refname} in {}", dir.display())))?;
    repo.checkout_tree(&obj, Some(git2::build::CheckoutBuilder::new().safe()))
        .map_err(ctx(|| {
            format!("checking out {refname} in {}", dir.display())
        }))?;
    if refname.starts_with("refs/heads/") {
        repo.set_head(refname)
    } else {
        repo.set_head_detached(obj.peel_to_commit().map(|c| c.id()).unwrap_or(obj.id()))
    }
    .map_err(ctx(|| {
        format!("moving HEAD to {refname} in {}", dir.display())
    }))
}

/// Fetches every branch and tag of `origin` (for pinned revisions), unless `listing` shows there is
/// nothing new.
pub(crate) fn fetch_all(repo: &Repository, listing: Option<&Listing<'_>>) -> Result<(), GitError> {
    if listing.is_some_and(|l| has_everything(repo, l, None)) {
        tracing::debug!("{}: nothing new upstream, no fetch", root(repo).display());
        return Ok(());
    }
    fetch_origin(repo, &branch_refspec(None), "every branch")
}

/// Fetches `refspec` (described as `what` in errors) and every tag from `origin`.
fn fetch_origin(repo: &Repository, refspec: &str, what: &str) -> Result<(), GitError> {
    let dir = root(repo);
    let url = origin_url(repo).ok_or_else(|| GitError::Git {
        what: format!("{} has no `origin` remote", dir.display()),
        reason: git2::Error::from_str("remote.origin.url is not set"),
    })?;
    fetch_from(repo, &url, refspec, || {
        format!("unable to fetch {what} into {}", dir.display())
    })
}

/// Fetches `refspec` and every tag from `url` (after `insteadOf`) into `repo`.
fn fetch_from(
    repo: &Repository,
    url: &str,
    refspec: &str,
    what: impl Fn() -> String,
) -> Result<(), GitError> {
    let effective = connect_url(url, &what)?;
    let mut remote = repo
        .remote_anonymous(&effective)
        .map_err(ctx(|| format!("invalid remote URL {}", redact(url))))?;
    remote
        .fetch(&[refspec], Some(&mut fetch_options()), None)
        .map_err(ctx(what))
}

/// The tree of commit `oid`.
pub(crate) fn tree_of(repo: &Repository, oid: Oid) -> Result<Oid, GitError> {
    repo.find_commit(oid)
        .map(|c| c.tree_id())
        .map_err(ctx(|| format!("reading commit {oid}")))
}

/// Whether `repo` holds commit `oid`.
pub(crate) fn has_commit(repo: &Repository, oid: Oid) -> bool {
    repo.find_commit(oid).is_ok()
}

/// The commit a remote listing gives for `name`: a branch head, a tag's commit (peeled), or a listed
/// commit whose id starts with `name`.
pub(crate) fn listed_commit(refs: &[(String, Oid)], name: &str) -> Option<Oid> {
    let find = |r: &str| refs.iter().find(|(n, _)| n == r).map(|(_, oid)| *oid);
    find(&format!("refs/heads/{name}"))
        .or_else(|| find(&format!("refs/tags/{name}^{{}}")))
        .or_else(|| find(&format!("refs/tags/{name}")))
        .or_else(|| {
            (name.len() >= 7)
                .then(|| {
                    refs.iter()
                        .find(|(_, oid)| oid.to_string().starts_with(name))
                })
                .flatten()
                .map(|(_, oid)| *oid)
        })
}

/// Puts a clone at a locked commit: the local branch `branch` is created there or fast-forwarded to
/// it and checked out; when `branch` is no branch (a tag or commit revision) or the local branch has
/// other commits, HEAD is detached at `commit`.
pub(crate) fn checkout_locked(
    repo: &Repository,
    branch: &str,
    commit: Oid,
) -> Result<(), GitError> {
    let dir = root(repo);
    let local_ref = format!("refs/heads/{branch}");
    let is_branch = repo
        .refname_to_id(&format!("refs/remotes/origin/{branch}"))
        .is_ok()
        || repo.refname_to_id(&local_ref).is_ok();
    let local = repo.refname_to_id(&local_ref).ok();
    let movable = local.is_none_or(|current| {
        current == commit || repo.graph_descendant_of(commit, current).unwrap_or(false)
    });
    let target = repo.find_object(commit, None).map_err(ctx(|| {
        format!("reading commit {commit} in {}", dir.display())
    }))?;
    repo.checkout_tree(&target, Some(git2::build::CheckoutBuilder::new().safe()))
        .map_err(ctx(|| {
            format!("checking out {commit} in {}", dir.display())
        }))?;
    if is_branch && movable {
        repo.reference(&local_ref, commit, true, "ciux: locked commit")
            .and_then(|_| repo.set_head(&local_ref))
    } else {
        if is_branch {
            tracing::warn!(
                "{}: local branch {branch} has commits the lock does not; HEAD detached at {commit}",
                dir.display()
            );
        }
        repo.set_head_detached(commit)
    }
    .map_err(ctx(|| format!("moving HEAD to {commit} in {}", dir.display())))
}

/// A commit as `lock diff` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommitLine {
    /// The first 7 hex digits of its id.
    pub(crate) short: String,
    /// The first line of its message.
    pub(crate) subject: String,
    /// Its author's name.
    pub(crate) author: String,
}

/// The commits reachable from `to` and not from `from`, newest first.
pub(crate) fn commits_between(
    repo: &Repository,
    from: Oid,
    to: Oid,
) -> Result<Vec<CommitLine>, GitError> {
    let what = || format!("listing the commits {from}..{to}");
    let mut walk = repo.revwalk().map_err(ctx(what))?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)
        .and_then(|()| walk.push(to))
        .and_then(|()| walk.hide(from))
        .map_err(ctx(what))?;
    walk.map(|oid| {
        let commit = oid
            .and_then(|oid| repo.find_commit(oid))
            .map_err(ctx(what))?;
        Ok(CommitLine {
            short: commit.id().to_string()[..7].to_string(),
            subject: commit
                .summary()
                .ok()
                .flatten()
                .unwrap_or_default()
                .to_string(),
            author: commit.author().name().unwrap_or_default().to_string(),
        })
    })
    .collect()
}

/// Whether `descendant` contains `ancestor` in its history (or is it).
pub(crate) fn contains(repo: &Repository, descendant: Oid, ancestor: Oid) -> bool {
    descendant == ancestor
        || repo
            .graph_descendant_of(descendant, ancestor)
            .unwrap_or(false)
}

/// Every branch and tag of `url` fetched into a new bare repository in a temporary directory (one
/// connection), for reading history that no local clone holds.
pub(crate) fn mirror(url: &str) -> Result<(tempfile::TempDir, Repository), GitError> {
    let shown = || format!("unable to fetch {}", redact(url));
    let dir = tempfile::Builder::new()
        .prefix("ciux-lock-")
        .tempdir()
        .map_err(|e| ctx(shown)(git2::Error::from_str(&e.to_string())))?;
    let repo = Repository::init_bare(dir.path()).map_err(ctx(shown))?;
    fetch_from(&repo, url, &branch_refspec(None), shown)?;
    Ok((dir, repo))
}

/// Checks out a pinned revision: a remote branch, then a tag, then a commit id (HEAD is detached
/// for tags and commits; a branch gets a local branch of that name).
pub(crate) fn checkout_revision(repo: &Repository, revision: &str) -> Result<(), GitError> {
    let dir = root(repo);
    if let Ok(oid) = repo.refname_to_id(&format!("refs/remotes/origin/{revision}")) {
        if repo.find_branch(revision, BranchType::Local).is_err() {
            create_branch(repo, revision, oid)?;
        }
        return checkout(repo, &format!("refs/heads/{revision}"));
    }
    if repo.refname_to_id(&format!("refs/tags/{revision}")).is_ok() {
        return checkout(repo, &format!("refs/tags/{revision}"));
    }
    let looks_like_hash =
        (7..=40).contains(&revision.len()) && revision.bytes().all(|b| b.is_ascii_hexdigit());
    if looks_like_hash
        && repo
            .revparse_single(revision)
            .is_ok_and(|o| o.peel_to_commit().is_ok())
    {
        return checkout(repo, revision);
    }
    Err(GitError::Git {
        what: format!(
            "pinned revision {revision:?} is neither a branch, a tag nor a commit of {}",
            dir.display()
        ),
        reason: git2::Error::from_str("not found"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_paths_match_directories_and_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cwd/documents")).unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "").unwrap();
        let sp = SourcePaths::new(dir.path(), &["cwd".into(), "cwd/documents".into()]);
        assert!(sp.contains("cwd/documents/file.txt"));
        assert!(!sp.contains("cwdx/file.txt"));
        assert!(!sp.contains(""));
        // A missing entry matches nothing (it is not "every change", as an empty list is).
        let sp = SourcePaths::new(dir.path(), &["tmp2".into()]);
        assert!(!sp.contains("tmp2") && !sp.contains("tmp2/a") && !sp.contains("other"));
        std::fs::create_dir(dir.path().join("tmp")).unwrap();
        let sp = SourcePaths::new(dir.path(), &["tmp".into(), "Dockerfile".into()]);
        assert!(sp.contains("Dockerfile"));
        assert!(!sp.contains("Dockerfile2"));
        let all = SourcePaths::new(dir.path(), &[]);
        assert!(all.contains("/abs/anything"));
    }
}

mod stat_check;

#[cfg(test)]
mod repo_tests;
