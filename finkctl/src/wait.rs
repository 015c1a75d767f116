//! `finkctl wait topics` and `finkctl wait tasks`, under one global deadline. Kubernetes objects
//! are watched with `common::kube::wait::watch_until` (the state is checked as soon as it changes;
//! dropped watches and server errors are retried with backoff); topics listed through
//! `kafka-topics.sh` are polled every 250 ms by default, one exec at a time.

use std::time::Duration;

use anyhow::{anyhow, bail};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DynamicObject, ListParams};
use kube::runtime::watcher;
use tokio::time::Instant;

use crate::Context;
use crate::cli::{TopicSource, WaitTaskArgs, WaitTopicArgs};
use crate::run::spark_application_resource;
use crate::topics::{
    KafkaSettings, fink_topic_names, fink_topics, kafka_topic_resource, kafka_topics_api,
};
use common::kube::KubeTarget;
use common::kube::wait::{Check, WaitError, watch_until};

/// Time left until `deadline` (every step of a wait shares one deadline).
fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// The shortest time between the starts of two `kafka-topics.sh` runs (bounds the exec rate).
pub const MIN_EXEC_INTERVAL: Duration = Duration::from_millis(100);

/// Whether `count` topics satisfy the expectation.
pub fn topics_condition_met(count: usize, expected: usize, at_least: bool) -> bool {
    if at_least {
        count >= expected
    } else {
        count == expected
    }
}

/// Runs `finkctl wait topics`.
pub fn topics_command(
    ctx: &Context,
    args: &WaitTopicArgs,
    timeout: Duration,
) -> anyhow::Result<()> {
    let settings = KafkaSettings::from_config(&ctx.config(false)?)?;
    let target = ctx.kube_target()?;
    let count = crate::block_on(wait_topics(&target, &settings, args, timeout))??;
    println!("Condition met: Found {count} fink topics");
    Ok(())
}

async fn wait_topics(
    target: &KubeTarget,
    settings: &KafkaSettings,
    args: &WaitTopicArgs,
    timeout: Duration,
) -> anyhow::Result<usize> {
    let start = Instant::now();
    let deadline = start + timeout;
    // Logged at info when the topics change (a check runs every 250 ms), at debug otherwise.
    let last_seen = std::cell::RefCell::new(None::<Vec<String>>);
    let found = |topics: &[String]| {
        let changed = last_seen.borrow().as_deref() != Some(topics);
        if changed {
            tracing::info!(
                elapsed = ?start.elapsed(),
                ?topics,
                count = topics.len(),
                expected = args.expected,
                "Found topics"
            );
            *last_seen.borrow_mut() = Some(topics.to_vec());
        } else {
            tracing::debug!(count = topics.len(), "Found topics (unchanged)");
        }
        topics_condition_met(topics.len(), args.expected, args.at_least)
    };
    if args.source == TopicSource::Crd {
        // KafkaTopic resources are watched: the count is checked on every change.
        let api = kafka_topics_api(target.client().await?, settings);
        let mut count = 0;
        watch_until(
            api,
            kafka_topic_resource(),
            watcher::Config::default(),
            remaining(deadline),
            "fink topics",
            |topics: &[DynamicObject]| {
                let names = fink_topic_names(topics, &settings.topic_prefix);
                count = names.len();
                if found(&names) {
                    Check::Done
                } else {
                    Check::Pending
                }
            },
        )
        .await
        .map_err(|err| match err {
            WaitError::Timeout { .. } => anyhow!("timed out waiting for the condition on topics"),
            other => anyhow::Error::new(other),
        })?;
        return Ok(count);
    }
    // kafka-topics.sh cannot be watched: it runs again every `interval` (default 250 ms, so a
    // change is seen within about a quarter of a second), one run at a time, never more often
    // than every MIN_EXEC_INTERVAL.
    let interval = args.interval.max(MIN_EXEC_INTERVAL);
    loop {
        let started = Instant::now();
        match tokio::time::timeout_at(deadline, fink_topics(target, settings, args.source)).await {
            Ok(Ok(topics)) if found(&topics) => return Ok(topics.len()),
            Ok(Ok(_)) => {}
            Ok(Err(err)) => tracing::warn!("listing topics failed, retrying: {err:#}"),
            Err(_) => break,
        }
        let next = started + interval;
        if next >= deadline {
            tokio::time::sleep_until(deadline).await;
            break;
        }
        tokio::time::sleep_until(next).await;
    }
    bail!("timed out waiting for the condition on topics")
}

/// Runs `finkctl wait tasks`.
pub fn tasks_command(ctx: &Context, args: &WaitTaskArgs, timeout: Duration) -> anyhow::Result<()> {
    let target = ctx.kube_target()?;
    crate::block_on(wait_tasks(&target, args, timeout))?
}

async fn wait_tasks(
    target: &KubeTarget,
    args: &WaitTaskArgs,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let client = target.client().await?;
    let namespace = target.namespace();
    wait_spark_applications(client.clone(), namespace, deadline).await?;
    let pods: Api<Pod> = Api::namespaced(client, namespace);
    for role in ["driver", "executor"] {
        let selector = format!("spark-role={role}");
        tracing::info!(%selector, "Wait for fink-broker pods to be launched");
        let config = watcher::Config::default().labels(&selector);
        let expected = args.expected;
        let what = format!("pods with label {selector}");
        watch_until(
            pods.clone(),
            (),
            config.clone(),
            remaining(deadline),
            &what,
            |pods: &[Pod]| {
                if pods.len() >= expected {
                    Check::Done
                } else {
                    Check::Pending
                }
            },
        )
        .await
        .map_err(|err| match err {
            WaitError::Timeout { .. } => anyhow!(
                "timed out waiting for {role} pods to be created, reason: error: timed out waiting for pods with label {selector}"
            ),
            other => anyhow::Error::new(other),
        })?;
        watch_until(
            pods.clone(),
            (),
            config,
            remaining(deadline),
            &what,
            pods_ready,
        )
        .await
        .map_err(|err| {
            let reason = match err {
                WaitError::Timeout { .. } => "timed out waiting for the condition".to_string(),
                WaitError::Failed { reason, .. } => reason,
                other => other.to_string(),
            };
            anyhow!("timed out waiting for {role} pods to be ready, reason: {reason}")
        })?;
        eprintln!("Pods with label '{selector}' are ready");
    }
    Ok(())
}

/// All pods Ready; a Succeeded or Failed pod fails the wait (a streaming job must not end).
fn pods_ready(pods: &[Pod]) -> Check {
    let mut all_ready = !pods.is_empty();
    for pod in pods {
        let status = pod.status.as_ref();
        let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("");
        if phase == "Succeeded" || phase == "Failed" {
            let name = pod.metadata.name.as_deref().unwrap_or("?");
            return Check::Failed(format!("job {name} failed"));
        }
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        all_ready &= ready;
    }
    if all_ready {
        Check::Done
    } else {
        Check::Pending
    }
}

/// Follows the SparkApplications of the namespace (when the CRD exists) until each is RUNNING
/// (or COMPLETED); a failed application fails the wait.
async fn wait_spark_applications(
    client: kube::Client,
    namespace: &str,
    deadline: Instant,
) -> anyhow::Result<()> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client, namespace, &spark_application_resource());
    match api.list(&ListParams::default().limit(1)).await {
        Ok(list) if list.items.is_empty() => return Ok(()),
        Ok(_) => {}
        // No spark-operator CRD in this cluster: only pods are followed.
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
        Err(kube::Error::Api(status)) if status.code == 401 || status.code == 403 => {
            tracing::warn!("SparkApplications are not followed: {}", status.message);
            return Ok(());
        }
        Err(err) => tracing::warn!("cannot list SparkApplications, watching anyway: {err}"),
    }
    tracing::info!(namespace, "Wait for SparkApplications to be running");
    let apps = watch_until(
        api,
        spark_application_resource(),
        watcher::Config::default(),
        remaining(deadline),
        "SparkApplications",
        applications_running,
    )
    .await
    .map_err(|err| match err {
        WaitError::Timeout { .. } => {
            anyhow!("timed out waiting for SparkApplications in {namespace} to be running")
        }
        WaitError::Failed { reason, .. } => anyhow!(reason),
        other => anyhow::Error::new(other),
    })?;
    if !apps.is_empty() {
        eprintln!("SparkApplications in namespace '{namespace}' are running");
    }
    Ok(())
}

/// Every SparkApplication RUNNING or COMPLETED (none at all: nothing to follow); a failed one
/// fails the wait.
fn applications_running(apps: &[DynamicObject]) -> Check {
    let mut all_running = true;
    for app in apps {
        let name = app.metadata.name.as_deref().unwrap_or("?");
        let state = &app.data["status"]["applicationState"];
        match state["state"].as_str().unwrap_or("") {
            "RUNNING" | "COMPLETED" => {}
            "FAILED" | "SUBMISSION_FAILED" | "FAILING" | "INVALIDATING" => {
                let reason = state["errorMessage"].as_str().unwrap_or("no error message");
                return Check::Failed(format!("SparkApplication {name} failed: {reason}"));
            }
            _ => all_running = false,
        }
    }
    if all_running {
        Check::Done
    } else {
        Check::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_or_at_least() {
        assert!(topics_condition_met(10, 10, false));
        assert!(!topics_condition_met(11, 10, false));
        assert!(topics_condition_met(11, 10, true));
        assert!(!topics_condition_met(9, 10, true));
    }

    fn pod(name: &str, phase: &str, ready: bool) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": { "name": name },
            "status": { "phase": phase, "conditions": [{ "type": "Ready", "status": if ready { "True" } else { "False" } }] }
        }))
        .unwrap()
    }

    #[test]
    fn pod_readiness_and_failure() {
        assert!(matches!(
            pods_ready(&[pod("a", "Running", true), pod("b", "Running", true)]),
            Check::Done
        ));
        assert!(matches!(
            pods_ready(&[pod("a", "Running", true), pod("b", "Pending", false)]),
            Check::Pending
        ));
        let Check::Failed(err) = pods_ready(&[pod("a", "Failed", false)]) else {
            panic!()
        };
        assert_eq!(err, "job a failed");
        assert!(matches!(pods_ready(&[]), Check::Pending));
    }
}
