//! Waiting on a Spark application, by watches (resumed from their resourceVersion when dropped):
//! a SparkApplication's `status.applicationState` (spark-operator backend) or the driver pod
//! (spark-submit backend), then, for `--wait=running`, the driver and executor pods.

use std::collections::BTreeMap;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Pod;
use kube::api::DynamicObject;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use serde::Serialize;
use serde_json::Value;

use crate::spark_application::spark_application_resource;
use crate::spark_driver::{driver_failure, pod_phase};
use common::kube::wait::{Check, WaitError, is_pod_ready, watch_until};
use common::kube::{Deadline, KubeTarget};

/// What `run --wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum WaitFor {
    /// The end of the application (COMPLETED succeeds; FAILED, SUBMISSION_FAILED fail)
    Completed,
    /// RUNNING, with the driver and every executor Ready (streaming tasks)
    Running,
}

/// The state of an application as finkctl reports it (`-o json|yaml`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AppReport {
    /// The SparkApplication's name, or the driver pod's (spark-submit).
    pub(crate) name: String,
    /// Its namespace.
    pub(crate) namespace: String,
    /// `status.applicationState.state` (for spark-submit, from the driver pod's phase).
    pub(crate) state: String,
    /// `status.applicationState.errorMessage`, or why the driver pod failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error_message: Option<String>,
    /// `status.submissionAttempts`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) submission_attempts: Option<i64>,
    /// `status.lastSubmissionAttemptTime`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) last_submission_attempt_time: Option<String>,
    /// `status.terminationTime`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) termination_time: Option<String>,
    /// The driver pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) driver: Option<String>,
    /// Executor pods and their states (`status.executorState`).
    pub(crate) executors: BTreeMap<String, String>,
}

impl AppReport {
    /// The report of a SparkApplication.
    pub(crate) fn of_application(app: &DynamicObject) -> Self {
        let status = &app.data["status"];
        let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(String::from);
        AppReport {
            name: app.name_any(),
            namespace: app.namespace().unwrap_or_default(),
            state: state(app).to_string(),
            error_message: text(&status["applicationState"]["errorMessage"]),
            submission_attempts: status["submissionAttempts"].as_i64(),
            last_submission_attempt_time: text(&status["lastSubmissionAttemptTime"]),
            termination_time: text(&status["terminationTime"]),
            driver: text(&status["driverInfo"]["podName"]),
            executors: status["executorState"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect(),
        }
    }

    /// The report of a spark-submit run from its driver pod, in the operator's state names.
    fn of_driver(pod: &Pod) -> Self {
        let state = match pod_phase(pod) {
            Some("Succeeded") => "COMPLETED",
            Some("Failed") => "FAILED",
            Some("Running") => "RUNNING",
            _ => "SUBMITTED",
        };
        AppReport {
            name: pod.name_any(),
            namespace: pod.namespace().unwrap_or_default(),
            state: state.into(),
            error_message: (state == "FAILED").then(|| driver_failure(pod)),
            submission_attempts: None,
            last_submission_attempt_time: None,
            termination_time: None,
            driver: Some(pod.name_any()),
            executors: BTreeMap::new(),
        }
    }

    /// One line: `fink-distribution FAILED: driver container failed with ExitCode: 1, …`.
    pub(crate) fn line(&self) -> String {
        match &self.error_message {
            Some(error) => format!("{} {}: {error}", self.name, self.state),
            None => format!("{} {}", self.name, self.state),
        }
    }
}

/// `status.applicationState.state` ("" for a new application).
pub(crate) fn state(app: &DynamicObject) -> &str {
    app.data["status"]["applicationState"]["state"]
        .as_str()
        .unwrap_or_default()
}

/// `status.submissionID` (changes with every submission).
pub(crate) fn submission_id(app: &DynamicObject) -> Option<&str> {
    app.data["status"]["submissionID"]
        .as_str()
        .filter(|s| !s.is_empty())
}

/// A wait's end: the last report, and the error when the application failed or the wait timed
/// out.
pub(crate) type Outcome = (Option<AppReport>, anyhow::Result<()>);

/// Watches the SparkApplication `name` until `check` (given each new version) says done or
/// failed; returns the last report with the application, or the error.
pub(crate) async fn watch_application(
    target: &KubeTarget,
    namespace: &str,
    name: &str,
    what: &str,
    mut check: impl FnMut(&DynamicObject) -> Check,
    deadline: Deadline,
) -> anyhow::Result<(Option<AppReport>, anyhow::Result<DynamicObject>)> {
    let resource = spark_application_resource();
    let api: Api<DynamicObject> =
        Api::namespaced_with(target.client().await?, namespace, &resource);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut last = None;
    let watched = watch_until(
        api,
        resource,
        config,
        deadline.remaining(),
        what,
        |apps: &[DynamicObject]| {
            let Some(app) = apps.first() else {
                return Check::Pending;
            };
            last = Some(app.clone());
            check(app)
        },
    )
    .await;
    let report = last.as_ref().map(AppReport::of_application);
    let result = match watched {
        Ok(apps) => apps
            .into_iter()
            .next()
            .context("the application disappeared"),
        Err(WaitError::Failed { reason, .. }) => Err(anyhow::anyhow!(
            "SparkApplication {namespace}/{name} {reason}"
        )),
        Err(err) => Err(whole_timeout(err, deadline, None)),
    };
    Ok((report, result))
}

/// Waits until the SparkApplication `name` reaches `wait_for`. States of the submission
/// `stale` (the one before an apply that changed the spec, which the operator is about to
/// restart) do not count.
pub(crate) async fn wait_application(
    target: &KubeTarget,
    namespace: &str,
    name: &str,
    wait_for: WaitFor,
    stale: Option<String>,
    deadline: Deadline,
) -> anyhow::Result<Outcome> {
    let what = match wait_for {
        WaitFor::Completed => format!("SparkApplication {namespace}/{name} to end"),
        WaitFor::Running => format!("SparkApplication {namespace}/{name} to run"),
    };
    let check = |app: &DynamicObject| {
        if stale.is_some() && submission_id(app) == stale.as_deref() {
            return Check::Pending;
        }
        verdict(app, wait_for)
    };
    let (report, watched) =
        watch_application(target, namespace, name, &what, check, deadline).await?;
    let app = match watched {
        Ok(app) => app,
        Err(err) => return Ok((report, Err(err))),
    };
    if wait_for == WaitFor::Completed {
        return Ok((report, Ok(())));
    }
    let selector = format!(
        "sparkoperator.k8s.io/app-name={name},sparkoperator.k8s.io/submission-id={}",
        submission_id(&app).unwrap_or_default()
    );
    let executors = app.data["spec"]["executor"]["instances"]
        .as_u64()
        .unwrap_or(1) as usize;
    let ready = pods_ready(target, namespace, &selector, executors, deadline).await;
    Ok((report, ready))
}

/// Whether an application has ended for good: COMPLETED, FAILED, or SUBMISSION_FAILED without
/// a retry left.
pub(crate) fn has_ended(app: &DynamicObject) -> bool {
    match state(app) {
        "COMPLETED" | "FAILED" => true,
        "SUBMISSION_FAILED" => !submission_retry_left(app),
        _ => false,
    }
}

/// A failure text: `FAILED: <errorMessage>`.
pub(crate) fn failure(app: &DynamicObject) -> String {
    let report = AppReport::of_application(app);
    match report.error_message {
        Some(message) => format!("{}: {message}", report.state),
        None => report.state,
    }
}

/// The verdict of a wait on one state of the application.
fn verdict(app: &DynamicObject, wait_for: WaitFor) -> Check {
    let error = || failure(app);
    match (state(app), wait_for) {
        ("COMPLETED", WaitFor::Completed) | ("RUNNING", WaitFor::Running) => Check::Done,
        ("COMPLETED", WaitFor::Running) => {
            Check::Failed("ended (COMPLETED) instead of running".into())
        }
        ("FAILED", _) => Check::Failed(error()),
        ("SUBMISSION_FAILED", _) if !submission_retry_left(app) => Check::Failed(error()),
        ("SUSPENDED" | "SUSPENDING", _) => Check::Failed(format!(
            "is {}: resume it with `finkctl resume <task>`",
            state(app)
        )),
        _ => Check::Pending,
    }
}

/// Whether the operator will submit again after a failed submission (its `ShouldRetry`:
/// `Always`, or `OnFailure` with attempts left in `onSubmissionFailureRetries`).
fn submission_retry_left(app: &DynamicObject) -> bool {
    let policy = &app.data["spec"]["restartPolicy"];
    match policy["type"].as_str() {
        Some("Always") => true,
        Some("OnFailure") => {
            let retries = policy["onSubmissionFailureRetries"].as_i64().unwrap_or(0);
            let attempts = app.data["status"]["submissionAttempts"]
                .as_i64()
                .unwrap_or(0);
            attempts <= retries
        }
        _ => false,
    }
}

/// Waits until the spark-submit driver pod `name` ends (it may still be pending or running when
/// spark-submit returns) or, for [`WaitFor::Running`], until it runs with its executors Ready.
pub(crate) async fn wait_driver(
    target: &KubeTarget,
    namespace: &str,
    name: &str,
    wait_for: WaitFor,
    executors: usize,
    deadline: Deadline,
) -> anyhow::Result<Outcome> {
    let api: Api<Pod> = Api::namespaced(target.client().await?, namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let what = match wait_for {
        WaitFor::Completed => format!("driver pod {namespace}/{name} to end"),
        WaitFor::Running => format!("driver pod {namespace}/{name} to run"),
    };
    let mut last = None;
    let watched = watch_until(
        api,
        (),
        config,
        deadline.remaining(),
        &what,
        |pods: &[Pod]| {
            let Some(pod) = pods.first() else {
                return Check::Pending;
            };
            last = Some(pod.clone());
            match (pod_phase(pod), wait_for) {
                (Some("Failed"), _) => Check::Failed(format!(
                    "the driver pod {namespace}/{name} failed: {}",
                    driver_failure(pod)
                )),
                (Some("Succeeded"), WaitFor::Completed) | (Some("Running"), WaitFor::Running) => {
                    Check::Done
                }
                (Some("Succeeded"), WaitFor::Running) => Check::Failed(format!(
                    "the driver pod {namespace}/{name} ended (Succeeded) instead of running"
                )),
                _ => Check::Pending,
            }
        },
    )
    .await;
    let report = last.as_ref().map(AppReport::of_driver);
    let pod = match watched {
        Ok(pods) => pods
            .into_iter()
            .next()
            .context("the driver pod disappeared")?,
        Err(WaitError::Failed { reason, .. }) => return Ok((report, Err(anyhow::anyhow!(reason)))),
        Err(err) => return Ok((report, Err(whole_timeout(err, deadline, None)))),
    };
    if wait_for == WaitFor::Completed {
        return Ok((report, Ok(())));
    }
    let Some(app_id) = pod.labels().get("spark-app-selector") else {
        return Ok((
            report,
            Err(anyhow::anyhow!(
                "driver pod {namespace}/{name} has no spark-app-selector label: cannot find its executors"
            )),
        ));
    };
    let selector = format!("spark-app-selector={app_id}");
    let ready = pods_ready(target, namespace, &selector, executors, deadline).await;
    Ok((report, ready))
}

/// Waits until the pods selected by `selector` hold a Ready driver and at least `executors`
/// executors, all Ready; a Failed pod ends the wait.
async fn pods_ready(
    target: &KubeTarget,
    namespace: &str,
    selector: &str,
    executors: usize,
    deadline: Deadline,
) -> anyhow::Result<()> {
    let api: Api<Pod> = Api::namespaced(target.client().await?, namespace);
    let config = watcher::Config::default().labels(selector);
    let what = format!("the driver and {executors} executor(s) -l {selector} to be Ready");
    let role = |pod: &Pod| pod.labels().get("spark-role").cloned().unwrap_or_default();
    let mut seen = Vec::new();
    let result = watch_until(
        api,
        (),
        config,
        deadline.remaining(),
        &what,
        |pods: &[Pod]| {
            seen = pods.to_vec();
            if let Some(failed) = pods.iter().find(|p| pod_phase(p) == Some("Failed")) {
                return Check::Failed(format!(
                    "pod {} failed: {}",
                    failed.name_any(),
                    driver_failure(failed)
                ));
            }
            let driver_ready = pods.iter().any(|p| role(p) == "driver" && is_pod_ready(p));
            let execs: Vec<&Pod> = pods.iter().filter(|p| role(p) == "executor").collect();
            if driver_ready && execs.len() >= executors && execs.iter().all(|p| is_pod_ready(p)) {
                Check::Done
            } else {
                Check::Pending
            }
        },
    )
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(WaitError::Failed { reason, .. }) => Err(anyhow::anyhow!(reason)),
        Err(err) => {
            let not_ready: Vec<String> = seen
                .iter()
                .filter(|p| !is_pod_ready(p))
                .map(|p| format!("pod/{} ({})", p.name_any(), not_ready_reason(p)))
                .collect();
            let state = if seen.is_empty() {
                "no pod seen".to_string()
            } else {
                format!(
                    "{} executor(s) seen; not ready: {}",
                    seen.iter().filter(|p| role(p) == "executor").count(),
                    not_ready.join(", ")
                )
            };
            Err(whole_timeout(err, deadline, Some(state)))
        }
    }
}

/// Why a pod is not Ready: its phase, the first waiting container's reason, the last
/// termination (reason, exit code) and the restarts.
fn not_ready_reason(pod: &Pod) -> String {
    let mut parts = vec![pod_phase(pod).unwrap_or("Pending").to_string()];
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref());
    for status in statuses.into_iter().flatten() {
        if let Some(reason) = status
            .state
            .as_ref()
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.as_ref())
        {
            parts.push(reason.clone());
        }
        if let Some(last) = status
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
        {
            parts.push(format!(
                "last {} (exit {})",
                last.reason.as_deref().unwrap_or("terminated"),
                last.exit_code
            ));
        }
        if status.restart_count > 0 {
            parts.push(format!("{} restarts", status.restart_count));
        }
    }
    parts.join(", ")
}

/// A wait's timeout error with the command's whole timeout (the wait got what was left of it)
/// and, when given, a better description of what was seen.
fn whole_timeout(err: WaitError, deadline: Deadline, seen: Option<String>) -> anyhow::Error {
    match err {
        WaitError::Timeout {
            what,
            state,
            last_error,
            ..
        } => WaitError::Timeout {
            what,
            timeout: deadline.timeout,
            state: seen.unwrap_or(state),
            last_error,
        }
        .into(),
        other => other.into(),
    }
}
