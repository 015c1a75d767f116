//! Events (`core/v1`) as the kubelet, the scheduler or the spark-operator record them about an
//! object: [`FakeApiServer::emit_event`] stores one, and clients list or watch them like any
//! resource (field selectors on `involvedObject.*`, `type`, `reason`, `source`).

use serde_json::{Value, json};

use super::FakeApiServer;
use super::clock::{name_suffix, now_rfc3339};

impl FakeApiServer {
    /// Records an event about `involved` (an object as stored, for its kind, name, namespace and
    /// uid): `event_type` is `Normal` or `Warning`; `component` the reporter (`kubelet`,
    /// `spark-operator`, …). Returns the stored Event.
    pub fn emit_event(
        &self,
        involved: &Value,
        event_type: &str,
        reason: &str,
        message: &str,
        component: &str,
    ) -> Value {
        let metadata = &involved["metadata"];
        let name = metadata["name"].as_str().unwrap_or_default();
        let namespace = metadata["namespace"].as_str().unwrap_or("default");
        let now = now_rfc3339();
        self.apply_json(json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": format!("{name}.{}", name_suffix()), "namespace": namespace},
            "involvedObject": {
                "apiVersion": involved["apiVersion"], "kind": involved["kind"],
                "name": name, "namespace": namespace, "uid": metadata["uid"],
                "resourceVersion": metadata["resourceVersion"],
            },
            "reason": reason, "message": message, "type": event_type,
            "source": {"component": component},
            "reportingComponent": component,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }))
    }
}
