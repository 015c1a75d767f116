//! The diagnostic bundle of abnormal Spark pods: `diag.json` (everything, machine-readable) and
//! `diag.txt` (the same, readable) with each pod's phase, problem, exit codes, restarts,
//! resources, events and the last lines of its current and previous logs. Read-only: one list
//! of pods (unless given), one list of events, then log GETs, a bounded number at a time.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{ListParams, LogParams};
use serde::Serialize;

use crate::kube_api::api_error;
use crate::object_events::{EventLine, sort_events};
use crate::pod_health::{PodSummary, summarize};
use common::kube::retry::retry_transient;

/// Log lines kept per container run.
pub(crate) const TAIL_LINES: i64 = 200;
/// Log requests in flight at once.
const CONCURRENCY: usize = 16;

/// A log, or why it could not be read.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LogTail {
    #[serde(skip_serializing_if = "Option::is_none")]
    lines: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// One abnormal pod in the bundle.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DiagPod {
    #[serde(flatten)]
    summary: PodSummary,
    error_line: String,
    events: Vec<EventLine>,
    current_log: LogTail,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_log: Option<LogTail>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Bundle {
    namespace: String,
    written: String,
    pods_seen: usize,
    abnormal_pods: Vec<DiagPod>,
}

/// What [`write_bundle`] wrote.
#[derive(Debug)]
pub(crate) struct Written {
    /// How many abnormal pods it describes.
    pub(crate) abnormal: usize,
    /// `DIR/diag.json`.
    pub(crate) json: PathBuf,
    /// `DIR/diag.txt`.
    pub(crate) text: PathBuf,
}

impl std::fmt::Display for Written {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Diagnostic bundle of {} abnormal pods: {} and {}",
            self.abnormal,
            self.json.display(),
            self.text.display()
        )
    }
}

/// What `--dry-run` prints instead of writing the bundle into `dir`.
pub(crate) fn dry_run_note(dir: &Path) -> String {
    format!(
        "Would write a diagnostic bundle into {} (dry run)",
        dir.display()
    )
}

/// Lists the pods of `namespace` matching the label `selector` and writes the bundle of the
/// abnormal ones into `dir` (created if needed).
pub(crate) async fn write_bundle(
    client: &kube::Client,
    namespace: &str,
    selector: &str,
    dir: &Path,
) -> anyhow::Result<Written> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().labels(selector);
    let pods = retry_transient("listing pods", || api.list(&params))
        .await
        .map_err(|e| {
            api_error(e).context(format!("cannot list the pods {selector} of {namespace}"))
        })?
        .items;
    write_bundle_of(client, namespace, &pods, dir).await
}

/// Writes the bundle of the abnormal pods among `pods` into `dir` (created if needed).
pub(crate) async fn write_bundle_of(
    client: &kube::Client,
    namespace: &str,
    pods: &[Pod],
    dir: &Path,
) -> anyhow::Result<Written> {
    let now = Timestamp::now();
    let abnormal: Vec<(&Pod, PodSummary)> = pods
        .iter()
        .map(|p| (p, summarize(p, now)))
        .filter(|(_, s)| s.problem.is_some())
        .collect();
    let events: Vec<Event> = if abnormal.is_empty() {
        Vec::new()
    } else {
        let api: Api<Event> = Api::namespaced(client.clone(), namespace);
        let params = ListParams::default();
        retry_transient("listing events", || api.list(&params))
            .await
            .map_err(|e| api_error(e).context(format!("cannot list the events of {namespace}")))?
            .items
    };
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut described: Vec<DiagPod> = futures::stream::iter(abnormal)
        .map(|(pod, summary)| {
            let api = api.clone();
            let events = &events;
            async move { describe(&api, pod, summary, events).await }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    described.sort_by(|a, b| a.summary.name.cmp(&b.summary.name));
    let bundle = Bundle {
        namespace: namespace.to_string(),
        written: now.to_string(),
        pods_seen: pods.len(),
        abnormal_pods: described,
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let json = dir.join("diag.json");
    let text = dir.join("diag.txt");
    std::fs::write(&json, serde_json::to_string_pretty(&bundle)?)
        .with_context(|| format!("cannot write {}", json.display()))?;
    std::fs::write(&text, render_text(&bundle))
        .with_context(|| format!("cannot write {}", text.display()))?;
    Ok(Written {
        abnormal: bundle.abnormal_pods.len(),
        json,
        text,
    })
}

async fn describe(api: &Api<Pod>, pod: &Pod, summary: PodSummary, events: &[Event]) -> DiagPod {
    let uid = pod.metadata.uid.as_deref();
    let mut about: Vec<EventLine> = events
        .iter()
        .filter(|e| EventLine::is_about(e, "Pod", &summary.name, uid))
        .map(EventLine::from_event)
        .collect();
    sort_events(&mut about);
    let restarted = summary.restarts > 0;
    let current_log = tail(api, &summary, false).await;
    let previous_log = if restarted {
        Some(tail(api, &summary, true).await)
    } else {
        None
    };
    DiagPod {
        error_line: summary.error_line().unwrap_or_default(),
        summary,
        events: about,
        current_log,
        previous_log,
    }
}

async fn tail(api: &Api<Pod>, summary: &PodSummary, previous: bool) -> LogTail {
    let params = LogParams {
        container: Some(summary.container.clone()).filter(|c| !c.is_empty()),
        previous,
        tail_lines: Some(TAIL_LINES),
        ..LogParams::default()
    };
    match api.logs(&summary.name, &params).await {
        Ok(text) => LogTail {
            lines: Some(text.lines().map(String::from).collect()),
            error: None,
        },
        Err(err) => LogTail {
            lines: None,
            error: Some(format!("{:#}", api_error(err))),
        },
    }
}

fn render_text(bundle: &Bundle) -> String {
    let mut text = format!(
        "Diagnostic bundle of namespace {} at {}: {} abnormal of {} Spark pods\n",
        bundle.namespace,
        bundle.written,
        bundle.abnormal_pods.len(),
        bundle.pods_seen
    );
    for pod in &bundle.abnormal_pods {
        let s = &pod.summary;
        text.push_str(&format!("\n=== {}\n", pod.error_line));
        text.push_str(&format!(
            "phase {}, ready {}, container {}, restarts {}",
            s.phase, s.ready, s.container, s.restarts
        ));
        if let Some(waiting) = &s.waiting {
            text.push_str(&format!(", waiting {waiting}"));
        }
        if let Some(t) = &s.last_termination {
            text.push_str(&format!(", last {} (exit {})", t.reason, t.exit_code));
        }
        let list = |m: &std::collections::BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        text.push_str(&format!(
            "\nrequests {}, limits {}\n",
            list(&s.requests),
            list(&s.limits)
        ));
        text.push_str("--- events\n");
        for e in &pod.events {
            text.push_str(&format!(
                "{} {} (x{}) {}: {}\n",
                e.last_seen.as_deref().unwrap_or("-"),
                e.type_,
                e.count,
                e.reason,
                e.message
            ));
        }
        for (what, log) in [
            ("current log", Some(&pod.current_log)),
            ("previous log", pod.previous_log.as_ref()),
        ] {
            let Some(log) = log else { continue };
            text.push_str(&format!("--- {what} (last {TAIL_LINES} lines)\n"));
            if let Some(error) = &log.error {
                text.push_str(&format!("(unavailable: {error})\n"));
            }
            for line in log.lines.iter().flatten() {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    text
}
