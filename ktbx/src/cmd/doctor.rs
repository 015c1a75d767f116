//! `ktbx doctor`: every host check, one line each on stdout; exit 1 when one fails.

use std::io::Write;

use crate::cli::DoctorArgs;
use crate::client_tools::Settings;
use crate::cluster;
use crate::context::Context;
use crate::doctor::{self, Host, Ports, Status};
use crate::kind_config::PortMapping;

/// Runs `ktbx doctor`.
pub(crate) fn run(ctx: &Context, args: &DoctorArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let mappings = args
        .ports
        .iter()
        .map(|p| PortMapping::parse(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let settings = Settings {
        install_dir: crate::cli::default_install_dir(),
        config: ctx.config()?,
        ..Settings::default()
    };
    let pinned = |name: &str| crate::client_tools::version(name, &settings).ok();
    let findings = doctor::all_checks(
        &Host::from_env(),
        &Ports {
            mappings: &mappings,
            registry: args.registry,
        },
        cluster::runtime_from_env().map_err(|e| format!("{e:#}")),
        &pinned,
    );
    for finding in &findings {
        writeln!(out, "{finding}")?;
    }
    let failed = findings.iter().filter(|f| f.status == Status::Fail).count();
    if failed > 0 {
        anyhow::bail!("{failed} of {} checks failed", findings.len());
    }
    Ok(())
}
