//! `ktbx delete`: one cluster (`kind delete cluster [--name N]`, idempotent through kind) or every
//! cluster whose name matches `-p REGEX` anywhere (unanchored, as the original; empty lines of
//! `kind get clusters` never match). With `--older-than AGE`, only the matches whose control-plane
//! container the runtime reports as created longer ago than that.

use std::io::Write;

use anyhow::Context as _;
use common::process::Runner;
use regex::Regex;

use crate::addons::{self, Target};
use crate::cli::{DeleteArgs, DeleteStackArgs};
use crate::cluster;
use crate::context::Context;
use crate::registry;
use crate::stack;

/// The names of `clusters` that `pattern` matches anywhere.
pub(crate) fn matching<'a>(pattern: &Regex, clusters: &'a [String]) -> Vec<&'a str> {
    clusters
        .iter()
        .map(String::as_str)
        .filter(|c| !c.is_empty() && pattern.is_match(c))
        .collect()
}

/// Whether a cluster created at `created` is older than `age` at `now`.
pub(crate) fn is_older(
    created: k8s_openapi::jiff::Timestamp,
    now: k8s_openapi::jiff::Timestamp,
    age: std::time::Duration,
) -> bool {
    now.duration_since(created)
        .try_into()
        .is_ok_and(|elapsed: std::time::Duration| elapsed > age)
}

/// The clusters created longer ago than `age`, each listed with its creation time. A cluster
/// whose creation time cannot be read is kept (with a warning).
fn older_than<'a>(
    runner: &Runner,
    clusters: &[&'a str],
    age: std::time::Duration,
    out: &mut dyn Write,
) -> anyhow::Result<Vec<&'a str>> {
    if clusters.is_empty() {
        return Ok(Vec::new());
    }
    let runtime = cluster::runtime_from_env()?;
    let now = k8s_openapi::jiff::Timestamp::now();
    let mut old = Vec::new();
    for name in clusters {
        match cluster::created_at(runner, &runtime, name) {
            Err(e) => tracing::warn!("keeping cluster {name}: {e:#}"),
            Ok(created) if is_older(created, now, age) => {
                writeln!(out, "Cluster {name} created {created}")?;
                old.push(*name);
            }
            Ok(created) => {
                tracing::info!(cluster = name, %created, "younger than --older-than, kept")
            }
        }
    }
    Ok(old)
}

/// Runs `ktbx delete`.
pub(crate) fn run(ctx: &Context, args: &DeleteArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let runner = &Runner::new(args.dry_run);
    args.extra.ignore();
    if let Some(file) = &args.stack.file {
        return delete_stack(ctx, &args.stack, file, runner, out);
    }
    let name = ctx.name.as_deref();
    let targets: Vec<Option<String>> = match &args.pattern {
        Some(pattern) => {
            let re =
                Regex::new(pattern).with_context(|| format!("invalid --pattern {pattern:?}"))?;
            let clusters = cluster::list_clusters(runner)?;
            let mut found: Vec<&str> = matching(&re, &clusters);
            if let Some(age) = args.older_than {
                found = older_than(runner, &found, age, out)?;
            }
            if found.is_empty() {
                match args.older_than {
                    Some(age) => writeln!(
                        out,
                        "No kind cluster matches {pattern:?} and is older than {}",
                        common::duration::format_duration(age)
                    )?,
                    None => writeln!(out, "No kind cluster matches {pattern:?}")?,
                }
            }
            found.into_iter().map(|c| Some(c.to_string())).collect()
        }
        None => {
            if let Some(name) = name {
                cluster::validate_name(name)?;
            }
            vec![name.map(str::to_string)]
        }
    };
    for target in targets {
        let shown = target.as_deref().unwrap_or("<kind default>");
        writeln!(out, "Delete kind cluster {shown}")?;
        out.flush()?;
        runner
            .run_logged(&cluster::kind_cluster_cmd("delete", target.as_deref()))
            .with_context(|| format!("Error while deleting cluster {shown}"))?;
    }
    Ok(())
}

/// `ktbx delete -f FILE`: the stack's add-ons in reverse order within one deadline, then its
/// cluster, then the local registry it declares. Idempotent: what is gone is skipped.
fn delete_stack(
    ctx: &Context,
    args: &DeleteStackArgs,
    file: &std::path::Path,
    runner: &Runner,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let stack = stack::load(file)?;
    let name = ctx.name.clone().or_else(|| stack.name.clone());
    let effective = cluster::effective_name(
        name.as_deref(),
        std::env::var("KIND_CLUSTER_NAME").ok().as_deref(),
    );
    cluster::validate_name(&effective)?;
    let exists = cluster::list_clusters(runner)?.contains(&effective);
    if exists && !stack.addons.is_empty() {
        let context = ctx
            .kube
            .context
            .clone()
            .unwrap_or_else(|| cluster::context_of(&effective));
        let target = Target::new(
            &ctx.kube,
            Some(context),
            runner.is_dry_run(),
            args.timeout,
            crate::client_tools::Settings::default(),
        )?;
        ctx.block_on(async {
            let deadline = tokio::time::Instant::now() + args.timeout;
            for addon in stack.addons.iter().rev() {
                writeln!(out, "Remove add-on {}", addon.name())?;
                addons::remove(
                    addon.target(),
                    addon.name(),
                    &target,
                    runner,
                    deadline,
                    args.timeout,
                    out,
                )
                .await
                .with_context(|| format!("Error while removing add-on {}", addon.name()))?;
            }
            anyhow::Ok(())
        })??;
    }
    if exists {
        writeln!(out, "Delete kind cluster {effective}")?;
        out.flush()?;
        runner
            .run_logged(&cluster::kind_cluster_cmd("delete", Some(&effective)))
            .with_context(|| format!("Error while deleting cluster {effective}"))?;
    } else {
        writeln!(out, "No kind cluster {effective}")?;
    }
    if stack.registry.is_some() {
        let runtime = cluster::runtime_from_env()?;
        if registry::remove_container(runner, &runtime)? {
            writeln!(
                out,
                "Delete registry container {}",
                registry::LOCAL_REGISTRY
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unanchored_and_never_the_empty_line() {
        let clusters: Vec<String> = ["fink-ci-1", "kind", "my-fink-ci", ""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            matching(&Regex::new("fink-ci").unwrap(), &clusters),
            vec!["fink-ci-1", "my-fink-ci"]
        );
        assert_eq!(
            matching(&Regex::new(".*").unwrap(), &clusters),
            vec!["fink-ci-1", "kind", "my-fink-ci"]
        );
        assert_eq!(
            matching(&Regex::new("^kind$").unwrap(), &clusters),
            vec!["kind"]
        );
        assert!(matching(&Regex::new("x*").unwrap(), &[String::new()]).is_empty());
    }

    #[test]
    fn older_means_strictly_older() {
        let t = |s: &str| s.parse::<k8s_openapi::jiff::Timestamp>().unwrap();
        let six_hours = std::time::Duration::from_secs(6 * 3600);
        let now = t("2026-12-06T12:00:00Z");
        assert!(is_older(t("2026-12-06T05:59:59Z"), now, six_hours));
        assert!(!is_older(t("2026-12-06T06:00:00Z"), now, six_hours));
        assert!(!is_older(t("2026-12-06T13:00:00Z"), now, six_hours));
    }
}
