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
use crate::lock::Lock;
use crate::parallel;
use crate::progress::DepProgress;
use crate::project::{DepKind, Project};
use crate::registry::RegistryClient;
use crate::remote_url::redact;

/// A dependency's checkout after a clone or fetch: its root, its version, whether it was already
/// there and its HEAD commit (`None` in a dry run).
type Fetched = Option<(PathBuf, String, bool, git2::Oid)>;

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
/// `progress` has a line per dependency of `deps`, in the same order.
pub(crate) fn resolve_branches(
    deps: &mut [&mut GitDep],
    project_branch: &str,
    progress: &DepProgress,
) -> Result<()> {
    let urls: Vec<(usize, String)> = deps.iter().map(|d| d.url.clone()).enumerate().collect();
    let listings = parallel::map(&urls, parallel::GIT_REMOTES, |(i, url)| {
        progress.set(*i, "listing branches");
        let listing = git::ls_remote(url);
        if let Err(e) = &listing {
            progress.finish(*i, format!("failed: {e}"));
        }
        listing
    });
    for (i, (dep, listing)) in deps.iter_mut().zip(listings).enumerate() {
        let shown = redact(&dep.url);
        let listing = listing.with_context(|| format!("dependency {shown}"))?;
        let branches = branch_rule::remote_branches(&listing);
        if let Some(rev) = &dep.revision {
            let known = listing.iter().any(|(name, oid)| {
                name == &format!("refs/heads/{rev}")
                    || name == &format!("refs/tags/{rev}")
                    || oid.to_string().starts_with(rev.as_str())
            });
            let hexish =
                (7..=40).contains(&rev.len()) && rev.bytes().all(|b| b.is_ascii_hexdigit());
            if !known && !hexish {
                bail!(
                    "dependency {shown}: pinned revision {rev:?} is neither a branch, a tag nor a commit id"
                );
            }
            dep.workbranch = rev.clone();
        } else {
            dep.workbranch =
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
                })?;
        }
        tracing::info!("{shown} work branch = {}", dep.workbranch);
        dep.commit = git::listed_commit(&listing, &dep.workbranch);
        dep.listing = listing;
        if !dep.clone {
            progress.finish(i, format!("branch {} (remote only)", dep.workbranch));
        }
    }
    Ok(())
}

/// Clones missing dependencies next to the project and updates existing clones, concurrently.
pub(crate) fn fetch_sources(
    project: &Project,
    deps: &mut [GitDep],
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
    let fetch_one = |job: &FetchJob<'_>| -> Result<Fetched> {
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
        let repo = if existing {
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
        let version = git::head_revision(&repo)?.version();
        let head = git::head_commit(&repo)?;
        Ok(Some((git::root(&repo), version, existing, head)))
    };
    let results = parallel::map(&jobs, parallel::GIT_REMOTES, |job| {
        progress.set(job.index, format!("cloning or fetching {}", job.branch));
        let result = fetch_one(job);
        progress.finish(
            job.index,
            match &result {
                Ok(Some((_, version, _, _))) => format!("{} at {version}", job.branch),
                Ok(None) => "dry run".to_string(),
                Err(e) => format!("failed: {e:#}"),
            },
        );
        result
    });
    let done: Vec<(usize, Fetched)> = jobs
        .iter()
        .zip(results)
        .map(|(job, result)| {
            result
                .with_context(|| format!("dependency {}", redact(job.url)))
                .map(|r| (job.index, r))
        })
        .collect::<Result<_>>()?;
    for (i, local) in done {
        if let Some((dir, version, in_place, head)) = local {
            deps[i].local = Some((dir, version));
            deps[i].in_place = in_place;
            deps[i].commit = Some(head);
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
            if !existing {
                runner.run(&Cmd::new("git").args(["clone", &redact(&d.url)]).arg(&dir))?;
            }
            let sha = commit.to_string();
            runner.run(&Cmd::new("git").arg("-C").arg(&dir).args(["checkout", &sha]))?;
            return Ok(None);
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
