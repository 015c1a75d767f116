//! `ciux lock diff OLD NEW`: the commits between two lock files, per dependency.

use std::io::Write;

use anyhow::Result;

use crate::cli::LockCommand;
use crate::context::Context;
use crate::lock::Lock;
use crate::lock_diff;
use crate::project::absolute;

/// Prints one line per changed dependency, then its commits.
pub(crate) fn run(_ctx: &Context, command: &LockCommand, out: &mut dyn Write) -> Result<()> {
    let LockCommand::Diff(a) = command;
    let old = Lock::load(&a.old)?;
    let new = Lock::load(&a.new)?;
    let new_path = absolute(&a.new)?;
    for line in lock_diff::diff(&old, &new, &new_path)? {
        writeln!(out, "{line}")?;
    }
    Ok(())
}
