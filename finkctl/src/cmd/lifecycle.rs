//! `finkctl suspend|resume <task>`: server-side apply of the task's SparkApplication
//! `spec.suspend` (its own field manager, so that `run` keeps the rest of the spec), then a wait
//! for the operator to reach the state: SUSPENDED, or RUNNING (COMPLETED for a short batch) once
//! resumed.

use std::io::Write;

use anyhow::{Context as _, bail};
use kube::Api;
use kube::api::{DynamicObject, Patch, PatchParams};
use serde_json::json;

use crate::application_wait::{failure, has_ended, state, watch_application};
use crate::cli::LifecycleArgs;
use crate::context::{Context, block_on_kube};
use crate::kube_api::api_error;
use crate::report::write_report;
use crate::spark_application::{API_VERSION, spark_application_resource, task_application_name};
use common::kube::Deadline;
use common::kube::retry::retry_transient;
use common::kube::wait::Check;

/// Field manager of `spec.suspend` (apart from `run`'s, which owns the rest of the spec).
const SUSPEND_MANAGER: &str = "finkctl-suspend";

/// Runs `finkctl suspend <task>`.
pub(crate) fn suspend(
    ctx: &Context,
    args: &LifecycleArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    set_suspend(ctx, args, true, out)
}

/// Runs `finkctl resume <task>`.
pub(crate) fn resume(
    ctx: &Context,
    args: &LifecycleArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    set_suspend(ctx, args, false, out)
}

fn set_suspend(
    ctx: &Context,
    args: &LifecycleArgs,
    suspend: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let target = ctx.kube_target()?;
    let namespace = target.namespace().to_string();
    let name = task_application_name(args.task);
    let patch = json!({
        "apiVersion": API_VERSION,
        "kind": "SparkApplication",
        "metadata": { "name": name, "namespace": namespace },
        "spec": { "suspend": suspend },
    });
    if ctx.dry_run {
        write!(out, "{}", serde_saphyr::to_string(&patch)?)?;
        return Ok(());
    }
    let verb = if suspend { "suspend" } else { "resume" };
    let deadline = Deadline::after(args.timeout);
    let what = format!("{verb} SparkApplication {namespace}/{name}");
    let (report, result) = block_on_kube(&target, deadline, &what, async {
        let api: Api<DynamicObject> = Api::namespaced_with(
            target.client().await?,
            &namespace,
            &spark_application_resource(),
        );
        let live = retry_transient(&format!("reading SparkApplication {name}"), || {
            api.get_opt(&name)
        })
        .await
        .map_err(api_error)
        .with_context(|| format!("cannot read SparkApplication {namespace}/{name}"))?;
        let Some(live) = live else {
            bail!(
                "no SparkApplication {namespace}/{name} to {verb}: launch it with `finkctl run {} --backend spark-operator`",
                args.task.name()
            );
        };
        if suspend && has_ended(&live) {
            bail!(
                "SparkApplication {namespace}/{name} has ended ({}): there is nothing to suspend",
                state(&live)
            );
        }
        let params = PatchParams::apply(SUSPEND_MANAGER).force();
        let apply = Patch::Apply(&patch);
        retry_transient(&format!("applying spec.suspend of {name}"), || {
            api.patch(&name, &params, &apply)
        })
        .await
        .map_err(api_error)
        .with_context(|| {
            format!("cannot set spec.suspend of SparkApplication {namespace}/{name}")
        })?;
        let what = if suspend {
            format!("SparkApplication {namespace}/{name} to be SUSPENDED")
        } else {
            format!("SparkApplication {namespace}/{name} to run again")
        };
        let check = |app: &DynamicObject| match (state(app), suspend) {
            ("SUSPENDED", true) | ("RUNNING" | "COMPLETED", false) => Check::Done,
            (_, false) if has_ended(app) => Check::Failed(failure(app)),
            _ => Check::Pending,
        };
        watch_application(&target, &namespace, &name, &what, check, deadline).await
    })?;
    if let Some(report) = &report {
        write_report(out, args.output, report, &report.line())?;
    }
    result.map(|_| ())
}
