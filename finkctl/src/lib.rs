//! `finkctl`: Command-line tool for managing the Fink broker and its components on Spark over Kubernetes.
//!
//! The binary is a thin `main`; this library only dispatches a parsed [`cli::Cli`] to the command
//! in `cmd/<command>.rs`. It exposes [`cli`] (for `xtask`'s man pages and completions) and [`run`];
//! everything else is private. One-way layers, each importing only from those below it:
//! `main` → `lib` (dispatch) → `cmd::<command>` (plus `cli` and `context`) → domain modules
//! (`application_wait`, `config`, `diag`, `jaas`, `kafka`, `kube_api`, `log_stream`, `night`,
//! `object_events`, `pod_health`, `pod_template`, `report`, `restart_policy`, `s3`, `sigv4`,
//! `spark_application`, `spark_driver`, `spark_job`, `spark_submit`, `spark_tasks`, `spec_diff`,
//! `template`, `topics`) →
//! `common`. Commands write to the `out` they are given and to the context's diagnostics stream,
//! never with print macros.

#![deny(clippy::print_stdout, clippy::print_stderr)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

mod application_wait;
pub mod cli;
mod cmd;
mod config;
mod context;
mod diag;
mod jaas;
mod kafka;
mod kube_api;
mod log_stream;
mod night;
mod object_events;
mod pod_health;
mod pod_template;
mod report;
mod restart_policy;
mod s3;
mod sigv4;
mod spark_application;
mod spark_driver;
mod spark_job;
mod spark_submit;
mod spark_tasks;
mod spec_diff;
mod template;
mod topics;

use crate::cli::{Cli, Command};
use crate::config::ConfigSources;
use crate::context::Context;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    common::logging::init(cli.verbosity.level);
    let ctx = Context::new(
        cli.dry_run,
        cli.endpoint,
        ConfigSources::from_env(cli.config, cli.secret),
        cli.kube,
        Box::new(std::io::stderr()),
    );
    // Unlocked handle: the process runner's forwarding threads write to the same stream.
    let out = &mut std::io::stdout();
    match &cli.command {
        Command::Version(args) => cmd::version::run(&ctx, args, out),
        Command::Completion(args) => cmd::completion::run(&ctx, args, out),
        Command::Run(args) => cmd::run::run(&ctx, args, out),
        Command::S3(args) => cmd::s3::run(&ctx, args, out),
        Command::Createsecrets(args) => cmd::createsecrets::run(&ctx, args, out),
        Command::Delete(args) => cmd::delete::run(&ctx, args, out),
        Command::Get(args) => cmd::get::run(&ctx, args, out),
        Command::Wait(args) => cmd::wait::run(&ctx, args, out),
        Command::Suspend(args) => cmd::lifecycle::suspend(&ctx, args, out),
        Command::Resume(args) => cmd::lifecycle::resume(&ctx, args, out),
        Command::Status(args) => cmd::status::run(&ctx, args, out),
        Command::Logs(args) => cmd::logs::run(&ctx, args, out),
        Command::Events(args) => cmd::events::run(&ctx, args, out),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::config::FinkConfig;
    use crate::night::resolve_night;
    use crate::s3::Endpoint;
    use crate::template::render_night;

    proptest! {
        /// Nights, templates, endpoints and configuration files from users end in a value or an
        /// error, never in a panic.
        #[test]
        fn user_input_never_panics(text in "\\PC{0,40}", yaml in "[a-z:{}\\[\\] \\n\"'-]{0,60}") {
            let _ = resolve_night(false, Some(&text), "");
            let _ = render_night("k", &text, "20000101");
            let _ = Endpoint::parse(&text, false);
            if let Ok(config) = FinkConfig::from_yaml_texts(&[&yaml, &text]) {
                let _ = config.redacted_yaml();
                let _ = config.unknown_keys();
            }
        }
    }
}

/// The module stack is one-way (see `harness::layers`): no arrow up, no command importing another,
/// no circle.
#[cfg(test)]
#[test]
fn the_modules_form_a_one_way_stack() {
    harness::layers::assert_one_way(env!("CARGO_MANIFEST_DIR"));
}
