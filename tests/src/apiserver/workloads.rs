//! Status a controller or kubelet would write: Ready pods and finished rollouts.
//!
//! No controller runs in the fake; tests call these (often from [`FakeApiServer::after`]) to
//! move objects to the state that `kubectl wait`, `kubectl rollout status` and kube-rs
//! readiness predicates look for.
//!
//! [`FakeApiServer::after`]: super::FakeApiServer::after

use serde_json::{Value, json};

use super::clock::now_rfc3339;
use super::store::Store;

/// `status` of a Running pod whose containers are all ready.
pub fn ready_pod_status(pod: &Value) -> Value {
    let now = now_rfc3339();
    let containers: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            json!({
                "name": c["name"], "image": c["image"], "imageID": "", "ready": true, "started": true, "restartCount": 0,
                "state": { "running": { "startedAt": now } },
            })
        })
        .collect();
    let condition = |t: &str| json!({ "type": t, "status": "True", "lastTransitionTime": now });
    json!({
        "phase": "Running",
        "conditions": [condition("PodScheduled"), condition("Initialized"), condition("ContainersReady"), condition("Ready")],
        "containerStatuses": containers,
        "startTime": now,
    })
}

/// `status` of a Deployment, StatefulSet or DaemonSet whose rollout of its current generation is
/// complete (`nodes`: how many pods a DaemonSet wants). None for other kinds.
pub fn rollout_complete_status(object: &Value, nodes: usize) -> Option<Value> {
    let generation = object["metadata"]["generation"].as_i64().unwrap_or(1);
    let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
    let now = now_rfc3339();
    match object["kind"].as_str()? {
        "Deployment" => Some(json!({
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [
                { "type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "lastUpdateTime": now, "lastTransitionTime": now },
                { "type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "lastUpdateTime": now, "lastTransitionTime": now },
            ],
        })),
        "StatefulSet" => {
            let revision = format!(
                "{}-{generation}",
                object["metadata"]["name"].as_str().unwrap_or("sts")
            );
            Some(json!({
                "observedGeneration": generation,
                "replicas": replicas,
                "readyReplicas": replicas,
                "currentReplicas": replicas,
                "updatedReplicas": replicas,
                "availableReplicas": replicas,
                "currentRevision": revision,
                "updateRevision": revision,
            }))
        }
        "DaemonSet" => {
            let n = nodes.max(1);
            Some(json!({
                "observedGeneration": generation,
                "desiredNumberScheduled": n,
                "currentNumberScheduled": n,
                "updatedNumberScheduled": n,
                "numberReady": n,
                "numberAvailable": n,
                "numberMisscheduled": 0,
            }))
        }
        _ => None,
    }
}

impl Store {
    /// Makes a pod Running and Ready (as its kubelet would); returns it, or None if missing.
    pub fn mark_pod_ready(&self, namespace: &str, name: &str) -> Option<Value> {
        let pod = self.get_json("v1", "Pod", Some(namespace), name)?;
        self.merge_patch_json(
            "v1",
            "Pod",
            Some(namespace),
            name,
            &json!({ "status": ready_pod_status(&pod) }),
        )
    }

    /// Completes the rollout of a Deployment, StatefulSet or DaemonSet (as its controller would);
    /// returns it, or None if it does not exist or is another kind.
    pub fn complete_rollout(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let object = self.get_json(api_version, kind, Some(namespace), name)?;
        let nodes = self.list_json("v1", "Node", None).len();
        let status = rollout_complete_status(&object, nodes)?;
        self.merge_patch_json(
            api_version,
            kind,
            Some(namespace),
            name,
            &json!({ "status": status }),
        )
    }
}
