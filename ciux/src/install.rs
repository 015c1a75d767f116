//! Tool installation for package dependencies and cloned dependencies: Go modules with `go install`,
//! Rust crates with `cargo install --locked`.

use std::path::Path;

use anyhow::{Context, Result, bail};
use common::process::{Cmd, Runner};

/// What gets installed and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Install {
    /// `go install <module>@<version>`.
    GoModule(String),
    /// `cargo install --locked <crate>@<version>`.
    Crate(String),
    /// `go install -C <dir>` (a cloned Go module).
    GoSource(std::path::PathBuf),
    /// `cargo install --locked --path <member>` for each binary package of a cloned Cargo project.
    CargoSource(std::path::PathBuf),
}

impl Install {
    /// A `package:` entry: a path with `/` is a Go module, otherwise a Rust crate (`crate@version`).
    pub(crate) fn package(spec: &str) -> Self {
        if spec.contains('/') {
            Install::GoModule(spec.into())
        } else {
            Install::Crate(spec.into())
        }
    }

    /// A cloned dependency: Go when it has `go.mod` and `go.sum`, Rust when it has `Cargo.toml`.
    pub(crate) fn from_source(dir: &Path) -> Option<Self> {
        if dir.join("go.mod").is_file() && dir.join("go.sum").is_file() {
            Some(Install::GoSource(dir.into()))
        } else if dir.join("Cargo.toml").is_file() {
            Some(Install::CargoSource(dir.into()))
        } else {
            None
        }
    }

    /// Runs the installation (printed only in dry-run).
    pub(crate) fn run(&self, runner: &Runner) -> Result<()> {
        const GO_HINT: &str =
            "install a Go toolchain (https://go.dev/doc/install) and put `go` on PATH";
        const CARGO_HINT: &str =
            "install a Rust toolchain (https://rustup.rs) and put `cargo` on PATH";
        match self {
            Install::GoModule(m) => {
                runner.run_logged(&Cmd::new("go").args(["install", m]).hint(GO_HINT))?;
            }
            Install::Crate(c) => {
                runner.run_logged(
                    &Cmd::new("cargo")
                        .args(["install", "--locked", c])
                        .hint(CARGO_HINT),
                )?;
            }
            Install::GoSource(dir) => {
                runner.run_logged(
                    &Cmd::new("go")
                        .arg("install")
                        .arg("-C")
                        .arg(dir)
                        .hint(GO_HINT),
                )?;
            }
            Install::CargoSource(dir) => {
                for member in cargo_binaries(dir, CARGO_HINT)? {
                    runner.run_logged(
                        &Cmd::new("cargo")
                            .args(["install", "--locked", "--path"])
                            .arg(&member)
                            .hint(CARGO_HINT),
                    )?;
                }
            }
        }
        Ok(())
    }
}

/// Directories of the publishable packages with a binary target, from `cargo metadata`.
fn cargo_binaries(dir: &Path, hint: &str) -> Result<Vec<std::path::PathBuf>> {
    let out = Runner::new(false).query(
        &Cmd::new("cargo")
            .args([
                "metadata",
                "--no-deps",
                "--format-version",
                "1",
                "--manifest-path",
            ])
            .arg(dir.join("Cargo.toml"))
            .hint(hint),
    )?;
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("unreadable `cargo metadata` of {}", dir.display()))?;
    let mut dirs = Vec::new();
    for pkg in meta["packages"].as_array().into_iter().flatten() {
        let has_bin = pkg["targets"].as_array().into_iter().flatten().any(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"))
        });
        let unpublished = pkg["publish"].as_array().is_some_and(|p| p.is_empty());
        if let (true, false, Some(manifest)) = (has_bin, unpublished, pkg["manifest_path"].as_str())
        {
            dirs.push(Path::new(manifest).parent().unwrap_or(dir).to_path_buf());
        }
    }
    if dirs.is_empty() {
        bail!(
            "{} has no publishable binary package to install",
            dir.display()
        );
    }
    Ok(dirs)
}

impl std::fmt::Display for Install {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Install::GoModule(s) | Install::Crate(s) => f.write_str(s),
            Install::GoSource(d) | Install::CargoSource(d) => {
                write!(f, "{} from-src=true", d.display())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_kinds() {
        assert_eq!(
            Install::package("github.com/k8s-school/ink@v0.0.1-rc5"),
            Install::GoModule("github.com/k8s-school/ink@v0.0.1-rc5".into())
        );
        assert_eq!(
            Install::package("ktbx@1.2.0"),
            Install::Crate("ktbx@1.2.0".into())
        );
    }
}
