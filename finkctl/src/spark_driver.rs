//! The driver pod of a spark-submit run: its name, its phase, and why it failed (spark-submit of
//! pyspark 4 exits 0 even when the driver failed).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use k8s_openapi::api::core::v1::Pod;

use crate::spark_job::SparkJob;

/// `<task>-<night>-<8 hex digits>-driver`.
pub(crate) fn driver_pod_name(job: &SparkJob, night: &str) -> String {
    let random = RandomState::new().build_hasher().finish() as u32;
    format!("{}-{night}-{random:08x}-driver", job.task.name())
}

/// The pod's `status.phase`.
pub(crate) fn pod_phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref()?.phase.as_deref()
}

/// Why a pod failed: each container that ended badly (`container spark-kubernetes-driver:
/// OOMKilled, exit code 137`), else the pod's reason and message.
pub(crate) fn driver_failure(pod: &Pod) -> String {
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
