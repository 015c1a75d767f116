//! `restart_policy` of a task in `finkctl.yaml` (or of `run`, for every task): the
//! SparkApplication's `spec.restartPolicy`, which tells the spark-operator whether and when to
//! run a failed (or finished) application again.
//!
//! ```yaml
//! distribution:
//!   restart_policy:
//!     type: OnFailure                            # Never (default), OnFailure or Always
//!     on_failure_retries: 3
//!     on_failure_retry_interval: 10s             # seconds, or a Go duration
//!     on_submission_failure_retries: 1
//!     on_submission_failure_retry_interval: 20
//! ```

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// `spec.restartPolicy.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub(crate) enum PolicyType {
    /// Never run again (the operator's default).
    Never,
    /// Run again after a failure, up to the retries.
    OnFailure,
    /// Run again whenever it ends.
    Always,
}

/// A retry interval in whole seconds, at least 1 (the operator's minimum): written as seconds
/// (`10`) or a Go duration (`10s`, `1m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Interval(u64);

impl Interval {
    fn from_seconds(secs: u64) -> Result<Self, String> {
        if secs == 0 {
            return Err("a retry interval must be at least 1 second".into());
        }
        Ok(Self(secs))
    }

    fn from_text(text: &str) -> Result<Self, String> {
        if let Ok(secs) = text.trim().parse::<u64>() {
            return Self::from_seconds(secs);
        }
        let d: Duration = common::duration::parse_duration(text)
            .map_err(|e| format!("retry interval {text:?}: {e}"))?;
        if d.subsec_nanos() != 0 {
            return Err(format!("retry interval {text:?} is not whole seconds"));
        }
        Self::from_seconds(d.as_secs())
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IntervalVisitor;
        impl Visitor<'_> for IntervalVisitor {
            type Value = Interval;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("whole seconds or a Go duration such as 10s")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Interval, E> {
                Interval::from_seconds(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Interval, E> {
                let secs = u64::try_from(v)
                    .map_err(|_| E::custom("a retry interval must be at least 1 second"))?;
                Interval::from_seconds(secs).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Interval, E> {
                Interval::from_text(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(IntervalVisitor)
    }
}

/// A task's `restart_policy` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RestartPolicy {
    #[serde(rename = "type")]
    kind: PolicyType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    on_failure_retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    on_failure_retry_interval: Option<Interval>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    on_submission_failure_retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    on_submission_failure_retry_interval: Option<Interval>,
}

impl RestartPolicy {
    /// `spec.restartPolicy` (intervals in seconds, as the operator reads them).
    pub(crate) fn to_spec(&self) -> Value {
        let mut spec = Map::new();
        let kind = match self.kind {
            PolicyType::Never => "Never",
            PolicyType::OnFailure => "OnFailure",
            PolicyType::Always => "Always",
        };
        spec.insert("type".into(), json!(kind));
        if let Some(n) = self.on_submission_failure_retries {
            spec.insert("onSubmissionFailureRetries".into(), json!(n));
        }
        if let Some(n) = self.on_failure_retries {
            spec.insert("onFailureRetries".into(), json!(n));
        }
        if let Some(Interval(secs)) = self.on_submission_failure_retry_interval {
            spec.insert("onSubmissionFailureRetryInterval".into(), json!(secs));
        }
        if let Some(Interval(secs)) = self.on_failure_retry_interval {
            spec.insert("onFailureRetryInterval".into(), json!(secs));
        }
        Value::Object(spec)
    }
}
