//! `install.sh ciux` (latest) from the release server against a plain `curl -o` of the archive and
//! its `.sha256`, `sha256sum -c` and `tar x` of the same archive: the real ciux release archive of
//! `cargo xtask dist`, built from the benchmarked binary.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::CommandFactory;
use harness::release::ReleaseServer;
use harness::tools::Tools;

use super::{Limit, Row, figure_and_baseline, interleaved, scratch, time};
use crate::project_root;

/// Runs per figure (each a fresh install directory).
const RUNS: usize = 9;

pub(super) fn run(tools: &Tools) -> Result<Row> {
    let dist = scratch("bench-install-sh-dist-")?;
    let target = crate::dist::host_target()?;
    let archive = crate::dist::package(
        "ciux",
        ciux::cli::Cli::command(),
        &tools.ciux,
        &target,
        dist.path(),
    )?;
    let version = ciux::cli::Cli::command()
        .get_version()
        .context("ciux has a version")?
        .to_string();
    let bytes = std::fs::read(&archive)?;
    let server = ReleaseServer::start();
    let path = server.publish_tool("ciux", &version, &target, bytes);
    let url = server.url(&path);
    let name = format!("ciux-{version}-{target}.tar.gz");

    let mut install = || -> Result<Duration> {
        let home = scratch("bench-install-sh-")?;
        time(
            Command::new("sh")
                .arg(project_root().join("install.sh"))
                .arg("ciux")
                .env("HOME", home.path())
                .env("FINK_TOOLS_BASE_URL", server.url(""))
                .env_remove("FINK_TOOLS_INSTALL_DIR"),
        )
    };
    let mut by_hand = || -> Result<Duration> {
        let dir = scratch("bench-curl-tar-")?;
        let start = Instant::now();
        time(
            Command::new("curl")
                .args(["-fsSL", "-o", &name, &url, "-o"])
                .arg(format!("{name}.sha256"))
                .arg(format!("{url}.sha256"))
                .current_dir(dir.path()),
        )?;
        time(
            Command::new("sha256sum")
                .args(["-c", "--quiet"])
                .arg(format!("{name}.sha256"))
                .current_dir(dir.path()),
        )?;
        time(
            Command::new("tar")
                .args(["-xzf", &name])
                .current_dir(dir.path()),
        )?;
        Ok(start.elapsed())
    };
    let (figure, baseline) = figure_and_baseline(interleaved(RUNS, [&mut install, &mut by_hand]));
    Ok(Row::seconds(
        "ciux",
        "`install.sh ciux` (latest, verified) from the release server",
        figure,
        Limit::Ratio(1.2),
    )
    .baseline("`curl -o` + `sha256sum -c` + `tar x`", baseline))
}
