//! `finkctl run [task]`: log the configuration, or launch a Fink task with spark-submit (blocking,
//! like the original) or as a spark-operator SparkApplication.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::runtime::watcher;

use common::process::Runner;

use crate::cli::{Backend, RunArgs};
use crate::config::{FinkConfig, parse_go_bool};
use crate::context::{Context, block_on_kube};
use crate::kafka::apply_jaas_secret;
use crate::kube_api::{FIELD_MANAGER, api_error};
use crate::night::resolve_night;
use crate::spark_application::{
    self, DEFAULT_SPARK_VERSION, application_name, spark_application_resource,
};
use crate::spark_job::{JAAS_MOUNT_PATH, JAAS_SECRET, JobRequest, SparkJob, build_job};
use crate::spark_submit::SparkSubmit;
use common::kube::retry::retry_transient;
use common::kube::wait::{Check, watch_until};
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
        &config.string("run.night")?,
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

/// `<task>-<night>-<8 hex digits>-driver`.
fn driver_pod_name(job: &SparkJob, night: &str) -> String {
    let random = RandomState::new().build_hasher().finish() as u32;
    format!("{}-{night}-{random:08x}-driver", job.task.name())
}

/// Waits until the driver pod has ended (it has once spark-submit returned, but its status may
/// lag) and fails unless it Succeeded, naming the container, reason and exit code.
async fn driver_outcome(
    target: &KubeTarget,
    namespace: &str,
    name: &str,
    deadline: Deadline,
) -> anyhow::Result<()> {
    let api: Api<Pod> = Api::namespaced(target.client().await?, namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let what = format!("driver pod {namespace}/{name} to end");
    let pods = watch_until(
        api,
        (),
        config,
        deadline.remaining(),
        &what,
        |pods: &[Pod]| match pods.first().and_then(pod_phase) {
            Some("Succeeded" | "Failed") => Check::Done,
            _ => Check::Pending,
        },
    )
    .await?;
    let pod = pods.first().context("the driver pod disappeared")?;
    if pod_phase(pod) == Some("Succeeded") {
        return Ok(());
    }
    bail!(
        "the driver pod {namespace}/{name} failed: {}",
        driver_failure(pod)
    )
}

fn pod_phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref()?.phase.as_deref()
}

/// Why a pod failed: each container that ended badly (`container spark-kubernetes-driver:
/// OOMKilled, exit code 137`), else the pod's reason and message.
fn driver_failure(pod: &Pod) -> String {
    let status = pod.status.as_ref();
    let containers: Vec<String> = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let ended = c.state.as_ref()?.terminated.as_ref()?;
            (ended.exit_code != 0).then(|| {
                let reason = ended.reason.as_deref().unwrap_or("Error");
                let mut text = format!(
                    "container {}: {reason}, exit code {}",
                    c.name, ended.exit_code
                );
                if let Some(message) = ended.message.as_deref().filter(|m| !m.trim().is_empty()) {
                    text.push_str(&format!(" ({})", message.trim()));
                }
                text
            })
        })
        .collect();
    if !containers.is_empty() {
        return containers.join("; ");
    }
    let reason = status
        .and_then(|s| s.reason.as_deref())
        .unwrap_or("no reason given");
    match status.and_then(|s| s.message.as_deref()) {
        Some(message) => format!("{reason}: {message}"),
        None => reason.to_string(),
    }
}

fn spark_operator(
    ctx: &Context,
    config: &FinkConfig,
    target: &KubeTarget,
    job: &SparkJob,
    timeout: Duration,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let spark_version = config.string_or("run.spark_version", DEFAULT_SPARK_VERSION)?;
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

const POD_TEMPLATE: &str = "executor-pod-template.yaml";

/// A `fink-broker-<digits>` directory holding the executor pod template; removed on drop.
struct PodTemplateDir {
    path: PathBuf,
}

impl PodTemplateDir {
    fn create() -> anyhow::Result<Self> {
        let base = std::env::temp_dir();
        loop {
            let path = temp_dir_name(&base);
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    // Owned from here on: dropped (and removed) if the template cannot be written.
                    let dir = Self { path };
                    let file = dir.path.join(POD_TEMPLATE);
                    std::fs::write(&file, executor_pod_template())
                        .with_context(|| format!("cannot write {}", file.display()))?;
                    return Ok(dir);
                }
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(err) => {
                    return Err(err).with_context(|| format!("cannot create {}", path.display()));
                }
            }
        }
    }
}

impl Drop for PodTemplateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `<base>/fink-broker-<decimal digits>`, as Go's `os.MkdirTemp`.
fn temp_dir_name(base: &Path) -> PathBuf {
    let random = RandomState::new().build_hasher().finish() as u32;
    base.join(format!("fink-broker-{random}"))
}

/// Executor pod template mounting the JAAS Secret.
fn executor_pod_template() -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: spark-kubernetes-executor\n    volumeMounts:\n    - name: kafka-secret\n      mountPath: {JAAS_MOUNT_PATH}\n      readOnly: true\n  volumes:\n  - name: kafka-secret\n    secret:\n      secretName: {JAAS_SECRET}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_dir_suffix_is_decimal_digits() {
        let name = temp_dir_name(Path::new("/tmp"));
        let suffix = name
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .strip_prefix("fink-broker-")
            .unwrap();
        assert!(
            !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()),
            "{suffix}"
        );
    }

    #[test]
    fn pod_template_mounts_the_secret() {
        let pod: serde_json::Value = serde_saphyr::from_str(&executor_pod_template()).unwrap();
        assert_eq!(
            pod["spec"]["volumes"][0]["secret"]["secretName"],
            "fink-kafka-jaas"
        );
        assert_eq!(
            pod["spec"]["containers"][0]["volumeMounts"][0]["mountPath"],
            "/etc/fink-broker"
        );
    }
}
