//! `ciux get image | revision | dependencies | clustername | configpath`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde_json::json;

use crate::cli::{
    GetCommand, GetImageArgs, GetRevisionArgs, OutputFormat, SelectorRepoArgs, given,
};
use crate::cluster_name::cluster_name;
use crate::context::{Context, load_project};
use crate::env_file;
use crate::git;
use crate::image_decision;
use crate::project::{DepKind, absolute};
use crate::remote_url::redact;
use crate::revision::Revision;

/// Runs a `get` sub-command.
pub(crate) fn run(ctx: &Context, cmd: &GetCommand, out: &mut dyn Write) -> Result<()> {
    match cmd {
        GetCommand::Image(a) => image(ctx, a, out),
        GetCommand::Revision(a) => revision(ctx, a, out),
        GetCommand::Dependencies(a) => dependencies(a, out),
        GetCommand::Clustername(a) => clustername(ctx, a, out),
        GetCommand::Configpath(a) => configpath(a, out),
    }
}

fn print_json(out: &mut dyn Write, value: &serde_json::Value) -> Result<()> {
    writeln!(out, "{}", serde_json::to_string_pretty(value)?)?;
    Ok(())
}

fn image(ctx: &Context, a: &GetImageArgs, out: &mut dyn Write) -> Result<()> {
    let (project, repo) = load_project(&a.repo.repository, None, true)?;
    let repo = repo.get()?;
    let client = if a.check {
        Some(ctx.registry_client()?)
    } else {
        None
    };
    let decision = match &client {
        Some(client) => {
            let lookup = image_decision::Lookup {
                client,
                unreachable: a.lookup.registry_unreachable,
                force: a.lookup.force_build,
                index: ctx.index_refresh(),
            };
            ctx.block_on(image_decision::decide(
                &project,
                repo,
                given(&a.suffix),
                given(&a.tmp_registry),
                lookup,
            ))?
        }
        None => image_decision::decide_unchecked(
            &project,
            repo,
            given(&a.suffix),
            given(&a.tmp_registry),
            ctx.index_refresh(),
        )?,
    };
    if a.output.format == OutputFormat::Json {
        return print_json(out, &serde_json::to_value(&decision)?);
    }
    if a.env {
        writeln!(
            out,
            "export CIUX_IMAGE_URL={}",
            env_file::quote(&decision.url)
        )?;
        writeln!(out, "export CIUX_BUILD={}", !decision.in_registry)?;
        // `$(ciux get image --env)` is executed: nothing else on stdout.
        if a.explain {
            write!(ctx.err(), "{}", decision.explain())?;
        }
    } else {
        writeln!(
            out,
            "Image: {}, in registry: {}",
            decision.url, decision.in_registry
        )?;
        if a.explain {
            write!(out, "{}", decision.explain())?;
        }
    }
    Ok(())
}

fn head_revision(ctx: &Context, path: &Path) -> Result<Revision> {
    let root = absolute(path).with_context(|| format!("invalid path {}", path.display()))?;
    let repo = git::open_root(&root)?;
    Ok(git::head_revision(&repo, ctx.index_refresh())?)
}

fn revision(ctx: &Context, a: &GetRevisionArgs, out: &mut dyn Write) -> Result<()> {
    let rev = head_revision(ctx, &a.repo.repository)?;
    if a.output.format == OutputFormat::Json {
        return print_json(
            out,
            &json!({
                "tag": rev.tag, "counter": rev.counter, "hash": rev.hash, "dirty": rev.dirty,
                "branch": rev.branch, "version": rev.version(), "isRelease": rev.is_release(),
            }),
        );
    }
    if a.isrelease {
        if rev.is_release()
            && let Some(tag) = &rev.tag
        {
            writeln!(out, "{tag}")?;
        }
    } else {
        writeln!(out, "Revision: {rev}")?;
    }
    Ok(())
}

fn dependencies(a: &SelectorRepoArgs, out: &mut dyn Write) -> Result<()> {
    let (project, _) = load_project(&a.repo.repository, a.selector.as_ref(), false)?;
    if a.output.format == OutputFormat::Json {
        let deps: Vec<_> = project
            .deps
            .iter()
            .map(|d| match d {
                DepKind::Package(p) => json!({"kind": "package", "package": p}),
                DepKind::Release(r) => json!({"kind": "release", "release": r}),
                DepKind::Image(i) => json!({"kind": "image", "image": i}),
                DepKind::Git { url, clone, pull, revision } => {
                    json!({"kind": "git", "url": redact(url), "clone": clone, "pull": pull, "revision": revision})
                }
            })
            .collect();
        return print_json(out, &json!({ "dependencies": deps }));
    }
    for dep in &project.deps {
        writeln!(out, "  {}", dep.label())?;
    }
    Ok(())
}

fn clustername(ctx: &Context, a: &SelectorRepoArgs, out: &mut dyn Write) -> Result<()> {
    let rev = head_revision(ctx, &a.repo.repository)?;
    let name = cluster_name(
        &std::env::var("USER").unwrap_or_default(),
        &rev.branch,
        &rev.hash,
        rev.dirty,
    );
    if a.output.format == OutputFormat::Json {
        return print_json(out, &json!({ "clusterName": name }));
    }
    writeln!(out, "{name}")?;
    Ok(())
}

fn configpath(a: &SelectorRepoArgs, out: &mut dyn Write) -> Result<()> {
    let (project, _) = load_project(&a.repo.repository, a.selector.as_ref(), false)?;
    let path = env_file::path(&project.root, &project.selector)?;
    if !path.exists() {
        bail!(
            "ciux configuration file not found at {} (run `ciux ignite{} {}` first)",
            path.display(),
            match &a.selector {
                Some(s) if !s.is_empty() => format!(" --selector {s}"),
                _ => String::new(),
            },
            project.root.display()
        );
    }
    if a.output.format == OutputFormat::Json {
        return print_json(out, &json!({ "path": path }));
    }
    writeln!(out, "{}", path.display())?;
    Ok(())
}
