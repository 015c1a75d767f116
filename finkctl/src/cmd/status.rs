//! `finkctl status [<task>...]`: each task's state, attempts and times, its driver and executors
//! with their health, from one list of SparkApplications and one list of Spark pods; with
//! `--diag-dir`, the bundle of the abnormal pods (`--dry-run` only says where it would go).

use std::io::Write;

use k8s_openapi::jiff::Timestamp;

use crate::cli::StatusArgs;
use crate::context::{Context, block_on_kube};
use crate::diag::{dry_run_note, write_bundle_of};
use crate::pod_health::{PodSummary, short_duration};
use crate::report::ReportFormat;
use crate::report::{Structured, write_structured, write_table};
use crate::spark_job::Task;
use crate::spark_tasks::{TaskStatus, snapshot, task_status};
use common::kube::Deadline;

const ALL_TASKS: [Task; 3] = [Task::Stream2raw, Task::Raw2science, Task::Distribution];

/// Runs `finkctl status`.
pub(crate) fn run(ctx: &Context, args: &StatusArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let target = ctx.kube_target()?;
    let deadline = Deadline::after(args.timeout);
    let namespace = target.namespace().to_string();
    let (statuses, written) = block_on_kube(&target, deadline, "reading the Fink tasks", async {
        let client = target.client().await?;
        let snapshot = snapshot(&client, &namespace).await?;
        let now = Timestamp::now();
        let tasks = if args.tasks.is_empty() {
            &ALL_TASKS[..]
        } else {
            &args.tasks[..]
        };
        let statuses: Vec<TaskStatus> = tasks
            .iter()
            .map(|task| task_status(&snapshot.task(*task), now))
            .filter(|s| !args.tasks.is_empty() || s.state != "NOT_FOUND")
            .collect();
        let written = match &args.diag_dir {
            Some(dir) if ctx.dry_run => Some(dry_run_note(dir)),
            Some(dir) => {
                let pods: Vec<_> = tasks
                    .iter()
                    .flat_map(|task| snapshot.task(*task).pods().cloned().collect::<Vec<_>>())
                    .collect();
                Some(
                    write_bundle_of(&client, &namespace, &pods, dir)
                        .await?
                        .to_string(),
                )
            }
            None => None,
        };
        anyhow::Ok((statuses, written))
    })?;
    if let Some(written) = written {
        writeln!(ctx.err(), "{written}")?;
    }
    match args.output {
        ReportFormat::Json => write_structured(out, Structured::Json, &statuses),
        ReportFormat::Yaml => write_structured(out, Structured::Yaml, &statuses),
        ReportFormat::Text => {
            if statuses.is_empty() {
                writeln!(ctx.err(), "No Fink task found in namespace {namespace}")?;
            }
            for status in &statuses {
                write_task(out, status)?;
            }
            Ok(())
        }
    }
}

fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_string()
}

/// `cpu=1,memory=2Gi`.
fn resources(map: &std::collections::BTreeMap<String, String>) -> String {
    if map.is_empty() {
        return "-".into();
    }
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn pod_row(pod: &PodSummary) -> Vec<String> {
    let last = pod
        .last_termination
        .as_ref()
        .map(|t| format!("{} ({})", t.reason, t.exit_code));
    let ran = pod
        .running_seconds
        .or(pod.last_termination.as_ref().and_then(|t| t.ran_seconds))
        .map(short_duration);
    vec![
        pod.name.clone(),
        pod.role.clone(),
        match &pod.waiting {
            Some(waiting) => format!("{}/{waiting}", pod.phase),
            None => pod.phase.clone(),
        },
        pod.ready.to_string(),
        pod.restarts.to_string(),
        or_dash(last.as_deref()),
        or_dash(ran.as_deref()),
        resources(&pod.requests),
        resources(&pod.limits),
    ]
}

/// One task: a header line, its pods as a table, then the error line of each abnormal pod.
fn write_task(out: &mut dyn Write, status: &TaskStatus) -> anyhow::Result<()> {
    let mut header = format!(
        "{}: {} ({}), attempts {}",
        status.task, status.state, status.backend, status.attempts
    );
    if let Some(submitted) = &status.submitted {
        header.push_str(&format!(", submitted {submitted}"));
    }
    if let Some(transition) = &status.last_transition {
        header.push_str(&format!(", last transition {transition}"));
    }
    writeln!(out, "{header}")?;
    if let Some(message) = &status.error_message {
        writeln!(out, "  error: {message}")?;
    }
    let mut rows = vec![
        [
            "POD", "ROLE", "PHASE", "READY", "RESTARTS", "LAST END", "RAN", "REQUESTS", "LIMITS",
        ]
        .map(String::from)
        .to_vec(),
    ];
    rows.extend(status.pods().map(pod_row));
    if rows.len() > 1 {
        write_table(out, "  ", &rows)?;
    }
    for line in status.pods().filter_map(PodSummary::error_line) {
        writeln!(out, "  ! {line}")?;
    }
    Ok(())
}
