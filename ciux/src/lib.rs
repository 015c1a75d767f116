//! `ciux`: Software stack versioning for CI: dependency branches, versions, image tags and build decisions.
//!
//! The binary is a thin `main`; this library parses nothing and only dispatches a parsed [`cli::Cli`] to
//! the command in `cmd/<command>.rs`. It exposes [`cli`] (for `xtask`'s man pages and completions) and
//! [`run`]; everything else is private. Layers, each importing only from those below it:
//! `main → lib → cmd/* → context → domain modules → common`.

#![warn(clippy::print_stdout, clippy::print_stderr)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

mod base_image;
mod branch_rule;
mod ciux_file;
pub mod cli;
mod cluster_name;
mod cmd;
mod context;
mod credentials;
mod dependencies;
mod env_file;
mod git;
mod git_http;
mod image_decision;
mod image_ref;
mod install;
mod local_images;
mod lock;
mod lock_diff;
mod parallel;
mod progress;
mod project;
mod registry;
mod remote_url;
mod revision;
mod selector;
mod semver_tag;
mod timeout;
mod tree_tag;

use crate::cli::{Cli, Command};
use crate::context::Context;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    common::logging::init(cli.verbosity.level);
    // Line-buffered: the report is written in pieces, one system call per line instead of per piece.
    let ctx = Context::new(
        cli.dry_run,
        Box::new(std::io::LineWriter::new(std::io::stderr())),
    );
    // Unlocked handle: the process runner's forwarding threads write to the same stream.
    let out = &mut std::io::stdout();
    match &cli.command {
        Command::Ignite(args) => cmd::ignite::run(&ctx, args, out),
        Command::Get(args) => cmd::get::run(&ctx, args, out),
        Command::Tag(args) => cmd::tag::run(&ctx, args, out),
        Command::Image(args) => cmd::image::run(&ctx, args, out),
        Command::Completion(args) => cmd::completion::run(&ctx, args, out),
        Command::Lock(args) => cmd::lock::run(&ctx, args, out),
    }
}

/// The module stack is one-way (see `harness::layers`): no arrow up, no command importing another,
/// no circle.
#[cfg(test)]
#[test]
fn the_modules_form_a_one_way_stack() {
    harness::layers::assert_one_way(env!("CARGO_MANIFEST_DIR"));
}
