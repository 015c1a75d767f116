//! `ciux image load | cleanup | promote`.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use common::process::{Cmd, Runner};

use crate::cli::{ImageCleanupArgs, ImageCommand, ImageLoadArgs, ImagePromoteArgs};
use crate::context::Context;
use crate::image_ref::ImageRef;
use crate::local_images::{Listed, cutoff, format_utc, listed, parse_created};

const DOCKER_HINT: &str = "install Docker and put `docker` on PATH";

/// Runs an `image` sub-command.
pub(crate) fn run(ctx: &Context, cmd: &ImageCommand, out: &mut dyn Write) -> Result<()> {
    match cmd {
        ImageCommand::Load(a) => load(a, ctx.runner(), out),
        ImageCommand::Cleanup(a) => cleanup(a, ctx.runner(), out),
        ImageCommand::Promote(a) => promote(ctx, a, out),
    }
}

fn docker<I: IntoIterator<Item = S>, S: Into<std::ffi::OsString>>(args: I) -> Cmd {
    Cmd::new("docker").args(args).hint(DOCKER_HINT)
}

fn load(a: &ImageLoadArgs, runner: &Runner, out: &mut dyn Write) -> Result<()> {
    let url = &a.image_url;
    writeln!(
        out,
        "Loading image: {url} (build-status: {}, runner: {})",
        a.build_status, a.runner
    )?;
    if !a.build_status.eq_ignore_ascii_case("true") {
        writeln!(out, "Using existing remote image: {url}")?;
        return Ok(());
    }
    if a.runner.contains("self-hosted") {
        let reference = format!("reference={url}");
        let found = Runner::new(false).query(&docker([
            "images",
            "--filter",
            &reference,
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ]))?;
        if found.stdout_str().lines().any(|l| l.trim() == url) {
            writeln!(out, "✓ Image {url} found in local Docker registry")?;
            let table = Runner::new(false).query(&docker(["images", "--filter", &reference]))?;
            out.write_all(&table.stdout)?;
            return Ok(());
        }
        writeln!(out, "✗ Image {url} not found in local Docker registry")?;
        writeln!(out, "Available images:")?;
        let all = Runner::new(false).query(&docker(["images"]))?;
        out.write_all(&all.stdout)?;
        bail!("image {url} not found in local Docker registry");
    }
    if !a.artifact_path.is_file() {
        bail!("artifact file {} not found", a.artifact_path.display());
    }
    let loaded = runner
        .run_logged(&docker(["load", "--input"]).arg(&a.artifact_path))
        .with_context(|| format!("unable to load image from {}", a.artifact_path.display()))?;
    writeln!(
        out,
        "✓ Successfully loaded image from {}",
        a.artifact_path.display()
    )?;
    out.write_all(&loaded.stdout)?;
    Ok(())
}

fn cleanup(a: &ImageCleanupArgs, runner: &Runner, out: &mut dyn Write) -> Result<()> {
    let max_age = a.max_age.age;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let cutoff = cutoff(now, max_age);
    if cutoff == 0 {
        tracing::warn!(
            "max-age {} reaches before 1970: no image is that old, none is removed",
            a.max_age.text
        );
    }
    writeln!(
        out,
        "Removing images created before: {} UTC",
        format_utc(cutoff)
    )?;
    let listing = Runner::new(false).query(&docker(["images", "--format", "{{json .}}"]))?;
    let mut removed = 0;
    for line in listing
        .stdout_str()
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        let Some(Listed { name, id, created }) = listed(line) else {
            tracing::warn!("unreadable `docker images` line: {line}");
            continue;
        };
        if !name.contains(&a.pattern) {
            continue;
        }
        let Some(at) = parse_created(&created, now) else {
            tracing::warn!("{name}: unreadable creation time {created:?}, skipped");
            continue;
        };
        if at < cutoff {
            writeln!(out, "Removing image {name} ({id}, created {created})")?;
            match runner.run_logged(&docker(["rmi", &id])) {
                Ok(_) => removed += 1,
                Err(e) => tracing::warn!("unable to remove {name}: {e}"),
            }
        } else {
            writeln!(out, "Keeping recent image {name} (created {created})")?;
        }
    }
    if let Err(e) = runner.run_logged(&docker(["image", "prune", "-f"])) {
        tracing::warn!("unable to prune dangling images: {e}");
    }
    writeln!(out, "Remaining images matching {:?}:", a.pattern)?;
    let rest = Runner::new(false).query(&docker([
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}\t{{.CreatedAt}}\t{{.ID}}",
    ]))?;
    for line in rest.stdout_str().lines().filter(|l| l.contains(&a.pattern)) {
        writeln!(out, "{line}")?;
    }
    writeln!(out, "Cleanup completed: removed {removed} images")?;
    Ok(())
}

fn promote(ctx: &Context, a: &ImagePromoteArgs, out: &mut dyn Write) -> Result<()> {
    let image = ImageRef::parse(&a.image)?;
    if image.is_digest() {
        bail!("promote needs a tagged image, not a digest: {}", a.image);
    }
    let target = if a.target.contains('/') || a.target.contains(':') {
        ImageRef::parse(&a.target)?
    } else {
        ImageRef {
            reference: a.target.clone(),
            ..image.clone()
        }
    };
    if target.is_digest() {
        bail!("promote gives a tag, not a digest: {}", a.target);
    }
    if ctx.runner().is_dry_run() {
        writeln!(out, "promote {image} as {target}")?;
        return Ok(());
    }
    let client = ctx.registry_client()?;
    ctx.block_on(client.copy(&image, &target))?;
    writeln!(out, "Promoted {image} as {target}")?;
    Ok(())
}
