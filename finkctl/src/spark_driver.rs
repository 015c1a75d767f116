//! The driver pod of a spark-submit run: its name, its phase, and why it failed (spark-submit of
//! pyspark 4 exits 0 even when the driver failed).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use k8s_openapi::api::core::v1::Pod;

use crate::pod_health::Termination;
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

/// Why a pod that ended `Failed` failed: each container whose run ended with a non-zero exit code
/// (`container spark-kubernetes-driver: OOMKilled, exit code 137`, then ` (<message>)` when the
/// container wrote one), else the pod's reason and message.
///
/// It reads each container's end with [`Termination::of`], as [`pod_health`](crate::pod_health)
/// does, but it answers another question in other words, so the two texts stay apart: this one
/// is the error of a finished run (the spark-submit driver, a pod that failed a `--wait`), which
/// the README and COMPAT.md pin, and names every failed container of the pod in its current run;
/// `PodSummary::error_line` triages a pod that may still be running: the worst container only,
/// its current or previous run, CrashLoopBackOff, restarts and memory limit.
pub(crate) fn driver_failure(pod: &Pod) -> String {
    let status = pod.status.as_ref();
    let containers: Vec<String> = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let ended = Termination::of(c.state.as_ref()?.terminated.as_ref()?);
            (ended.exit_code != 0).then(|| {
                let mut text = format!(
                    "container {}: {}, exit code {}",
                    c.name, ended.reason, ended.exit_code
                );
                if let Some(message) = &ended.message {
                    text.push_str(&format!(" ({message})"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn failure(status: serde_json::Value) -> String {
        driver_failure(
            &serde_json::from_value(json!({"metadata": {"name": "d"}, "status": status})).unwrap(),
        )
    }

    fn terminated(name: &str, ended: serde_json::Value) -> serde_json::Value {
        json!({"name": name, "ready": false, "restartCount": 0, "image": "i", "imageID": "",
            "state": {"terminated": ended}})
    }

    #[test]
    fn every_failed_container_with_its_reason_exit_code_and_message() {
        assert_eq!(
            failure(json!({"phase": "Failed", "containerStatuses": [
                terminated("spark-kubernetes-driver", json!({"exitCode": 137, "reason": "OOMKilled"})),
                terminated("sidecar", json!({"exitCode": 0, "reason": "Completed"})),
                terminated("init", json!({"exitCode": 2, "message": "  Traceback\nValueError: bad \n"})),
                terminated("blank", json!({"exitCode": 3, "reason": "Error", "message": "  "})),
            ]})),
            "container spark-kubernetes-driver: OOMKilled, exit code 137; \
             container init: Error, exit code 2 (Traceback\nValueError: bad); \
             container blank: Error, exit code 3"
        );
    }

    #[test]
    fn without_a_failed_container_the_pods_reason_and_message() {
        assert_eq!(
            failure(json!({"phase": "Failed", "reason": "Evicted", "message": "low on memory"})),
            "Evicted: low on memory"
        );
        assert_eq!(failure(json!({"phase": "Failed"})), "no reason given");
    }
}
