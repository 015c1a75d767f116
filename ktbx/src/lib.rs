//! `ktbx`: A high-level cli on top of kind: creates kind clusters and installs Kubernetes tools and add-ons.
//!
//! The binary is a thin `main`; the commands live in this library so that they can be tested
//! and so that `xtask` can reach the CLI definition.
//!
//! One-way layers: `main` → `lib` (dispatch only) → `cmd::<command>` (plus `cli` and `context`)
//! → domain modules (`addons`, `apply`, `client_tools`, `cluster`, `config`, `diag`, `doctor`,
//! `kind_config`, `mirrors`, `provision`, `registry`, `stack`, `stack_state`, `targets`, `tools`) →
//! `common`. Commands write to the `out` they are given, never
//! with print macros.

#![deny(clippy::print_stdout, clippy::print_stderr)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

mod addons;
mod apply;
pub mod cli;
mod client_tools;
mod cluster;
mod cmd;
mod config;
mod context;
mod diag;
mod doctor;
mod kind_config;
mod mirrors;
mod provision;
mod registry;
mod stack;
mod stack_state;
mod targets;
#[cfg(test)]
mod test_env;
mod tools;

use crate::cli::{Cli, Command};
use crate::cmd::{completion, create, delete, desk, exist, install, status, version};
use crate::context::Context;

/// Runs a parsed command line: dispatches to the command's module.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    common::logging::init(cli.verbosity.level);
    let Cli {
        verbosity,
        name,
        kube,
        command,
    } = cli;
    let ctx = Context {
        name: name.filter(|n| !n.is_empty()),
        verbosity: verbosity.level,
        kube,
    };
    let out = &mut std::io::stdout();
    match &command {
        Command::Version(args) => version::run(&ctx, args, out),
        Command::Completion(args) => completion::run(&ctx, args, out),
        Command::Desk(args) => desk::run(&ctx, args, out),
        Command::Delete(args) => delete::run(&ctx, args, out),
        Command::Apply(args) => cmd::apply::run(&ctx, args, out),
        Command::Create(args) => create::run(&ctx, args, out),
        Command::Install(args) => install::run(&ctx, args, out),
        Command::Exist(args) => exist::run(&ctx, args, out),
        Command::Status(args) => status::run(&ctx, args, out),
        Command::Doctor(args) => cmd::doctor::run(&ctx, args, out),
    }
}

/// The module stack is one-way (see `harness::layers`): no arrow up, no command importing another,
/// no circle.
#[cfg(test)]
#[test]
fn the_modules_form_a_one_way_stack() {
    harness::layers::assert_one_way(env!("CARGO_MANIFEST_DIR"));
}
