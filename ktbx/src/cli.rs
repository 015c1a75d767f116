//! Command-line definition of `ktbx` (clap derive), kept apart from the commands so that
//! `cargo xtask dist` can render man pages and completions from it.

use clap::{Parser, Subcommand};
use common::cli::{CompletionArgs, Verbosity};

/// A high-level cli on top of kind
#[derive(Debug, Parser)]
#[command(name = "ktbx", version, about, propagate_version = true)]
pub struct Cli {
    /// Global flags.
    #[command(flatten)]
    pub verbosity: Verbosity,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands of `ktbx`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate the autocompletion script for the specified shell
    Completion(CompletionArgs),
}
