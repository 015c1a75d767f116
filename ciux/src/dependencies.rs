//! A project's git dependencies while `ignite` resolves them: each one's work branch (the branch
//! rule, or its pinned revision) from one remote listing, then clones and updates side by side with
//! the project, and the images the dependencies need.

use std::path::PathBuf;

use anyhow::{Context as _, Result, anyhow, bail};
use common::process::{Cmd, Runner};
use futures::StreamExt;

use crate::branch_rule;
use crate::git;
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
    /// The work branch and listing, when the clone did the listing.
    listed: Option<(String, Vec<(String, git2::Oid)>)>,
}

/// A clone or fetch to do.
struct FetchJob<'a> {
    /// Index in the dependency list.
    index: usize,
    url: &'a str,
    dir: PathBuf,
    branch: &'a str,
    revision: Option<&'a str>,
    /// The remote's refs, listed when the work branch was chosen.
    listing: &'a [(String, git2::Oid)],
    /// Not listed yet: the clone lists the refs and chooses the work branch.
    list: bool,
    /// The dependency (for the branch rule).
    dep: &'a GitDep,
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

/// `ignite`'s dependencies: work branches, then clones and updates. A dependency cloned now is listed
/// on its clone's connection (one connection instead of two); the others are listed first.
pub(crate) fn resolve_and_fetch(
    project: &Project,
    deps: &mut [GitDep],
    project_branch: &str,
    runner: &Runner,
    progress: &DepProgress,
) -> Result<()> {
    let listed_by_clone: Vec<bool> = deps
        .iter()
        .map(|d| d.clone && !runner.is_dry_run() && !project.dep_dir(&d.url).join(".git").exists())
        .collect();
    let listed = deps
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| !listed_by_clone[*i])
        .collect();
    resolve_branches(listed, project_branch, progress)?;
    fetch_sources(
        project,
        deps,
        &listed_by_clone,
        project_branch,
        runner,
        progress,
    )
}

/// Clones missing dependencies next to the project and updates existing clones, concurrently; those
/// marked in `list` are listed by their clone and get their work branch from `project_branch`.
fn fetch_sources(
    project: &Project,
    deps: &mut [GitDep],
    list: &[bool],
    project_branch: &str,
    runner: &Runner,
    progress: &DepProgress,
) -> Result<()> {
    let jobs: Vec<FetchJob<'_>> = deps
        .iter()
        .enumerate()
        .filter(|(_, d)| d.clone)
        .map(|(index, d)| FetchJob {
            index,
            url: &d.url,
            dir: project.dep_dir(&d.url),
            branch: &d.workbranch,
            revision: d.revision.as_deref(),
            listing: &d.listing,
            list: list.get(index).copied().unwrap_or(false),
            dep: d,
        })
        .collect();
    let dry = runner.is_dry_run();
    if dry {
        // What the git CLI would do, in dependency order; ciux does it through libgit2, so these
        // lines are only printed.
        for job in &jobs {
            for cmd in git_plan(job) {
                runner.run(&cmd)?;
            }
        }
    }
    let fetch_one = |job: &FetchJob<'_>| -> Result<Option<Fetched>> {
        let FetchJob {
            url,
            dir,
            branch,
            revision,
            ..
        } = job;
        let listing = git::Listing {
            url,
            refs: job.listing,
        };
        let existing = dir.join(".git").exists();
        if dry && !existing {
            return Ok(None);
        }
        let mut listed = None;
        let repo = if job.list {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("unable to create {}", dir.display()))?;
            let mut chosen = String::new();
            let (repo, listing) = git::clone_listed(url, dir, |listing| -> Result<_> {
                chosen = work_branch(job.dep, listing, project_branch)?;
                Ok(revision.is_none().then(|| chosen.clone()))
            })?;
            if let Some(rev) = revision {
                git::checkout_revision(&repo, rev)?;
            }
            listed = Some((chosen, listing));
            repo
        } else if existing {
            let repo = git::open_root(dir)?;
            if !dry {
                match revision {
                    Some(rev) => {
                        git::fetch_all(&repo, Some(&listing))?;
                        if git::is_dirty(&repo)? {
                            tracing::warn!(
                                "{} has local changes: left as it is, not moved to {rev}",
                                dir.display()
                            );
                        } else {
                            git::checkout_revision(&repo, rev)?;
                        }
                    }
                    None => git::update(&repo, branch, Some(&listing))?,
                }
            }
            repo
        } else {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("unable to create {}", dir.display()))?;
            match revision {
                Some(rev) => {
                    let repo = git::clone(url, dir, None)?;
                    git::checkout_revision(&repo, rev)?;
                    repo
                }
                None => git::clone(url, dir, Some(branch))?,
            }
        };
        Ok(Some(Fetched {
            root: git::root(&repo),
            version: git::head_revision(&repo)?.version(),
            existing,
            head: git::head_commit(&repo)?,
            listed,
        }))
    };
    let results = parallel::map(&jobs, parallel::GIT_REMOTES, |job| {
        progress.set(job.index, format!("cloning or fetching {}", job.branch));
        let result = fetch_one(job);
        progress.finish(
            job.index,
            match &result {
                Ok(Some(f)) => {
                    let branch = f.listed.as_ref().map_or(job.branch, |(b, _)| b.as_str());
                    format!("{branch} at {}", f.version)
                }
                Ok(None) => "dry run".to_string(),
                Err(e) => format!("failed: {e:#}"),
            },
        );
        result
    });
    let done: Vec<(usize, Option<Fetched>)> = jobs
        .iter()
        .zip(results)
        .map(|(job, result)| {
            result
                .with_context(|| format!("dependency {}", redact(job.url)))
                .map(|r| (job.index, r))
        })
        .collect::<Result<_>>()?;
    for (i, fetched) in done {
        if let Some(f) = fetched {
            if let Some((workbranch, listing)) = f.listed {
                deps[i].set_listed(workbranch, listing);
            }
            deps[i].local = Some((f.root, f.version));
            deps[i].in_place = f.existing;
            deps[i].commit = Some(f.head);
        }
    }
    Ok(())
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
        d.workbranch = locked.workbranch.clone();
        d.commit = locked
            .commit
            .as_deref()
            .map(git2::Oid::from_str)
            .transpose()
            .with_context(|| format!("dependency {shown}: invalid locked commit"))?;
        if d.clone && (d.commit.is_none() || locked.version.is_none()) {
            bail!(
                "dependency {shown}: the lock has no commit and version for it (it was not cloned when locked); update it with `ciux ignite --lock`"
            );
        }
    }
    let jobs: Vec<(usize, &GitDep)> = deps.iter().enumerate().filter(|(_, d)| d.clone).collect();
    let dry = runner.is_dry_run();
    let replay_one = |d: &GitDep| -> Result<Option<PathBuf>> {
        let (Some(commit), Some(locked)) = (d.commit, lock.dependency(&redact(&d.url))) else {
            return Ok(None);
        };
        let dir = project.dep_dir(&d.url);
        let existing = dir.join(".git").exists();
        if dry {
            let at_commit = existing
                && git::open_root(&dir).is_ok_and(|r| git::head_commit(&r).ok() == Some(commit));
            if !existing {
                runner.run(&Cmd::new("git").args(["clone", &redact(&d.url)]).arg(&dir))?;
            }
            if !at_commit {
                let sha = commit.to_string();
                runner.run(&Cmd::new("git").arg("-C").arg(&dir).args(["checkout", &sha]))?;
            }
            return Ok(Some(dir));
        }
        let repo = if existing {
            let repo = git::open_root(&dir)?;
            if !git::has_commit(&repo, commit) {
                git::fetch_all(&repo, None)?;
            }
            repo
        } else {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("unable to create {}", dir.display()))?;
            git::clone(&d.url, &dir, None)?
        };
        if !git::has_commit(&repo, commit) {
            bail!(
                "the locked commit {commit} (on {}) is no longer on the remote (history rewritten or branch deleted): update the lock with `ciux ignite --lock`",
                locked.workbranch
            );
        }
        if git::head_commit(&repo).ok() != Some(commit) {
            if git::is_dirty(&repo)? {
                bail!(
                    "{} has local changes and is not at the locked commit {commit}: commit or stash them, or remove the clone",
                    dir.display()
                );
            }
            git::checkout_locked(&repo, &locked.workbranch, commit)?;
        } else if git::is_dirty(&repo)? {
            bail!(
                "{} has local changes: the locked version {} would not describe it; commit or stash them",
                dir.display(),
                locked.version.as_deref().unwrap_or_default()
            );
        }
        Ok(Some(git::root(&repo)))
    };
    let results = parallel::map(&jobs, parallel::GIT_REMOTES, |(i, d)| {
        progress.set(*i, format!("locked {}", d.workbranch));
        let result = replay_one(d);
        progress.finish(
            *i,
            match &result {
                Ok(_) => format!("{} at the locked commit", d.workbranch),
                Err(e) => format!("failed: {e:#}"),
            },
        );
        result
    });
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

/// The git CLI commands equivalent to cloning or updating a dependency, for `--dry-run` (the URL
/// without credentials).
fn git_plan(job: &FetchJob<'_>) -> Vec<Cmd> {
    let in_dir = || Cmd::new("git").arg("-C").arg(&job.dir);
    let existing = job.dir.join(".git").exists();
    let url = redact(job.url);
    match (existing, job.revision) {
        (false, None) => vec![
            Cmd::new("git")
                .args(["clone", "--branch", job.branch, "--single-branch", &url])
                .arg(&job.dir),
        ],
        (false, Some(rev)) => vec![
            Cmd::new("git").args(["clone", &url]).arg(&job.dir),
            in_dir().args(["checkout", rev]),
        ],
        (true, None) => vec![
            in_dir().args(["fetch", "--tags", "origin", job.branch]),
            in_dir().args(["checkout", job.branch]),
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
