//! Kubernetes `Status` errors, as the real API server writes them.

use serde_json::{Value, json};

/// An API error that the server answers as a `Status` object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub(crate) code: u16,
    pub(crate) reason: &'static str,
    pub(crate) message: String,
    pub(crate) details: Value,
    pub(crate) retry_after: Option<u64>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: String, details: Value) -> Self {
        Self {
            code,
            reason,
            message,
            details,
            retry_after: None,
        }
    }

    /// `pods "x" not found`.
    pub(crate) fn not_found(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(group, plural)),
            details(group, plural, name),
        )
    }

    /// A path that names no known resource.
    pub(crate) fn unknown_path() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
            json!({}),
        )
    }

    /// `pods "x" already exists`.
    pub(crate) fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(group, plural)),
            details(group, plural, name),
        )
    }

    /// A stale `resourceVersion` on update.
    pub(crate) fn conflict(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                qualified(group, plural)
            ),
            details(group, plural, name),
        )
    }

    /// A conflict with a message of its own (server-side apply field conflicts).
    pub(crate) fn conflict_with(message: String, details: Value) -> Self {
        Self::new(409, "Conflict", message, details)
    }

    /// `400 BadRequest`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message.into(), Value::Null)
    }

    /// `422 Invalid`; `message` is a field error (`field: Type: detail`), which also becomes the
    /// one entry of `details.causes` as kubectl prints them.
    pub(crate) fn invalid(group: &str, kind: &str, name: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut d = json!({ "name": name, "kind": kind, "causes": [field_cause(&message)] });
        if !group.is_empty() {
            d["group"] = json!(group);
        }
        Self::new(
            422,
            "Invalid",
            format!(
                "{} \"{name}\" is invalid: {message}",
                qualified(group, kind)
            ),
            d,
        )
    }

    /// `422 Invalid` with several field errors: the message lists them as Go's aggregate does
    /// (`[a, b]`, or the one alone), each one a `details.causes` entry.
    pub(crate) fn invalid_all(kind: &str, name: &str, errors: &[String]) -> Self {
        let causes: Vec<Value> = errors.iter().map(|e| field_cause(e)).collect();
        let listed = match errors {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        Self::new(
            422,
            "Invalid",
            format!("{kind} \"{name}\" is invalid: {listed}"),
            json!({ "name": name, "kind": kind, "causes": causes }),
        )
    }

    /// `401 Unauthorized` (a missing or wrong bearer token).
    pub(crate) fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized".into(), Value::Null)
    }

    /// `403 Forbidden` of an admission plugin: `pods "x" is forbidden: <why>`.
    pub(crate) fn forbidden(group: &str, plural: &str, name: &str, why: &str) -> Self {
        Self::new(
            403,
            "Forbidden",
            format!(
                "{} \"{name}\" is forbidden: {why}",
                qualified(group, plural)
            ),
            details(group, plural, name),
        )
    }

    /// `403 Forbidden`: a create inside a namespace that is being deleted.
    pub(crate) fn namespace_terminating(group: &str, plural: &str, name: &str, ns: &str) -> Self {
        let mut e = Self::forbidden(
            group,
            plural,
            name,
            &format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ),
        );
        e.details["causes"] = json!([{
            "reason": "NamespaceTerminating",
            "message": format!("namespace {ns} is being terminated"),
            "field": "metadata.namespace",
        }]);
        e
    }

    /// `409 Conflict`: a DeleteOptions precondition that the object does not meet.
    pub(crate) fn precondition_failed(group: &str, plural: &str, name: &str, what: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: {what}",
                qualified(group, plural)
            ),
            details(group, plural, name),
        )
    }

    /// `410 Expired`: a continue token whose snapshot left the history.
    pub(crate) fn continue_expired() -> Self {
        Self::new(
            410,
            "Expired",
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.".into(),
            Value::Null,
        )
    }

    /// `403 Forbidden` for a WebSocket watch without an `Origin` header (the real server's
    /// WebSocket handshake refuses a null origin).
    pub(crate) fn forbidden_websocket_origin() -> Self {
        Self::new(
            403,
            "Forbidden",
            "websocket: the handshake has no Origin header (null origin)".into(),
            json!({}),
        )
    }

    /// `405 MethodNotAllowed`.
    pub(crate) fn method_not_allowed(method: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({method})"),
            json!({}),
        )
    }

    /// `415 UnsupportedMediaType`.
    pub(crate) fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type:?})"
            ),
            Value::Null,
        )
    }

    /// `415 UnsupportedMediaType` for a strategic merge patch of a custom resource (custom
    /// resources have no patch strategies).
    pub(crate) fn strategic_patch_of_custom_resource() -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml".into(),
            Value::Null,
        )
    }

    /// `415 UnsupportedMediaType` for a POST/PUT body that is not JSON.
    pub(crate) fn unsupported_body(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json (got {content_type:?})"
            ),
            Value::Null,
        )
    }

    /// `415 UnsupportedMediaType` for a protobuf body the fake cannot decode.
    pub(crate) fn undecodable_body(message: String) -> Self {
        Self::new(415, "UnsupportedMediaType", message, Value::Null)
    }

    /// `410 Expired` (a watch resumed from a resourceVersion older than the kept history).
    pub(crate) fn gone(requested: u64, oldest: u64) -> Self {
        Self::new(
            410,
            "Expired",
            format!("too old resource version: {requested} ({oldest})"),
            Value::Null,
        )
    }

    /// `429 TooManyRequests` with a `Retry-After`.
    pub(crate) fn too_many_requests(retry_after: u64) -> Self {
        let mut e = Self::new(
            429,
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later".into(),
            json!({ "retryAfterSeconds": retry_after }),
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// `500 InternalError`.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
            json!({ "causes": [{ "message": message }] }),
        )
    }

    /// Any other status code (fault injection).
    pub(crate) fn with_code(code: u16) -> Self {
        let reason = match code {
            401 => "Unauthorized",
            403 => "Forbidden",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "InternalError",
        };
        Self::new(
            code,
            reason,
            format!("injected fault: HTTP {code}"),
            Value::Null,
        )
    }

    /// The `Status` object.
    pub(crate) fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if !self.details.is_null() {
            s["details"] = self.details.clone();
        }
        s
    }
}

fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

fn details(group: &str, plural: &str, name: &str) -> Value {
    let mut d = json!({ "name": name, "kind": plural });
    if !group.is_empty() {
        d["group"] = json!(group);
    }
    d
}

/// A `details.causes` entry from a field error `field: Type: detail`.
fn field_cause(message: &str) -> Value {
    let Some((field, rest)) = message.split_once(": ") else {
        return json!({ "message": message });
    };
    let reason = [
        ("Required value", "FieldValueRequired"),
        ("Invalid value", "FieldValueInvalid"),
        ("Unsupported value", "FieldValueNotSupported"),
        ("Duplicate value", "FieldValueDuplicate"),
        ("Forbidden", "FieldValueForbidden"),
        ("Too long", "FieldValueTooLong"),
    ]
    .iter()
    .find(|(prefix, _)| rest.starts_with(prefix))
    .map_or("FieldValueInvalid", |(_, reason)| reason);
    json!({ "reason": reason, "message": rest, "field": field })
}
