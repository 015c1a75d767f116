//! `ktbx delete`: one cluster (`kind delete cluster [--name N]`, idempotent through kind) or every
//! cluster whose name matches `-p REGEX` anywhere (unanchored, as the original; empty lines of
//! `kind get clusters` never match).

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
            let found: Vec<Option<String>> = matching(&re, &clusters)
                .into_iter()
                .map(|c| Some(c.to_string()))
                .collect();
            if found.is_empty() {
                writeln!(out, "No kind cluster matches {pattern:?}")?;
            }
            found
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
}
