//! A simulated spark-operator (kubeflow/spark-operator, `sparkoperator.k8s.io/v1beta2`): it
//! watches the store for SparkApplications and plays the operator's state machine on each, as a
//! test [`Script`] says.
//!
//! Modelled on the operator's controller (field, state and label names are the operator's):
//! - a new application is submitted: `status.submissionID`, `driverInfo.podName`
//!   (`<app>-driver`), `lastSubmissionAttemptTime` and `submissionAttempts` are set, then the
//!   state is `SUBMITTED` (and the driver pod exists) or `SUBMISSION_FAILED` with an
//!   `errorMessage` (then `FAILED`, as with `restartPolicy.type: Never`);
//! - `RUNNING` once the driver pod is Running and Ready, with the executor pods and
//!   `status.executorState`; then `SUCCEEDING` → `COMPLETED`, or `FAILING` → `FAILED` with
//!   `errorMessage: driver container failed with ExitCode: N, Reason: R`, and `terminationTime`;
//! - pods carry `spark-role`, `spark-app-selector`, `sparkoperator.k8s.io/app-name`,
//!   `sparkoperator.k8s.io/submission-id` and `sparkoperator.k8s.io/launched-by-spark-operator`;
//!   the driver is owned by the application and the executors by the driver (so deleting the
//!   application removes them);
//! - any change of `spec` but `spec.suspend` restarts the application (kubeflow/spark-operator
//!   #345): `INVALIDATING` → pods deleted, status reset → `PENDING_RERUN` → a new submission
//!   (the `PartialRestart` feature gate, off by default, is not modelled);
//! - `spec.suspend` (kubeflow/spark-operator #2387): `true` on a non-terminated application
//!   gives `SUSPENDING` → pods deleted → `SUSPENDED`; back to `false` gives `RESUMING` → a new
//!   submission.
//!
//! Not modelled: retries of `restartPolicy` `OnFailure`/`Always` (every failure is final), the
//! web UI service, the TTL of terminated applications.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::clock::{new_uid, now_rfc3339};
use super::store::{EventType, Store};
use super::workloads::ready_pod_status;

const API_VERSION: &str = "sparkoperator.k8s.io/v1beta2";
const KIND: &str = "SparkApplication";

/// What becomes of one executor pod once the application runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutorFate {
    /// Running and Ready.
    Ready,
    /// Its container keeps ending (`reason`, `exit_code`, e.g. `OOMKilled`, 137) and restarting:
    /// `restartCount` is `restarts`, the container waits in `CrashLoopBackOff`, the pod is not
    /// Ready.
    Restarting {
        /// `lastState.terminated.reason`.
        reason: String,
        /// `lastState.terminated.exitCode`.
        exit_code: i32,
        /// `restartCount`.
        restarts: i32,
    },
}

impl ExecutorFate {
    /// Killed for exceeding its memory limit (`OOMKilled`, exit code 137), `restarts` times.
    pub fn oom_killed(restarts: i32) -> Self {
        Self::Restarting {
            reason: "OOMKilled".into(),
            exit_code: 137,
            restarts,
        }
    }
}

/// How a run ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The driver succeeds: `SUCCEEDING` → `COMPLETED`.
    Complete,
    /// The driver container ends with `exit_code` and `reason`: `FAILING` → `FAILED`.
    Fail {
        /// The driver container's exit code.
        exit_code: i32,
        /// The driver container's termination reason (`Error`, `OOMKilled`).
        reason: String,
    },
    /// It runs until changed, suspended or deleted (a streaming task).
    Never,
}

/// The test's script for one application run.
#[derive(Debug, Clone)]
pub struct Script {
    /// `Err(message)`: spark-submit fails (`SUBMISSION_FAILED`, then `FAILED`).
    pub submission: Result<(), String>,
    /// The executors' fates; `None`: `spec.executor.instances` Ready executors.
    pub executors: Option<Vec<ExecutorFate>>,
    /// How the run ends.
    pub ending: Ending,
    /// Time between two transitions.
    pub step: Duration,
}

impl Script {
    /// Submitted, running, then completed.
    pub fn completes() -> Self {
        Self {
            submission: Ok(()),
            executors: None,
            ending: Ending::Complete,
            step: Duration::from_millis(100),
        }
    }

    /// Submitted, running, then the driver fails with `exit_code` and `reason`.
    pub fn fails(exit_code: i32, reason: &str) -> Self {
        Self {
            ending: Ending::Fail {
                exit_code,
                reason: reason.into(),
            },
            ..Self::completes()
        }
    }

    /// Submitted and running until changed (a streaming task).
    pub fn streams() -> Self {
        Self {
            ending: Ending::Never,
            ..Self::completes()
        }
    }

    /// spark-submit fails with `message`.
    pub fn submission_fails(message: &str) -> Self {
        Self {
            submission: Err(message.into()),
            ..Self::completes()
        }
    }

    /// With these executors instead of `spec.executor.instances` Ready ones.
    pub fn executors(mut self, fates: Vec<ExecutorFate>) -> Self {
        self.executors = Some(fates);
        self
    }

    /// With this time between transitions.
    pub fn step(mut self, step: Duration) -> Self {
        self.step = step;
        self
    }
}

/// One state written by the simulated operator.
#[derive(Debug, Clone)]
pub struct Transition {
    /// `namespace/name` of the application.
    pub application: String,
    /// `status.applicationState.state`.
    pub state: String,
    /// When it was written.
    pub at: Instant,
}

type ScriptFn = dyn Fn(&str) -> Script + Send + Sync;

struct Shared {
    store: Arc<Store>,
    script: Box<ScriptFn>,
    /// Per application, the number of its current run; older runs stop.
    epochs: Mutex<HashMap<String, u64>>,
    transitions: Mutex<Vec<Transition>>,
}

/// A running simulated operator; it stops with the server.
#[derive(Clone)]
pub struct SparkOperator {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SparkOperator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SparkOperator").finish_non_exhaustive()
    }
}

impl SparkOperator {
    /// Every state written so far, in order.
    pub fn transitions(&self) -> Vec<Transition> {
        lock(&self.shared.transitions).clone()
    }

    /// When `state` was first written for `namespace/name`, if it was.
    pub fn written_at(&self, application: &str, state: &str) -> Option<Instant> {
        self.transitions()
            .into_iter()
            .find(|t| t.application == application && t.state == state)
            .map(|t| t.at)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts the operator on `runtime`; it sees every SparkApplication written from now on.
pub(crate) fn start(
    runtime: &tokio::runtime::Handle,
    store: Arc<Store>,
    script: Box<ScriptFn>,
) -> SparkOperator {
    let mut events = store.lock().subscribe();
    let shared = Arc::new(Shared {
        store,
        script,
        epochs: Mutex::default(),
        transitions: Mutex::default(),
    });
    let operator = SparkOperator {
        shared: shared.clone(),
    };
    let handle = runtime.clone();
    runtime.spawn(async move {
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            };
            if event.key.group != "sparkoperator.k8s.io" || event.key.plural != "sparkapplications"
            {
                continue;
            }
            let key = format!("{}/{}", event.key.namespace, event.key.name);
            let app = &event.object;
            match event.kind {
                EventType::Deleted => {
                    shared.next_epoch(&key);
                }
                EventType::Added if app["status"]["applicationState"].is_null() => {
                    let epoch = shared.next_epoch(&key);
                    handle.spawn(shared.clone().reconcile(key, epoch, Begin::New));
                }
                EventType::Modified => {
                    let old = event.old.as_ref().map(|o| &o["spec"]);
                    if old == Some(&app["spec"]) {
                        continue;
                    }
                    // The operator's event filter: a change of `spec.suspend` alone is only
                    // reconciled; any other spec change invalidates the run.
                    let without_suspend = |spec: &Value| {
                        let mut spec = spec.clone();
                        if let Some(map) = spec.as_object_mut() {
                            map.remove("suspend");
                        }
                        spec
                    };
                    let only_suspend =
                        old.map(without_suspend) == Some(without_suspend(&app["spec"]));
                    let suspend = app["spec"]["suspend"] == json!(true);
                    let state = app["status"]["applicationState"]["state"]
                        .as_str()
                        .unwrap_or_default();
                    let begin = if suspend {
                        if is_terminated(state) || matches!(state, "SUSPENDED" | "SUSPENDING") {
                            continue;
                        }
                        Begin::Suspend
                    } else if state == "SUSPENDED" {
                        Begin::Resume
                    } else if only_suspend {
                        continue;
                    } else {
                        Begin::Invalidate
                    };
                    let epoch = shared.next_epoch(&key);
                    handle.spawn(shared.clone().reconcile(key, epoch, begin));
                }
                EventType::Added => {}
            }
        }
    });
    operator
}

/// How a reconciliation starts.
enum Begin {
    New,
    Invalidate,
    Suspend,
    Resume,
}

fn is_terminated(state: &str) -> bool {
    matches!(state, "COMPLETED" | "FAILED")
}

impl Shared {
    fn next_epoch(&self, key: &str) -> u64 {
        let mut epochs = lock(&self.epochs);
        let epoch = epochs.entry(key.to_string()).or_default();
        *epoch += 1;
        *epoch
    }

    /// Runs `write` if run `epoch` is still the application's current one.
    fn if_current(&self, key: &str, epoch: u64, write: impl FnOnce(&Store)) -> bool {
        let epochs = lock(&self.epochs);
        if epochs.get(key) != Some(&epoch) {
            return false;
        }
        write(&self.store);
        true
    }

    fn app(&self, key: &str) -> Option<Value> {
        let (namespace, name) = key.split_once('/')?;
        self.store
            .get_json(API_VERSION, KIND, Some(namespace), name)
    }

    /// Merge-patches the application's status (and records its state).
    fn set_status(&self, key: &str, epoch: u64, status: Value) -> bool {
        let (namespace, name) = key.split_once('/').unwrap_or_default();
        let state = status["applicationState"]["state"]
            .as_str()
            .map(String::from);
        self.if_current(key, epoch, |store| {
            store.merge_patch_json(
                API_VERSION,
                KIND,
                Some(namespace),
                name,
                &json!({ "status": status }),
            );
            if let Some(state) = state {
                lock(&self.transitions).push(Transition {
                    application: key.to_string(),
                    state,
                    at: Instant::now(),
                });
            }
        })
    }

    /// Deletes the driver and executor pods of the application.
    fn delete_pods(&self, key: &str) {
        let (namespace, name) = key.split_once('/').unwrap_or_default();
        for pod in self.store.list_json("v1", "Pod", Some(namespace)) {
            if pod["metadata"]["labels"]["sparkoperator.k8s.io/app-name"] == json!(name)
                && let Some(pod_name) = pod["metadata"]["name"].as_str()
            {
                self.store
                    .delete_json("v1", "Pod", Some(namespace), pod_name);
            }
        }
    }

    async fn reconcile(self: Arc<Self>, key: String, epoch: u64, begin: Begin) {
        let Some(app) = self.app(&key) else { return };
        let name = key.split_once('/').map(|(_, n)| n).unwrap_or_default();
        let script = (self.script)(name);
        let pause = || tokio::time::sleep(script.step);
        // The operator's reaction time: the change is seen as it was before, for a step.
        pause().await;
        match begin {
            Begin::New if app["spec"]["suspend"] == json!(true) => {
                self.suspend(&key, epoch, &script).await;
                return;
            }
            Begin::New => {}
            Begin::Suspend => {
                self.suspend(&key, epoch, &script).await;
                return;
            }
            Begin::Resume => {
                if !self.set_status(&key, epoch, state("RESUMING")) {
                    return;
                }
                pause().await;
            }
            Begin::Invalidate => {
                if !self.set_status(&key, epoch, state("INVALIDATING")) {
                    return;
                }
                pause().await;
                self.delete_pods(&key);
                let mut reset = reset_status();
                reset["applicationState"] = json!({ "state": "PENDING_RERUN" });
                if !self.set_status(&key, epoch, reset) {
                    return;
                }
                pause().await;
            }
        }
        self.run(&key, epoch, &script).await;
    }

    async fn suspend(&self, key: &str, epoch: u64, script: &Script) {
        if !self.set_status(key, epoch, state("SUSPENDING")) {
            return;
        }
        tokio::time::sleep(script.step).await;
        self.delete_pods(key);
        let mut reset = reset_status();
        reset["applicationState"] = json!({ "state": "SUSPENDED" });
        self.set_status(key, epoch, reset);
    }

    /// One submission and what follows, as `script` says.
    async fn run(&self, key: &str, epoch: u64, script: &Script) {
        let Some(app) = self.app(key) else { return };
        let (namespace, name) = key.split_once('/').unwrap_or_default();
        let pause = || tokio::time::sleep(script.step);
        let submission = new_uid();
        let driver = format!("{name}-driver");
        let attempts = app["status"]["submissionAttempts"].as_i64().unwrap_or(0) + 1;
        let submitted = json!({
            "submissionID": submission,
            "driverInfo": { "podName": driver },
            "lastSubmissionAttemptTime": now_rfc3339(),
            "submissionAttempts": attempts,
        });
        if let Err(message) = &script.submission {
            let error = format!("failed to submit spark application: {message}");
            let mut status = submitted;
            status["applicationState"] =
                json!({ "state": "SUBMISSION_FAILED", "errorMessage": error });
            if !self.set_status(key, epoch, status) {
                return;
            }
            pause().await;
            self.set_status(
                key,
                epoch,
                json!({
                    "applicationState": { "state": "FAILED", "errorMessage": error },
                    "terminationTime": now_rfc3339(),
                }),
            );
            return;
        }
        let app_id = format!("spark-{}", new_uid().replace('-', ""));
        let labels = json!({
            "sparkoperator.k8s.io/app-name": name,
            "sparkoperator.k8s.io/launched-by-spark-operator": "true",
            "sparkoperator.k8s.io/submission-id": submission,
            "spark-app-selector": app_id,
        });
        let owner = json!([{
            "apiVersion": API_VERSION, "kind": KIND, "name": name,
            "uid": app["metadata"]["uid"], "controller": true,
        }]);
        let image = app["spec"]["image"].clone();
        let driver_pod = pod(
            namespace,
            &driver,
            &labels,
            "driver",
            owner,
            "spark-kubernetes-driver",
            &image,
        );
        let mut status = submitted;
        status["applicationState"] = json!({ "state": "SUBMITTED" });
        status["executionAttempts"] =
            json!(app["status"]["executionAttempts"].as_i64().unwrap_or(0) + 1);
        let created = self.if_current(key, epoch, |store| {
            store.apply_json(driver_pod);
        });
        if !created || !self.set_status(key, epoch, status) {
            return;
        }
        pause().await;
        let Some(driver_uid) = self
            .store
            .get_json("v1", "Pod", Some(namespace), &driver)
            .map(|p| p["metadata"]["uid"].clone())
        else {
            return;
        };
        let count = app["spec"]["executor"]["instances"].as_u64().unwrap_or(1) as usize;
        let fates = script
            .executors
            .clone()
            .unwrap_or_else(|| vec![ExecutorFate::Ready; count]);
        let prefix = &new_uid().replace('-', "")[..16];
        let mut executor_state = serde_json::Map::new();
        let running = self.if_current(key, epoch, |store| {
            store.mark_pod_ready(namespace, &driver);
            for (n, fate) in fates.iter().enumerate() {
                let id = n + 1;
                let exec_name = format!("{name}-{prefix}-exec-{id}");
                let mut exec_labels = labels.clone();
                exec_labels["spark-exec-id"] = json!(id.to_string());
                let owner = json!([{
                    "apiVersion": "v1", "kind": "Pod", "name": driver,
                    "uid": driver_uid, "controller": true,
                }]);
                let mut exec = pod(
                    namespace,
                    &exec_name,
                    &exec_labels,
                    "executor",
                    owner,
                    "spark-kubernetes-executor",
                    &image,
                );
                exec["status"] = executor_status(&exec, fate);
                store.apply_json(exec);
                executor_state.insert(exec_name, json!("RUNNING"));
            }
        });
        if !running {
            return;
        }
        let status = json!({
            "applicationState": { "state": "RUNNING" },
            "sparkApplicationId": app_id,
            "executorState": executor_state,
        });
        if !self.set_status(key, epoch, status) {
            return;
        }
        let (exit_code, reason) = match &script.ending {
            Ending::Never => return,
            Ending::Complete => (0, "Completed".to_string()),
            Ending::Fail { exit_code, reason } => (*exit_code, reason.clone()),
        };
        pause().await;
        let phase = if exit_code == 0 {
            "Succeeded"
        } else {
            "Failed"
        };
        let ended = self.if_current(key, epoch, |store| {
            let now = now_rfc3339();
            store.merge_patch_json(
                "v1",
                "Pod",
                Some(namespace),
                &driver,
                &json!({ "status": {
                    "phase": phase,
                    "conditions": [{ "type": "Ready", "status": "False", "reason": "PodCompleted" }],
                    "containerStatuses": [{
                        "name": "spark-kubernetes-driver", "image": image, "imageID": "",
                        "ready": false, "started": false, "restartCount": 0,
                        "state": { "terminated": {
                            "exitCode": exit_code, "reason": reason, "startedAt": now, "finishedAt": now,
                        } },
                    }],
                } }),
            );
        });
        if !ended {
            return;
        }
        let executors_end = if exit_code == 0 {
            "COMPLETED"
        } else {
            "FAILED"
        };
        let executor_state: serde_json::Map<String, Value> = executor_state
            .keys()
            .map(|k| (k.clone(), json!(executors_end)))
            .collect();
        let (passing, last, error) = if exit_code == 0 {
            ("SUCCEEDING", "COMPLETED", None)
        } else {
            (
                "FAILING",
                "FAILED",
                Some(format!(
                    "driver container failed with ExitCode: {exit_code}, Reason: {reason}"
                )),
            )
        };
        let mut app_state = json!({ "state": passing });
        if let Some(error) = &error {
            app_state["errorMessage"] = json!(error);
        }
        let status = json!({
            "applicationState": app_state,
            "terminationTime": now_rfc3339(),
            "executorState": executor_state,
        });
        if !self.set_status(key, epoch, status) {
            return;
        }
        pause().await;
        app_state["state"] = json!(last);
        self.set_status(key, epoch, json!({ "applicationState": app_state }));
    }
}

fn state(state: &str) -> Value {
    json!({ "applicationState": { "state": state } })
}

/// A merge patch that clears a submission's traces, as the operator's
/// `resetSparkApplicationStatus` does.
fn reset_status() -> Value {
    json!({
        "submissionID": null,
        "sparkApplicationId": null,
        "driverInfo": null,
        "executorState": null,
        "lastSubmissionAttemptTime": null,
        "terminationTime": null,
        "submissionAttempts": null,
        "executionAttempts": null,
    })
}

fn pod(
    namespace: &str,
    name: &str,
    labels: &Value,
    role: &str,
    owner: Value,
    container: &str,
    image: &Value,
) -> Value {
    let mut labels = labels.clone();
    labels["spark-role"] = json!(role);
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": name, "namespace": namespace, "labels": labels, "ownerReferences": owner },
        "spec": { "containers": [{ "name": container, "image": image }] },
        "status": { "phase": "Pending" },
    })
}

fn executor_status(pod: &Value, fate: &ExecutorFate) -> Value {
    let mut status = ready_pod_status(pod);
    if let ExecutorFate::Restarting {
        reason,
        exit_code,
        restarts,
    } = fate
    {
        let now = now_rfc3339();
        for condition in status["conditions"].as_array_mut().into_iter().flatten() {
            if matches!(
                condition["type"].as_str(),
                Some("Ready" | "ContainersReady")
            ) {
                condition["status"] = json!("False");
            }
        }
        for container in status["containerStatuses"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            container["ready"] = json!(false);
            container["started"] = json!(false);
            container["restartCount"] = json!(restarts);
            container["state"] = json!({ "waiting": { "reason": "CrashLoopBackOff" } });
            container["lastState"] = json!({ "terminated": {
                "exitCode": exit_code, "reason": reason, "startedAt": now, "finishedAt": now,
            } });
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::{FakeApiServer, crds};

    fn app(name: &str, suspend: bool) -> Value {
        json!({
            "apiVersion": API_VERSION, "kind": KIND,
            "metadata": {"name": name, "namespace": "spark"},
            "spec": {"image": "img:1", "executor": {"instances": 2}, "suspend": suspend},
        })
    }

    /// Waits (at most 10 s) until `state` has been written for `spark/<name>`.
    fn reached(operator: &SparkOperator, name: &str, state: &str) {
        let application = format!("spark/{name}");
        for _ in 0..500 {
            if operator.written_at(&application, state).is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{state} never written: {:?}", operator.transitions());
    }

    fn states(operator: &SparkOperator) -> Vec<String> {
        operator
            .transitions()
            .into_iter()
            .map(|t| t.state)
            .collect()
    }

    #[test]
    fn runs_create_labelled_pods_with_the_scripted_executor_fates() {
        let server = FakeApiServer::builder()
            .crd(crds::spark_application())
            .start();
        let operator = server.spark_operator(|_| {
            Script::streams()
                .step(Duration::from_millis(10))
                .executors(vec![ExecutorFate::Ready, ExecutorFate::oom_killed(37)])
        });
        server.apply_json(app("fink-stream2raw", false));
        reached(&operator, "fink-stream2raw", "RUNNING");
        let pods = server.list_json("v1", "Pod", Some("spark"));
        assert_eq!(pods.len(), 3);
        let stored = server
            .get_json(API_VERSION, KIND, Some("spark"), "fink-stream2raw")
            .unwrap();
        let status = &stored["status"];
        assert_eq!(status["driverInfo"]["podName"], "fink-stream2raw-driver");
        assert_eq!(status["submissionAttempts"], 1);
        assert_eq!(status["executorState"].as_object().unwrap().len(), 2);
        for pod in &pods {
            let labels = &pod["metadata"]["labels"];
            assert_eq!(labels["sparkoperator.k8s.io/app-name"], "fink-stream2raw");
            assert_eq!(
                labels["sparkoperator.k8s.io/submission-id"],
                status["submissionID"]
            );
            assert_eq!(labels["spark-app-selector"], status["sparkApplicationId"]);
        }
        let oom = pods
            .iter()
            .find(|p| p["metadata"]["name"].as_str().unwrap().ends_with("-exec-2"))
            .unwrap();
        let container = &oom["status"]["containerStatuses"][0];
        assert_eq!(container["restartCount"], 37);
        assert_eq!(container["lastState"]["terminated"]["exitCode"], 137);
        assert_eq!(container["lastState"]["terminated"]["reason"], "OOMKilled");
        assert_eq!(container["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(
            pods.iter()
                .filter(|p| p["metadata"]["labels"]["spark-role"] == "driver")
                .count(),
            1
        );
    }

    #[test]
    fn suspend_at_creation_and_a_suspend_only_change_do_not_submit() {
        let server = FakeApiServer::builder()
            .crd(crds::spark_application())
            .start();
        let operator = server.spark_operator(|_| Script::streams().step(Duration::from_millis(10)));
        server.apply_json(app("fink-a", true));
        reached(&operator, "fink-a", "SUSPENDED");
        assert_eq!(states(&operator), ["SUSPENDING", "SUSPENDED"]);
        assert!(server.list_json("v1", "Pod", Some("spark")).is_empty());
        // Resuming submits again.
        server.store().merge_patch_json(
            API_VERSION,
            KIND,
            Some("spark"),
            "fink-a",
            &json!({"spec": {"suspend": false}}),
        );
        reached(&operator, "fink-a", "RUNNING");
        assert_eq!(
            states(&operator),
            [
                "SUSPENDING",
                "SUSPENDED",
                "RESUMING",
                "SUBMITTED",
                "RUNNING"
            ]
        );
        // `suspend: false` → removed: only spec.suspend changed, nothing restarts (absence
        // checked after 20 steps: a restart would have begun after one).
        server.store().merge_patch_json(
            API_VERSION,
            KIND,
            Some("spark"),
            "fink-a",
            &json!({"spec": {"suspend": null}}),
        );
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(states(&operator).len(), 5, "{:?}", states(&operator));
        // An image change restarts it.
        server.store().merge_patch_json(
            API_VERSION,
            KIND,
            Some("spark"),
            "fink-a",
            &json!({"spec": {"image": "img:2"}}),
        );
        reached(&operator, "fink-a", "PENDING_RERUN");
        assert_eq!(states(&operator)[5..7], ["INVALIDATING", "PENDING_RERUN"]);
    }
}
