//! The driver pod of a spark-submit run: its name, and how it ended (spark-submit of pyspark 4
//! exits 0 even when the driver failed).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::watcher;

use crate::spark_job::SparkJob;
use common::kube::wait::{Check, watch_until};
use common::kube::{Deadline, KubeTarget};

/// `<task>-<night>-<8 hex digits>-driver`.
pub(crate) fn driver_pod_name(job: &SparkJob, night: &str) -> String {
    let random = RandomState::new().build_hasher().finish() as u32;
    format!("{}-{night}-{random:08x}-driver", job.task.name())
}

/// Waits until the driver pod has ended (it has once spark-submit returned, but its status may
/// lag) and fails unless it Succeeded, naming the container, reason and exit code.
pub(crate) async fn driver_outcome(
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
