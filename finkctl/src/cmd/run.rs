//! `finkctl run [task]`: log the configuration, or launch a Fink task with spark-submit (blocking,
//! like the original) or as a spark-operator SparkApplication.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use kube::Api;
use kube::api::{DynamicObject, Patch, PatchParams};

use common::process::Runner;

use crate::cli::{Backend, RunArgs};
use crate::config::{FinkConfig, or_default};
use crate::context::{Context, block_on_kube};
use crate::kafka::apply_jaas_secret;
use crate::kube_api::{FIELD_MANAGER, api_error};
use crate::night::resolve_night;
use crate::pod_template::{POD_TEMPLATE, PodTemplateDir, temp_dir_name};
use crate::spark_application::{
    self, DEFAULT_SPARK_VERSION, application_name, spark_application_resource,
};
use crate::spark_driver::{driver_outcome, driver_pod_name};
use crate::spark_job::{JobRequest, SparkJob, build_job};
use crate::spark_submit::SparkSubmit;
use common::config::parse_go_bool;
use common::kube::retry::retry_transient;
use common::kube::{Deadline, KubeTarget};

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
    match args.backend {
        Backend::SparkSubmit => {
            spark_submit(ctx, &config, &target, &job, &night, args.timeout, out)
        }
        Backend::SparkOperator => spark_operator(ctx, &config, &target, &job, args.timeout, out),
    }
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
    timeout: Duration,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
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
    let status =
        Runner::new(false).interactive(&submission(job, target, template.as_deref(), &driver)?)?;
    if !status.success() {
        bail!(
            "spark-submit for {} failed ({status}); see its output above",
            job.task.name()
        );
    }
    // spark-submit (pyspark 4) exits 0 even when the driver failed: its pod says how it ended.
    let what = format!("reading how driver pod {}/{driver} ended", job.namespace);
    let deadline = Deadline::after(timeout);
    block_on_kube(target, deadline, &what, async {
        driver_outcome(target, &job.namespace, &driver, deadline).await
    })
    .with_context(|| format!("spark-submit for {} returned", job.task.name()))
}

/// The spark-submit command of a real run: the driver pod gets a known name, and spark-submit
/// uses the kubeconfig files and the context finkctl uses (`--kubeconfig`, `--context`).
fn submission(
    job: &SparkJob,
    target: &KubeTarget,
    template: Option<&Path>,
    driver: &str,
) -> anyhow::Result<common::process::Cmd> {
    let mut confs = vec![("spark.kubernetes.driver.pod.name", driver)];
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
    timeout: Duration,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let spark_version = or_default(&config.run.spark_version, DEFAULT_SPARK_VERSION);
    let manifest = spark_application::render(job, &spark_version);
    if ctx.dry_run {
        let shown = spark_application::redacted(manifest, job);
        write!(
            out,
            "{}",
            serde_saphyr::to_string(&shown).context("cannot print the manifest")?
        )?;
        return Ok(());
    }
    let what = format!("applying SparkApplication {}", application_name(job));
    block_on_kube(target, Deadline::after(timeout), &what, async {
        if job.kafka_jaas {
            apply_jaas_secret(config, target).await?;
        }
        let client = target.client().await?;
        let api: Api<DynamicObject> =
            Api::namespaced_with(client, &job.namespace, &spark_application_resource());
        let name = application_name(job);
        let params = PatchParams::apply(FIELD_MANAGER);
        let patch = Patch::Apply(&manifest);
        retry_transient(&format!("applying SparkApplication {name}"), || {
            api.patch(&name, &params, &patch)
        })
        .await
        .map_err(api_error)
        .with_context(|| format!("cannot apply SparkApplication {}/{name}", job.namespace))?;
        writeln!(
            out,
            "sparkapplication.sparkoperator.k8s.io/{name} serverside-applied"
        )?;
        anyhow::Ok(())
    })
}
