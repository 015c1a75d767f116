//! Watch-based waits with a timeout, and readiness predicates.
//!
//! A wait lists and watches the objects selected by a [`watcher::Config`] (label and field
//! selectors) and returns as soon as a predicate holds on the current set. Transient watch errors
//! (connection drops, 5xx, 429, expired resource versions) are retried with back-off; an
//! authorization error (401, 403) ends the wait at once. On timeout the error names what was
//! awaited, which objects were not ready and the last watch error.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use ::kube::runtime::WatchStreamExt;
use ::kube::runtime::watcher::{self, Event};
use ::kube::{Api, Resource, ResourceExt};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use serde::de::DeserializeOwned;

use crate::duration::format_duration;

/// A wait that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The condition did not hold in time.
    #[error("timed out after {} waiting for {what}: {state}{}", format_duration(*.timeout), last_error_text(.last_error))]
    Timeout {
        /// What was awaited, such as `pods -l app=cilium in kube-system to be ready`.
        what: String,
        /// The timeout.
        timeout: Duration,
        /// What was seen last, such as `not ready: pod/cilium-x2b7c`.
        state: String,
        /// The last transient watch error, if any.
        last_error: Option<String>,
    },
    /// The check reported that the condition can no longer hold.
    #[error("gave up waiting for {what}: {reason}")]
    Failed {
        /// What was awaited.
        what: String,
        /// Why, as the check said.
        reason: String,
    },
    /// The API server refused the watch (not authorised, or the resource cannot be watched), or
    /// cannot be reached (TLS failure, refused connection).
    #[error("cannot watch {what}: {}", super::retry::describe_chain(.error))]
    Watch {
        /// What was awaited.
        what: String,
        /// The watch error (its causes are part of the message).
        error: watcher::Error,
    },
}

fn last_error_text(last: &Option<String>) -> String {
    last.as_ref()
        .map(|e| format!(" (last watch error: {e})"))
        .unwrap_or_default()
}

/// The verdict of a check over the watched objects (see [`watch_until`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Not yet: keep watching.
    Pending,
    /// The condition holds: the wait succeeds.
    Done,
    /// The condition can no longer hold (a pod failed, a job errored): the wait fails with this
    /// reason.
    Failed(String),
}

/// Waits until `ready` holds on the set of objects selected by `cfg` (evaluated after the initial
/// list and after each change), and returns that set. `what` describes the wait in the timeout
/// error.
pub async fn wait_for<K>(
    api: Api<K>,
    cfg: watcher::Config,
    ready: impl Fn(&[K]) -> bool,
    timeout: Duration,
    what: &str,
) -> Result<Vec<K>, WaitError>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    K::DynamicType: Default,
{
    watch_until(
        api,
        K::DynamicType::default(),
        cfg,
        timeout,
        what,
        |objects| {
            if ready(objects) {
                Check::Done
            } else {
                Check::Pending
            }
        },
    )
    .await
}

/// Waits until at least one object is selected by `cfg` and every selected object satisfies
/// `is_ready` (`kubectl wait --for=condition=Ready pods -l …`, without the race when the objects
/// do not exist yet). The timeout error lists the objects that are not ready.
pub async fn wait_all_ready<K>(
    api: Api<K>,
    cfg: watcher::Config,
    is_ready: impl Fn(&K) -> bool,
    timeout: Duration,
    what: &str,
) -> Result<Vec<K>, WaitError>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    K::DynamicType: Default,
{
    let kind = K::kind(&K::DynamicType::default()).to_lowercase();
    let check = |objects: &[K]| {
        if !objects.is_empty() && objects.iter().all(&is_ready) {
            Check::Done
        } else {
            Check::Pending
        }
    };
    let describe = |objects: &[K]| {
        let pending: Vec<&K> = objects.iter().filter(|o| !is_ready(o)).collect();
        if objects.is_empty() {
            "no matching object seen".to_string()
        } else {
            format!("not ready: {}", names(&kind, &pending))
        }
    };
    watch(api, cfg, check, describe, timeout, what).await
}

/// Watches the objects selected by `cfg` and returns them as soon as `check` says
/// [`Check::Done`]; fails when it says [`Check::Failed`], on an authorisation error, or after
/// `timeout`. `dyntype` is the resource's dynamic type (`()` for k8s-openapi types, the
/// `ApiResource` of a [`kube::api::DynamicObject`](::kube::api::DynamicObject)).
pub async fn watch_until<K>(
    api: Api<K>,
    dyntype: K::DynamicType,
    cfg: watcher::Config,
    timeout: Duration,
    what: &str,
    check: impl FnMut(&[K]) -> Check,
) -> Result<Vec<K>, WaitError>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let kind = K::kind(&dyntype).to_lowercase();
    let describe = |objects: &[K]| {
        if objects.is_empty() {
            "no matching object seen".to_string()
        } else {
            format!(
                "condition not met on {}",
                names(&kind, &objects.iter().collect::<Vec<_>>())
            )
        }
    };
    watch(api, cfg, check, describe, timeout, what).await
}

async fn watch<K>(
    api: Api<K>,
    cfg: watcher::Config,
    mut check: impl FnMut(&[K]) -> Check,
    describe: impl Fn(&[K]) -> String,
    timeout: Duration,
    what: &str,
) -> Result<Vec<K>, WaitError>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let mut tracker = Tracker::default();
    let mut last_error = None;
    let mut cfg = cfg;
    cfg.timeout = Some(cfg.timeout.map_or(super::WATCH_TIMEOUT_SECONDS, |t| {
        t.min(super::WATCH_TIMEOUT_SECONDS)
    }));
    let stream = watcher::watcher(api, cfg).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let watching = async {
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => {
                    if !tracker.apply(event) {
                        continue;
                    }
                    let objects = tracker.objects();
                    match check(&objects) {
                        Check::Pending => {}
                        Check::Done => return Ok(objects),
                        Check::Failed(reason) => {
                            return Err(WaitError::Failed {
                                what: what.to_string(),
                                reason,
                            });
                        }
                    }
                }
                Err(err) if is_permanent(&err) => {
                    return Err(WaitError::Watch {
                        what: what.to_string(),
                        error: err,
                    });
                }
                Err(err) => {
                    let text = super::retry::describe_chain(&err);
                    tracing::warn!("watching {what} failed, retrying: {text}");
                    last_error = Some(text);
                }
            }
        }
        // The watcher stream never ends on its own; treat an end like a timeout.
        futures::future::pending().await
    };
    match tokio::time::timeout(timeout, watching).await {
        Ok(result) => result,
        Err(_) => Err(WaitError::Timeout {
            what: what.to_string(),
            timeout,
            state: describe(&tracker.objects()),
            last_error,
        }),
    }
}

/// Errors that retrying cannot fix (as [`super::retry`] decides for requests: TLS failures,
/// refused connections, 4xx other than 429) and a missing resource version.
pub fn is_permanent(err: &watcher::Error) -> bool {
    match err {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => {
            // A type whose CRD is being installed answers 404 for a moment: keep watching.
            !super::retry::is_transient(e)
                && !matches!(e, ::kube::Error::Api(status) if status.code == 404 || status.code == 410)
        }
        // An error event in a running watch: 410 Gone (resource version too old) is handled by
        // relisting, only authorisation errors are final.
        watcher::Error::WatchError(status) => matches!(status.code, 401 | 403),
        watcher::Error::NoResourceVersion => true,
    }
}

/// `kind/name` of up to five objects, then `and N more`.
fn names<K: Resource>(kind: &str, objects: &[&K]) -> String {
    const SHOWN: usize = 5;
    let mut listed: Vec<String> = objects
        .iter()
        .take(SHOWN)
        .map(|o| format!("{kind}/{}", o.name_any()))
        .collect();
    if objects.len() > SHOWN {
        listed.push(format!("and {} more", objects.len() - SHOWN));
    }
    listed.join(", ")
}

/// The current set of watched objects, rebuilt on every (re)list.
struct Tracker<K> {
    objects: BTreeMap<(String, String), K>,
    relisting: Option<BTreeMap<(String, String), K>>,
    synced: bool,
}

impl<K> Default for Tracker<K> {
    fn default() -> Self {
        Tracker {
            objects: BTreeMap::new(),
            relisting: None,
            synced: false,
        }
    }
}

impl<K: Resource + Clone> Tracker<K> {
    /// Applies a watch event; true when the set may have changed and is complete.
    fn apply(&mut self, event: Event<K>) -> bool {
        match event {
            Event::Init => {
                self.relisting = Some(BTreeMap::new());
                false
            }
            Event::InitApply(obj) => {
                self.relisting
                    .get_or_insert_with(BTreeMap::new)
                    .insert(key(&obj), obj);
                false
            }
            Event::InitDone => {
                self.objects = self.relisting.take().unwrap_or_default();
                self.synced = true;
                true
            }
            Event::Apply(obj) => {
                self.objects.insert(key(&obj), obj);
                self.synced
            }
            Event::Delete(obj) => {
                self.objects.remove(&key(&obj));
                self.synced
            }
        }
    }

    fn objects(&self) -> Vec<K> {
        self.objects.values().cloned().collect()
    }
}

fn key<K: Resource>(obj: &K) -> (String, String) {
    (obj.namespace().unwrap_or_default(), obj.name_any())
}

/// The pod's `Ready` condition is `True`.
pub fn is_pod_ready(pod: &Pod) -> bool {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    ready_among(
        conditions
            .into_iter()
            .flatten()
            .map(|c| (&c.type_, &c.status)),
    )
}

/// The node's `Ready` condition is `True`.
pub fn is_node_ready(node: &Node) -> bool {
    let conditions = node.status.as_ref().and_then(|s| s.conditions.as_ref());
    ready_among(
        conditions
            .into_iter()
            .flatten()
            .map(|c| (&c.type_, &c.status)),
    )
}

/// Whether `(type, status)` condition pairs hold `Ready=True`.
fn ready_among<'a>(mut conditions: impl Iterator<Item = (&'a String, &'a String)>) -> bool {
    conditions.any(|(kind, status)| kind == "Ready" && status == "True")
}

/// `kubectl rollout status deployment/…` would succeed: the latest spec is observed, every replica
/// is updated and available, and no old replica remains.
pub fn is_deployment_rolled_out(deployment: &Deployment) -> bool {
    let Some(status) = &deployment.status else {
        return false;
    };
    if !generation_observed(deployment.metadata.generation, status.observed_generation) {
        return false;
    }
    let wanted = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    updated >= wanted
        && status.replicas.unwrap_or(0) <= updated
        && status.available_replicas.unwrap_or(0) >= updated
}

/// `kubectl rollout status daemonset/…` would succeed: every scheduled pod is updated and
/// available.
pub fn is_daemonset_rolled_out(daemonset: &DaemonSet) -> bool {
    let Some(status) = &daemonset.status else {
        return false;
    };
    if !generation_observed(daemonset.metadata.generation, status.observed_generation) {
        return false;
    }
    let desired = status.desired_number_scheduled;
    status.updated_number_scheduled.unwrap_or(0) >= desired
        && status.number_available.unwrap_or(0) >= desired
}

/// `kubectl rollout status statefulset/…` would succeed: every replica is ready and updated (up
/// to the partition of a partitioned rolling update).
pub fn is_statefulset_rolled_out(statefulset: &StatefulSet) -> bool {
    let Some(status) = &statefulset.status else {
        return false;
    };
    if status.observed_generation.unwrap_or(0) == 0
        || !generation_observed(statefulset.metadata.generation, status.observed_generation)
    {
        return false;
    }
    let spec = statefulset.spec.as_ref();
    let wanted = spec.and_then(|s| s.replicas).unwrap_or(1);
    if status.ready_replicas.unwrap_or(0) < wanted {
        return false;
    }
    let partition = spec
        .and_then(|s| s.update_strategy.as_ref())
        .filter(|u| u.type_.as_deref().unwrap_or("RollingUpdate") == "RollingUpdate")
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.partition)
        .filter(|p| *p > 0);
    match partition {
        Some(partition) => status.updated_replicas.unwrap_or(0) >= wanted - partition,
        None => {
            status.update_revision.is_some() && status.update_revision == status.current_revision
        }
    }
}

fn generation_observed(generation: Option<i64>, observed: Option<i64>) -> bool {
    generation.unwrap_or(0) <= observed.unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, ready: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "kube-system"},
            "status": {"conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": ready}
            ]}
        }))
        .unwrap()
    }

    #[test]
    fn pod_and_node_readiness() {
        assert!(is_pod_ready(&pod("a", "True")));
        assert!(!is_pod_ready(&pod("a", "False")));
        assert!(!is_pod_ready(
            &serde_json::from_value(json!({"metadata": {"name": "p"}})).unwrap()
        ));
        let node = |status: &str| -> Node {
            serde_json::from_value(json!({
                "metadata": {"name": "kind-control-plane"},
                "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": status}]}
            }))
            .unwrap()
        };
        assert!(is_node_ready(&node("True")));
        assert!(!is_node_ready(&node("Unknown")));
    }

    fn deployment(generation: i64, spec_replicas: i32, status: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "olm-operator", "generation": generation},
            "spec": {"replicas": spec_replicas, "selector": {}, "template": {}},
            "status": status
        }))
        .unwrap()
    }

    #[test]
    fn deployment_rollout() {
        let done = json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2});
        assert!(is_deployment_rolled_out(&deployment(2, 2, done)));
        let stale = json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2});
        assert!(!is_deployment_rolled_out(&deployment(2, 2, stale)));
        let updating = json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 2});
        assert!(!is_deployment_rolled_out(&deployment(2, 2, updating)));
        let old_left = json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2});
        assert!(!is_deployment_rolled_out(&deployment(2, 2, old_left)));
        let unavailable = json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1});
        assert!(!is_deployment_rolled_out(&deployment(2, 2, unavailable)));
        assert!(!is_deployment_rolled_out(&deployment(1, 1, json!(null))));
    }

    #[test]
    fn daemonset_rollout() {
        let ds = |updated: i32, available: i32| -> DaemonSet {
            serde_json::from_value(json!({
                "metadata": {"name": "cilium", "generation": 1},
                "status": {"observedGeneration": 1, "desiredNumberScheduled": 3, "currentNumberScheduled": 3,
                           "numberMisscheduled": 0, "numberReady": available,
                           "updatedNumberScheduled": updated, "numberAvailable": available}
            }))
            .unwrap()
        };
        assert!(is_daemonset_rolled_out(&ds(3, 3)));
        assert!(!is_daemonset_rolled_out(&ds(2, 3)));
        assert!(!is_daemonset_rolled_out(&ds(3, 2)));
    }

    #[test]
    fn statefulset_rollout() {
        let sts = |strategy: serde_json::Value, status: serde_json::Value| -> StatefulSet {
            serde_json::from_value(json!({
                "metadata": {"name": "kafka", "generation": 1},
                "spec": {"replicas": 3, "selector": {}, "serviceName": "kafka", "template": {}, "updateStrategy": strategy},
                "status": status
            }))
            .unwrap()
        };
        let rolling = json!({"type": "RollingUpdate"});
        let same_rev = json!({"observedGeneration": 1, "replicas": 3, "readyReplicas": 3, "updatedReplicas": 3,
                              "currentRevision": "r2", "updateRevision": "r2"});
        assert!(is_statefulset_rolled_out(&sts(rolling.clone(), same_rev)));
        let new_rev = json!({"observedGeneration": 1, "replicas": 3, "readyReplicas": 3, "updatedReplicas": 1,
                             "currentRevision": "r1", "updateRevision": "r2"});
        assert!(!is_statefulset_rolled_out(&sts(
            rolling.clone(),
            new_rev.clone()
        )));
        let partitioned = json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}});
        assert!(is_statefulset_rolled_out(&sts(partitioned, new_rev)));
        let not_ready = json!({"observedGeneration": 1, "replicas": 3, "readyReplicas": 2,
                               "currentRevision": "r2", "updateRevision": "r2"});
        assert!(!is_statefulset_rolled_out(&sts(rolling.clone(), not_ready)));
        let unobserved = json!({"replicas": 3, "readyReplicas": 3, "currentRevision": "r2", "updateRevision": "r2"});
        assert!(!is_statefulset_rolled_out(&sts(rolling, unobserved)));
    }

    #[test]
    fn tracker_evaluates_only_complete_lists() {
        let mut tracker = Tracker::default();
        assert!(!tracker.apply(Event::Apply(pod("early", "True"))));
        assert!(!tracker.apply(Event::Init));
        assert!(!tracker.apply(Event::InitApply(pod("a", "False"))));
        assert!(tracker.apply(Event::InitDone));
        // A relist replaces everything seen before it.
        let names = |t: &Tracker<Pod>| t.objects().iter().map(|p| p.name_any()).collect::<Vec<_>>();
        assert_eq!(names(&tracker), ["a"]);
        assert!(tracker.apply(Event::Apply(pod("a", "True"))));
        assert!(tracker.apply(Event::Apply(pod("b", "True"))));
        assert!(tracker.objects().iter().all(is_pod_ready));
        assert!(tracker.apply(Event::Delete(pod("a", "True"))));
        assert_eq!(names(&tracker), ["b"]);
        assert!(!tracker.apply(Event::Init));
        assert_eq!(
            names(&tracker),
            ["b"],
            "the old set stays until the relist is done"
        );
        assert!(tracker.apply(Event::InitDone));
        assert!(tracker.objects().is_empty());
    }

    #[test]
    fn timeout_error_names_what_was_not_ready() {
        let pending = [pod("cilium-a", "False"), pod("cilium-b", "False")];
        let refs: Vec<&Pod> = pending.iter().collect();
        let err = WaitError::Timeout {
            what: "pods -l k8s-app=cilium in kube-system to be ready".into(),
            timeout: Duration::from_secs(600),
            state: format!("not ready: {}", names("pod", &refs)),
            last_error: Some("connection reset".into()),
        };
        assert_eq!(
            err.to_string(),
            "timed out after 10m0s waiting for pods -l k8s-app=cilium in kube-system to be ready: \
             not ready: pod/cilium-a, pod/cilium-b (last watch error: connection reset)"
        );
        let many: Vec<Pod> = (0..7).map(|i| pod(&format!("p{i}"), "False")).collect();
        let refs: Vec<&Pod> = many.iter().collect();
        assert_eq!(
            names("pod", &refs),
            "pod/p0, pod/p1, pod/p2, pod/p3, pod/p4, and 2 more"
        );
    }

    #[test]
    fn authorisation_errors_are_permanent_others_transient() {
        let status = |code: u16| {
            Box::new(::kube::core::Status {
                code,
                message: "m".into(),
                reason: "r".into(),
                ..Default::default()
            })
        };
        assert!(is_permanent(&watcher::Error::InitialListFailed(
            ::kube::Error::Api(status(403))
        )));
        assert!(is_permanent(&watcher::Error::WatchError(status(401))));
        assert!(!is_permanent(&watcher::Error::WatchError(status(410))));
        assert!(!is_permanent(&watcher::Error::WatchFailed(
            ::kube::Error::Api(status(500))
        )));
        assert!(!is_permanent(&watcher::Error::InitialListFailed(
            ::kube::Error::Api(status(429))
        )));
        assert!(is_permanent(&watcher::Error::NoResourceVersion));
    }
}
