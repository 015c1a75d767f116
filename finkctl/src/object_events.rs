//! Events about a task's objects, as lines: who, what, how often, when; Warnings first.

use k8s_openapi::api::core::v1::Event;
use serde::Serialize;

/// One event about an object.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventLine {
    /// `Warning` or `Normal`.
    #[serde(rename = "type")]
    pub(crate) type_: String,
    /// Short reason (`BackOff`, `OOMKilling`, …).
    pub(crate) reason: String,
    /// What happened.
    pub(crate) message: String,
    /// How many times.
    pub(crate) count: i32,
    /// When last seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) last_seen: Option<String>,
    /// The kind and name of the object (`Pod/x`).
    pub(crate) object: String,
}

impl EventLine {
    /// The event in a line's parts.
    pub(crate) fn from_event(event: &Event) -> Self {
        let last_seen = event
            .last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or(event.event_time.as_ref().map(|t| t.0))
            .or(event.first_timestamp.as_ref().map(|t| t.0))
            .or(event.metadata.creation_timestamp.as_ref().map(|t| t.0));
        let involved = &event.involved_object;
        Self {
            type_: event.type_.clone().unwrap_or_else(|| "Normal".into()),
            reason: event.reason.clone().unwrap_or_default(),
            message: event.message.clone().unwrap_or_default().trim().to_string(),
            count: event.count.unwrap_or(1),
            last_seen: last_seen.map(|t| t.to_string()),
            object: format!(
                "{}/{}",
                involved.kind.as_deref().unwrap_or("?"),
                involved.name.as_deref().unwrap_or("?")
            ),
        }
    }

    /// Whether `event` is about the object `kind/name` (by uid when both have one).
    pub(crate) fn is_about(event: &Event, kind: &str, name: &str, uid: Option<&str>) -> bool {
        let involved = &event.involved_object;
        if let (Some(a), Some(b)) = (involved.uid.as_deref(), uid)
            && !a.is_empty()
        {
            return a == b;
        }
        involved.kind.as_deref() == Some(kind) && involved.name.as_deref() == Some(name)
    }
}

/// The order of events: Warnings first, each group in the order the events were last seen.
pub(crate) fn order_key(line: &EventLine) -> (bool, Option<String>) {
    (line.type_ != "Warning", line.last_seen.clone())
}

/// Sorts by [`order_key`].
pub(crate) fn sort_events(events: &mut [EventLine]) {
    events.sort_by_key(order_key);
}
