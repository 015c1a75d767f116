//! `ktbx`: A high-level cli on top of kind: creates kind clusters and installs Kubernetes tools and add-ons.
//!
//! The binary is a thin `main`; the commands live in this library so that they can be tested
//! and so that `xtask` can reach the CLI definition.

mod addons;
mod apply;
pub mod cli;
mod client_tools;
mod cluster;
mod cmd;
mod config;
mod kind_config;
mod registry;
mod targets;
mod tools;

use clap::CommandFactory;
use common::process::Runner;

use crate::cli::{Cli, Command};
use crate::cmd::{create, delete, desk, exist, install, status, version};
use crate::config::Config;

/// Finds and loads the config file, reporting ignored keys.
fn load_config() -> anyhow::Result<Config> {
    let (config, path) = Config::discover(config::locator().find()?)?;
    if let Some(path) = &path {
        tracing::info!(file = %path.display(), "Use config file");
        for key in &config.unknown_keys {
            tracing::warn!(file = %path.display(), key = %key, "unknown config key ignored");
        }
    }
    Ok(config)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    common::logging::init(cli.verbosity.level);
    let mut out = std::io::stdout();
    match cli.command {
        Command::Version(args) => Ok(version::run(&args, &mut out)?),
        Command::Completion(args) => Ok(common::cli::write_completions(
            Cli::command(),
            &args,
            &mut out,
        )?),
        Command::Desk(args) => desk::run(&args, &mut out),
        Command::Delete(args) => {
            delete::run(&args, &cli.name, &Runner::new(args.dry_run), &mut out)
        }
        Command::Create(args) => {
            let config = load_config()?;
            let cwd = std::env::current_dir()?;
            let runner = Runner::new(args.dry_run);
            let env = create::CreateEnv {
                name: &cli.name,
                verbosity: cli.verbosity.level,
                config: &config,
                cwd: &cwd,
                kind_cluster_name: std::env::var("KIND_CLUSTER_NAME").ok(),
                kube: &cli.kube,
                runner: &runner,
            };
            runtime()?.block_on(create::run(&args, &env, &mut out))
        }
        Command::Install(args) => {
            install::require_targets(&args)?;
            let config = load_config()?;
            let runner = Runner::new(args.dry_run);
            runtime()?.block_on(install::run(
                &args, &cli.kube, &cli.name, &config, &runner, &mut out,
            ))
        }
        Command::Exist(args) => runtime()?.block_on(exist::run(&args, &cli.kube, &mut out)),
        Command::Status(_) => {
            runtime()?.block_on(status::run(&cli.kube, &Runner::new(false), &mut out))
        }
    }
}
