//! `ciux ignite`: resolve dependency branches, clone or update them, install tools, check images, decide
//! the project image and write the env file. `ciux ignite env`: rewrite the env file from disk only.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use common::process::{Cmd, Runner};
use futures::StreamExt;

use crate::branch_rule;
use crate::cli::{IgniteArgs, IgniteCommand, IgniteEnvArgs, given};
use crate::context::{Context, load_project};
use crate::env_file::{self, EnvFile, RepoVars};
use crate::git;
use crate::image_decision::{self, ImageDecision};
use crate::image_ref::{ImageRef, env_name, repo_name};
use crate::install::Install;
use crate::parallel;
use crate::progress::DepProgress;
use crate::project::{DepKind, Project};
use crate::remote_url::redact;

/// A dependency's checkout after a clone or fetch: its root, its version and whether it was already
/// there (`None` in a dry run).
type Fetched = Option<(PathBuf, String, bool)>;

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
struct GitDep {
    url: String,
    clone: bool,
    pull: bool,
    revision: Option<String>,
    workbranch: String,
    /// The remote's branch heads and tags (one listing, used for the branch rule and to skip needless
    /// fetches).
    listing: Vec<(String, git2::Oid)>,
    /// Local checkout and its version once cloned (or found in place).
    local: Option<(PathBuf, String)>,
    in_place: bool,
}

/// Runs `ignite` (or `ignite env`).
pub(crate) fn run(ctx: &Context, a: &IgniteArgs, out: &mut dyn Write) -> Result<()> {
    if let Some(IgniteCommand::Env(env)) = &a.env {
        return refresh(ctx, env, given(&a.branch), out);
    }
    let runner = ctx.runner();
    let path = a
        .repository
        .clone()
        .ok_or_else(|| anyhow!("missing the repository path argument"))?;
    let project = load_project(&path, a.selector.as_ref(), a.main)?;
    let env_path = env_file::path(&project.root, &project.selector)?;
    let repo = git::open_root(&project.root)?;
    let project_branch = given(&a.branch).map_or_else(|| git::head_branch(&repo), str::to_string);
    drop(repo);

    let mut deps: Vec<GitDep> = project
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
                in_place: false,
            }),
            _ => None,
        })
        .collect();
    if let Some(d) = deps.iter().find(|d| d.pull && !d.clone) {
        bail!(
            "dependency {}: `pull: true` needs `clone: true` (its version comes from the clone)",
            redact(&d.url)
        );
    }

    let progress = dep_progress(&deps);
    resolve_branches(
        &mut deps.iter_mut().collect::<Vec<_>>(),
        &project_branch,
        &progress,
    )?;
    fetch_sources(&project, &mut deps, runner, &progress)?;

    // Tools, one after another (their output would interleave).
    let mut installed = Vec::new();
    for dep in &project.deps {
        if let DepKind::Package(p) = dep {
            installed.push(Install::package(p));
        }
    }
    for d in deps.iter().filter(|d| d.clone) {
        if let Some((dir, _)) = &d.local
            && let Some(install) = Install::from_source(dir)
        {
            installed.push(install);
        }
    }
    for install in &installed {
        install
            .run(runner)
            .with_context(|| format!("unable to install {install}"))?;
    }

    let client = ctx.registry_client()?;
    let dep_images = dependency_images(&project, &deps)?;
    // Dependency images and the project image are looked up together.
    let ((), decision) = ctx.block_on(async {
        futures::try_join!(check_images(&client, &dep_images), async {
            let lookup = image_decision::Lookup {
                client: &client,
                unreachable: a.lookup.registry_unreachable,
            };
            image_decision::decide(
                &project,
                given(&a.suffix),
                given(&a.tmp_registry),
                Some(lookup),
            )
            .await
            .map_err(anyhow::Error::from)
        })
    })?;

    let env = env_file_of(&project, &deps, &project_branch, &decision);
    summary(
        &mut **ctx.err(),
        &project,
        &deps,
        &decision,
        &installed,
        &dep_images,
    )?;
    write_env(ctx, &project, &env_path, &env, a.github, out)
}

/// A status line per dependency, named by its URL without credentials.
fn dep_progress<'a>(deps: impl IntoIterator<Item = &'a GitDep>) -> DepProgress {
    let labels: Vec<String> = deps.into_iter().map(|d| redact(&d.url)).collect();
    DepProgress::new(labels.iter().map(String::as_str))
}

/// One remote listing per dependency, concurrently; the branch rule (or the pinned revision) decides.
/// `progress` has a line per dependency of `deps`, in the same order.
fn resolve_branches(
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
        dep.listing = listing;
        if !dep.clone {
            progress.finish(i, format!("branch {} (remote only)", dep.workbranch));
        }
    }
    Ok(())
}

/// Clones missing dependencies next to the project and updates existing clones, concurrently.
fn fetch_sources(
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
        Ok(Some((git::root(&repo), version, existing)))
    };
    let results = parallel::map(&jobs, parallel::GIT_REMOTES, |job| {
        progress.set(job.index, format!("cloning or fetching {}", job.branch));
        let result = fetch_one(job);
        progress.finish(
            job.index,
            match &result {
                Ok(Some((_, version, _))) => format!("{} at {version}", job.branch),
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
        if let Some((dir, version, in_place)) = local {
            deps[i].local = Some((dir, version));
            deps[i].in_place = in_place;
        }
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
fn dependency_images(project: &Project, deps: &[GitDep]) -> Result<Vec<ImageRef>> {
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

async fn check_images(client: &crate::registry::RegistryClient, images: &[ImageRef]) -> Result<()> {
    let mut checks = futures::stream::iter(images)
        .map(|i| async move { (i, client.exists(i).await) })
        .buffered(parallel::REGISTRY_LOOKUPS);
    while let Some((image, result)) = checks.next().await {
        if !result.with_context(|| format!("checking dependency image {image}"))? {
            bail!("dependency image {image} not found in its registry");
        }
    }
    Ok(())
}

fn env_file_of(
    project: &Project,
    deps: &[GitDep],
    project_branch: &str,
    decision: &ImageDecision,
) -> EnvFile {
    let mut repos: Vec<RepoVars> = deps
        .iter()
        .map(|d| RepoVars {
            prefix: env_name(&repo_name(&d.url)),
            local: d.local.clone(),
            workbranch: d.workbranch.clone(),
        })
        .collect();
    repos.push(RepoVars {
        prefix: project.prefix(),
        local: Some((project.root.clone(), decision.head_version.clone())),
        workbranch: project_branch.to_string(),
    });
    let images = project
        .deps
        .iter()
        .filter_map(|d| match d {
            DepKind::Image(i) => Some((
                ImageRef::parse(i)
                    .map(|r| r.env_prefix())
                    .unwrap_or_else(|_| env_name(i)),
                i.clone(),
            )),
            _ => None,
        })
        .collect();
    EnvFile {
        selector: project.selector.to_string(),
        repos,
        images,
        registry: project.file.registry.clone(),
        image_name: decision.name.clone(),
        project_prefix: project.prefix(),
        image_tag: decision.tag.clone(),
        image_url: decision.url.clone(),
        build: !decision.in_registry,
        promoted_url: decision.promoted_url.clone(),
        temporary_url: decision.temporary_url.clone(),
    }
}

fn summary(
    err: &mut dyn Write,
    project: &Project,
    deps: &[GitDep],
    decision: &ImageDecision,
    installed: &[Install],
    images: &[ImageRef],
) -> Result<()> {
    writeln!(err, "Project {}", project.image_name(""))?;
    writeln!(
        err,
        "  {}@{}",
        project.root.display(),
        decision.head_version
    )?;
    if !project.deps.is_empty() {
        writeln!(err, "Dependencies:")?;
        let mut git_deps = deps.iter();
        for dep in &project.deps {
            match dep {
                DepKind::Package(p) => writeln!(err, "  Package: {p}")?,
                DepKind::Image(i) => writeln!(err, "  Image: {i}")?,
                DepKind::Git { .. } => {
                    let Some(d) = git_deps.next() else { continue };
                    let pull = if d.pull { " pull=true" } else { "" };
                    match &d.local {
                        Some((dir, version)) => writeln!(
                            err,
                            "  {} {version} in-place={}{pull} branch={}",
                            dir.display(),
                            d.in_place,
                            d.workbranch
                        )?,
                        None => writeln!(
                            err,
                            "  {} remote-only=true branch={}",
                            redact(&d.url),
                            d.workbranch
                        )?,
                    }
                }
            }
        }
    }
    writeln!(
        err,
        "Image:\n{}, in registry: {}",
        decision.url, decision.in_registry
    )?;
    writeln!(err, "Tools installed:")?;
    for i in installed {
        writeln!(err, "  {i}")?;
    }
    writeln!(err, "Available Images for dependencies:")?;
    for i in images {
        writeln!(err, "  {i}")?;
    }
    Ok(())
}

fn write_env(
    ctx: &Context,
    project: &Project,
    path: &Path,
    env: &EnvFile,
    github: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let content = env.render();
    if ctx.runner().is_dry_run() {
        writeln!(out, "# would write {}", path.display())?;
        out.write_all(content.as_bytes())?;
        return Ok(());
    }
    env_file::write(&project.root, path, &content)?;
    if github {
        env_file::append_github(&env.vars())
            .context("unable to append to $GITHUB_ENV/$GITHUB_OUTPUT")?;
    }
    writeln!(ctx.err(), "Configuration file:\n  {}", path.display())?;
    Ok(())
}

/// `ignite env`: the env file from the local clones (each with its checked-out branch, or its pinned
/// revision); dependencies not on disk get their work branch from the remote, as `ignite` chooses it.
/// The image is not looked up (so `CIUX_BUILD=true`).
fn refresh(
    ctx: &Context,
    a: &IgniteEnvArgs,
    branch: Option<&str>,
    out: &mut dyn Write,
) -> Result<()> {
    let project = load_project(&a.repository, None, false)?;
    let env_path = env_file::path(&project.root, &project.selector)?;
    let repo = git::open_root(&project.root)?;
    let project_branch = branch.map_or_else(|| git::head_branch(&repo), str::to_string);
    let mut deps = Vec::new();
    for dep in &project.deps {
        let DepKind::Git {
            url,
            clone,
            pull,
            revision,
        } = dep
        else {
            continue;
        };
        let dir = project.dep_dir(url);
        let mut d = GitDep {
            url: url.clone(),
            clone: *clone,
            pull: *pull,
            revision: revision.clone(),
            workbranch: String::new(),
            listing: Vec::new(),
            local: None,
            in_place: true,
        };
        if *clone && dir.exists() {
            let dep_repo =
                git::open_root(&dir).with_context(|| format!("dependency {}", redact(url)))?;
            d.workbranch = revision
                .clone()
                .unwrap_or_else(|| git::head_branch(&dep_repo));
            d.local = Some((
                git::root(&dep_repo),
                git::head_revision(&dep_repo)?.version(),
            ));
        }
        deps.push(d);
    }
    let mut remote: Vec<&mut GitDep> = deps.iter_mut().filter(|d| d.local.is_none()).collect();
    let progress = dep_progress(remote.iter().map(|d| &**d));
    resolve_branches(&mut remote, &project_branch, &progress)?;
    let decision = ctx.block_on(image_decision::decide(&project, None, None, None))?;
    let env = env_file_of(&project, &deps, &project_branch, &decision);
    write_env(ctx, &project, &env_path, &env, false, out)
}
