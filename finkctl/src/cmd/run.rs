//! `finkctl run [task]`: log the configuration, or launch a Fink task with spark-submit (blocking,
//! like the original) or as a spark-operator SparkApplication; `--wait` follows the application
//! to its end (or to RUNNING) on both backends, `--diff` shows what applying would change.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use kube::Api;
use kube::api::{DynamicObject, Patch, PatchParams};

use common::process::Runner;

use crate::application_wait::{Outcome, WaitFor, submission_id, wait_application, wait_driver};
use crate::cli::{Backend, RunArgs};
use crate::config::{FinkConfig, or_default};
use crate::context::{Context, block_on_kube};
use crate::kafka::apply_jaas_secret;
use crate::kube_api::{FIELD_MANAGER, api_error};
use crate::night::resolve_night;
use crate::pod_template::{POD_TEMPLATE, PodTemplateDir, temp_dir_name};
use crate::report::{ReportFormat, write_report};
use crate::spark_application::{
    self, DEFAULT_SPARK_VERSION, application_name, executor_instances, spark_application_resource,
};
use crate::spark_driver::driver_pod_name;
use crate::spark_job::{ConfStyle, JobRequest, SparkJob, build_job, restart_policy};
use crate::spark_submit::SparkSubmit;
use crate::spec_diff::{self, Change};
use common::config::parse_go_bool;
use common::kube::retry::retry_transient;
use common::kube::wait::WaitError;
use common::kube::{Deadline, KubeTarget};

/// Time allowed for the Kubernetes API calls without `--timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `--wait` waits without `--timeout`: as long as the application runs.
const UNBOUNDED_WAIT: Duration = Duration::from_secs(366 * 24 * 3600);

/// What `run` does after launching, from its flags.
struct Follow {
    wait: Option<WaitFor>,
    output: ReportFormat,
    api_timeout: Duration,
    wait_timeout: Duration,
}

/// Runs `finkctl run`.
pub(crate) fn run(ctx: &Context, args: &RunArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = ctx.config(true)?;
    tracing::info!("Current finkctl configuration:\n{}", config.redacted_yaml());
    let Some(task) = args.task else {
        return Ok(());
    };
    let night = resolve_night(
        args.night.tonight,
        args.night.night.as_deref(),
        &config.run.night,
    )?;
    let noscience = args.noscience || noscience_from_env()?;
    let target = ctx.kube_target()?;
    let request = JobRequest {
        task,
        night: &night,
        image: args.image.as_deref(),
        noscience,
        namespace: target.namespace(),
    };
    let job = build_job(&config, &request)?;
    let follow = Follow {
        wait: args.wait,
        output: args.output,
        api_timeout: args.timeout.unwrap_or(DEFAULT_TIMEOUT),
        wait_timeout: args.timeout.unwrap_or(UNBOUNDED_WAIT),
    };
    if args.diff && !ctx.dry_run {
        if args.backend == Backend::SparkSubmit {
            bail!(
                "--diff compares the SparkApplication with the live one: add --backend spark-operator (spark-submit leaves no object to compare; --dry-run prints its command)"
            );
        }
        return diff(&config, &target, &job, &follow, out);
    }
    let ran = match args.backend {
        Backend::SparkSubmit => spark_submit(ctx, &config, &target, &job, &night, &follow, out),
        Backend::SparkOperator => spark_operator(ctx, &config, &target, &job, &follow, out),
    };
    if let (Err(_), Some(dir)) = (&ran, &args.diag_dir) {
        ctx.write_diagnostics(dir);
    }
    ran
}

/// `NOSCIENCE=true` works like `--noscience` (Go booleans; empty or unset is false).
fn noscience_from_env() -> anyhow::Result<bool> {
    match std::env::var("NOSCIENCE") {
        Ok(value) if !value.is_empty() => parse_go_bool(&value).with_context(|| {
            format!("NOSCIENCE={value:?} is not a boolean: use NOSCIENCE=true or NOSCIENCE=false")
        }),
        _ => Ok(false),
    }
}

fn spark_submit(
    ctx: &Context,
    config: &FinkConfig,
    target: &KubeTarget,
    job: &SparkJob,
    night: &str,
    follow: &Follow,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let timeout = follow.api_timeout;
    if ctx.dry_run {
        let template = job
            .kafka_jaas
            .then(|| temp_dir_name(&std::env::temp_dir()).join(POD_TEMPLATE));
        write!(
            out,
            "{}",
            SparkSubmit::new(job, target.server(), template.as_deref()).to_text()
        )?;
        return Ok(());
    }
    let template_dir = if job.kafka_jaas {
        block_on_kube(
            target,
            Deadline::after(timeout),
            "applying the JAAS Secret",
            apply_jaas_secret(config, target),
        )?;
        Some(PodTemplateDir::create()?)
    } else {
        None
    };
    let template = template_dir.as_ref().map(|d| d.path.join(POD_TEMPLATE));
    let driver = driver_pod_name(job, night);
    let command = submission(
        job,
        target,
        template.as_deref(),
        &driver,
        follow.wait.is_some(),
    )?;
    let status = Runner::new(false).interactive(&command)?;
    if !status.success() {
        bail!(
            "spark-submit for {} failed ({status}); see its output above",
            job.task.name()
        );
    }
    let Some(wait_for) = follow.wait else {
        // spark-submit (pyspark 4) exits 0 even when the driver failed: its pod says how it ended.
        let what = format!("reading how driver pod {}/{driver} ended", job.namespace);
        let deadline = Deadline::after(timeout);
        let (_, ended) = block_on_kube(target, deadline, &what, async {
            let executors = executor_instances(job) as usize;
            wait_driver(
                target,
                &job.namespace,
                &driver,
                WaitFor::Completed,
                executors,
                deadline,
            )
            .await
        })?;
        return ended.with_context(|| format!("spark-submit for {} returned", job.task.name()));
    };
    // spark-submit returned once the driver pod was created: follow it.
    let deadline = Deadline::after(follow.wait_timeout);
    let what = format!("following driver pod {}/{driver}", job.namespace);
    let outcome = block_on_kube(target, deadline, &what, async {
        let executors = executor_instances(job) as usize;
        wait_driver(
            target,
            &job.namespace,
            &driver,
            wait_for,
            executors,
            deadline,
        )
        .await
    })?;
    report(outcome, follow.output, out)
}

/// Prints the last state seen and returns the wait's result (a timeout names that state).
fn report(outcome: Outcome, format: ReportFormat, out: &mut dyn Write) -> anyhow::Result<()> {
    let (report, result) = outcome;
    if let Some(report) = &report {
        write_report(out, format, report, &report.line())?;
    }
    match (result, &report) {
        (Err(err), Some(report))
            if matches!(err.downcast_ref(), Some(WaitError::Timeout { .. })) =>
        {
            Err(anyhow::anyhow!("{err}; last state: {}", report.line()))
        }
        (result, _) => result,
    }
}

/// The spark-submit command of a real run: the driver pod gets a known name, and spark-submit
/// uses the kubeconfig files and the context finkctl uses (`--kubeconfig`, `--context`).
fn submission(
    job: &SparkJob,
    target: &KubeTarget,
    template: Option<&Path>,
    driver: &str,
    follow: bool,
) -> anyhow::Result<common::process::Cmd> {
    let mut confs = vec![("spark.kubernetes.driver.pod.name", driver)];
    if follow {
        // finkctl follows the driver itself, within --timeout.
        confs.push(("spark.kubernetes.submission.waitAppCompletion", "false"));
    }
    if let Some(context) = target.context() {
        confs.push(("spark.kubernetes.context", context));
    }
    let mut cmd = SparkSubmit::new(job, target.server(), template)
        .with_confs(&confs)
        .command();
    let files = target.kubeconfig_files();
    if !files.is_empty() {
        cmd = cmd.env(
            "KUBECONFIG",
            std::env::join_paths(files).context("a kubeconfig path contains ':'")?,
        );
    }
    Ok(cmd)
}

fn spark_operator(
    ctx: &Context,
    config: &FinkConfig,
    target: &KubeTarget,
    job: &SparkJob,
    follow: &Follow,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let manifest = render(config, job)?;
    if ctx.dry_run {
        let shown = spark_application::redacted(manifest, job);
        write!(
            out,
            "{}",
            serde_saphyr::to_string(&shown).context("cannot print the manifest")?
        )?;
        return Ok(());
    }
    let name = application_name(job);
    let what = format!("applying SparkApplication {name}");
    let stale = block_on_kube(target, Deadline::after(follow.api_timeout), &what, async {
        if job.kafka_jaas {
            apply_jaas_secret(config, target).await?;
        }
        let api = applications(target, &job.namespace).await?;
        let before = if follow.wait.is_some() {
            live(&api, &name).await?
        } else {
            None
        };
        let params = PatchParams::apply(FIELD_MANAGER);
        let patch = Patch::Apply(&manifest);
        let applied = retry_transient(&format!("applying SparkApplication {name}"), || {
            api.patch(&name, &params, &patch)
        })
        .await
        .map_err(api_error)
        .with_context(|| format!("cannot apply SparkApplication {}/{name}", job.namespace))?;
        writeln!(
            out,
            "sparkapplication.sparkoperator.k8s.io/{name} serverside-applied"
        )?;
        // A changed spec makes the operator restart the application: the states of the
        // submission before the apply are stale.
        let stale = before.filter(|b| b.metadata.generation != applied.metadata.generation);
        anyhow::Ok(stale.and_then(|b| submission_id(&b).map(String::from)))
    })?;
    let Some(wait_for) = follow.wait else {
        return Ok(());
    };
    let deadline = Deadline::after(follow.wait_timeout);
    let what = format!("following SparkApplication {}/{name}", job.namespace);
    let outcome = block_on_kube(target, deadline, &what, async {
        wait_application(target, &job.namespace, &name, wait_for, stale, deadline).await
    })?;
    report(outcome, follow.output, out)
}

/// The task's SparkApplication, with its restart policy from the configuration.
fn render(config: &FinkConfig, job: &SparkJob) -> anyhow::Result<serde_json::Value> {
    let spark_version = or_default(&config.run.spark_version, DEFAULT_SPARK_VERSION);
    Ok(spark_application::render(
        job,
        &spark_version,
        restart_policy(config, job.task),
    ))
}

async fn applications(target: &KubeTarget, namespace: &str) -> anyhow::Result<Api<DynamicObject>> {
    Ok(Api::namespaced_with(
        target.client().await?,
        namespace,
        &spark_application_resource(),
    ))
}

/// The live application, if it exists.
async fn live(api: &Api<DynamicObject>, name: &str) -> anyhow::Result<Option<DynamicObject>> {
    retry_transient(&format!("reading SparkApplication {name}"), || {
        api.get_opt(name)
    })
    .await
    .map_err(api_error)
    .with_context(|| format!("cannot read SparkApplication {name}"))
}

/// What `run --diff` prints.
#[derive(serde::Serialize)]
struct DiffReport {
    name: String,
    namespace: String,
    exists: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    changes: Vec<Change>,
}

/// `run --diff`: reads the live SparkApplication (GET only) and prints what applying the
/// rendered one would change.
fn diff(
    config: &FinkConfig,
    target: &KubeTarget,
    job: &SparkJob,
    follow: &Follow,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let manifest = render(config, job)?;
    let name = application_name(job);
    let what = format!("reading SparkApplication {name}");
    let live = block_on_kube(target, Deadline::after(follow.api_timeout), &what, async {
        let api = applications(target, &job.namespace).await?;
        live(&api, &name).await
    })?;
    let live_json = live.as_ref().map(serde_json::to_value).transpose()?;
    let mut changes = spec_diff::diff(live_json.as_ref(), &manifest, FIELD_MANAGER);
    redact(&mut changes, job);
    let state = live
        .as_ref()
        .map(|app| crate::application_wait::state(app).to_string());
    let report = DiffReport {
        name: name.clone(),
        namespace: job.namespace.clone(),
        exists: live.is_some(),
        state: state.clone(),
        changes,
    };
    let restarts = report.changes.iter().filter(|c| c.restarts).count();
    let mut text = match (&state, report.changes.is_empty()) {
        (None, _) => format!(
            "SparkApplication {}/{name} does not exist: applying creates it",
            job.namespace
        ),
        (Some(_), true) => format!("SparkApplication {}/{name}: no change", job.namespace),
        (Some(state), false) => {
            let state = if state.is_empty() { "NEW" } else { state };
            format!(
                "SparkApplication {}/{name} ({state}): {} change(s); {restarts} restart the application (the operator resubmits it on any spec change)",
                job.namespace,
                report.changes.len()
            )
        }
    };
    for line in spec_diff::lines(&report.changes) {
        text.push('\n');
        text.push_str(&line);
    }
    write_report(out, follow.output, &report, &text)
}

/// Hides the values of the secret Spark confs (the S3 keys).
fn redact(changes: &mut [Change], job: &SparkJob) {
    let secrets: Vec<String> = job
        .storage
        .iter()
        .filter(|c| c.style == ConfStyle::SecretValue)
        .map(|c| format!("spec.sparkConf[{:?}]", c.key))
        .collect();
    let hidden = serde_json::Value::String("<redacted>".into());
    for change in changes.iter_mut().filter(|c| secrets.contains(&c.path)) {
        for value in [&mut change.live, &mut change.rendered]
            .into_iter()
            .flatten()
        {
            *value = hidden.clone();
        }
    }
}
