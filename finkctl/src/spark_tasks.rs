//! Which Kubernetes objects make up a Fink task, from one list of SparkApplications and one list
//! of Spark pods (no per-pod request): the task's SparkApplication `fink-<task>` (operator
//! backend), its newest driver pod (labelled by the operator with the application's name, or named
//! `<task>-…-driver` by `run`'s spark-submit) and that driver's executors (same
//! `spark-app-selector`, or owned by the driver); and the task's state, attempts and times.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{DynamicObject, ListParams};
use serde::Serialize;

use crate::kube_api::api_error;
use crate::pod_health::{PodSummary, ROLE_LABEL, fatal_error, role, summarize};
use crate::spark_application::{spark_application_resource, task_application_name};
use crate::spark_job::Task;
use common::kube::retry::retry_transient;
use common::kube::wait::{Check, WaitError, watch_until};

/// The label the spark-operator puts on the pods of an application.
const OPERATOR_APP_LABEL: &str = "sparkoperator.k8s.io/app-name";
/// The label Spark (3.4+) puts on the pods of an application.
const SPARK_APP_NAME_LABEL: &str = "spark-app-name";
/// The label Spark puts on every pod of one run.
const APP_SELECTOR_LABEL: &str = "spark-app-selector";
/// The label Spark puts on an executor: its number.
const EXEC_ID_LABEL: &str = "spark-exec-id";

/// The SparkApplications and Spark pods of a namespace, read once.
pub(crate) struct Snapshot {
    /// The SparkApplications (none when the CRD is not served).
    pub(crate) apps: Vec<DynamicObject>,
    /// Every pod with a `spark-role` label.
    pub(crate) pods: Vec<Pod>,
}

/// Lists the SparkApplications (a 404 means no operator, a 403 no right to see them: none) and
/// the Spark pods of `namespace`, one request each (transient failures retried).
pub(crate) async fn snapshot(client: &kube::Client, namespace: &str) -> anyhow::Result<Snapshot> {
    let apps: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &spark_application_resource());
    let all = ListParams::default();
    let apps = match retry_transient("listing SparkApplications", || apps.list(&all)).await {
        Ok(list) => list.items,
        Err(kube::Error::Api(status)) if status.code == 404 => Vec::new(),
        Err(kube::Error::Api(status)) if status.code == 403 => {
            tracing::warn!("SparkApplications are not shown: {}", status.message);
            Vec::new()
        }
        Err(err) => return Err(api_error(err).context("cannot list SparkApplications")),
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let spark = ListParams::default().labels(ROLE_LABEL);
    let pods = retry_transient("listing Spark pods", || pods.list(&spark))
        .await
        .map_err(|err| {
            api_error(err).context(format!("cannot list the Spark pods of {namespace}"))
        })?
        .items;
    Ok(Snapshot { apps, pods })
}

/// Watches the Spark pods of `namespace` and returns the error of the first pods that are
/// OOMKilled, in CrashLoopBackOff or Failed, as soon as the server reports them; never returns
/// otherwise (a watch that cannot work is logged and given up, leaving the caller's own wait).
pub(crate) async fn first_fatal_pods(client: &kube::Client, namespace: &str) -> String {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let watched = watch_until(
        api,
        (),
        kube::runtime::watcher::Config::default().labels(ROLE_LABEL),
        std::time::Duration::MAX,
        "Spark pods",
        |pods: &[Pod]| match fatal_error(pods, Timestamp::now()) {
            Some(error) => Check::Failed(error),
            None => Check::Pending,
        },
    )
    .await;
    match watched {
        Err(WaitError::Failed { reason, .. }) => reason,
        Err(err) => {
            tracing::info!("failing Spark pods cannot be detected early: {err}");
            std::future::pending().await
        }
        Ok(_) => std::future::pending().await,
    }
}

fn label<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

fn created(pod: &Pod) -> Option<Timestamp> {
    pod.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// The objects of one task.
pub(crate) struct TaskObjects<'a> {
    /// The task.
    pub(crate) task: Task,
    /// Its SparkApplication, with the operator backend.
    pub(crate) app: Option<&'a DynamicObject>,
    /// Its driver pods, newest first.
    pub(crate) drivers: Vec<&'a Pod>,
    /// The executors of the newest driver, by executor number.
    pub(crate) executors: Vec<&'a Pod>,
}

impl TaskObjects<'_> {
    /// The newest driver pod.
    pub(crate) fn driver(&self) -> Option<&Pod> {
        self.drivers.first().copied()
    }

    /// The newest driver, then its executors.
    pub(crate) fn pods(&self) -> impl Iterator<Item = &Pod> {
        self.driver()
            .into_iter()
            .chain(self.executors.iter().copied())
    }

    /// The executor numbered `n` (`spark-exec-id`, else the name's `-exec-<n>` suffix).
    pub(crate) fn executor(&self, n: u32) -> Option<&Pod> {
        let id = n.to_string();
        self.executors.iter().copied().find(|p| {
            label(p, EXEC_ID_LABEL) == Some(&id)
                || p.metadata
                    .name
                    .as_deref()
                    .is_some_and(|name| name.ends_with(&format!("-exec-{n}")))
        })
    }
}

impl Snapshot {
    /// The objects of `task`.
    pub(crate) fn task(&self, task: Task) -> TaskObjects<'_> {
        let app_name = task_application_name(task);
        let app = self
            .apps
            .iter()
            .find(|a| a.metadata.name.as_deref() == Some(&app_name));
        let of_app = |pod: &Pod| {
            label(pod, OPERATOR_APP_LABEL) == Some(&app_name)
                || label(pod, SPARK_APP_NAME_LABEL) == Some(&app_name)
        };
        let submit_prefix = format!("{}-", task.name());
        let mut drivers: Vec<&Pod> = self
            .pods
            .iter()
            .filter(|p| role(p) == "driver")
            .filter(|p| {
                of_app(p)
                    || p.metadata
                        .name
                        .as_deref()
                        .is_some_and(|n| n.starts_with(&submit_prefix))
            })
            .collect();
        drivers.sort_by(|a, b| {
            created(b)
                .cmp(&created(a))
                .then(b.metadata.name.cmp(&a.metadata.name))
        });
        let mut executors: Vec<&Pod> =
            match drivers.first() {
                None => Vec::new(),
                Some(driver) => {
                    let selector = label(driver, APP_SELECTOR_LABEL);
                    let driver_name = driver.metadata.name.as_deref();
                    self.pods
                        .iter()
                        .filter(|p| role(p) == "executor")
                        .filter(|p| {
                            let owned =
                                p.metadata.owner_references.iter().flatten().any(|o| {
                                    o.kind == "Pod" && Some(o.name.as_str()) == driver_name
                                });
                            match selector {
                                Some(s) => label(p, APP_SELECTOR_LABEL) == Some(s) || owned,
                                None => owned || of_app(p),
                            }
                        })
                        .collect()
                }
            };
        let number = |p: &&Pod| {
            label(p, EXEC_ID_LABEL)
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(u64::MAX)
        };
        executors.sort_by(|a, b| {
            number(a)
                .cmp(&number(b))
                .then(a.metadata.name.cmp(&b.metadata.name))
        });
        TaskObjects {
            task,
            app,
            drivers,
            executors,
        }
    }
}

/// A task's state and pods, as `status` shows them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskStatus {
    /// Task name.
    pub(crate) task: String,
    /// `spark-operator` (a SparkApplication), `spark-submit` (a driver pod only) or `none`.
    pub(crate) backend: String,
    /// The SparkApplication's state, or the driver's phase in its words (`RUNNING`, `COMPLETED`,
    /// `FAILED`, `PENDING`); `NOT_FOUND` without either.
    pub(crate) state: String,
    /// The operator's `errorMessage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error_message: Option<String>,
    /// Submission attempts (operator), or driver pods of the task (spark-submit).
    pub(crate) attempts: i64,
    /// Execution attempts (operator only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) execution_attempts: Option<i64>,
    /// When the last submission happened (or the driver was created).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) submitted: Option<String>,
    /// The last change of state known (termination, else submission; the driver's latest
    /// condition change for spark-submit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) last_transition: Option<String>,
    /// The newest driver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) driver: Option<PodSummary>,
    /// Its executors.
    pub(crate) executors: Vec<PodSummary>,
}

impl TaskStatus {
    /// Every pod summary, driver first.
    pub(crate) fn pods(&self) -> impl Iterator<Item = &PodSummary> {
        self.driver.iter().chain(&self.executors)
    }
}

/// The status of a task's objects as of `now`.
pub(crate) fn task_status(objects: &TaskObjects<'_>, now: Timestamp) -> TaskStatus {
    let driver = objects.driver().map(|d| summarize(d, now));
    let executors = objects
        .executors
        .iter()
        .map(|e| summarize(e, now))
        .collect();
    let text = |v: &serde_json::Value| v.as_str().map(String::from);
    let mut status = TaskStatus {
        task: objects.task.name().to_string(),
        backend: "none".into(),
        state: "NOT_FOUND".into(),
        error_message: None,
        attempts: 0,
        execution_attempts: None,
        submitted: None,
        last_transition: None,
        driver,
        executors,
    };
    if let Some(app) = objects.app {
        let s = &app.data["status"];
        status.backend = "spark-operator".into();
        status.state = text(&s["applicationState"]["state"])
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "NEW".into());
        status.error_message =
            text(&s["applicationState"]["errorMessage"]).filter(|m| !m.is_empty());
        status.attempts = s["submissionAttempts"].as_i64().unwrap_or(0);
        status.execution_attempts = s["executionAttempts"].as_i64();
        status.submitted = text(&s["lastSubmissionAttemptTime"]);
        status.last_transition = text(&s["terminationTime"]).or_else(|| status.submitted.clone());
    } else if let Some(driver) = objects.driver() {
        let pod_status = driver.status.as_ref();
        status.backend = "spark-submit".into();
        status.state = match pod_status.and_then(|s| s.phase.as_deref()) {
            Some("Running") => "RUNNING",
            Some("Succeeded") => "COMPLETED",
            Some("Failed") => "FAILED",
            Some("Pending") => "PENDING",
            _ => "UNKNOWN",
        }
        .into();
        status.attempts = objects.drivers.len() as i64;
        status.submitted = created(driver).map(|t| t.to_string());
        status.last_transition = pod_status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|c| c.last_transition_time.as_ref().map(|t| t.0))
            .max()
            .map(|t| t.to_string());
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, labels: serde_json::Value, created: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels, "creationTimestamp": created},
            "spec": {"containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Running"},
        }))
        .unwrap()
    }

    #[test]
    fn a_task_is_its_newest_driver_and_that_drivers_executors() {
        let snapshot = Snapshot {
            apps: Vec::new(),
            pods: vec![
                pod(
                    "stream2raw-20240101-00000001-driver",
                    json!({"spark-role": "driver", "spark-app-selector": "spark-1"}),
                    "2026-12-06T00:00:00Z",
                ),
                pod(
                    "stream2raw-20240101-00000002-driver",
                    json!({"spark-role": "driver", "spark-app-selector": "spark-2"}),
                    "2026-12-06T00:10:00Z",
                ),
                pod(
                    "s2r-a-exec-2",
                    json!({"spark-role": "executor", "spark-app-selector": "spark-2", "spark-exec-id": "2"}),
                    "2026-12-06T00:11:00Z",
                ),
                pod(
                    "s2r-a-exec-1",
                    json!({"spark-role": "executor", "spark-app-selector": "spark-2", "spark-exec-id": "1"}),
                    "2026-12-06T00:11:00Z",
                ),
                pod(
                    "s2r-old-exec-1",
                    json!({"spark-role": "executor", "spark-app-selector": "spark-1", "spark-exec-id": "1"}),
                    "2026-12-06T00:01:00Z",
                ),
                pod(
                    "fink-distribution-driver",
                    json!({"spark-role": "driver", "sparkoperator.k8s.io/app-name": "fink-distribution"}),
                    "2026-12-06T00:00:00Z",
                ),
            ],
        };
        let objects = snapshot.task(Task::Stream2raw);
        let names: Vec<_> = objects
            .pods()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "stream2raw-20240101-00000002-driver",
                "s2r-a-exec-1",
                "s2r-a-exec-2"
            ]
        );
        assert_eq!(
            objects.executor(2).unwrap().metadata.name.as_deref(),
            Some("s2r-a-exec-2")
        );
        let status = task_status(&objects, "2026-12-06T01:00:00Z".parse().unwrap());
        assert_eq!(
            (
                status.backend.as_str(),
                status.state.as_str(),
                status.attempts
            ),
            ("spark-submit", "RUNNING", 2)
        );
        assert_eq!(snapshot.task(Task::Distribution).drivers.len(), 1);
        assert_eq!(
            task_status(&snapshot.task(Task::Raw2science), Timestamp::now()).state,
            "NOT_FOUND"
        );
    }
}
