//! What a Spark pod's status says about it: phase, readiness, restarts, how its last run ended,
//! how long it ran and its resources, and whether it is abnormal (OOMKilled, CrashLoopBackOff,
//! ImagePullBackOff, Error, Failed), in one line such as
//! `fink-distribution-exec-2/executor: OOMKilled (exit 137) after 14m, limit 2Gi, 37 restarts`.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{ContainerStateTerminated, ContainerStatus, Pod};
use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

/// The label Spark puts on its pods: `driver` or `executor`.
pub(crate) const ROLE_LABEL: &str = "spark-role";

/// Why a pod is abnormal, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub(crate) enum Problem {
    /// A container was killed for exceeding its memory limit (now or in its last run).
    #[serde(rename = "OOMKilled")]
    OomKilled,
    /// A container keeps crashing and the kubelet waits before restarting it.
    CrashLoopBackOff,
    /// The pod failed (phase `Failed`).
    Failed,
    /// A container ended with a non-zero exit code.
    Error,
    /// The image cannot be pulled.
    ImagePullBackOff,
}

impl Problem {
    /// Whether `wait` gives up at once on it (ImagePullBackOff and a lone Error may recover).
    pub(crate) fn is_fatal(self) -> bool {
        matches!(
            self,
            Problem::OomKilled | Problem::CrashLoopBackOff | Problem::Failed
        )
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Problem::OomKilled => "OOMKilled",
            Problem::CrashLoopBackOff => "CrashLoopBackOff",
            Problem::Failed => "Failed",
            Problem::Error => "Error",
            Problem::ImagePullBackOff => "ImagePullBackOff",
        })
    }
}

/// How a container's run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Termination {
    /// `OOMKilled`, `Error`, `Completed`, …
    pub(crate) reason: String,
    /// The exit code.
    pub(crate) exit_code: i32,
    /// How long the run lasted, in seconds (when both ends are known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ran_seconds: Option<i64>,
    /// The termination message (the end of the container's output, when the image writes one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<String>,
}

/// One pod's health, from its status alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PodSummary {
    /// Pod name.
    pub(crate) name: String,
    /// `driver`, `executor` (the `spark-role` label), or `pod`.
    pub(crate) role: String,
    /// The container summarised (the troubled one, else the first).
    pub(crate) container: String,
    /// `Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`.
    pub(crate) phase: String,
    /// The pod's Ready condition.
    pub(crate) ready: bool,
    /// The container's restarts.
    pub(crate) restarts: i32,
    /// Why the container waits (`CrashLoopBackOff`, `ContainerCreating`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) waiting: Option<String>,
    /// How the current run ended, else the previous one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) last_termination: Option<Termination>,
    /// How long the current run has been running, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) running_seconds: Option<i64>,
    /// The container's resource requests (`cpu`, `memory`).
    pub(crate) requests: BTreeMap<String, String>,
    /// The container's resource limits.
    pub(crate) limits: BTreeMap<String, String>,
    /// Why the pod is abnormal, if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) problem: Option<Problem>,
    /// The pod's creation time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) created: Option<String>,
}

/// The Spark role of a pod (`driver`, `executor`), `pod` without the label.
pub(crate) fn role(pod: &Pod) -> &str {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(ROLE_LABEL))
        .map_or("pod", String::as_str)
}

fn seconds_between(from: Option<Timestamp>, to: Option<Timestamp>) -> Option<i64> {
    Some(to?.duration_since(from?).as_secs())
}

impl Termination {
    /// A container's terminated state, read once for every account of it (this summary and
    /// [`driver_failure`](crate::spark_driver::driver_failure)): without a reason, `Completed`
    /// for exit code 0 and `Error` otherwise; the message trimmed, a blank one none.
    pub(crate) fn of(ended: &ContainerStateTerminated) -> Termination {
        Termination {
            reason: ended.reason.clone().unwrap_or_else(|| {
                if ended.exit_code == 0 {
                    "Completed"
                } else {
                    "Error"
                }
                .into()
            }),
            exit_code: ended.exit_code,
            ran_seconds: seconds_between(
                ended.started_at.as_ref().map(|t| t.0),
                ended.finished_at.as_ref().map(|t| t.0),
            ),
            message: ended
                .message
                .as_deref()
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(String::from),
        }
    }
}

/// How the container's current run ended, else its previous one.
fn termination(status: &ContainerStatus) -> Option<Termination> {
    let current = status.state.as_ref().and_then(|s| s.terminated.as_ref());
    let last = status
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref());
    current.or(last).map(Termination::of)
}

/// The problem one container shows.
fn container_problem(status: &ContainerStatus) -> Option<Problem> {
    let state = status.state.as_ref();
    let waiting = state
        .and_then(|s| s.waiting.as_ref())
        .and_then(|w| w.reason.as_deref());
    let terminated = state.and_then(|s| s.terminated.as_ref());
    let last = status
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref());
    let oom = |t: Option<&ContainerStateTerminated>| {
        t.is_some_and(|t| t.reason.as_deref() == Some("OOMKilled"))
    };
    if oom(terminated) || oom(last) {
        return Some(Problem::OomKilled);
    }
    match waiting {
        Some("CrashLoopBackOff") => return Some(Problem::CrashLoopBackOff),
        Some("ImagePullBackOff" | "ErrImagePull" | "InvalidImageName") => {
            return Some(Problem::ImagePullBackOff);
        }
        _ => {}
    }
    terminated
        .is_some_and(|t| t.exit_code != 0)
        .then_some(Problem::Error)
}

/// Summarises `pod` as of `now`.
pub(crate) fn summarize(pod: &Pod, now: Timestamp) -> PodSummary {
    let status = pod.status.as_ref();
    let phase = status
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Unknown".into());
    let statuses: Vec<&ContainerStatus> = status
        .into_iter()
        .flat_map(|s| {
            s.container_statuses
                .iter()
                .flatten()
                .chain(s.init_container_statuses.iter().flatten())
        })
        .collect();
    // The worst container; else the first one of the spec.
    let troubled = statuses
        .iter()
        .filter_map(|s| container_problem(s).map(|p| (p, *s)))
        .min_by_key(|(p, _)| *p);
    let spec_containers = pod.spec.as_ref().map(|s| &s.containers[..]).unwrap_or(&[]);
    let container = troubled
        .map(|(_, s)| s.name.clone())
        .or_else(|| spec_containers.first().map(|c| c.name.clone()))
        .unwrap_or_default();
    let container_status = statuses.iter().find(|s| s.name == container);
    let mut problem = troubled.map(|(p, _)| p);
    if phase == "Failed" && problem.is_none_or(|p| p > Problem::Failed) {
        problem = Some(Problem::Failed);
    }
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let resources = spec_containers
        .iter()
        .find(|c| c.name == container)
        .and_then(|c| c.resources.as_ref());
    let quantities =
        |q: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>| {
            q.into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.0.clone()))
                .collect::<BTreeMap<_, _>>()
        };
    let state = container_status.and_then(|s| s.state.as_ref());
    PodSummary {
        name: pod.metadata.name.clone().unwrap_or_default(),
        role: role(pod).to_string(),
        container,
        phase,
        ready,
        restarts: container_status.map_or(0, |s| s.restart_count),
        waiting: state
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.clone()),
        last_termination: container_status.and_then(|s| termination(s)),
        running_seconds: state
            .and_then(|s| s.running.as_ref())
            .and_then(|r| seconds_between(r.started_at.as_ref().map(|t| t.0), Some(now))),
        requests: quantities(resources.and_then(|r| r.requests.as_ref())),
        limits: quantities(resources.and_then(|r| r.limits.as_ref())),
        problem,
        created: pod
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.to_string()),
    }
}

/// The error of the pods that `wait` gives up on (OOMKilled, CrashLoopBackOff, Failed): the
/// first one's line (by name), and how many more there are; `None` when there are none.
pub(crate) fn fatal_error(pods: &[Pod], now: Timestamp) -> Option<String> {
    let mut lines: Vec<String> = pods
        .iter()
        .map(|p| summarize(p, now))
        .filter(|s| s.problem.is_some_and(Problem::is_fatal))
        .filter_map(|s| s.error_line())
        .collect();
    lines.sort();
    let first = lines.first()?.clone();
    Some(match lines.len() {
        1 => first,
        n => format!("{first} (and {} more abnormal Spark pods)", n - 1),
    })
}

/// `14m`, `2h3m`, `45s`: a run length, to the minute past an hour.
pub(crate) fn short_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, min, 0) => format!("{min}m"),
        (0, min, sec) => format!("{min}m{sec}s"),
        (h, 0, _) => format!("{h}h"),
        (h, min, _) => format!("{h}h{min}m"),
    }
}

impl PodSummary {
    /// The one-line account of an abnormal pod, e.g. `exec-2/executor: OOMKilled (exit 137)
    /// after 14m, limit 2Gi, 37 restarts`; `None` when the pod is fine.
    pub(crate) fn error_line(&self) -> Option<String> {
        let problem = self.problem?;
        let mut line = format!("{}/{}: {problem}", self.name, self.role);
        let ended = self.last_termination.as_ref();
        match (problem, ended) {
            (Problem::OomKilled, Some(t)) => line.push_str(&format!(" (exit {})", t.exit_code)),
            (Problem::ImagePullBackOff, _) => {}
            (_, Some(t)) => line.push_str(&format!(", last {} (exit {})", t.reason, t.exit_code)),
            (_, None) => {}
        }
        if let Some(ran) = ended.and_then(|t| t.ran_seconds) {
            line.push_str(&format!(" after {}", short_duration(ran)));
        }
        if problem == Problem::OomKilled {
            match self.limits.get("memory") {
                Some(limit) => line.push_str(&format!(", limit {limit}")),
                None => line.push_str(", no memory limit"),
            }
        }
        if self.restarts > 0 {
            let plural = if self.restarts == 1 { "" } else { "s" };
            line.push_str(&format!(", {} restart{plural}", self.restarts));
        }
        if let Some(message) = ended.and_then(|t| t.message.as_deref())
            && problem != Problem::OomKilled
        {
            let first = message.lines().last().unwrap_or_default();
            line.push_str(&format!(": {first}"));
        }
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "fink-distribution-exec-2", "labels": {"spark-role": "executor"}},
            "spec": {"containers": [{"name": "spark-kubernetes-executor", "image": "i",
                "resources": {"requests": {"memory": "2Gi", "cpu": "1"}, "limits": {"memory": "2Gi"}}}]},
            "status": status,
        }))
        .unwrap()
    }

    fn now() -> Timestamp {
        "2026-12-06T01:00:00Z".parse().unwrap()
    }

    #[test]
    fn an_oom_killed_executor_in_crash_loop_is_one_line() {
        let summary = summarize(
            &pod(json!({"phase": "Running", "containerStatuses": [{
                "name": "spark-kubernetes-executor", "restartCount": 37, "ready": false, "image": "i", "imageID": "",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                    "startedAt": "2026-12-06T00:40:00Z", "finishedAt": "2026-12-06T00:54:00Z"}},
            }]})),
            now(),
        );
        assert_eq!(summary.problem, Some(Problem::OomKilled));
        assert_eq!(summary.waiting.as_deref(), Some("CrashLoopBackOff"));
        assert_eq!(
            summary.error_line().unwrap(),
            "fink-distribution-exec-2/executor: OOMKilled (exit 137) after 14m, limit 2Gi, 37 restarts"
        );
    }

    #[test]
    fn crash_loops_failures_and_pull_errors_are_classified() {
        let crash = summarize(
            &pod(json!({"phase": "Running", "containerStatuses": [{
                "name": "spark-kubernetes-executor", "restartCount": 3, "ready": false, "image": "i", "imageID": "",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "message": "Traceback\nValueError: bad"}},
            }]})),
            now(),
        );
        assert_eq!(
            crash.error_line().unwrap(),
            "fink-distribution-exec-2/executor: CrashLoopBackOff, last Error (exit 1), 3 restarts: ValueError: bad"
        );
        let failed = summarize(
            &pod(json!({"phase": "Failed", "containerStatuses": [{
                "name": "spark-kubernetes-executor", "restartCount": 0, "ready": false, "image": "i", "imageID": "",
                "state": {"terminated": {"exitCode": 2, "reason": "Error",
                    "startedAt": "2026-12-06T00:59:30Z", "finishedAt": "2026-12-06T00:59:45Z"}},
            }]})),
            now(),
        );
        assert_eq!(failed.problem, Some(Problem::Failed));
        assert_eq!(
            failed.error_line().unwrap(),
            "fink-distribution-exec-2/executor: Failed, last Error (exit 2) after 15s"
        );
        let pull = summarize(
            &pod(json!({"phase": "Pending", "containerStatuses": [{
                "name": "spark-kubernetes-executor", "restartCount": 0, "ready": false, "image": "i", "imageID": "",
                "state": {"waiting": {"reason": "ImagePullBackOff"}},
            }]})),
            now(),
        );
        assert_eq!(pull.problem, Some(Problem::ImagePullBackOff));
        assert!(!pull.problem.unwrap().is_fatal());
        let fine = summarize(
            &pod(
                json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": [{
                    "name": "spark-kubernetes-executor", "restartCount": 0, "ready": true, "image": "i", "imageID": "",
                    "state": {"running": {"startedAt": "2026-12-06T00:30:00Z"}},
                }]}),
            ),
            now(),
        );
        assert_eq!(
            (fine.problem, fine.ready, fine.running_seconds),
            (None, true, Some(1800))
        );
        assert_eq!(fine.error_line(), None);
        assert_eq!(fine.requests["cpu"], "1");
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(short_duration(45), "45s");
        assert_eq!(short_duration(840), "14m");
        assert_eq!(short_duration(845), "14m5s");
        assert_eq!(short_duration(7380), "2h3m");
        assert_eq!(short_duration(7200), "2h");
    }
}
