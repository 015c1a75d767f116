//! `ciux`: Software stack versioning for CI: dependency branches, versions, image tags and build decisions.
//!
//! The binary is a thin `main`; the commands live in this library so that they can be tested
//! and so that `xtask` can reach the CLI definition.

pub mod branch_rule;
pub mod ciux_file;
pub mod cli;
pub mod cmd;
pub mod credentials;
pub mod env_file;
pub mod git;
pub mod git_http;
pub mod image_decision;
pub mod image_ref;
pub mod install;
pub mod parallel;
pub mod progress;
pub mod project;
pub mod registry;
pub mod remote_url;
pub mod revision;
pub mod selector;
pub mod semver_tag;

use std::time::Duration;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::{Cli, Command};

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    common::logging::init(cli.verbosity.level);
    let runner = common::process::Runner::new(cli.dry_run);
    // Unlocked handles: the process runner's forwarding threads write to the same streams.
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    match cli.command {
        Command::Ignite(a) => cmd::ignite::run(a, &runner, &mut out, &mut err),
        Command::Get(c) => cmd::get::run(c, &mut out),
        Command::Tag(a) => cmd::tag::run(a, &mut out),
        Command::Image(c) => cmd::image::run(c, &runner, &mut out),
        Command::Completion(args) => Ok(common::cli::write_completions(
            Cli::command(),
            &args,
            &mut out,
        )?),
    }
}

/// The registry client of this run; `CIUX_REGISTRY_TIMEOUT` (seconds, default 30) bounds each request.
pub fn registry_client() -> anyhow::Result<registry::RegistryClient> {
    registry::RegistryClient::new(
        timeout_from_env("CIUX_REGISTRY_TIMEOUT", 30.0),
        credentials::Credentials::load(),
    )
    .context("unable to create the registry HTTP client")
}

/// A timeout in seconds from the environment variable `var` (a positive number), else `default`.
pub(crate) fn timeout_from_env(var: &str, default: f64) -> Duration {
    let secs = std::env::var(var)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0)
        .unwrap_or(default);
    Duration::from_secs_f64(secs)
}

/// Runs a future to completion on a small runtime (registry look-ups).
pub fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime can always be built")
        .block_on(f)
}
