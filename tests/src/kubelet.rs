//! A stand-in kubelet for the real API server (which runs no node): it moves pods to
//! Running/Ready, Succeeded or Failed through the `status` subresource, as a kubelet reports
//! them, on request ([`set_fate`]) or for every new pod of a namespace ([`Kubelet::start`]).
//!
//! Pods keep no node and no IP; nothing runs in them (exec, logs and port-forward cannot work).

use std::time::{SystemTime, UNIX_EPOCH};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, WatchEvent, WatchParams};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::server_thread::ServerThread;

/// What becomes of a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Running, every container started and ready, the pod Ready.
    Running,
    /// Every container ended with exit code 0.
    Succeeded,
    /// The containers ended with this exit code (non-zero).
    Failed(i32),
}

/// Reports `fate` for the pod `name` through `pods/status` (a merge patch of phase, conditions
/// and container states) and returns the pod as the server stored it.
pub async fn set_fate(pods: &Api<Pod>, name: &str, fate: Fate) -> kube::Result<Pod> {
    let pod = pods.get(name).await?;
    pods.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(status(&pod, fate)),
    )
    .await
}

/// The status patch of `fate` for `pod`.
fn status(pod: &Pod, fate: Fate) -> Value {
    let now = Timestamp::from_second(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs() as i64)
            .unwrap_or_default(),
    )
    .expect("a timestamp")
    .to_string();
    let containers = pod
        .spec
        .as_ref()
        .map(|spec| spec.containers.clone())
        .unwrap_or_default();
    let (phase, ready, state) = match fate {
        Fate::Running => ("Running", true, json!({"running": {"startedAt": now}})),
        Fate::Succeeded => (
            "Succeeded",
            false,
            json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}}),
        ),
        Fate::Failed(code) => (
            "Failed",
            false,
            json!({"terminated": {"exitCode": code, "reason": "Error", "startedAt": now, "finishedAt": now}}),
        ),
    };
    let flag = |yes: bool| if yes { "True" } else { "False" };
    let condition = |kind: &str, yes: bool| {
        let mut condition = json!({"type": kind, "status": flag(yes), "lastTransitionTime": now});
        if !yes {
            condition["reason"] = json!("PodCompleted");
        }
        condition
    };
    let statuses: Vec<Value> = containers
        .iter()
        .map(|container| {
            json!({
                "name": container.name,
                "image": container.image.clone().unwrap_or_default(),
                "imageID": "",
                "ready": ready,
                "started": fate == Fate::Running,
                "restartCount": 0,
                "state": state,
            })
        })
        .collect();
    json!({"status": {
        "phase": phase,
        "startTime": now,
        "conditions": [
            condition("Initialized", true),
            condition("Ready", ready),
            condition("ContainersReady", ready),
            condition("PodScheduled", true),
        ],
        "containerStatuses": statuses,
    }})
}

/// A kubelet that watches one namespace and gives every new pod the fate `decide` returns
/// (`None`: the pod stays Pending). Runs on its own thread; stops when dropped.
pub struct Kubelet {
    _server: ServerThread,
}

impl std::fmt::Debug for Kubelet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubelet").finish_non_exhaustive()
    }
}

impl Kubelet {
    /// Starts watching the pods of `pods`' namespace (from now on and those already there).
    pub fn start(
        pods: Api<Pod>,
        decide: impl Fn(&Pod) -> Option<Fate> + Send + 'static,
    ) -> Kubelet {
        let (stop, stopped) = oneshot::channel();
        let (started, ready) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("kubelet runtime");
            runtime.block_on(async move {
                tokio::select! {
                    outcome = serve(pods, &decide, started) => {
                        if let Err(err) = outcome {
                            eprintln!("stand-in kubelet: {err}");
                        }
                    }
                    _ = stopped => {}
                }
            });
        });
        // Watching before returning: no pod created after `start` is missed.
        let _ = ready.recv();
        Kubelet {
            _server: ServerThread::new(stop, thread),
        }
    }
}

/// Lists then watches the namespace's pods, reporting each new pod's fate once.
async fn serve(
    pods: Api<Pod>,
    decide: &(impl Fn(&Pod) -> Option<Fate> + Send),
    started: std::sync::mpsc::Sender<()>,
) -> kube::Result<()> {
    let mut done = std::collections::HashSet::new();
    let list = pods.list(&Default::default()).await?;
    let mut version = list.metadata.resource_version.unwrap_or_default();
    let mut started = Some(started);
    for pod in list.items {
        handle(&pods, decide, &mut done, &pod).await?;
    }
    loop {
        let mut stream = pods
            .watch(&WatchParams::default().timeout(290), &version)
            .await?
            .boxed();
        if let Some(started) = started.take() {
            let _ = started.send(());
        }
        while let Some(event) = stream.try_next().await? {
            match event {
                WatchEvent::Added(pod) | WatchEvent::Modified(pod) => {
                    version = pod.metadata.resource_version.clone().unwrap_or(version);
                    handle(&pods, decide, &mut done, &pod).await?;
                }
                WatchEvent::Deleted(pod) => {
                    version = pod.metadata.resource_version.clone().unwrap_or(version);
                }
                WatchEvent::Bookmark(bookmark) => version = bookmark.metadata.resource_version,
                WatchEvent::Error(err) => return Err(kube::Error::Api(err)),
            }
        }
    }
}

/// Reports the fate of a pod not handled yet (by uid) that is still Pending.
async fn handle(
    pods: &Api<Pod>,
    decide: &(impl Fn(&Pod) -> Option<Fate> + Send),
    done: &mut std::collections::HashSet<String>,
    pod: &Pod,
) -> kube::Result<()> {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let pending = pod
        .status
        .as_ref()
        .and_then(|status| status.phase.as_deref())
        .is_none_or(|phase| phase == "Pending");
    if !pending || pod.metadata.deletion_timestamp.is_some() || done.contains(&uid) {
        return Ok(());
    }
    let Some(fate) = decide(pod) else {
        return Ok(());
    };
    done.insert(uid);
    let name = pod.metadata.name.clone().unwrap_or_default();
    match set_fate(pods, &name, fate).await {
        Ok(_) | Err(kube::Error::Api(_)) => Ok(()),
        Err(err) => Err(err),
    }
}
