//! The diagnostics bundle written when `create`, `install` or `apply` fails: what a person (or a
//! CI artifact) needs to see why, collected by reading only. Every part is best effort: a part
//! that cannot be read holds the error instead, and the bundle never replaces the command's error.
//!
//! Layout of `<dir>/<label>/`: `error.txt`, the caller's files (`kind-config.yaml`, `plan.txt`),
//! `nodes.txt` (conditions), `pods.txt` (every namespace: phase, readiness, restarts, last
//! termination, waiting reason), `events.txt` (Warning events), `nodes.json`, `pods.json`,
//! `events.json`, and `logs/<namespace>.<pod>.<container>[.previous].log` for the pods that are
//! not running well.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use common::kube::{KubeArgs, KubeTarget};
use k8s_openapi::api::core::v1::{ContainerStatus, Event, Node, Pod};
use kube::api::{ListParams, LogParams};
use kube::{Api, Client, ResourceExt};

/// How long each read of the bundle may take.
const READ_TIMEOUT: Duration = Duration::from_secs(15);
/// The last lines of each log kept in the bundle.
const LOG_TAIL_LINES: i64 = 500;

/// The bundle directory: `--diag-dir`, else `$RUNNER_TEMP/ktbx-diag` when `$CI` or
/// `$GITHUB_ACTIONS` says this is CI; else none (no bundle).
pub(crate) fn dir(flag: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(dir) = flag {
        return Some(dir.to_path_buf());
    }
    let truthy = |var: &str| env(var).is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
    let runner_temp = env("RUNNER_TEMP").filter(|t| !t.is_empty())?;
    (truthy("CI") || truthy("GITHUB_ACTIONS")).then(|| Path::new(&runner_temp).join("ktbx-diag"))
}

/// The bundle directory of this process (flag, else the CI default).
pub(crate) fn dir_from_env(flag: Option<&Path>) -> Option<PathBuf> {
    dir(flag, |var| std::env::var(var).ok())
}

/// A client of the cluster a bundle describes (`context`: None for the current one).
pub(crate) async fn client(kube: &KubeArgs, context: Option<&str>) -> Result<Client, String> {
    let args = KubeArgs {
        context: context.map(str::to_string).or_else(|| kube.context.clone()),
        ..kube.clone()
    };
    let target = KubeTarget::load(&args).map_err(|e| format!("{e:#}"))?;
    target.client().await.map_err(|e| format!("{e:#}"))
}

/// Runs one read with [`READ_TIMEOUT`], the error as text (an API error as its code, reason
/// and message: `404 NotFound: the server could not find the requested resource`).
async fn read<T>(
    what: &str,
    work: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(READ_TIMEOUT, work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(kube::Error::Api(status))) => Err(format!(
            "{what}: {} {}: {}",
            status.code, status.reason, status.message
        )),
        Ok(Err(e)) => Err(format!(
            "{what}: {}",
            common::kube::retry::describe_chain(&e)
        )),
        Err(_) => Err(format!(
            "{what}: no answer within {}s",
            READ_TIMEOUT.as_secs()
        )),
    }
}

/// Writes a bundle under `dir/label/` and returns that directory: `error`, the caller's `files`
/// (name, content: the kind config, the plan), and the state of the cluster that `cluster`
/// reaches (or why it cannot be reached). Fails only when the directory cannot be written.
pub(crate) async fn write_bundle(
    dir: &Path,
    label: &str,
    cluster: Result<Client, String>,
    error: &anyhow::Error,
    files: &[(&str, String)],
) -> anyhow::Result<PathBuf> {
    let label: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let bundle = dir.join(label.trim_start_matches('.'));
    std::fs::create_dir_all(&bundle)
        .with_context(|| format!("creating the diagnostics directory {}", bundle.display()))?;
    let put = |name: &str, text: &str| {
        let path = bundle.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    put("error.txt", &format!("{error:#}\n"))?;
    for (name, text) in files {
        put(name, text)?;
    }
    let client = match cluster {
        Ok(client) => client,
        Err(e) => {
            let text = format!("cluster not reachable: {e}\n");
            for name in ["nodes.txt", "pods.txt", "events.txt"] {
                put(name, &text)?;
            }
            return Ok(bundle);
        }
    };
    // The three lists side by side, so an API server that does not answer costs one timeout.
    let all = ListParams::default();
    let (node_api, event_api, pod_api) = (
        Api::<Node>::all(client.clone()),
        Api::<Event>::all(client.clone()),
        Api::<Pod>::all(client.clone()),
    );
    let (nodes, events, pods) = tokio::join!(
        read("listing nodes", node_api.list(&all)),
        read("listing events", event_api.list(&all)),
        read("listing pods", pod_api.list(&all)),
    );
    let nodes = nodes.map(|l| l.items);
    let events = events.map(|l| {
        l.items
            .into_iter()
            .filter(|e| e.type_.as_deref() == Some("Warning"))
            .collect::<Vec<_>>()
    });
    let pods = pods.map(|l| l.items);
    put("nodes.txt", &lines(&nodes, node_lines))?;
    put("nodes.json", &json(&nodes))?;
    put("events.txt", &lines(&events, |e| vec![event_line(e)]))?;
    put("events.json", &json(&events))?;
    put("pods.txt", &lines(&pods, |p| vec![pod_line(p)]))?;
    put("pods.json", &json(&pods))?;
    let logs = bundle.join("logs");
    for pod in pods.iter().flatten().filter(|p| abnormal(p)) {
        std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
        write_logs(&client, pod, &logs).await?;
    }
    Ok(bundle)
}

/// Writes the current (and, after a restart, the previous) log of every container of `pod`.
async fn write_logs(client: &Client, pod: &Pod, logs: &Path) -> anyhow::Result<()> {
    let namespace = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    let api = Api::<Pod>::namespaced(client.clone(), &namespace);
    let statuses = container_statuses(pod);
    let spec = pod.spec.as_ref();
    let containers = spec
        .into_iter()
        .flat_map(|s| s.init_containers.iter().flatten().chain(&s.containers))
        .map(|c| c.name.clone());
    for container in containers {
        let restarted = statuses
            .iter()
            .any(|s| s.name == container && s.restart_count > 0);
        for previous in [false, true] {
            if previous && !restarted {
                continue;
            }
            let params = LogParams {
                container: Some(container.clone()),
                previous,
                tail_lines: Some(LOG_TAIL_LINES),
                ..LogParams::default()
            };
            let text = read("reading the log", api.logs(&name, &params))
                .await
                .unwrap_or_else(|e| format!("(no log: {e})\n"));
            let suffix = if previous { ".previous" } else { "" };
            let path = logs.join(format!("{namespace}.{name}.{container}{suffix}.log"));
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}

fn lines<T>(items: &Result<Vec<T>, String>, each: impl Fn(&T) -> Vec<String>) -> String {
    match items {
        Err(e) => format!("{e}\n"),
        Ok(items) if items.is_empty() => "(none)\n".to_string(),
        Ok(items) => items.iter().flat_map(each).map(|l| l + "\n").collect(),
    }
}

fn json<T: serde::Serialize>(items: &Result<Vec<T>, String>) -> String {
    match items {
        Ok(items) => serde_json::to_string_pretty(items).unwrap_or_default() + "\n",
        Err(e) => serde_json::json!({ "error": e }).to_string() + "\n",
    }
}

/// `node NAME`, then one indented line per condition.
fn node_lines(node: &Node) -> Vec<String> {
    let mut out = vec![format!("node {}", node.name_any())];
    for c in node
        .status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten())
    {
        let mut line = format!("  {}={}", c.type_, c.status);
        if let Some(reason) = &c.reason {
            line.push_str(&format!(" {reason}"));
        }
        if let Some(message) = c.message.as_deref().filter(|m| !m.is_empty()) {
            line.push_str(&format!(": {message}"));
        }
        if let Some(since) = &c.last_transition_time {
            line.push_str(&format!(" (since {})", since.0));
        }
        out.push(line);
    }
    out
}

fn container_statuses(pod: &Pod) -> Vec<&ContainerStatus> {
    pod.status
        .iter()
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .collect()
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Unknown")
}

/// Not running well: not Running nor Succeeded, a container not ready, or a restart.
fn abnormal(pod: &Pod) -> bool {
    let statuses = container_statuses(pod);
    match phase(pod) {
        "Succeeded" => false,
        "Running" => {
            statuses.iter().any(|s| s.restart_count > 0)
                || pod
                    .status
                    .iter()
                    .flat_map(|s| s.container_statuses.iter().flatten())
                    .any(|s| !s.ready)
        }
        _ => true,
    }
}

/// `ns/name phase=P ready=R/N restarts=K [last=c:exit 1 Error at T] [waiting=c:Reason]`.
fn pod_line(pod: &Pod) -> String {
    let mains: Vec<&ContainerStatus> = pod
        .status
        .iter()
        .flat_map(|s| s.container_statuses.iter().flatten())
        .collect();
    let all = container_statuses(pod);
    let ready = mains.iter().filter(|s| s.ready).count();
    let total = pod
        .spec
        .as_ref()
        .map_or(mains.len(), |s| s.containers.len());
    let restarts: i32 = all.iter().map(|s| s.restart_count).sum();
    let mut line = format!(
        "{}/{} phase={} ready={ready}/{total} restarts={restarts}",
        pod.namespace().unwrap_or_default(),
        pod.name_any(),
        phase(pod)
    );
    for s in &all {
        if let Some(t) = s.last_state.as_ref().and_then(|l| l.terminated.as_ref()) {
            line.push_str(&format!(" last={}:exit {}", s.name, t.exit_code));
            if let Some(reason) = &t.reason {
                line.push_str(&format!(" {reason}"));
            }
            if let Some(at) = &t.finished_at {
                line.push_str(&format!(" at {}", at.0));
            }
        }
        if let Some(w) = s.state.as_ref().and_then(|st| st.waiting.as_ref()) {
            line.push_str(&format!(
                " waiting={}:{}",
                s.name,
                w.reason.as_deref().unwrap_or("?")
            ));
        }
    }
    if let Some(reason) = pod.status.as_ref().and_then(|s| s.reason.as_deref()) {
        line.push_str(&format!(" reason={reason}"));
    }
    line
}

/// `TIME ns Kind/name Reason: message (xN)`.
fn event_line(e: &Event) -> String {
    let time = e
        .last_timestamp
        .as_ref()
        .or(e.first_timestamp.as_ref())
        .map(|t| t.0.to_string())
        .or_else(|| e.event_time.as_ref().map(|t| t.0.to_string()))
        .unwrap_or_else(|| "-".to_string());
    let object = &e.involved_object;
    let mut line = format!(
        "{time} {} {}/{} {}: {}",
        e.namespace().unwrap_or_default(),
        object.kind.as_deref().unwrap_or("?"),
        object.name.as_deref().unwrap_or("?"),
        e.reason.as_deref().unwrap_or("?"),
        e.message.as_deref().unwrap_or("").trim()
    );
    if let Some(count) = e.count.filter(|c| *c > 1) {
        line.push_str(&format!(" (x{count})"));
    }
    line
}

/// Runs after a command's fallible part: on an error, and when a bundle directory is set, writes
/// the bundle (of the cluster `context` reaches) and logs where; returns `result` unchanged.
pub(crate) async fn on_failure<T>(
    result: anyhow::Result<T>,
    dir: Option<&Path>,
    label: &str,
    kube: &KubeArgs,
    context: Option<&str>,
    files: impl FnOnce() -> Vec<(&'static str, String)>,
) -> anyhow::Result<T> {
    let (Err(error), Some(dir)) = (&result, dir) else {
        return result;
    };
    let cluster = client(kube, context).await;
    match write_bundle(dir, label, cluster, error, &files()).await {
        Ok(path) => tracing::warn!("diagnostics written to {}", path.display()),
        Err(e) => tracing::warn!("could not write the diagnostics bundle: {e:#}"),
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_env::env;
    use serde_json::json;

    #[test]
    fn the_ci_default_needs_runner_temp_and_a_ci_variable() {
        assert_eq!(
            dir(Some(Path::new("/d")), env(&[])),
            Some(PathBuf::from("/d"))
        );
        assert_eq!(dir(None, env(&[("RUNNER_TEMP", "/rt")])), None);
        assert_eq!(
            dir(None, env(&[("RUNNER_TEMP", "/rt"), ("CI", "true")])),
            Some(PathBuf::from("/rt/ktbx-diag"))
        );
        assert_eq!(
            dir(
                None,
                env(&[("RUNNER_TEMP", "/rt"), ("GITHUB_ACTIONS", "true")])
            ),
            Some(PathBuf::from("/rt/ktbx-diag"))
        );
        assert_eq!(
            dir(None, env(&[("RUNNER_TEMP", "/rt"), ("CI", "false")])),
            None
        );
        assert_eq!(dir(None, env(&[("CI", "true")])), None);
    }

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": "c"}]},
            "status": status
        }))
        .unwrap()
    }

    #[test]
    fn pod_lines_show_restarts_last_termination_and_waiting() {
        let crashing = pod(json!({
            "phase": "Running",
            "containerStatuses": [{
                "name": "c", "ready": false, "restartCount": 4, "image": "i", "imageID": "",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": "2026-12-06T01:00:00Z"}}
            }]
        }));
        assert!(abnormal(&crashing));
        assert_eq!(
            pod_line(&crashing),
            "ns/p phase=Running ready=0/1 restarts=4 last=c:exit 137 OOMKilled at 2026-12-06T01:00:00Z waiting=c:CrashLoopBackOff"
        );
        let fine = pod(json!({
            "phase": "Running",
            "containerStatuses": [{"name": "c", "ready": true, "restartCount": 0, "image": "i", "imageID": ""}]
        }));
        assert!(!abnormal(&fine));
        assert!(abnormal(&pod(json!({"phase": "Pending"}))));
        assert!(!abnormal(&pod(json!({"phase": "Succeeded"}))));
    }
}
