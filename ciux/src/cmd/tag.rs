//! `ciux tag`: the next release-candidate tag and the git commands that create it.

use std::io::Write;

use anyhow::Result;

use crate::cli::TagArgs;
use crate::context::Context;
use crate::project::absolute;
use crate::semver_tag::{TagVersion, next_release_candidate};

/// Prints `git tag -m "Release T" T` and `git push --tag`.
pub(crate) fn run(ctx: &Context, a: &TagArgs, out: &mut dyn Write) -> Result<()> {
    let root = absolute(&a.repo.repository)?;
    let repo = crate::git::open_root(&root)?;
    let rev = crate::git::head_revision(&repo, ctx.index_refresh())?;
    let current = rev.tag.as_deref().and_then(TagVersion::parse);
    let next = next_release_candidate(current.as_ref())?;
    writeln!(out, "git tag -m \"Release {next}\" {next}")?;
    writeln!(out, "git push --tag")?;
    Ok(())
}
