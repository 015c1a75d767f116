//! `ktbx install TOOL...`: client tools (downloaded in parallel) and cluster add-ons (in the
//! given order, into `--context`, else `kind-<name>` when `--name` is given, else the current context).

use std::io::Write;

use common::kube::KubeArgs;
use common::process::Runner;

use crate::addons::{self, Target};
use crate::cli::{INSTALL_TIMEOUT, InstallArgs};
use crate::client_tools::{self, Settings};
use crate::cluster;
use crate::config::Config;
use crate::context::Context;
use crate::targets::InstallTarget;

/// The tool settings of an install run.
pub(crate) fn tool_settings(args: &InstallArgs, config: &Config, dry_run: bool) -> Settings {
    let named = [
        ("kind", &args.kind_version),
        ("kubectl", &args.kubectl_version),
        ("helm", &args.helm_version),
    ];
    Settings {
        install_dir: args.install_dir.clone(),
        flag_versions: args.pin.versions(&named),
        config: config.clone(),
        dry_run,
    }
}

/// Fails, listing the tools, when none was given (the original printed `install called`).
pub(crate) fn require_targets(args: &InstallArgs) -> anyhow::Result<()> {
    if args.targets.is_empty() {
        let names: Vec<String> = <InstallTarget as clap::ValueEnum>::value_variants()
            .iter()
            .map(|t| target_name(*t))
            .collect();
        anyhow::bail!(
            "which tool? `ktbx install TOOL...` where TOOL is one of {} (aliases: fa, prom)",
            names.join(", ")
        );
    }
    Ok(())
}

/// The kube context add-ons go to.
pub(crate) fn addon_context(kube: &KubeArgs, name: Option<&str>) -> Option<String> {
    kube.context
        .clone()
        .or_else(|| name.map(cluster::context_of))
}

/// The command-line name of an install target.
fn target_name(target: InstallTarget) -> String {
    clap::ValueEnum::to_possible_value(&target)
        .map_or_else(String::new, |v| v.get_name().to_string())
}

/// The banner the original printed on stdout for client tools.
fn banner(target: InstallTarget) -> Option<&'static str> {
    match target {
        InstallTarget::Helm => Some("Install helm"),
        InstallTarget::Kind => Some("Install kind"),
        InstallTarget::Kubectl => Some("Install kubectl"),
        InstallTarget::Telepresence => Some("Install telepresence"),
        _ => None,
    }
}

/// Runs `ktbx install`.
pub(crate) fn run(ctx: &Context, args: &InstallArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    require_targets(args)?;
    let config = ctx.config()?;
    let runner = Runner::new(args.dry_run);
    ctx.block_on(execute(
        args,
        &ctx.kube,
        ctx.name.as_deref(),
        &config,
        &runner,
        out,
    ))?
}

async fn execute(
    args: &InstallArgs,
    kube: &KubeArgs,
    name: Option<&str>,
    config: &Config,
    runner: &Runner,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut targets = args.targets.clone();
    let mut seen = std::collections::HashSet::new();
    targets.retain(|t| seen.insert(*t));
    let settings = tool_settings(args, config, runner.is_dry_run());
    // Validate every version before anything is downloaded or applied.
    let pins: Vec<&str> = targets
        .iter()
        .flat_map(|t| addons::pins(*t))
        .copied()
        .collect();
    client_tools::validate(&pins, &settings)?;
    let clients: Vec<&str> = targets
        .iter()
        .filter_map(|t| client_tools::tool_name(*t))
        .collect();
    for banner in targets.iter().filter_map(|t| banner(*t)) {
        writeln!(out, "{banner}")?;
    }
    client_tools::install_many(runner, &clients, &settings, out).await?;
    let addons: Vec<InstallTarget> = targets
        .into_iter()
        .filter(|t| client_tools::tool_name(*t).is_none())
        .collect();
    if addons.is_empty() {
        return Ok(());
    }
    let context = addon_context(kube, name);
    let timeout = args.timeout.or(config.timeout).unwrap_or(INSTALL_TIMEOUT);
    let target = Target::new(
        kube,
        context.clone(),
        runner.is_dry_run(),
        timeout,
        settings,
    )?;
    let installed = async {
        for addon in &addons {
            addons::install(*addon, &target, runner, out)
                .await
                .map_err(|e| {
                    e.context(format!("Error while installing {}", target_name(*addon)))
                })?;
        }
        anyhow::Ok(())
    }
    .await;
    let diag_dir = (!runner.is_dry_run())
        .then(|| crate::diag::dir_from_env(args.diag.diag_dir.as_deref()))
        .flatten();
    let label = format!(
        "install-{}",
        context.as_deref().unwrap_or("current-context")
    );
    let plan = || {
        let names: Vec<String> = addons.iter().map(|a| target_name(*a)).collect();
        let text = format!(
            "add-ons: {}\ncontext: {}\ntimeout: {}\nversions: {:?}\n",
            names.join(", "),
            context.as_deref().unwrap_or("(current)"),
            common::duration::format_duration(timeout),
            args.pin.versions(&[]),
        );
        vec![("plan.txt", text)]
    };
    crate::diag::on_failure(
        installed,
        diag_dir.as_deref(),
        &label,
        kube,
        context.as_deref(),
        plan,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_tool_flags_win_over_pins() {
        let pins = crate::cli::PinArgs {
            pins: vec![
                ("kind".into(), "v0.29.0".into()),
                ("olm".into(), "v0.30.0".into()),
            ],
        };
        let kind = Some("v0.20.0".to_string());
        assert_eq!(
            pins.versions(&[("kind", &kind), ("helm", &None)]),
            vec![
                ("olm".to_string(), "v0.30.0".to_string()),
                ("kind".to_string(), "v0.20.0".to_string())
            ]
        );
    }

    #[test]
    fn addons_target_the_named_cluster() {
        let none = KubeArgs::default();
        assert_eq!(addon_context(&none, None), None);
        assert_eq!(addon_context(&none, Some("ci")).as_deref(), Some("kind-ci"));
        let explicit = KubeArgs {
            context: Some("prod".into()),
            ..KubeArgs::default()
        };
        assert_eq!(
            addon_context(&explicit, Some("ci")).as_deref(),
            Some("prod")
        );
    }
}
