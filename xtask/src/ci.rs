//! `cargo xtask ci`: what CI runs.

use std::collections::BTreeSet;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo, cargo_with_env, project_root};

/// What CI runs: formatting, the dependency-graph rules, lints, then every test of the workspace.
pub(crate) fn run() -> Result<()> {
    cargo(&["fmt", "--all", "--", "--check"])?;
    check_single_crypto_provider()?;
    check_linked_crates()?;
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
        &[
            ("FINK_TOOLS_BIN_DIR", bin_dir.as_os_str()),
            // A CLI-output snapshot that differs fails the run and writes no `.snap.new`.
            ("INSTA_UPDATE", std::ffi::OsStr::new("no")),
        ],
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

/// Crates a tool must not link: ciux talks to no Kubernetes API, so it builds `common` without its
/// `kube` feature.
const FORBIDDEN_LINKS: &[(&str, &[&str])] = &[(
    "ciux",
    &[
        "kube",
        "kube-client",
        "kube-core",
        "kube-runtime",
        "k8s-openapi",
    ],
)];

/// Prints how many crates each tool's binary links (normal dependencies, the tool's own feature set)
/// and fails when a tool links a crate it must not (see [`FORBIDDEN_LINKS`]).
fn check_linked_crates() -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    for tool in ["ktbx", "ciux", "finkctl"] {
        let output = Command::new(&cargo)
            .args(["tree", "-p", tool, "--locked", "--edges", "normal"])
            .args(["--prefix", "none", "--format", "{p}"])
            .current_dir(project_root())
            .output()
            .with_context(|| format!("running {cargo} tree -p {tool}"))?;
        if !output.status.success() {
            bail!(
                "cargo tree -p {tool} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let names = crate_names(&String::from_utf8_lossy(&output.stdout));
        eprintln!("xtask: {tool} links {} crates", names.len());
        let forbidden = forbidden_links(tool, &names);
        if !forbidden.is_empty() {
            bail!(
                "{tool} links {}, which it must not; check the features it asks of `common` in \
                 {tool}/Cargo.toml (`cargo tree -p {tool} -e normal -i {}` shows the path)",
                forbidden.join(", "),
                forbidden[0]
            );
        }
    }
    Ok(())
}

/// The crates of `names` that `tool` must not link.
fn forbidden_links(tool: &str, names: &BTreeSet<String>) -> Vec<&'static str> {
    FORBIDDEN_LINKS
        .iter()
        .filter(|(t, _)| *t == tool)
        .flat_map(|(_, crates)| crates.iter().copied())
        .filter(|name| names.contains(*name))
        .collect()
}

/// The unique crate names in `cargo tree --prefix none --format {p}` output (`name vX.Y.Z …`).
fn crate_names(tree: &str) -> BTreeSet<String> {
    tree.lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
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
    use super::{crate_names, forbidden_links, providers_in};

    #[test]
    fn crate_names_are_counted_once_each() {
        let tree = "ciux v0.1.0 (/src/ciux)\ncommon v0.1.0 (/src/common)\nserde v1.0.229\n\n\
                    serde v1.0.229 (*)\nserde_derive v1.0.229 (proc-macro)\n";
        let names = crate_names(tree);
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            ["ciux", "common", "serde", "serde_derive"]
        );
    }

    #[test]
    fn ciux_linking_kube_is_refused() {
        let tree = "ciux v0.1.0\ncommon v0.1.0\nkube v5.0.0\nk8s-openapi v0.29.0\n";
        assert_eq!(
            forbidden_links("ciux", &crate_names(tree)),
            ["kube", "k8s-openapi"]
        );
        assert!(forbidden_links("ciux", &crate_names("ciux v0.1.0\nreqwest v0.13.5\n")).is_empty());
        assert!(forbidden_links("finkctl", &crate_names(tree)).is_empty());
    }

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
