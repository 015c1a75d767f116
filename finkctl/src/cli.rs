//! Command-line definition of `finkctl` (clap derive), kept apart from the commands so that
//! `cargo xtask dist` can render man pages and completions from it.

use clap::{Parser, Subcommand};
use common::cli::{CompletionArgs, Verbosity};

/// Command-line tool for managing and interacting with the Fink broker and its components on Spark over Kubernetes
#[derive(Debug, Parser)]
#[command(name = "finkctl", version, about, propagate_version = true)]
pub struct Cli {
    /// Global flags.
    #[command(flatten)]
    pub verbosity: Verbosity,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands of `finkctl`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate the autocompletion script for the specified shell
    Completion(CompletionArgs),
}
