//! `cargo xtask`: the project's automation, written in Rust so that it needs only cargo.
//!
//! - `cargo xtask ci`: format check, dependency rules, clippy with `-D warnings`, then the whole test suite.
//! - `cargo xtask dist [--target <triple>] <tool>`: an optimised release archive of one tool with
//!   completions and a man page (`--help` lists the targets of `release.yml`).
//! - `cargo xtask demo`: the three tools on a generated stack and a simulated cluster, in one command.
//! - `cargo xtask bench [ktbx|ciux|finkctl]`: the performance table (release builds).
//! - `cargo xtask e2e`: the opt-in tests that need docker and network (a real kind cluster).
//! - `cargo xtask real-apiserver`: builds (once, cached) the real kube-apiserver the tests also run
//!   against, from Debian's `kubernetes` source package; skips where apt cannot be used.

mod bench;
mod ci;
mod demo;
mod dist;
mod real_apiserver;
mod release_files;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(),
        Some("dist") => dist::run(&args[1..]),
        Some("demo") => demo::run(),
        Some("bench") => bench::run(&args[1..]),
        Some("e2e") => e2e(),
        Some("real-apiserver") => real_apiserver::run(),

        _ => {
            eprintln!(
                "usage: cargo xtask ci | dist [--target <triple>] <ktbx|ciux|finkctl>... | demo | bench [ktbx|ciux|finkctl]... | e2e | real-apiserver"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of this crate's directory).
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Runs `cargo <args>` from the workspace root and fails if it fails.
pub(crate) fn cargo(args: &[&str]) -> Result<()> {
    cargo_with_env(args, &[])
}

/// [`cargo`] with extra environment variables.
pub(crate) fn cargo_with_env(args: &[&str], envs: &[(&str, &OsStr)]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(project_root())
        .status()
        .with_context(|| format!("running {cargo}"))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// The tests that need what CI machines lack (a docker engine, network): ignored by default.
fn e2e() -> Result<()> {
    let docker = Command::new("docker").arg("info").output();
    if !docker.is_ok_and(|output| output.status.success()) {
        bail!(
            "`docker info` fails: the e2e tests need a running docker engine (and network for kind's node image)"
        );
    }
    cargo(&[
        "test",
        "--locked",
        "-p",
        "ktbx",
        "--test",
        "cli",
        "e2e",
        "--",
        "--ignored",
    ])
}
