//! `finkctl logs <task> [-f] [--executor N | --all-executors] [--previous] [--tail N]`: the log
//! of the task's driver (or of executors), each line prefixed with `[pod] ` when several pods
//! are shown; `-f` follows every pod at once across restarts and dropped streams.

use std::io::Write;

use anyhow::bail;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;

use crate::cli::LogsArgs;
use crate::context::{Context, block_on, block_on_kube};
use crate::log_stream::{LogTarget, follow_log, main_container, read_log};
use crate::spark_tasks::snapshot;
use common::kube::{Deadline, KubeTarget};

/// Runs `finkctl logs`.
pub(crate) fn run(ctx: &Context, args: &LogsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let target = ctx.kube_target()?;
    let namespace = target.namespace().to_string();
    let deadline = Deadline::after(args.timeout);
    let pods = block_on_kube(&target, deadline, "finding the task's pods", async {
        let client = target.client().await?;
        chosen_pods(&client, &namespace, args).await
    })?;
    let prefixed = pods.len() > 1;
    let prefix = |pod: &str| {
        if prefixed {
            format!("[{pod}] ")
        } else {
            String::new()
        }
    };
    if args.follow {
        return block_on(follow(&target, &namespace, &pods, args, out, prefix))?;
    }
    block_on_kube(&target, deadline, "reading the logs", async {
        let api: Api<Pod> = Api::namespaced(target.client().await?, &namespace);
        for pod in &pods {
            let text = read_log(&api, pod, args.previous, args.tail).await?;
            let prefix = prefix(&pod.pod);
            for line in text.lines() {
                writeln!(out, "{prefix}{line}")?;
            }
        }
        anyhow::Ok(())
    })
}

/// The pods whose log is wanted: the driver, executor N, or every executor.
async fn chosen_pods(
    client: &kube::Client,
    namespace: &str,
    args: &LogsArgs,
) -> anyhow::Result<Vec<LogTarget>> {
    let snapshot = snapshot(client, namespace).await?;
    let objects = snapshot.task(args.task);
    let task = args.task.name();
    let pods: Vec<&Pod> = if let Some(n) = args.executor {
        match objects.executor(n) {
            Some(pod) => vec![pod],
            None => bail!("task {task} has no executor {n} in namespace {namespace}"),
        }
    } else if args.all_executors {
        if objects.executors.is_empty() {
            bail!("task {task} has no executor pods in namespace {namespace}");
        }
        objects.executors.clone()
    } else {
        match objects.driver() {
            Some(pod) => vec![pod],
            None => bail!("task {task} has no driver pod in namespace {namespace}"),
        }
    };
    Ok(pods
        .into_iter()
        .map(|pod| LogTarget {
            pod: pod.metadata.name.clone().unwrap_or_default(),
            container: main_container(pod),
        })
        .collect())
}

/// Follows every pod at once; lines are written as they come, whole.
async fn follow(
    target: &KubeTarget,
    namespace: &str,
    pods: &[LogTarget],
    args: &LogsArgs,
    out: &mut dyn Write,
    prefix: impl Fn(&str) -> String,
) -> anyhow::Result<()> {
    let api: Api<Pod> = Api::namespaced(target.client().await?, namespace);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let followers: Vec<_> = pods
        .iter()
        .map(|pod| {
            let api = api.clone();
            let tx = tx.clone();
            let prefix = prefix(&pod.pod);
            async move {
                follow_log(&api, pod, args.tail, |line| {
                    let _ = tx.send(format!("{prefix}{line}"));
                })
                .await
            }
        })
        .collect();
    drop(tx);
    let writer = async {
        while let Some(line) = rx.recv().await {
            writeln!(out, "{line}")?;
            out.flush()?;
        }
        anyhow::Ok(())
    };
    let (followed, written) = futures::join!(futures::future::join_all(followers), writer);
    written?;
    followed.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    Ok(())
}
