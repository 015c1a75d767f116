//! `finkctl completion <shell>`: the shell completion script.

use std::io::Write;

use clap::CommandFactory;
use common::cli::CompletionArgs;

use crate::cli::Cli;
use crate::context::Context;

/// Writes the completion script of `args.shell` to `out`.
pub(crate) fn run(
    _ctx: &Context,
    args: &CompletionArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    Ok(common::cli::write_completions(Cli::command(), args, out)?)
}
