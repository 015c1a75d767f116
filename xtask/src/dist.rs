//! `cargo xtask dist [--target <triple>] <tool>…`: per-tool release archives.
//!
//! For each tool: an optimised, stripped build, then `dist/<tool>-<version>-<target>.tar.gz` holding the
//! binary, shell completions, a man page, the tool's README and the LICENSE, plus its `.sha256`.
//! `.github/workflows/release.yml` runs it once per target of [`RELEASE_TARGETS`].

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use anyhow::{Context, Result, bail};
use clap::{Command, CommandFactory};
use clap_complete::{Generator, Shell};
use sha2::{Digest, Sha256};

use crate::{cargo_with_env, project_root};

/// Builds a tool's clap command.
type CommandFn = fn() -> Command;

/// The tools that are released, each with its CLI definition.
const TOOLS: &[(&str, CommandFn)] = &[
    ("ktbx", ktbx::cli::Cli::command),
    ("ciux", ciux::cli::Cli::command),
    ("finkctl", finkctl::cli::Cli::command),
];

const SHELLS: &[Shell] = &[
    Shell::Bash,
    Shell::Zsh,
    Shell::Fish,
    Shell::PowerShell,
    Shell::Elvish,
];

/// The targets that `release.yml` builds, each with the GitHub runner that builds it natively.
pub(crate) const RELEASE_TARGETS: &[(&str, &str)] = &[
    ("x86_64-unknown-linux-gnu", "ubuntu-22.04"),
    ("aarch64-unknown-linux-gnu", "ubuntu-22.04-arm"),
    ("aarch64-apple-darwin", "macos-14"),
    (
        "x86_64-apple-darwin",
        "macos-14 (Apple clang cross-compiles to x86_64)",
    ),
];

/// `cargo xtask dist --help`.
fn help() -> String {
    let mut text = String::from(
        "usage: cargo xtask dist [--target <triple>] <ktbx|ciux|finkctl>...\n\n\
         Builds each tool in release mode and writes dist/<tool>-<version>-<target>.tar.gz (binary,\n\
         completions, man page, README, LICENSE) and its .sha256.\n\n\
         --target <triple>  build for this target (rustup target add <triple> first); default: the host\n\n\
         Targets of .github/workflows/release.yml (runner that builds each):\n",
    );
    for (target, runner) in RELEASE_TARGETS {
        text.push_str(&format!("  {target:<28}{runner}\n"));
    }
    text
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut target = None;
    let mut names = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{}", help());
                return Ok(());
            }
            "--target" => {
                target = Some(
                    args.next()
                        .context("--target needs a target triple")?
                        .clone(),
                )
            }
            other if other.starts_with("--target=") => {
                target = Some(other["--target=".len()..].to_string());
            }
            other if other.starts_with('-') => bail!("unknown option {other}\n\n{}", help()),
            name => names.push(name.to_string()),
        }
    }
    if names.is_empty() {
        bail!("no tool named\n\n{}", help());
    }
    let target_dir = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => project_root().join("target"),
    };
    // Without --target, cargo builds into target/release (shared with the other release builds).
    let (target, target_args, release_dir) = match target {
        Some(target) => (
            target.clone(),
            vec!["--target".to_string(), target.clone()],
            target_dir.join(target).join("release"),
        ),
        None => (host_target()?, Vec::new(), target_dir.join("release")),
    };
    for name in &names {
        let (tool, command) = TOOLS
            .iter()
            .find(|(tool, _)| tool == name)
            .with_context(|| format!("unknown tool {name:?}: expected ktbx, ciux or finkctl"))?;
        let commit = build_commit()?;
        let mut build = vec!["build", "--release", "--locked", "--package", tool];
        build.extend(target_args.iter().map(String::as_str));
        cargo_with_env(&build, &[("FINK_TOOLS_COMMIT", OsStr::new(&commit))])?;
        let binary = release_dir.join(tool);
        let archive = package(
            tool,
            command(),
            &binary,
            &target,
            &project_root().join("dist"),
        )?;
        println!("{}", archive.display());
    }
    Ok(())
}

/// The commit the release is built from (12 hex digits, `-dirty` with uncommitted changes), recorded
/// in the binaries (`finkctl version`).
fn build_commit() -> Result<String> {
    let git = |args: &[&str]| {
        Process::new("git")
            .args(args)
            .current_dir(project_root())
            .output()
            .with_context(|| format!("running git {}", args.join(" ")))
    };
    let head = git(&["rev-parse", "--short=12", "HEAD"])?;
    if !head.status.success() {
        bail!(
            "git rev-parse HEAD failed: is {} a git checkout?",
            project_root().display()
        );
    }
    let mut commit = String::from_utf8_lossy(&head.stdout).trim().to_string();
    if !git(&["status", "--porcelain", "--untracked-files=no"])?
        .stdout
        .is_empty()
    {
        commit.push_str("-dirty");
    }
    Ok(commit)
}

/// The host's target triple, from `rustc -vV`.
pub(crate) fn host_target() -> Result<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let output = Process::new(&rustc)
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_string)
        .context("rustc -vV printed no host line")
}

/// Writes `<out>/<tool>-<version>-<target>.tar.gz` and its `.sha256`; returns the archive path.
pub(crate) fn package(
    tool: &str,
    mut command: Command,
    binary: &Path,
    target: &str,
    out: &Path,
) -> Result<PathBuf> {
    let version = command
        .get_version()
        .with_context(|| format!("{tool} declares no version"))?
        .to_string();
    let stem = format!("{tool}-{version}-{target}");
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let archive_path = out.join(format!("{stem}.tar.gz"));

    let file = fs::File::create(&archive_path)
        .with_context(|| format!("creating {}", archive_path.display()))?;
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::best(),
    ));
    tar.append_path_with_name(binary, format!("{stem}/{tool}"))
        .with_context(|| format!("adding {}", binary.display()))?;
    for shell in SHELLS {
        let mut script = Vec::new();
        clap_complete::generate(*shell, &mut command, tool, &mut script);
        let name = shell.file_name(tool);
        append_bytes(
            &mut tar,
            &format!("{stem}/completions/{name}"),
            &script,
            0o644,
        )?;
    }
    let mut man = Vec::new();
    clap_mangen::Man::new(command.clone())
        .render(&mut man)
        .context("rendering the man page")?;
    append_bytes(&mut tar, &format!("{stem}/man/{tool}.1"), &man, 0o644)?;
    let root = project_root();
    let readme = [root.join(tool).join("README.md"), root.join("README.md")]
        .into_iter()
        .find(|path| path.is_file())
        .context("no README.md found")?;
    tar.append_path_with_name(&readme, format!("{stem}/README.md"))?;
    tar.append_path_with_name(root.join("LICENSE"), format!("{stem}/LICENSE"))?;
    tar.into_inner()?.finish()?.flush()?;

    let digest = hex::encode(Sha256::digest(fs::read(&archive_path)?));
    let sum_path = out.join(format!("{stem}.tar.gz.sha256"));
    fs::write(&sum_path, format!("{digest}  {stem}.tar.gz\n"))
        .with_context(|| format!("writing {}", sum_path.display()))?;
    Ok(archive_path)
}

fn append_bytes<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    bytes: &[u8],
    mode: u32,
) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, path, bytes)
        .with_context(|| format!("adding {path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_the_targets_of_release_yml() {
        let workflow =
            fs::read_to_string(project_root().join(".github/workflows/release.yml")).unwrap();
        let mut in_workflow: Vec<&str> = workflow
            .lines()
            .filter_map(|line| line.trim().strip_prefix("- target: "))
            .collect();
        in_workflow.sort();
        let mut listed: Vec<&str> = RELEASE_TARGETS.iter().map(|(t, _)| *t).collect();
        listed.sort();
        assert_eq!(listed, in_workflow);
        let help = help();
        for (target, runner) in RELEASE_TARGETS {
            assert!(
                help.contains(&format!("  {target:<28}{runner}\n")),
                "{help}"
            );
            let runner = runner.split(' ').next().unwrap();
            assert!(
                workflow.contains(&format!(
                    "- target: {target}\n            runner: {runner}\n"
                )),
                "release.yml builds {target} on {runner}"
            );
        }
    }

    #[test]
    fn build_commit_names_head() {
        let commit = build_commit().unwrap();
        let hex = commit.strip_suffix("-dirty").unwrap_or(&commit);
        assert_eq!(hex.len(), 12, "{commit}");
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{commit}");
    }

    #[test]
    fn archive_holds_binary_completions_man_page_and_docs() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("fake-binary");
        fs::write(&binary, b"#!/bin/true\n").unwrap();
        let out = dir.path().join("dist");
        let archive = package(
            "ktbx",
            ktbx::cli::Cli::command(),
            &binary,
            "x86_64-unknown-linux-gnu",
            &out,
        )
        .unwrap();

        let version = ktbx::cli::Cli::command().get_version().unwrap().to_string();
        let stem = format!("ktbx-{version}-x86_64-unknown-linux-gnu");
        assert_eq!(archive, out.join(format!("{stem}.tar.gz")));

        let mut names: Vec<String> = tar::Archive::new(flate2::read::GzDecoder::new(
            fs::File::open(&archive).unwrap(),
        ))
        .entries()
        .unwrap()
        .map(|entry| entry.unwrap().path().unwrap().display().to_string())
        .collect();
        names.sort();
        let expected: Vec<String> = [
            "LICENSE",
            "README.md",
            "completions/_ktbx",
            "completions/_ktbx.ps1",
            "completions/ktbx.bash",
            "completions/ktbx.elv",
            "completions/ktbx.fish",
            "ktbx",
            "man/ktbx.1",
        ]
        .iter()
        .map(|name| format!("{stem}/{name}"))
        .collect();
        assert_eq!(names, expected);

        let sum = fs::read_to_string(out.join(format!("{stem}.tar.gz.sha256"))).unwrap();
        let digest = hex::encode(Sha256::digest(fs::read(&archive).unwrap()));
        assert_eq!(sum, format!("{digest}  {stem}.tar.gz\n"));
    }
}
