//! A project's git dependencies while `ignite` resolves them: each one's work branch (the branch
//! rule, or its pinned revision) from one remote listing, then clones and updates side by side with
//! the project, and the images the dependencies need.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use common::process::{Cmd, Runner};
use futures::StreamExt;

use crate::branch_rule;
use crate::git::{self, IndexRefresh};
use crate::image_ref::{ImageRef, repo_name};
use crate::lock::{Lock, LockedDep};
use crate::parallel;
use crate::progress::DepProgress;
use crate::project::{DepKind, Project};
use crate::registry::RegistryClient;
use crate::remote_url::redact;

/// A dependency's checkout after a clone or fetch.
struct Fetched {
    root: PathBuf,
    version: String,
    /// The clone was already there.
    existing: bool,
    head: git2::Oid,
    /// HEAD's tree (recorded by `--lock`, compared with the index by `--frozen`).
    tree: git2::Oid,
}

/// A git dependency while it is being resolved.
pub(crate) struct GitDep {
    pub(crate) url: String,
    pub(crate) clone: bool,
    pub(crate) pull: bool,
    pub(crate) revision: Option<String>,
    pub(crate) workbranch: String,
    /// The remote's branch heads and tags (one listing, used for the branch rule and to skip needless
    /// fetches).
    pub(crate) listing: Vec<(String, git2::Oid)>,
    /// Local checkout and its version once cloned (or found in place).
    pub(crate) local: Option<(PathBuf, String)>,
    pub(crate) in_place: bool,
    /// The resolved commit: the clone's HEAD, or the listed commit of the work branch for a
    /// remote-only dependency (what `--lock` records).
    pub(crate) commit: Option<git2::Oid>,
    /// The tree of `commit`, for a clone.
    pub(crate) tree: Option<git2::Oid>,
}

impl GitDep {
    /// The git dependencies of a project, in file order, not yet resolved; `in_place` marks them as
    /// found on disk rather than fetched (`ignite env`).
    pub(crate) fn of(project: &Project, in_place: bool) -> Vec<GitDep> {
        project
            .deps
            .iter()
            .filter_map(|d| match d {
                DepKind::Git {
                    url,
                    clone,
                    pull,
                    revision,
                } => Some(GitDep {
                    url: url.clone(),
                    clone: *clone,
                    pull: *pull,
                    revision: revision.clone(),
                    workbranch: String::new(),
                    listing: Vec::new(),
                    local: None,
                    in_place,
                    commit: None,
                    tree: None,
                }),
                _ => None,
            })
            .collect()
    }
}

/// A status line per dependency, named by its URL without credentials.
pub(crate) fn dep_progress<'a>(deps: impl IntoIterator<Item = &'a GitDep>) -> DepProgress {
    let labels: Vec<String> = deps.into_iter().map(|d| redact(&d.url)).collect();
    DepProgress::new(labels.iter().map(String::as_str))
}

/// One remote listing per dependency, concurrently; the branch rule (or the pinned revision) decides.
/// Each dependency comes with the index of its line in `progress`.
pub(crate) fn resolve_branches(
    deps: Vec<(usize, &mut GitDep)>,
    project_branch: &str,
    progress: &DepProgress,
) -> Result<()> {
    let urls: Vec<(usize, String)> = deps.iter().map(|(i, d)| (*i, d.url.clone())).collect();
    let listings = parallel::map(&urls, parallel::GIT_REMOTES, |(i, url)| {
        progress.set(*i, "listing branches");
        let listing = git::ls_remote(url);
        if let Err(e) = &listing {
            progress.finish(*i, format!("failed: {e}"));
        }
        listing
    });
    for ((i, dep), listing) in deps.into_iter().zip(listings) {
        let listing = listing.with_context(|| format!("dependency {}", redact(&dep.url)))?;
        let workbranch = work_branch(dep, &listing, project_branch)?;
        dep.set_listed(workbranch, listing);
        if !dep.clone {
            progress.finish(i, format!("branch {} (remote only)", dep.workbranch));
        }
    }
    Ok(())
}

/// The work branch of a dependency from its remote's listing: its pinned revision (which must be a
/// listed branch or tag, or look like a commit id), else the branch rule's choice.
fn work_branch(
    dep: &GitDep,
    listing: &[(String, git2::Oid)],
    project_branch: &str,
) -> Result<String> {
    let shown = redact(&dep.url);
    let branches = branch_rule::remote_branches(listing);
    if let Some(rev) = &dep.revision {
        let known = listing.iter().any(|(name, oid)| {
            name == &format!("refs/heads/{rev}")
                || name == &format!("refs/tags/{rev}")
                || oid.to_string().starts_with(rev.as_str())
        });
        let hexish = (7..=40).contains(&rev.len()) && rev.bytes().all(|b| b.is_ascii_hexdigit());
        if !known && !hexish {
            bail!(
                "dependency {shown}: pinned revision {rev:?} is neither a branch, a tag nor a commit id"
            );
        }
        return Ok(rev.clone());
    }
    branch_rule::work_branch(project_branch, &branches).ok_or_else(|| {
        let tried: Vec<String> = branch_rule::candidates(project_branch)
            .iter()
            .map(|b| format!("{b:?}"))
            .collect();
        anyhow!(
            "dependency {shown}: none of the branches {} exists (remote has: {})",
            tried.join(", "),
            branches.join(", ")
        )
    })
}

impl GitDep {
    /// What `--lock` records of the dependency.
    pub(crate) fn locked(&self) -> LockedDep {
        LockedDep {
            url: redact(&self.url),
            workbranch: self.workbranch.clone(),
            commit: self.commit.map(|c| c.to_string()),
            tree: self.tree.map(|t| t.to_string()),
            version: self.local.as_ref().map(|(_, v)| v.clone()),
        }
    }

    /// Records the work branch chosen from the remote's listing, and the listed commit.
    fn set_listed(&mut self, workbranch: String, listing: Vec<(String, git2::Oid)>) {
        tracing::info!("{} work branch = {workbranch}", redact(&self.url));
        self.commit = git::listed_commit(&listing, &workbranch);
        self.workbranch = workbranch;
        self.listing = listing;
    }
}

/// `ignite`'s dependencies, each in one pass of its own, 8 at a time: a new clone lists the branches
/// on its own connection and clones the work branch; an existing clone or a remote-only dependency is
/// listed, then the clone is updated (no fetch when the listing shows nothing new). Under
/// `--dry-run` every dependency is listed first, then the git commands are printed.
pub(crate) fn resolve_and_fetch(
    project: &Project,
    deps: &mut [GitDep],
    project_branch: &str,
    runner: &Runner,
    progress: &DepProgress,
) -> Result<()> {
    let dry = runner.is_dry_run();
    if dry {
        resolve_branches(
            deps.iter_mut().enumerate().collect(),
            project_branch,
            progress,
        )?;
        // What the git CLI would do, in dependency order; ciux does it through libgit2, so these
        // lines are only printed.
        for d in deps.iter().filter(|d| d.clone) {
            for cmd in git_plan(project, d) {
                runner.run(&cmd)?;
            }
        }
    }
    let jobs: Vec<usize> = (0..deps.len()).filter(|&i| !dry || deps[i].clone).collect();
    let view: &[GitDep] = deps;
    let results = parallel::map(&jobs, parallel::GIT_REMOTES, |&i| {
        let result = work_on(project, &view[i], project_branch, dry, progress, i);
        let branch = |o: &Outcome| {
            o.listed
                .as_ref()
                .map_or(view[i].workbranch.clone(), |(b, _)| b.clone())
        };
        progress.finish(
            i,
            match &result {
                Ok(o) => match &o.fetched {
                    Some(f) => format!("{} at {}", branch(o), f.version),
                    None if dry => "dry run".to_string(),
                    None => format!("branch {} (remote only)", branch(o)),
                },
                Err(e) => format!("failed: {e:#}"),
            },
        );
        result
    });
    let outcomes: Vec<Outcome> = results.into_iter().collect::<Result<_>>()?;
    for (i, outcome) in jobs.into_iter().zip(outcomes) {
        let dep = &mut deps[i];
        if let Some((workbranch, listing)) = outcome.listed {
            dep.set_listed(workbranch, listing);
        }
        if let Some(f) = outcome.fetched {
            dep.local = Some((f.root, f.version));
            dep.in_place = f.existing;
            dep.commit = Some(f.head);
            dep.tree = Some(f.tree);
        }
    }
    Ok(())
}

/// What the pass over one dependency found.
struct Outcome {
    /// The work branch and the remote's refs, when this pass listed them.
    listed: Option<(String, Vec<(String, git2::Oid)>)>,
    /// The checkout (cloned dependencies; `None` in a dry run for a clone still to make).
    fetched: Option<Fetched>,
}

/// One dependency's pass (see [`resolve_and_fetch`]); `i` is its progress line.
fn work_on(
    project: &Project,
    d: &GitDep,
    project_branch: &str,
    dry: bool,
    progress: &DepProgress,
    i: usize,
) -> Result<Outcome> {
    let shown = redact(&d.url);
    let dir = project.dep_dir(&d.url);
    let existing = d.clone && dir.join(".git").exists();
    if dry {
        // Listed already; nothing is fetched or moved.
        let fetched = if existing {
            let repo = git::open_root(&dir).with_context(|| format!("dependency {shown}"))?;
            Some(
                Fetched::of(&repo, true, IndexRefresh::Never)
                    .with_context(|| format!("dependency {shown}"))?,
            )
        } else {
            None
        };
        return Ok(Outcome {
            listed: None,
            fetched,
        });
    }
    if d.clone && !existing {
        progress.set(i, "cloning");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("unable to create {}", dir.display()))?;
        let mut chosen = String::new();
        let (repo, refs) = git::clone_listed(&d.url, &dir, |refs| -> Result<_> {
            chosen = work_branch(d, refs, project_branch)?;
            Ok(d.revision.is_none().then(|| chosen.clone()))
        })
        .map_err(|e| in_dependency(e, &shown))?;
        let fetched = (|| -> Result<Fetched> {
            if let Some(rev) = &d.revision {
                git::checkout_revision(&repo, rev)?;
            }
            Fetched::of(&repo, false, IndexRefresh::WhenRacy)
        })()
        .with_context(|| format!("dependency {shown}"))?;
        return Ok(Outcome {
            listed: Some((chosen, refs)),
            fetched: Some(fetched),
        });
    }
    progress.set(i, "listing branches");
    let refs = git::ls_remote(&d.url).with_context(|| format!("dependency {shown}"))?;
    let branch = work_branch(d, &refs, project_branch)?;
    if !d.clone {
        return Ok(Outcome {
            listed: Some((branch, refs)),
            fetched: None,
        });
    }
    progress.set(i, format!("fetching {branch}"));
    let fetched = (|| -> Result<Fetched> {
        let repo = git::open_root(&dir)?;
        let listing = git::Listing {
            url: &d.url,
            refs: &refs,
        };
        match &d.revision {
            Some(rev) => {
                git::fetch_all(&repo, Some(&listing))?;
                if git::is_dirty(&repo, IndexRefresh::WhenRacy)? {
                    tracing::warn!(
                        "{} has local changes: left as it is, not moved to {rev}",
                        dir.display()
                    );
                } else {
                    git::checkout_revision(&repo, rev)?;
                }
            }
            None => git::update(&repo, &branch, Some(&listing))?,
        }
        Fetched::of(&repo, true, IndexRefresh::WhenRacy)
    })()
    .with_context(|| format!("dependency {shown}"))?;
    Ok(Outcome {
        listed: Some((branch, refs)),
        fetched: Some(fetched),
    })
}

/// An error of a dependency's clone: the branch rule's own errors name the dependency already.
fn in_dependency(e: anyhow::Error, shown: &str) -> anyhow::Error {
    if e.is::<git::GitError>() {
        e.context(format!("dependency {shown}"))
    } else {
        e
    }
}

impl Fetched {
    /// The checkout of `repo`; `existing` when it was there before this run. `refresh` as for
    /// [`git::is_dirty`].
    fn of(repo: &git2::Repository, existing: bool, refresh: IndexRefresh) -> Result<Fetched> {
        let head = git::head_commit(repo)?;
        Ok(Fetched {
            root: git::root(repo),
            version: git::head_revision(repo, refresh)?.version(),
            existing,
            head,
            tree: git::tree_of(repo, head)?,
        })
    }
}

/// Takes each dependency's work branch, commit and version from the lock (`ignite --frozen`), and
/// puts the clones at their locked commits: no network when a clone holds its commit, else one
/// fetch of every branch (or one clone) per dependency. A locked commit the remote no longer has,
/// or a clone with local changes, is an error naming the dependency.
pub(crate) fn replay_sources(
    project: &Project,
    deps: &mut [GitDep],
    lock: &Lock,
    runner: &Runner,
    progress: &DepProgress,
) -> Result<()> {
    for d in deps.iter_mut() {
        let shown = redact(&d.url);
        let locked = lock
            .dependency(&shown)
            .ok_or_else(|| anyhow!("dependency {shown} is not in the lock file"))?;
        let oid = |value: &Option<String>, what: &str| {
            value
                .as_deref()
                .map(git2::Oid::from_str)
                .transpose()
                .with_context(|| format!("dependency {shown}: invalid locked {what}"))
        };
        d.workbranch = locked.workbranch.clone();
        d.commit = oid(&locked.commit, "commit")?;
        d.tree = oid(&locked.tree, "tree")?;
        if d.clone && (d.commit.is_none() || locked.version.is_none()) {
            bail!(
                "dependency {shown}: the lock has no commit and version for it (it was not cloned when locked); update it with `ciux ignite --lock`"
            );
        }
    }
    let jobs: Vec<(usize, &GitDep)> = deps.iter().enumerate().filter(|(_, d)| d.clone).collect();
    let dry = runner.is_dry_run();
    // A clone that already holds its locked commit needs no network: those are replayed here, one
    // after the other (a few file reads each); the others are fetched or cloned side by side.
    let mut results: Vec<Option<Result<Option<PathBuf>>>> = Vec::with_capacity(jobs.len());
    let mut remote = Vec::new();
    for (k, (i, d)) in jobs.iter().enumerate() {
        let (Some(commit), Some(locked)) = (d.commit, lock.dependency(&redact(&d.url))) else {
            results.push(Some(Ok(None)));
            continue;
        };
        let dir = project.dep_dir(&d.url);
        if dry {
            results.push(Some(replay_dry_run(&dir, &d.url, commit, runner)));
            continue;
        }
        if git::clean_at(&dir, commit, d.tree) {
            // libgit2 gives the work tree with symbolic links resolved: the same path here.
            let root = project
                .resolved_dep_dir(&d.url)
                .with_context(|| format!("unable to resolve {}", dir.display()));
            let result = root.map(Some);
            progress.finish(*i, replay_status(d, &result));
            results.push(Some(result));
            continue;
        }
        let local = if dir.join(".git").exists() {
            match git::open_root(&dir) {
                Ok(repo) if git::has_commit(&repo, commit) => Some(repo),
                Ok(_) => None,
                Err(e) => {
                    results.push(Some(Err(e.into())));
                    continue;
                }
            }
        } else {
            None
        };
        match local {
            Some(repo) => {
                let result =
                    at_locked_commit(&repo, commit, &locked.workbranch, locked.version.as_deref());
                progress.finish(*i, replay_status(d, &result));
                results.push(Some(result));
            }
            None => {
                results.push(None);
                remote.push((k, *i, *d, commit, locked));
            }
        }
    }
    let fetched = parallel::map(
        &remote,
        parallel::GIT_REMOTES,
        |(_, i, d, commit, locked)| {
            progress.set(*i, format!("locked {}", d.workbranch));
            let result = fetch_locked(project, d, *commit).and_then(|repo| {
                at_locked_commit(
                    &repo,
                    *commit,
                    &locked.workbranch,
                    locked.version.as_deref(),
                )
            });
            progress.finish(*i, replay_status(d, &result));
            result
        },
    );
    for ((k, ..), result) in remote.iter().zip(fetched) {
        results[*k] = Some(result);
    }
    let results = results.into_iter().flatten();
    let done: Vec<(usize, Option<PathBuf>)> = jobs
        .iter()
        .zip(results)
        .map(|((i, d), r)| {
            r.with_context(|| format!("dependency {}", redact(&d.url)))
                .map(|r| (*i, r))
        })
        .collect::<Result<_>>()?;
    for (i, root) in done {
        let version = lock
            .dependency(&redact(&deps[i].url))
            .and_then(|l| l.version.clone())
            .unwrap_or_default();
        deps[i].in_place = true;
        deps[i].local = root.map(|r| (r, version));
    }
    for (i, d) in deps.iter().enumerate().filter(|(_, d)| !d.clone) {
        progress.finish(i, format!("branch {} (locked, remote only)", d.workbranch));
    }
    Ok(())
}

/// `--dry-run` of one locked dependency: the git commands that would bring its clone to `commit`.
fn replay_dry_run(
    dir: &Path,
    url: &str,
    commit: git2::Oid,
    runner: &Runner,
) -> Result<Option<PathBuf>> {
    let existing = dir.join(".git").exists();
    let at_commit =
        existing && git::open_root(dir).is_ok_and(|r| git::head_commit(&r).ok() == Some(commit));
    if !existing {
        runner.run(&Cmd::new("git").args(["clone", &redact(url)]).arg(dir))?;
    }
    if !at_commit {
        let sha = commit.to_string();
        runner.run(&Cmd::new("git").arg("-C").arg(dir).args(["checkout", &sha]))?;
    }
    Ok(Some(dir.to_path_buf()))
}

/// The clone of a locked dependency holding `commit`: fetched (every branch) or cloned.
fn fetch_locked(project: &Project, d: &GitDep, commit: git2::Oid) -> Result<git2::Repository> {
    let dir = project.dep_dir(&d.url);
    let repo = if dir.join(".git").exists() {
        let repo = git::open_root(&dir)?;
        git::fetch_all(&repo, None)?;
        repo
    } else {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("unable to create {}", dir.display()))?;
        git::clone(&d.url, &dir, None)?
    };
    if !git::has_commit(&repo, commit) {
        bail!(
            "the locked commit {commit} (on {}) is no longer on the remote (history rewritten or branch deleted): update the lock with `ciux ignite --lock`",
            d.workbranch
        );
    }
    Ok(repo)
}

/// Puts a clone holding `commit` at it (a clean clone only) and gives its root.
fn at_locked_commit(
    repo: &git2::Repository,
    commit: git2::Oid,
    workbranch: &str,
    version: Option<&str>,
) -> Result<Option<PathBuf>> {
    let dir = git::root(repo);
    if git::head_commit(repo).ok() != Some(commit) {
        if git::is_dirty(repo, IndexRefresh::WhenRacy)? {
            bail!(
                "{} has local changes and is not at the locked commit {commit}: commit or stash them, or remove the clone",
                dir.display()
            );
        }
        git::checkout_locked(repo, workbranch, commit)?;
    } else if git::is_dirty(repo, IndexRefresh::WhenRacy)? {
        bail!(
            "{} has local changes: the locked version {} would not describe it; commit or stash them",
            dir.display(),
            version.unwrap_or_default()
        );
    }
    Ok(Some(dir))
}

/// The final progress line of a replayed dependency.
fn replay_status(d: &GitDep, result: &Result<Option<PathBuf>>) -> String {
    match result {
        Ok(_) => format!("{} at the locked commit", d.workbranch),
        Err(e) => format!("failed: {e:#}"),
    }
}

/// The git CLI commands equivalent to cloning or updating a dependency, for `--dry-run` (the URL
/// without credentials).
fn git_plan(project: &Project, d: &GitDep) -> Vec<Cmd> {
    let dir = project.dep_dir(&d.url);
    let in_dir = || Cmd::new("git").arg("-C").arg(&dir);
    let existing = dir.join(".git").exists();
    let url = redact(&d.url);
    let branch = d.workbranch.as_str();
    match (existing, d.revision.as_deref()) {
        (false, None) => vec![
            Cmd::new("git")
                .args(["clone", "--branch", branch, "--single-branch", &url])
                .arg(&dir),
        ],
        (false, Some(rev)) => vec![
            Cmd::new("git").args(["clone", &url]).arg(&dir),
            in_dir().args(["checkout", rev]),
        ],
        (true, None) => vec![
            in_dir().args(["fetch", "--tags", "origin", branch]),
            in_dir().args(["checkout", branch]),
        ],
        (true, Some(rev)) => vec![
            in_dir().args(["fetch", "--tags", "origin"]),
            in_dir().args(["checkout", rev]),
        ],
    }
}

/// Images that must exist: `<registry>/<name>:<version>` of `pull` dependencies, image dependencies.
pub(crate) fn dependency_images(project: &Project, deps: &[GitDep]) -> Result<Vec<ImageRef>> {
    let mut images = Vec::new();
    for d in deps.iter().filter(|d| d.pull) {
        if let Some((_, version)) = &d.local {
            let reference = format!(
                "{}/{}:{version}",
                project.file.registry,
                repo_name(&d.url).to_lowercase()
            );
            images.push(
                ImageRef::parse(&reference)
                    .with_context(|| format!("image of dependency {}", redact(&d.url)))?,
            );
        }
    }
    for dep in &project.deps {
        if let DepKind::Image(i) = dep {
            images.push(ImageRef::parse(i)?);
        }
    }
    Ok(images)
}

/// Checks that every image exists; returns their manifest digests (when the registry sends one), in
/// order.
pub(crate) async fn check_images(
    client: &RegistryClient,
    images: &[ImageRef],
) -> Result<Vec<Option<String>>> {
    let mut checks = futures::stream::iter(images)
        .map(|i| async move { (i, client.find(i).await) })
        .buffered(parallel::REGISTRY_LOOKUPS);
    let mut digests = Vec::new();
    while let Some((image, result)) = checks.next().await {
        match result.with_context(|| format!("checking dependency image {image}"))? {
            Some(digest) => digests.push(digest),
            None => bail!("dependency image {image} not found in its registry"),
        }
    }
    Ok(digests)
}
