//! `ciux ignite`: resolve dependency branches, clone or update them, install tools, check images, decide
//! the project image and write the env file. `ciux ignite env`: rewrite the env file from disk only.

use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail};

use crate::cli::{IgniteArgs, IgniteCommand, IgniteEnvArgs, given};
use crate::context::{Context, load_project};
use crate::dependencies::{
    GitDep, check_images, dep_progress, dependency_images, replay_sources, resolve_and_fetch,
    resolve_branches,
};
use crate::env_file::{self, EnvFile, RepoVars};
use crate::git;
use crate::image_decision::{self, ImageDecision};
use crate::image_ref::{ImageRef, ImageRefExt, env_name, repo_name};
use crate::install::Install;
use crate::lock::{Lock, LockedImage};
use crate::project::{DepKind, Project};
use crate::remote_url::redact;

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
    let (project, repo) = load_project(&path, a.selector.as_ref(), a.main)?;
    let env_path = env_file::path(&project.root, &project.selector)?;
    let project_branch = match given(&a.branch) {
        Some(branch) => branch.to_string(),
        None => repo.head_branch()?,
    };

    let mut deps = GitDep::of(&project, false);
    if let Some(d) = deps.iter().find(|d| d.pull && !d.clone) {
        bail!(
            "dependency {}: `pull: true` needs `clone: true` (its version comes from the clone)",
            redact(&d.url)
        );
    }

    let lock_path = Lock::path(&project.root);
    let frozen = a.frozen.then(|| Lock::load(&lock_path)).transpose()?;
    let image_deps: Vec<String> = project
        .deps
        .iter()
        .filter_map(|d| match d {
            DepKind::Image(i) => Some(i.clone()),
            _ => None,
        })
        .collect();
    let progress = dep_progress(&deps);
    if let Some(lock) = &frozen {
        let urls: Vec<String> = deps.iter().map(|d| redact(&d.url)).collect();
        let selector = project.selector.to_string();
        lock.check(&lock_path, &selector, &project_branch, &urls, &image_deps)?;
        replay_sources(&project, &mut deps, lock, runner, &progress)?;
    } else {
        resolve_and_fetch(&project, &mut deps, &project_branch, runner, &progress)?;
    }

    // Tools, one after another (their output would interleave).
    let mut installed = Vec::new();
    for dep in &project.deps {
        match dep {
            DepKind::Package(p) => installed.push(Install::package(p)),
            DepKind::Release(r) => installed.push(Install::Release(
                crate::install::Release::parse(r)
                    .map_err(|reason| anyhow!("release {r:?} {reason}"))?,
            )),
            _ => {}
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
            .run(runner, out)
            .with_context(|| format!("unable to install {install}"))?;
    }

    let dep_images = dependency_images(&project, &deps)?;
    // A frozen run at the locked project commit replays the locked image decision: no registry.
    // On a clean tree at that commit (told from its files, as for the clones), no repository is
    // opened either: the locked version is HEAD's.
    let at_lock = frozen
        .as_ref()
        .filter(|lock| lock.project_unchanged(&project));
    let head = match at_lock {
        Some(lock) => lock.project.commit.clone(),
        None => git::head_commit(repo.get()?)?.to_string(),
    };
    let replayed = match &frozen {
        Some(lock) => lock.replay(
            &head,
            match at_lock {
                Some(_) => image_decision::decide_at_version(
                    &project,
                    given(&a.suffix),
                    given(&a.tmp_registry),
                    &lock.project.version,
                ),
                None => image_decision::decide_unchecked(
                    &project,
                    repo.get()?,
                    given(&a.suffix),
                    given(&a.tmp_registry),
                    ctx.index_refresh(),
                )?,
            },
        ),
        None => None,
    };
    if frozen.is_some() && replayed.is_none() {
        tracing::info!("the project moved since the lock: its image is looked up again");
    }
    // Dependency images (pinned by the lock when frozen) and the project image are looked up together.
    let checked = if frozen.is_some() {
        &[][..]
    } else {
        &dep_images[..]
    };
    let (digests, decision) = match replayed {
        Some(decision) => (Vec::new(), decision),
        None => {
            let client = ctx.registry_client()?;
            ctx.block_on(async {
                futures::try_join!(check_images(&client, checked), async {
                    let lookup = image_decision::Lookup {
                        client: &client,
                        unreachable: a.lookup.registry_unreachable,
                        force: a.lookup.force_build,
                        index: ctx.index_refresh(),
                    };
                    image_decision::decide(
                        &project,
                        repo.get()?,
                        given(&a.suffix),
                        given(&a.tmp_registry),
                        lookup,
                    )
                    .await
                    .map_err(anyhow::Error::from)
                })
            })?
        }
    };

    if a.explain {
        write!(ctx.err(), "{}", decision.explain())?;
    }
    let env = env_file_of(&project, &deps, &project_branch, &decision);
    summary(
        &mut **ctx.err(),
        &project,
        &deps,
        &decision,
        &installed,
        &dep_images,
    )?;
    write_env(ctx, &project, &env_path, &env, a.github, out)?;
    if a.lock {
        // The image dependencies' digests are the last ones (after the `pull` images).
        let skip = digests.len().saturating_sub(image_deps.len());
        let images = image_deps
            .into_iter()
            .zip(digests.into_iter().skip(skip))
            .map(|(image, digest)| LockedImage { image, digest })
            .collect();
        let selector = project.selector.to_string();
        let locked = deps.iter().map(GitDep::locked).collect();
        let tree = git::tree_of(repo.get()?, git2::Oid::from_str(&head)?)?.to_string();
        let lock = Lock::of_run(
            &selector,
            &project_branch,
            (&head, Some(tree)),
            locked,
            &decision,
            images,
        );
        write_lock(ctx, &lock_path, &lock, out)?;
    }
    Ok(())
}

/// Writes `.ciux.lock` (prints it under `--dry-run`).
fn write_lock(ctx: &Context, path: &Path, lock: &Lock, out: &mut dyn Write) -> Result<()> {
    let content = lock.render();
    if ctx.runner().is_dry_run() {
        writeln!(out, "# would write {}", path.display())?;
        out.write_all(content.as_bytes())?;
        return Ok(());
    }
    common::fs::atomic_write(path, content.as_bytes(), 0o644)?;
    writeln!(ctx.err(), "Lock file:\n  {}", path.display())?;
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
        reason: (decision.reason.kind(), decision.reason.summary()),
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
                DepKind::Release(r) => writeln!(err, "  Release: {r}")?,
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
    let (project, repo) = load_project(&a.repo.repository, None, false)?;
    let env_path = env_file::path(&project.root, &project.selector)?;
    let project_branch = match branch {
        Some(branch) => branch.to_string(),
        None => repo.head_branch()?,
    };
    let mut deps = GitDep::of(&project, true);
    for d in &mut deps {
        let dir = project.dep_dir(&d.url);
        if d.clone && dir.exists() {
            let dep_repo =
                git::open_root(&dir).with_context(|| format!("dependency {}", redact(&d.url)))?;
            d.workbranch = d
                .revision
                .clone()
                .unwrap_or_else(|| git::head_branch(&dep_repo));
            d.local = Some((
                git::root(&dep_repo),
                git::head_revision(&dep_repo, ctx.index_refresh())?.version(),
            ));
        }
    }
    let remote: Vec<(usize, &mut GitDep)> = deps
        .iter_mut()
        .filter(|d| d.local.is_none())
        .enumerate()
        .collect();
    let progress = dep_progress(remote.iter().map(|(_, d)| &**d));
    resolve_branches(remote, &project_branch, &progress)?;
    let decision =
        image_decision::decide_unchecked(&project, repo.get()?, None, None, ctx.index_refresh())?;
    let env = env_file_of(&project, &deps, &project_branch, &decision);
    write_env(ctx, &project, &env_path, &env, false, out)
}
