//! `cargo xtask ci`: what CI runs.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo, cargo_with_env, project_root};

/// What CI runs: formatting, the dependency-graph rules, lints, then every test of the workspace.
pub(crate) fn run() -> Result<()> {
    cargo(&["fmt", "--all", "--", "--check"])?;
    check_single_crypto_provider()?;
    crate::release_files::check()?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ])?;
    // The scenario tests run the three debug binaries, which nextest builds with the workspace's
    // features (every package's integration tests need its binary): point the tests at them, so no
    // test starts a nested cargo build with another feature set.
    let bin_dir = target_dir()?.join("debug");
    // Say up front whether the tests against a real kube-apiserver run or skip (and why).
    match harness::kube_bin::find() {
        Ok(binaries) => eprintln!(
            "xtask: real kube-apiserver tests run with {}",
            binaries.apiserver.display()
        ),
        Err(reason) => eprintln!("xtask: real kube-apiserver tests SKIP: {reason}"),
    }
    cargo_with_env(
        &[
            "nextest",
            "run",
            "--workspace",
            "--locked",
            "--no-fail-fast",
        ],
        &[("FINK_TOOLS_BIN_DIR", bin_dir.as_os_str())],
    )?;
    Ok(())
}

/// The cargo target directory (`$CARGO_TARGET_DIR` or `<root>/target`).
fn target_dir() -> Result<std::path::PathBuf> {
    Ok(match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => project_root().join("target"),
    })
}

/// Crates that would bring a second rustls crypto provider next to `ring`.
const FORBIDDEN_PROVIDERS: &[&str] = &[
    "aws-lc-rs",
    "aws-lc-sys",
    "aws-lc-fips-sys",
    "rustls-openssl",
];

/// Fails if the dependency graph holds another rustls provider than `ring`: two providers make
/// kube's `Client::try_from` panic at run time ("Could not automatically determine the
/// process-level CryptoProvider").
fn check_single_crypto_provider() -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = Command::new(&cargo)
        .args([
            "tree",
            "--workspace",
            "--locked",
            "--edges",
            "normal,build,dev",
        ])
        .args(["--prefix", "none", "--format", "{p}"])
        .current_dir(project_root())
        .output()
        .with_context(|| format!("running {cargo} tree"))?;
    if !output.status.success() {
        bail!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let tree = String::from_utf8_lossy(&output.stdout);
    let offenders = providers_in(&tree);
    if !offenders.is_empty() {
        bail!(
            "a second rustls crypto provider entered the dependency graph: {}; \
             ring is the only one (disable the dependency's default features)",
            offenders.join(", ")
        );
    }
    if !tree.lines().any(|line| line.starts_with("ring ")) {
        bail!("ring, the workspace's rustls provider, is missing from the dependency graph");
    }
    eprintln!("xtask: one rustls crypto provider (ring)");
    Ok(())
}

/// The forbidden provider crates named in `cargo tree --format {p}` output.
fn providers_in(tree: &str) -> Vec<String> {
    let mut found: Vec<String> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| FORBIDDEN_PROVIDERS.contains(name))
        .map(str::to_string)
        .collect();
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::providers_in;

    #[test]
    fn a_second_provider_is_detected() {
        let tree = "kube v5.0.0\nring v0.17.14\naws-lc-rs v1.14.0\naws-lc-rs v1.14.0 (*)\n";
        assert_eq!(providers_in(tree), vec!["aws-lc-rs".to_string()]);
    }

    #[test]
    fn ring_alone_passes() {
        assert!(providers_in("kube v5.0.0\nring v0.17.14\nrustls v0.23.46\n").is_empty());
    }
}
