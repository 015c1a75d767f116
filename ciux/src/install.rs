//! Tool installation for package dependencies and cloned dependencies: Go modules with `go install`,
//! Rust crates with `cargo install --locked`, and prebuilt releases of fink-tools (`release:`),
//! downloaded and verified like `install.sh` does.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use common::download::{Checksum, DownloadError, Downloader};
use common::process::{Cmd, Runner};

/// Where fink-tools releases are downloaded from unless `FINK_TOOLS_BASE_URL` says otherwise
/// (the same variable and layout as `install.sh`).
pub(crate) const DEFAULT_BASE_URL: &str = "https://github.com/astrolabsoftware/fink-tools/releases";
/// The repository that `cargo install --git` builds from when a release has no archive for the
/// platform.
pub(crate) const SOURCE_REPOSITORY: &str = "https://github.com/astrolabsoftware/fink-tools";
/// The tools that fink-tools releases.
const RELEASED_TOOLS: &[&str] = &["ktbx", "ciux", "finkctl"];

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
    /// A prebuilt fink-tools release (`release: ktbx-v0.2.0`).
    Release(Release),
}

/// A fink-tools release tag, `<tool>-v<version>`, checked by [`Release::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Release {
    /// `ktbx`, `ciux` or `finkctl`.
    pub(crate) tool: String,
    /// `X.Y.Z` with an optional pre-release, without `v`.
    pub(crate) version: String,
}

impl Release {
    /// Parses a `release:` value such as `ktbx-v0.2.0` or `ciux-v0.3.0-rc1`; the error says why it
    /// is not one, for a message naming the dependency.
    pub(crate) fn parse(tag: &str) -> Result<Self, String> {
        let expected = || {
            format!(
                "is not a fink-tools release tag: expected <tool>-vX.Y.Z with tool {}",
                RELEASED_TOOLS.join(", ")
            )
        };
        let (tool, version) = tag.split_once("-v").ok_or_else(expected)?;
        if !RELEASED_TOOLS.contains(&tool) {
            return Err(expected());
        }
        match semver::Version::parse(version) {
            Ok(v) if v.build.is_empty() => Ok(Release {
                tool: tool.into(),
                version: version.into(),
            }),
            _ => Err(expected()),
        }
    }

    /// The release's tag, `<tool>-v<version>`.
    pub(crate) fn tag(&self) -> String {
        format!("{}-v{}", self.tool, self.version)
    }

    /// The archive's URL for `target` below `base`.
    fn archive_url(&self, base: &str, target: &str) -> String {
        format!(
            "{}/download/{}/{}-{}-{target}.tar.gz",
            base.trim_end_matches('/'),
            self.tag(),
            self.tool,
            self.version
        )
    }

    /// `cargo install --locked --git <repository> --tag <tag> <tool>`: the fallback where no archive
    /// exists for the platform.
    fn cargo_fallback(&self) -> Cmd {
        Cmd::new("cargo")
            .args(["install", "--locked", "--git", SOURCE_REPOSITORY, "--tag"])
            .arg(self.tag())
            .arg("--")
            .arg(&self.tool)
            .hint("install a Rust toolchain (https://rustup.rs) and put `cargo` on PATH")
    }

    /// Downloads the archive for this platform, verifies it against its `.sha256` (failing closed)
    /// and installs the binary into `dir`; without an archive for the platform (no such target,
    /// or HTTP 404), builds it with `cargo install --git`. Dry-run prints what would be done.
    fn install(&self, runner: &Runner, out: &mut dyn Write) -> Result<()> {
        let base = std::env::var("FINK_TOOLS_BASE_URL")
            .ok()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| DEFAULT_BASE_URL.into());
        let dir = install_dir()?;
        let Some(target) = host_target() else {
            tracing::warn!(
                "no fink-tools release archives for this platform: building {} with cargo",
                self.tag()
            );
            runner.run_logged(&self.cargo_fallback())?;
            return Ok(());
        };
        let url = self.archive_url(&base, target);
        let dest = dir.join(&self.tool);
        if runner.is_dry_run() {
            writeln!(
                out,
                "# would download {url}, verify it against {url}.sha256 and install {}",
                dest.display()
            )?;
            writeln!(
                out,
                "# if that archive does not exist: {}",
                self.cargo_fallback().to_shell_line()
            )?;
            return Ok(());
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the install directory {}", dir.display()))?;
        let work = tempfile::Builder::new()
            .prefix(".ciux-release.")
            .tempdir_in(&dir)
            .with_context(|| format!("cannot write in {}", dir.display()))?;
        let archive = work.path().join("archive.tar.gz");
        let checksum = Checksum::SumsFile {
            url: format!("{url}.sha256"),
        };
        let downloaded = common::runtime::block_on(async {
            match Downloader::new(false) {
                Ok(downloader) => downloader.install(&url, &checksum, &archive).await,
                Err(err) => Err(err),
            }
        })?;
        match downloaded {
            Ok(()) => {}
            Err(DownloadError::Status { status, .. }) if status == 404 => {
                tracing::warn!("{url} does not exist: building {} with cargo", self.tag());
                runner.run_logged(&self.cargo_fallback())?;
                return Ok(());
            }
            Err(err) => return Err(err.into()),
        }
        let member = format!("{}-{}-{target}/{}", self.tool, self.version, self.tool);
        unpack(&archive, &member, &dest).with_context(|| format!("unpacking {url}"))?;
        tracing::info!("installed {} from {url} as {}", self.tag(), dest.display());
        Ok(())
    }
}

/// Where prebuilt releases are installed: `$FINK_TOOLS_INSTALL_DIR`, else `~/.local/bin` (as
/// `install.sh`).
fn install_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("FINK_TOOLS_INSTALL_DIR").filter(|d| !d.is_empty()) {
        return Ok(dir.into());
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("HOME is not set: set FINK_TOOLS_INSTALL_DIR to install prebuilt releases")?;
    Ok(Path::new(&home).join(".local/bin"))
}

/// The target triple of the release archive for this machine, if releases are built for it.
fn host_target() -> Option<&'static str> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Some("x86_64-unknown-linux-gnu"),
        ("linux", "aarch64") => Some("aarch64-unknown-linux-gnu"),
        ("macos", "x86_64") => Some("x86_64-apple-darwin"),
        ("macos", "aarch64") => Some("aarch64-apple-darwin"),
        _ => None,
    }
}

/// Extracts `member` of the verified tar.gz `archive` to `dest` (mode 0755, atomically).
fn unpack(archive: &Path, member: &str, dest: &Path) -> Result<()> {
    let file = std::fs::File::open(archive)?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in tar.entries()? {
        let mut entry = entry?;
        if entry.path()?.to_str() == Some(member) {
            let mut out = common::fs::AtomicFile::create(dest)?;
            std::io::copy(&mut entry, &mut out)?;
            out.commit(0o755)?;
            return Ok(());
        }
    }
    bail!("the archive holds no {member}")
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

    /// Runs the installation (printed only in dry-run, on `out` or through `runner`).
    pub(crate) fn run(&self, runner: &Runner, out: &mut dyn Write) -> Result<()> {
        const GO_HINT: &str =
            "install a Go toolchain (https://go.dev/doc/install) and put `go` on PATH";
        const CARGO_HINT: &str =
            "install a Rust toolchain (https://rustup.rs) and put `cargo` on PATH";
        match self {
            // `--` ends the options: a package is never read as one (it is also checked by
            // [`check_package`] when `.ciux` is loaded).
            Install::GoModule(m) => {
                runner.run_logged(&Cmd::new("go").args(["install", "--", m]).hint(GO_HINT))?;
            }
            Install::Crate(c) => {
                runner.run_logged(
                    &Cmd::new("cargo")
                        .args(["install", "--locked", "--", c])
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
            Install::Release(release) => release.install(runner, out)?,
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

/// Checks a `package:` value: a Go module path (`github.com/org/tool@v1.2.3`) or a Rust crate
/// (`tool@1.2.3`). It must start with a letter or a digit (so that it is never an option such as
/// `-toolexec=…` or `--path=.`, nor a local path such as `./x`) and hold only letters, digits and
/// `. _ ~ / @ + -`. The error says why, for a message naming the dependency.
pub(crate) fn check_package(spec: &str) -> Result<(), String> {
    let Some(first) = spec.chars().next() else {
        return Err("is empty".into());
    };
    if first == '-' {
        return Err(
            "starts with \"-\": it would be read as an option of go install or cargo install"
                .into(),
        );
    }
    if !first.is_ascii_alphanumeric() {
        return Err(format!(
            "starts with {first:?}: a package is a Go module path or a crate name, not a local path"
        ));
    }
    if let Some(bad) = spec
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._~/@+-".contains(*c)))
    {
        return Err(format!(
            "holds {bad:?}: only letters, digits and . _ ~ / @ + - are allowed"
        ));
    }
    Ok(())
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
            Install::Release(r) => write!(f, "{} prebuilt=true", r.tag()),
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

    #[test]
    fn release_tags() {
        assert_eq!(
            Release::parse("ktbx-v0.2.0"),
            Ok(Release {
                tool: "ktbx".into(),
                version: "0.2.0".into()
            })
        );
        assert_eq!(
            Release::parse("ciux-v0.3.0-rc1").unwrap().tag(),
            "ciux-v0.3.0-rc1"
        );
        for bad in [
            "ktbx",
            "ktbx-0.2.0",
            "ktbx-v0.2",
            "kubectl-v1.0.0",
            "ktbx-v0.2.0+build",
            "ktbx-v0.2.0/../x",
            "-ktbx-v0.2.0",
            "",
        ] {
            let err = Release::parse(bad).unwrap_err();
            assert!(
                err.contains("<tool>-vX.Y.Z with tool ktbx, ciux, finkctl"),
                "{bad}: {err}"
            );
        }
        let r = Release::parse("finkctl-v3.2.0").unwrap();
        assert_eq!(
            r.archive_url("http://m/releases/", "aarch64-apple-darwin"),
            "http://m/releases/download/finkctl-v3.2.0/finkctl-3.2.0-aarch64-apple-darwin.tar.gz"
        );
    }

    #[test]
    fn packages_that_would_be_options_or_paths_are_refused() {
        for good in [
            "github.com/k8s-school/ink@v0.0.1-rc5",
            "github.com/astrolabsoftware/finkctl/v3@v3.1.3-rc3",
            "ktbx@1.2.0",
            "x@v0.0.0-20240101000000-abcdef123456+incompatible",
        ] {
            assert_eq!(check_package(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("-toolexec=/x/evil.sh", "starts with \"-\""),
            ("--path=.", "starts with \"-\""),
            ("./local", "not a local path"),
            ("/abs/tool", "not a local path"),
            ("", "is empty"),
            ("ink@v1 -toolexec=x", "holds ' '"),
            ("ink@v1\n", "holds '\\n'"),
        ] {
            let err = check_package(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }
}
