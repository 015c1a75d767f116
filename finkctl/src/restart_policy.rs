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

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::config::FinkConfig;
use crate::spark_job::Task;

/// `spec.restartPolicy.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) enum PolicyType {
    /// Never run again (the operator's default).
    Never,
    /// Run again after a failure, up to the retries.
    OnFailure,
    /// Run again whenever it ends.
    Always,
}

/// An interval: whole seconds (`10`) or a Go duration (`10s`, `1m`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
enum Interval {
    Seconds(u64),
    Text(String),
}

/// A task's `restart_policy` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RestartPolicy {
    #[serde(rename = "type")]
    kind: PolicyType,
    on_failure_retries: Option<u32>,
    on_failure_retry_interval: Option<Interval>,
    on_submission_failure_retries: Option<u32>,
    on_submission_failure_retry_interval: Option<Interval>,
}

/// A `restart_policy` section that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("configuration key {key}: {problem}")]
pub(crate) struct PolicyError {
    key: String,
    problem: String,
}

impl RestartPolicy {
    /// The policy of `task`: its own section, else `run.restart_policy`, else none (the
    /// rendered application keeps `type: Never`).
    pub(crate) fn of_task(config: &FinkConfig, task: Task) -> Result<Option<Self>, PolicyError> {
        let own = format!("{}.restart_policy", task.name());
        for key in [own.as_str(), "run.restart_policy"] {
            if let Some(value) = config.value(key).filter(|v| !v.is_null()) {
                let error = |problem: String| PolicyError {
                    key: key.to_string(),
                    problem,
                };
                let policy: Self = serde_json::from_value(value.clone()).map_err(|e| {
                    error(format!(
                        "{e} (expected type: Never|OnFailure|Always, on_failure_retries, \
                         on_failure_retry_interval, on_submission_failure_retries, \
                         on_submission_failure_retry_interval)"
                    ))
                })?;
                policy.check().map_err(error)?;
                return Ok(Some(policy));
            }
        }
        Ok(None)
    }

    fn check(&self) -> Result<(), String> {
        for interval in [
            &self.on_failure_retry_interval,
            &self.on_submission_failure_retry_interval,
        ]
        .into_iter()
        .flatten()
        {
            seconds(interval)?;
        }
        Ok(())
    }

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
        if let Some(i) = &self.on_submission_failure_retry_interval {
            spec.insert(
                "onSubmissionFailureRetryInterval".into(),
                json!(seconds(i).unwrap_or(1)),
            );
        }
        if let Some(i) = &self.on_failure_retry_interval {
            spec.insert(
                "onFailureRetryInterval".into(),
                json!(seconds(i).unwrap_or(1)),
            );
        }
        Value::Object(spec)
    }
}

/// Whole seconds, at least 1 (the operator's minimum).
fn seconds(interval: &Interval) -> Result<u64, String> {
    let secs = match interval {
        Interval::Seconds(n) => *n,
        Interval::Text(text) => {
            let d: Duration = common::duration::parse_duration(text)
                .map_err(|e| format!("retry interval {text:?}: {e}"))?;
            if d.subsec_nanos() != 0 {
                return Err(format!("retry interval {text:?} is not whole seconds"));
            }
            d.as_secs()
        }
    };
    if secs == 0 {
        return Err("a retry interval must be at least 1 second".into());
    }
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(yaml: &str, task: Task) -> Result<Option<RestartPolicy>, PolicyError> {
        RestartPolicy::of_task(&FinkConfig::from_yaml_texts(&[yaml]).unwrap(), task)
    }

    #[test]
    fn the_task_section_wins_over_run_and_intervals_become_seconds() {
        let yaml = "run:\n  restart_policy:\n    type: Always\ndistribution:\n  restart_policy:\n    type: OnFailure\n    on_failure_retries: 3\n    on_failure_retry_interval: 1m\n    on_submission_failure_retries: 1\n    on_submission_failure_retry_interval: 20\n";
        let spec = policy(yaml, Task::Distribution).unwrap().unwrap().to_spec();
        assert_eq!(
            spec,
            json!({"type": "OnFailure", "onFailureRetries": 3, "onFailureRetryInterval": 60,
                   "onSubmissionFailureRetries": 1, "onSubmissionFailureRetryInterval": 20})
        );
        let spec = policy(yaml, Task::Stream2raw).unwrap().unwrap().to_spec();
        assert_eq!(spec, json!({"type": "Always"}));
        assert!(
            policy("run:\n  cpu: 1\n", Task::Stream2raw)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn bad_sections_name_the_key_and_the_problem() {
        for (yaml, expected) in [
            (
                "stream2raw:\n  restart_policy:\n    type: Sometimes\n",
                "unknown variant `Sometimes`",
            ),
            (
                "stream2raw:\n  restart_policy:\n    type: Never\n    retries: 2\n",
                "unknown field `retries`",
            ),
            (
                "stream2raw:\n  restart_policy:\n    type: OnFailure\n    on_failure_retry_interval: 0\n",
                "at least 1 second",
            ),
            (
                "stream2raw:\n  restart_policy:\n    type: OnFailure\n    on_failure_retry_interval: 1.5s\n",
                "not whole seconds",
            ),
        ] {
            let err = policy(yaml, Task::Stream2raw).unwrap_err().to_string();
            assert!(
                err.starts_with("configuration key stream2raw.restart_policy: "),
                "{err}"
            );
            assert!(err.contains(expected), "{err}");
        }
    }
}
