//! `finkctl events <task> [-w]`: the events about the task's SparkApplication and its pods,
//! Warnings first; with `--watch`, new and updated ones as they come (the watch resumes after a
//! dropped connection; events already printed are not printed again).

use std::collections::{HashMap, HashSet};
use std::io::Write;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::ListParams;
use kube::runtime::{WatchStreamExt, watcher};

use crate::cli::EventsArgs;
use crate::context::{Context, block_on, block_on_kube};
use crate::kube_api::api_error;
use crate::object_events::{EventLine, order_key, sort_events};
use crate::report::ReportFormat;
use crate::report::{Structured, write_structured, write_table};
use crate::spark_application::task_application_name;
use crate::spark_tasks::{Snapshot, snapshot};
use common::kube::Deadline;
use common::kube::retry::retry_transient;

/// The names of the objects the events are about.
struct Members {
    app: String,
    pods: HashSet<String>,
}

impl Members {
    fn of(snapshot: &Snapshot, args: &EventsArgs) -> Self {
        let objects = snapshot.task(args.task);
        Self {
            app: task_application_name(args.task),
            pods: objects
                .drivers
                .iter()
                .chain(&objects.executors)
                .filter_map(|p| p.metadata.name.clone())
                .collect(),
        }
    }

    fn has(&self, event: &Event) -> bool {
        let involved = &event.involved_object;
        let name = involved.name.as_deref().unwrap_or_default();
        match involved.kind.as_deref() {
            Some("SparkApplication") => name == self.app,
            Some("Pod") => self.pods.contains(name),
            _ => false,
        }
    }
}

fn header() -> Vec<String> {
    ["LAST SEEN", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE"]
        .map(String::from)
        .to_vec()
}

fn row(e: &EventLine) -> Vec<String> {
    vec![
        e.last_seen.clone().unwrap_or_else(|| "-".into()),
        e.type_.clone(),
        e.reason.clone(),
        e.object.clone(),
        e.count.to_string(),
        e.message.clone(),
    ]
}

/// A row in fixed-width columns (rows printed one at a time cannot be measured together).
fn fixed_row(cells: &[String]) -> String {
    const WIDTHS: [usize; 5] = [20, 7, 18, 40, 5];
    let mut line = String::new();
    for (cell, width) in cells.iter().zip(WIDTHS) {
        line.push_str(&format!("{cell:<width$}  "));
    }
    line.push_str(cells.last().map_or("", String::as_str));
    line
}

/// Runs `finkctl events`.
pub(crate) fn run(ctx: &Context, args: &EventsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let target = ctx.kube_target()?;
    let namespace = target.namespace().to_string();
    if args.watch {
        return block_on(async {
            let client = target.client().await?;
            watch(&client, &namespace, args, out).await
        })?;
    }
    let deadline = Deadline::after(args.timeout);
    let mut lines = block_on_kube(&target, deadline, "reading the events", async {
        let client = target.client().await?;
        let members = Members::of(&snapshot(&client, &namespace).await?, args);
        let api: Api<Event> = Api::namespaced(client, &namespace);
        let all = ListParams::default();
        let events = retry_transient("listing events", || api.list(&all))
            .await
            .map_err(|e| api_error(e).context(format!("cannot list the events of {namespace}")))?;
        anyhow::Ok(
            events
                .items
                .iter()
                .filter(|e| members.has(e))
                .map(EventLine::from_event)
                .collect::<Vec<_>>(),
        )
    })?;
    sort_events(&mut lines);
    match args.output {
        ReportFormat::Json => write_structured(out, Structured::Json, &lines),
        ReportFormat::Yaml => write_structured(out, Structured::Yaml, &lines),
        ReportFormat::Text if lines.is_empty() => {
            writeln!(ctx.err(), "No events about task {}", args.task.name())?;
            Ok(())
        }
        ReportFormat::Text => {
            let mut rows = vec![header()];
            rows.extend(lines.iter().map(row));
            Ok(write_table(out, "", &rows)?)
        }
    }
}

/// Prints the current events (Warnings first), then each new or changed one. The task's pods
/// are listed again when an event names a pod not seen yet (it may be a new executor).
async fn watch(
    client: &kube::Client,
    namespace: &str,
    args: &EventsArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut members = Members::of(&snapshot(client, namespace).await?, args);
    let mut strangers: HashSet<String> = HashSet::new();
    let mut printed: HashMap<String, String> = HashMap::new();
    let mut initial: Vec<Event> = Vec::new();
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    let mut stream = std::pin::pin!(stream);
    if args.output == ReportFormat::Text {
        writeln!(out, "{}", fixed_row(&header()))?;
    }
    while let Some(item) = stream.next().await {
        let event = match item {
            Ok(watcher::Event::Init) => continue,
            Ok(watcher::Event::InitApply(e)) => {
                initial.push(e);
                continue;
            }
            Ok(watcher::Event::InitDone) => {
                let mut batch: Vec<Event> = std::mem::take(&mut initial);
                batch.retain(|e| members.has(e));
                let mut lines: Vec<(EventLine, &Event)> = batch
                    .iter()
                    .map(|e| (EventLine::from_event(e), e))
                    .collect();
                lines.sort_by_key(|(l, _)| order_key(l));
                for (line, e) in lines {
                    print_once(out, args.output, &mut printed, e, &line)?;
                }
                continue;
            }
            Ok(watcher::Event::Apply(e)) => e,
            Ok(watcher::Event::Delete(_)) => continue,
            Err(err) => {
                tracing::warn!(
                    "watching events failed, retrying: {}",
                    common::kube::retry::describe_chain(&err)
                );
                continue;
            }
        };
        let involved = &event.involved_object;
        let pod_name = involved.name.clone().unwrap_or_default();
        if involved.kind.as_deref() == Some("Pod")
            && !members.has(&event)
            && !strangers.contains(&pod_name)
        {
            members = Members::of(&snapshot(client, namespace).await?, args);
            if !members.has(&event) {
                strangers.insert(pod_name);
            }
        }
        if members.has(&event) {
            print_once(
                out,
                args.output,
                &mut printed,
                &event,
                &EventLine::from_event(&event),
            )?;
        }
    }
    Ok(())
}

/// Prints `line` unless this version of the event was printed already.
fn print_once(
    out: &mut dyn Write,
    format: ReportFormat,
    printed: &mut HashMap<String, String>,
    event: &Event,
    line: &EventLine,
) -> anyhow::Result<()> {
    let key = event
        .metadata
        .uid
        .clone()
        .or(event.metadata.name.clone())
        .unwrap_or_default();
    let version = event.metadata.resource_version.clone().unwrap_or_default();
    if printed.get(&key) == Some(&version) {
        return Ok(());
    }
    printed.insert(key, version);
    match format {
        ReportFormat::Text => writeln!(out, "{}", fixed_row(&row(line)))?,
        ReportFormat::Json => writeln!(out, "{}", serde_json::to_string(line)?)?,
        ReportFormat::Yaml => {
            writeln!(out, "---")?;
            write_structured(out, Structured::Yaml, line)?;
        }
    }
    out.flush()?;
    Ok(())
}
