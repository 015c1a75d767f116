//! `ciux`: Software stack versioning for CI: dependency branches, versions, image tags and build decisions.
//!
//! The binary is a thin `main`; the commands live in this library so that they can be tested
//! and so that `xtask` can reach the CLI definition.

pub mod cli;

use clap::CommandFactory;

use crate::cli::{Cli, Command};

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    common::logging::init(cli.verbosity.level);
    match cli.command {
        Command::Completion(args) => {
            common::cli::write_completions(Cli::command(), &args, &mut std::io::stdout().lock());
            Ok(())
        }
    }
}
