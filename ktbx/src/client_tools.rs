//! Installs client tools (kind, kubectl, helm, telepresence, cilium, argocd, argo) natively:
//! download for this os/arch, verify the checksum upstream publishes, unpack, and install
//! atomically into `$KTBX_INSTALL_DIR`, skipping a tool already at that version there. Several
//! tools download in parallel. Downloads stream to disk, verified on the way, and stop at the
//! maximum size ([`common::download::DEFAULT_MAX_SIZE`], `KTBX_DOWNLOAD_MAX_MIB`) or when the
//! server goes silent for the read timeout (`KTBX_DOWNLOAD_TIMEOUT`, default 60s). An unwritable
//! directory is written through `sudo install`: on a terminal sudo may ask for a password, without
//! one `sudo -n` never prompts.

use std::fs::File;
use std::io::{BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, bail};
use common::download::{Checksum, DEFAULT_MAX_SIZE, Downloader};
use common::fs::AtomicFile;
use common::process::{Cmd, Runner};

use crate::config::Config;
use crate::targets::InstallTarget;
use crate::tools::{self, Overrides, Packaging, Platform, Resolved};

/// How client tools are resolved and where they go, for one run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    /// Target directory.
    pub(crate) install_dir: PathBuf,
    /// Versions given on the command line, by table name.
    pub(crate) flag_versions: Vec<(String, String)>,
    /// The config file (tools.<tool>.{version,url}).
    pub(crate) config: Config,
    /// Print instead of installing.
    pub(crate) dry_run: bool,
}

/// The tool name of a client-side install target.
pub(crate) fn tool_name(target: InstallTarget) -> Option<&'static str> {
    match target {
        InstallTarget::Kind => Some("kind"),
        InstallTarget::Kubectl => Some("kubectl"),
        InstallTarget::Helm => Some("helm"),
        InstallTarget::Telepresence => Some("telepresence"),
        _ => None,
    }
}

/// Environment variable: the maximum size of one download (and of an unpacked binary), in MiB.
const MAX_MIB_ENV: &str = "KTBX_DOWNLOAD_MAX_MIB";
/// Environment variable: how long a download server may stay silent (`30s`, `2m`).
const TIMEOUT_ENV: &str = "KTBX_DOWNLOAD_TIMEOUT";

fn downloader() -> anyhow::Result<&'static Downloader> {
    static DOWNLOADER: OnceLock<Downloader> = OnceLock::new();
    if let Some(d) = DOWNLOADER.get() {
        return Ok(d);
    }
    let mut d = Downloader::new(true)?.with_max_size(max_size()?);
    if let Some(text) = std::env::var(TIMEOUT_ENV).ok().filter(|v| !v.is_empty()) {
        let timeout = common::duration::parse_duration(&text)
            .ok()
            .filter(|t| !t.is_zero())
            .with_context(|| {
                format!("{TIMEOUT_ENV}={text:?} is not a duration such as 30s or 2m")
            })?;
        d = d.with_read_timeout(timeout)?;
    }
    Ok(DOWNLOADER.get_or_init(|| d))
}

/// The maximum size of a download and of the binary unpacked from it, in bytes.
fn max_size() -> anyhow::Result<u64> {
    match std::env::var(MAX_MIB_ENV).ok().filter(|v| !v.is_empty()) {
        None => Ok(DEFAULT_MAX_SIZE),
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|mib| (1..=1 << 20).contains(mib))
            .map(|mib| mib << 20)
            .with_context(|| {
                format!("{MAX_MIB_ENV}={text:?} is not a size in MiB from 1 to 1048576")
            }),
    }
}

/// Fetches a text resource (a manifest).
pub(crate) async fn fetch_text(url: &str) -> anyhow::Result<String> {
    Ok(downloader()?.fetch_text(url).await?)
}

/// Runs `f` on the table entry `name` with this run's overrides and the process environment.
fn with_overrides<R>(
    name: &str,
    s: &Settings,
    f: impl FnOnce(&'static tools::Tool, &Overrides<'_>) -> Result<R, tools::ToolError>,
) -> anyhow::Result<R> {
    let tool = tools::lookup(name)?;
    let flag = s
        .flag_versions
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str());
    let env = |k: &str| std::env::var(k).ok();
    let overrides = Overrides {
        flag_version: flag,
        env: Some(&env),
        settings: Some(&s.config.tools),
    };
    Ok(f(tool, &overrides)?)
}

/// Resolves the client binary of a table entry.
pub(crate) fn resolve(name: &str, s: &Settings) -> anyhow::Result<Resolved> {
    with_overrides(name, s, |tool, o| {
        tools::resolve(tool, Platform::current(), o)
    })
}

/// The version of a table entry for this run (validated).
pub(crate) fn version(name: &str, s: &Settings) -> anyhow::Result<String> {
    with_overrides(name, s, tools::resolve_version)
}

/// The manifest URLs of a table entry for this run.
pub(crate) fn manifest_urls(name: &str, s: &Settings) -> anyhow::Result<Vec<String>> {
    with_overrides(name, s, |tool, o| {
        let version = tools::resolve_version(tool, o)?;
        Ok(tools::manifest_urls(tool, &version, o))
    })
}

/// Validates the versions (and, for client binaries, the URLs) of table entries before anything runs.
pub(crate) fn validate(names: &[&str], s: &Settings) -> anyhow::Result<()> {
    for name in names {
        match tools::lookup(name)?.binary {
            Some(_) => drop(resolve(name, s)?),
            None => drop(version(name, s)?),
        }
    }
    Ok(())
}

/// What happened to one tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Already at that version in the directory.
    AlreadyInstalled,
    /// Downloaded and installed.
    Installed,
    /// Dry run: what would be done.
    Planned(String),
}

/// The message for an outcome, as the original's scripts printed it.
pub(crate) fn message(r: &Resolved, dir: &Path, outcome: &Outcome) -> String {
    match outcome {
        Outcome::AlreadyInstalled => {
            format!("INFO: {} {} is already installed", r.binary.file, r.version)
        }
        Outcome::Installed => format!(
            "Successfully installed {} {} in {}",
            r.binary.file,
            r.version,
            dir.display()
        ),
        Outcome::Planned(plan) => plan.clone(),
    }
}

/// Whether `dest` already runs as version `r.version`.
fn already_installed(runner: &Runner, dest: &Path, r: &Resolved) -> bool {
    dest.is_file()
        && runner
            .probe(&Cmd::new(dest).args(r.binary.version_args.iter().copied()))
            .is_ok_and(|o| {
                o.status.success() && tools::reports_version(&o.stdout_str(), &r.version)
            })
}

/// Writes the binary of the downloaded artifact to `out`, failing past `max` bytes (a
/// decompression bomb stops there).
pub(crate) fn unpack(
    r: &Resolved,
    artifact: File,
    out: &mut dyn Write,
    max: u64,
) -> anyhow::Result<()> {
    let reading = || format!("reading {}", r.url);
    let copy_capped = |from: &mut dyn Read, out: &mut dyn Write| -> anyhow::Result<()> {
        let copied = std::io::copy(&mut from.take(max + 1), out).with_context(reading)?;
        if copied > max {
            bail!(
                "the binary in {} is larger than the maximum download size of {max} bytes",
                r.url
            );
        }
        Ok(())
    };
    match r.binary.packaging {
        Packaging::Raw => copy_capped(&mut BufReader::new(artifact), out),
        Packaging::Gz => copy_capped(
            &mut flate2::read::GzDecoder::new(BufReader::new(artifact)),
            out,
        ),
        Packaging::TarGz(_) => {
            let member = r.member.as_deref().context("archive member")?;
            let mut archive =
                tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(artifact)));
            for entry in archive.entries().with_context(reading)? {
                let mut entry = entry.with_context(reading)?;
                let path = entry
                    .path()
                    .with_context(reading)?
                    .to_string_lossy()
                    .trim_start_matches("./")
                    .to_string();
                if path == member {
                    return copy_capped(&mut entry, out);
                }
            }
            bail!("{} has no {member}", r.url)
        }
    }
}

fn writable(dir: &Path) -> bool {
    if std::fs::create_dir_all(dir).is_err() {
        return false;
    }
    tempfile::tempfile_in(dir).is_ok()
}

/// Installs the binary that `write` produces as `dest` (mode 0755): in place when the directory is
/// writable, else with `sudo install`, which may prompt on a terminal and runs as `sudo -n` (never
/// a prompt) without one.
fn put(
    runner: &Runner,
    dest: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let dir = dest.parent().context("install path without a directory")?;
    if writable(dir) {
        let mut file = AtomicFile::create(dest)?;
        write(&mut file)?;
        file.commit(0o755)?;
        return Ok(());
    }
    let instead = "set KTBX_INSTALL_DIR (or --install-dir) to a writable directory on PATH, such as $HOME/.local/bin";
    if common::process::which("sudo").is_none() {
        bail!(
            "no write access to {}: {instead}, or install sudo",
            dir.display()
        );
    }
    let mut tmp = tempfile::NamedTempFile::new().context("creating a temporary file")?;
    write(&mut tmp)?;
    tmp.flush().context("writing a temporary file")?;
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let cmd = Cmd::new("sudo")
        .args(if interactive { &[][..] } else { &["-n"][..] })
        .args(["install", "-D", "-m", "0755"])
        .arg(tmp.path())
        .arg(dest);
    if interactive {
        let status = runner.interactive(&cmd)?;
        if !status.success() {
            bail!("`{}` failed ({status}): {instead}", cmd.to_shell_line());
        }
        return Ok(());
    }
    let output = runner.probe(&cmd)?;
    if !output.status.success() {
        bail!(
            "no write access to {}, and `sudo -n` (no terminal, so no password prompt) was refused: {}; {instead}, or allow this user passwordless sudo",
            dir.display(),
            output.stderr_str().trim()
        );
    }
    Ok(())
}

/// Installs one tool, returning its path and what happened. Does not print.
pub(crate) async fn install_one(
    runner: &Runner,
    name: &str,
    s: &Settings,
) -> anyhow::Result<(PathBuf, Resolved, Outcome)> {
    let r = resolve(name, s)?;
    let dest = s.install_dir.join(r.binary.file);
    if already_installed(runner, &dest, &r) {
        return Ok((dest, r, Outcome::AlreadyInstalled));
    }
    if s.dry_run {
        let check = match &r.checksum {
            Checksum::SumsFile { url } => format!("verify sha256 from {url}"),
            Checksum::Sha256(digest) => format!("verify sha256 {digest}"),
            Checksum::Unverified { reason } => format!("unverified: {reason}"),
        };
        let plan = format!(
            "download {} ({check}) and install {} {} as {}",
            r.url,
            r.binary.file,
            r.version,
            dest.display()
        );
        return Ok((dest, r, Outcome::Planned(plan)));
    }
    let downloader = downloader()?;
    let downloading = || format!("downloading {} {}", r.binary.file, r.version);
    if r.binary.packaging == Packaging::Raw && dest.parent().is_some_and(writable) {
        // The download is the binary: stream it straight next to `dest`, written once.
        downloader
            .install(&r.url, &r.checksum, &dest)
            .await
            .with_context(downloading)?;
        return Ok((dest, r, Outcome::Installed));
    }
    let artifact = downloader
        .fetch_file(&r.url, &r.checksum)
        .await
        .with_context(downloading)?;
    let max = downloader.max_size();
    put(runner, &dest, |out| unpack(&r, artifact, out, max))
        .with_context(|| format!("installing {}", dest.display()))?;
    Ok((dest, r, Outcome::Installed))
}

/// Makes sure a tool is installed (this run's settings), prints the outcome, returns its path.
pub(crate) async fn ensure(
    runner: &Runner,
    name: &str,
    s: &Settings,
    out: &mut dyn Write,
) -> anyhow::Result<PathBuf> {
    let (dest, r, outcome) = install_one(runner, name, s).await?;
    writeln!(out, "{}", message(&r, &s.install_dir, &outcome))?;
    Ok(dest)
}

/// Installs several tools in parallel; prints one line per tool in the given order. Returns the
/// first failure (printed once by the caller) and logs the others.
pub(crate) async fn install_many(
    runner: &Runner,
    names: &[&str],
    s: &Settings,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let results = futures::future::join_all(names.iter().map(|n| install_one(runner, n, s))).await;
    let mut first_error = None;
    for result in results {
        match result {
            Ok((_, r, outcome)) => writeln!(out, "{}", message(&r, &s.install_dir, &outcome))?,
            Err(e) if first_error.is_none() => first_error = Some(e),
            Err(e) => tracing::error!("{e:#}"),
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (path, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o755);
            header.set_cksum();
            builder.append_data(&mut header, path, *data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn helm_is_taken_out_of_its_tarball() {
        let s = Settings::default();
        let mut r = resolve("helm", &s).unwrap();
        r.member = Some("linux-amd64/helm".into());
        let unpacked = |bytes: Vec<u8>, max| {
            let mut file = tempfile::tempfile().unwrap();
            file.write_all(&bytes).unwrap();
            std::io::Seek::rewind(&mut file).unwrap();
            let mut out = Vec::new();
            unpack(&r, file, &mut out, max).map(|()| out)
        };
        let bytes = tar_gz(&[
            ("linux-amd64/README.md", b"doc"),
            ("linux-amd64/helm", b"HELM"),
        ]);
        assert_eq!(unpacked(bytes.clone(), 4).unwrap(), b"HELM");
        let err = unpacked(bytes, 3).unwrap_err().to_string();
        assert!(
            err.ends_with("is larger than the maximum download size of 3 bytes"),
            "{err}"
        );
        let err = unpacked(tar_gz(&[("other", b"x")]), 9)
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("has no linux-amd64/helm"), "{err}");
        assert!(unpacked(b"not a tarball".to_vec(), 9).is_err());
    }

    #[test]
    fn messages_match_the_scripts() {
        let r = resolve("kind", &Settings::default()).unwrap();
        assert_eq!(
            message(&r, Path::new("/opt/bin"), &Outcome::AlreadyInstalled),
            format!("INFO: kind {} is already installed", r.version)
        );
        assert_eq!(
            message(&r, Path::new("/opt/bin"), &Outcome::Installed),
            format!("Successfully installed kind {} in /opt/bin", r.version)
        );
    }
}
