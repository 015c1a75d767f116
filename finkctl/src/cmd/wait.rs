//! `finkctl wait topics` and `finkctl wait tasks`, under one global deadline that bounds every
//! Kubernetes call. Kubernetes objects are watched with `common::kube::wait::watch_until` (the
//! state is checked as soon as it changes; dropped watches and server errors are retried with
//! backoff); topics listed through `kafka-topics.sh` (a JVM: seconds per run) are listed one run
//! at a time, with a pause of `--interval` (2 s by default) between runs. Both also watch the
//! Spark pods and fail at once when one is OOMKilled, in CrashLoopBackOff or Failed; with
//! `--diag-dir`, a failure writes the diagnostic bundle of the abnormal Spark pods.

use std::cell::RefCell;
use std::future::Future;
use std::io::Write;
use std::time::Duration;

use anyhow::{anyhow, bail};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DynamicObject, ListParams};
use kube::runtime::watcher;

use crate::cli::{WaitArgs, WaitCommand, WaitTaskArgs, WaitTopicArgs};
use crate::context::{Context, block_on_kube};
use crate::kube_api::api_error;
use crate::pod_health::fatal_error;
use crate::spark_application::spark_application_resource;
use crate::spark_tasks::first_fatal_pods;
use crate::topics::{
    KafkaSettings, TopicSource, fink_topic_names, fink_topics, kafka_topic_resource,
    kafka_topics_api,
};
use common::duration::format_duration;
use common::kube::retry;
use common::kube::wait::{Check, WaitError, watch_until};
use common::kube::{Deadline, KubeTarget};

/// The shortest pause between two `kafka-topics.sh` runs (bounds the exec rate).
const MIN_EXEC_INTERVAL: Duration = Duration::from_millis(100);

const TOPICS_TIMEOUT: &str = "timed out waiting for the condition on topics";

/// Whether `count` topics satisfy the expectation.
fn topics_condition_met(count: usize, expected: usize, at_least: bool) -> bool {
    if at_least {
        count >= expected
    } else {
        count == expected
    }
}

/// Runs `finkctl wait <what>`.
pub(crate) fn run(ctx: &Context, args: &WaitArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let waited = match &args.what {
        WaitCommand::Topic(topic) => topics_command(ctx, topic, args.timeout, out),
        WaitCommand::Task(task) => tasks_command(ctx, task, args.timeout),
    };
    if let (Err(_), Some(dir)) = (&waited, &args.diag_dir) {
        ctx.write_diagnostics(dir);
    }
    waited
}

/// Runs `wait` until it ends or a Spark pod of the namespace fails, whichever comes first.
async fn or_fail_fast<T>(
    target: &KubeTarget,
    wait: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let client = target.client().await?;
    tokio::select! {
        waited = wait => waited,
        error = first_fatal_pods(&client, target.namespace()) => Err(anyhow!(error)),
    }
}

/// Runs `finkctl wait topics`.
fn topics_command(
    ctx: &Context,
    args: &WaitTopicArgs,
    timeout: Duration,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let settings = KafkaSettings::from_config(&ctx.config(false)?);
    let target = ctx.kube_target()?;
    let deadline = Deadline::after(timeout);
    let count = block_on_kube(
        &target,
        deadline,
        "waiting for fink topics",
        or_fail_fast(&target, wait_topics(&target, &settings, args, deadline)),
    )?;
    writeln!(out, "Condition met: Found {count} fink topics")?;
    Ok(())
}

/// Logs the topics when they change (at info; at debug otherwise) and checks the count.
struct Progress<'a> {
    args: &'a WaitTopicArgs,
    start: tokio::time::Instant,
    last_seen: RefCell<Option<Vec<String>>>,
}

impl Progress<'_> {
    fn found(&self, topics: &[String]) -> bool {
        let changed = self.last_seen.borrow().as_deref() != Some(topics);
        if changed {
            tracing::info!(
                elapsed = ?self.start.elapsed(),
                ?topics,
                count = topics.len(),
                expected = self.args.expected,
                "Found topics"
            );
            *self.last_seen.borrow_mut() = Some(topics.to_vec());
        } else {
            tracing::debug!(count = topics.len(), "Found topics (unchanged)");
        }
        topics_condition_met(topics.len(), self.args.expected, self.args.at_least)
    }
}

async fn wait_topics(
    target: &KubeTarget,
    settings: &KafkaSettings,
    args: &WaitTopicArgs,
    deadline: Deadline,
) -> anyhow::Result<usize> {
    let progress = Progress {
        args,
        start: tokio::time::Instant::now(),
        last_seen: RefCell::new(None),
    };
    match args.source {
        TopicSource::Crd => watch_topics(target, settings, &progress, deadline).await,
        TopicSource::Exec => exec_topics(target, settings, &progress, deadline).await,
        TopicSource::Auto if !kafka_topics_served(target).await? => {
            exec_topics(target, settings, &progress, deadline).await
        }
        TopicSource::Auto => {
            // The watch sees KafkaTopic changes at once; kafka-topics.sh also sees the topics
            // the broker created without a KafkaTopic resource. The first to succeed wins.
            let watch = watch_topics(target, settings, &progress, deadline);
            let exec = exec_topics(target, settings, &progress, deadline);
            tokio::pin!(watch, exec);
            tokio::select! {
                found = &mut watch => match found {
                    Ok(count) => Ok(count),
                    Err(err) => {
                        // At the deadline both end; only an earlier watch failure is news.
                        if !deadline.remaining().is_zero() {
                            tracing::warn!("{err:#}; listing topics with kafka-topics.sh only");
                        }
                        exec.await
                    }
                },
                found = &mut exec => found,
            }
        }
    }
}

/// Whether the API server serves Strimzi's KafkaTopic resources.
async fn kafka_topics_served(target: &KubeTarget) -> anyhow::Result<bool> {
    let resource = kafka_topic_resource();
    let client = target.client().await?;
    match client.list_api_group_resources(&resource.api_version).await {
        Ok(list) => Ok(list.resources.iter().any(|r| r.name == resource.plural)),
        // Not served, or discovery not allowed: kafka-topics.sh alone.
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 403 => Ok(false),
        Err(err) => Err(api_error(err).context(format!(
            "cannot discover {} resources",
            resource.api_version
        ))),
    }
}

/// Watches KafkaTopic resources: the count is checked on every change.
async fn watch_topics(
    target: &KubeTarget,
    settings: &KafkaSettings,
    progress: &Progress<'_>,
    deadline: Deadline,
) -> anyhow::Result<usize> {
    let api = kafka_topics_api(target.client().await?, settings);
    let mut count = 0;
    watch_until(
        api,
        kafka_topic_resource(),
        watcher::Config::default(),
        deadline.remaining(),
        "fink topics",
        |topics: &[DynamicObject]| {
            let names = fink_topic_names(topics, &settings.topic_prefix);
            count = names.len();
            if progress.found(&names) {
                Check::Done
            } else {
                Check::Pending
            }
        },
    )
    .await
    .map_err(|err| match err {
        WaitError::Timeout { .. } => anyhow!(TOPICS_TIMEOUT),
        other => anyhow::Error::new(other),
    })?;
    Ok(count)
}

/// Runs kafka-topics.sh until the count is met: one run at a time, `--interval` between the end
/// of a run and the start of the next. A failure is logged once, with a count when it repeats.
async fn exec_topics(
    target: &KubeTarget,
    settings: &KafkaSettings,
    progress: &Progress<'_>,
    deadline: Deadline,
) -> anyhow::Result<usize> {
    let interval = progress.args.interval.max(MIN_EXEC_INTERVAL);
    let mut failures = Failures::default();
    loop {
        match tokio::time::timeout_at(
            deadline.at,
            fink_topics(target, settings, TopicSource::Exec),
        )
        .await
        {
            Ok(Ok(topics)) => {
                failures.settle();
                if progress.found(&topics) {
                    return Ok(topics.len());
                }
            }
            Ok(Err(err)) => failures.record(format!("{err:#}"), interval),
            Err(_) => break,
        }
        if tokio::time::timeout_at(deadline.at, tokio::time::sleep(interval))
            .await
            .is_err()
        {
            break;
        }
    }
    failures.settle();
    bail!(TOPICS_TIMEOUT)
}

/// The failure of the last runs of kafka-topics.sh and how many times in a row it happened.
#[derive(Default)]
struct Failures {
    last: Option<(String, u32)>,
}

impl Failures {
    /// A failed run: logged when it differs from the previous one.
    fn record(&mut self, error: String, interval: Duration) {
        match &mut self.last {
            Some((last, count)) if *last == error => *count += 1,
            _ => {
                self.settle();
                tracing::warn!(
                    "listing topics failed, retrying every {}: {error}",
                    format_duration(interval)
                );
                self.last = Some((error, 1));
            }
        }
    }

    /// The failures are over (a run succeeded, failed differently, or the wait ends): says how
    /// many times a repeated one happened.
    fn settle(&mut self) {
        if let Some((error, count)) = self.last.take()
            && count > 1
        {
            tracing::warn!("listing topics failed {count} times in a row: {error}");
        }
    }
}

/// Runs `finkctl wait tasks`.
fn tasks_command(ctx: &Context, args: &WaitTaskArgs, timeout: Duration) -> anyhow::Result<()> {
    let target = ctx.kube_target()?;
    let deadline = Deadline::after(timeout);
    block_on_kube(
        &target,
        deadline,
        "waiting for the Spark pods",
        or_fail_fast(&target, wait_tasks(ctx, &target, args, deadline)),
    )
}

async fn wait_tasks(
    ctx: &Context,
    target: &KubeTarget,
    args: &WaitTaskArgs,
    deadline: Deadline,
) -> anyhow::Result<()> {
    let client = target.client().await?;
    let namespace = target.namespace();
    wait_spark_applications(ctx, client.clone(), namespace, deadline).await?;
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
            deadline.remaining(),
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
            deadline.remaining(),
            &what,
            |pods: &[Pod]| pods_ready(role, pods),
        )
        .await
        .map_err(|err| match err {
            // The same error as the fail-fast watch's, whichever sees the pod first.
            WaitError::Failed { reason, .. } => anyhow!(reason),
            WaitError::Timeout { .. } => anyhow!(
                "timed out waiting for {role} pods to be ready, reason: timed out waiting for the condition"
            ),
            other => anyhow!("timed out waiting for {role} pods to be ready, reason: {other}"),
        })?;
        writeln!(ctx.err(), "Pods with label '{selector}' are ready")?;
    }
    Ok(())
}

/// All pods of `role` Ready; a Succeeded pod (a streaming job must not end: the original's
/// error) or a failing one (the fail-fast watch's error) fails the wait.
fn pods_ready(role: &str, pods: &[Pod]) -> Check {
    if let Some(error) = fatal_error(pods, k8s_openapi::jiff::Timestamp::now()) {
        return Check::Failed(error);
    }
    let mut all_ready = !pods.is_empty();
    for pod in pods {
        let status = pod.status.as_ref();
        let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("");
        if phase == "Succeeded" {
            let name = pod.metadata.name.as_deref().unwrap_or("?");
            return Check::Failed(format!(
                "timed out waiting for {role} pods to be ready, reason: job {name} failed"
            ));
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
    ctx: &Context,
    client: kube::Client,
    namespace: &str,
    deadline: Deadline,
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
        Err(err) if !retry::is_transient(&err) => {
            return Err(api_error(err).context("cannot list SparkApplications"));
        }
        Err(err) => tracing::warn!(
            "cannot list SparkApplications, watching anyway: {}",
            retry::describe(&err)
        ),
    }
    tracing::info!(namespace, "Wait for SparkApplications to be running");
    let apps = watch_until(
        api,
        spark_application_resource(),
        watcher::Config::default(),
        deadline.remaining(),
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
        writeln!(
            ctx.err(),
            "SparkApplications in namespace '{namespace}' are running"
        )?;
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
            pods_ready(
                "driver",
                &[pod("a", "Running", true), pod("b", "Running", true)]
            ),
            Check::Done
        ));
        assert!(matches!(
            pods_ready(
                "driver",
                &[pod("a", "Running", true), pod("b", "Pending", false)]
            ),
            Check::Pending
        ));
        let Check::Failed(err) = pods_ready("driver", &[pod("a", "Succeeded", false)]) else {
            panic!()
        };
        assert_eq!(
            err,
            "timed out waiting for driver pods to be ready, reason: job a failed"
        );
        let Check::Failed(err) = pods_ready(
            "driver",
            &[pod("a", "Running", true), pod("b", "Failed", false)],
        ) else {
            panic!()
        };
        assert_eq!(err, "b/pod: Failed");
        assert!(matches!(pods_ready("driver", &[]), Check::Pending));
    }
}
