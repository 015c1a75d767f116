//! Watch-based waits of the add-ons: rollouts, pods, nodes, phases.

use std::io::Write;

use anyhow::{Context, bail};
use common::kube::wait::{
    is_daemonset_rolled_out, is_deployment_rolled_out, is_node_ready, is_pod_ready,
    is_statefulset_rolled_out, wait_all_ready,
};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::DynamicObject;
use kube::runtime::watcher;
use kube::{Api, Client};

use super::{Target, discover};

/// Which workload a rollout wait is about.
#[derive(Debug, Clone, Copy)]
pub(super) enum Workload {
    Deployment,
    DaemonSet,
    StatefulSet,
}

/// Waits (with a spinner) until at least one object is selected and all are ready; prints the
/// wait in dry-run mode.
async fn wait_ready<K>(
    target: &Target,
    out: &mut dyn Write,
    what: &str,
    api: impl FnOnce(Client) -> Api<K>,
    cfg: watcher::Config,
    ready: impl Fn(&K) -> bool,
) -> anyhow::Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    K::DynamicType: Default,
{
    let Some(client) = target.live(out, [format!("wait for {what}")]).await? else {
        return Ok(());
    };
    let api = api(client);
    let spinner = common::progress::spinner(&format!("waiting for {what}"));
    let result = wait_all_ready(api, cfg, ready, target.timeout, what).await;
    spinner.finish_and_clear();
    result?;
    Ok(())
}

pub(super) async fn wait_rollout(
    target: &Target,
    kind: Workload,
    namespace: &str,
    name: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    match kind {
        Workload::Deployment => {
            let what = format!("deployment/{name} in {namespace} to roll out");
            let api = |c| Api::<Deployment>::namespaced(c, namespace);
            wait_ready(target, out, &what, api, cfg, is_deployment_rolled_out).await
        }
        Workload::DaemonSet => {
            let what = format!("daemonset/{name} in {namespace} to roll out");
            let api = |c| Api::<DaemonSet>::namespaced(c, namespace);
            wait_ready(target, out, &what, api, cfg, is_daemonset_rolled_out).await
        }
        Workload::StatefulSet => {
            let what = format!("statefulset/{name} in {namespace} to roll out");
            let api = |c| Api::<StatefulSet>::namespaced(c, namespace);
            wait_ready(target, out, &what, api, cfg, is_statefulset_rolled_out).await
        }
    }
}

pub(super) async fn wait_pods(
    target: &Target,
    namespace: &str,
    selector: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut cfg = watcher::Config::default();
    let what = match selector {
        Some(s) => {
            cfg = cfg.labels(s);
            format!("pods -l {s} in {namespace} to be Ready")
        }
        None => format!("pods in {namespace} to be Ready"),
    };
    // Completed pods (jobs) count as done.
    let ready = |p: &Pod| {
        is_pod_ready(p) || p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded")
    };
    wait_ready(
        target,
        out,
        &what,
        |c| Api::<Pod>::namespaced(c, namespace),
        cfg,
        ready,
    )
    .await
}

/// Waits until every node is Ready.
pub(crate) async fn wait_nodes(target: &Target, out: &mut dyn Write) -> anyhow::Result<()> {
    let cfg = watcher::Config::default();
    wait_ready(
        target,
        out,
        "nodes to be Ready",
        Api::<Node>::all,
        cfg,
        is_node_ready,
    )
    .await
}

/// Waits until a named object's `status.phase` is `phase`.
pub(super) async fn wait_phase(
    target: &Target,
    api_version: &str,
    kind: &str,
    namespace: &str,
    name: &str,
    phase: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let what = format!("{kind}/{name} in {namespace} to reach phase {phase}");
    let Some(client) = target.live(out, [format!("wait for {what}")]).await? else {
        return Ok(());
    };
    let (api, _) = discover(client, api_version, kind, namespace).await?;
    // What the watch saw last, for the timeout message.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    let last = seen.clone();
    let cond = move |obj: Option<&DynamicObject>| {
        let current = match obj {
            None => "not found".to_string(),
            Some(o) => o
                .data
                .get("status")
                .and_then(|s| s.get("phase"))
                .and_then(|p| p.as_str())
                .map_or_else(|| "no phase yet".to_string(), |p| format!("phase {p}")),
        };
        let done = current == format!("phase {phase}");
        *last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(current);
        done
    };
    let spinner = common::progress::spinner(&format!("waiting for {what}"));
    let result = tokio::time::timeout(
        target.timeout,
        kube::runtime::wait::await_condition(api, name, cond),
    )
    .await;
    spinner.finish_and_clear();
    match result {
        Err(_) => {
            let seen = seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
                .unwrap_or_else(|| "nothing".to_string());
            bail!(
                "timed out after {} waiting for {what}: last seen {seen}",
                common::duration::format_duration(target.timeout)
            )
        }
        Ok(r) => {
            r.with_context(|| format!("waiting for {what}"))?;
            Ok(())
        }
    }
}
