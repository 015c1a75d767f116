//! `ktbx exist TYPE [NAME]`: waits (watching, not polling) until an object of that type, or that
//! object, exists in the namespace (anywhere, for cluster-scoped types), as the original's
//! `wait_for_exist` intended.

use anyhow::bail;
use common::kube::retry;
use common::kube::wait::is_permanent;
use common::kube::{Deadline, KubeArgs, KubeTarget, WATCH_TIMEOUT_SECONDS};
use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::DynamicObject;
use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cli::ExistArgs;
use crate::context::Context;

/// Whether `ar` is what the user calls `wanted` (`pods`, `pod`, `Pod`, `statefulset.apps`).
pub(crate) fn names_resource(wanted: &str, ar: &ApiResource) -> bool {
    let wanted = wanted.to_ascii_lowercase();
    let (name, group) = match wanted.split_once('.') {
        Some((n, g)) => (n.to_string(), Some(g.to_string())),
        None => (wanted.clone(), None),
    };
    if group
        .as_deref()
        .is_some_and(|g| g != ar.group && !ar.group.starts_with(&format!("{g}.")))
    {
        return false;
    }
    name == ar.plural || name == ar.kind.to_ascii_lowercase()
}

/// The resource type the user calls `wanted`, if the cluster serves it. Discovery failures that
/// retrying cannot fix (TLS, refused connection, 401/403) are errors; others count as "not yet".
async fn find_resource(
    client: &Client,
    wanted: &str,
    answered: &AtomicBool,
) -> anyhow::Result<Option<(ApiResource, ApiCapabilities)>> {
    let discovery = match Discovery::new(client.clone()).run().await {
        Ok(discovery) => {
            answered.store(true, Ordering::SeqCst);
            discovery
        }
        Err(err) if !retry::is_transient(&err) => {
            return Err(anyhow::anyhow!(
                "discovering the cluster's resource types: {}",
                retry::describe(&err)
            ));
        }
        Err(err) => {
            tracing::debug!(
                "discovering the cluster's resource types failed: {}",
                retry::describe(&err)
            );
            return Ok(None);
        }
    };
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            if names_resource(wanted, &ar) {
                return Ok(Some((ar, caps)));
            }
        }
    }
    Ok(None)
}

/// Finds the resource type, discovering again on each CRD change (the type may come with a CRD
/// still being installed).
async fn wait_for_resource(
    client: &Client,
    wanted: &str,
    answered: &AtomicBool,
) -> anyhow::Result<(ApiResource, ApiCapabilities)> {
    if let Some(found) = find_resource(client, wanted, answered).await? {
        return Ok(found);
    }
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    let stream = watcher::watcher(
        crds,
        watcher::Config::default().timeout(WATCH_TIMEOUT_SECONDS),
    )
    .default_backoff();
    let mut stream = std::pin::pin!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Apply(_) | Event::InitDone) => {
                if let Some(found) = find_resource(client, wanted, answered).await? {
                    return Ok(found);
                }
            }
            Ok(_) => {}
            Err(err) if is_permanent(&err) => {
                return Err(anyhow::anyhow!(
                    "watching CustomResourceDefinitions: {}",
                    retry::describe_chain(&err)
                ));
            }
            Err(_) => {}
        }
    }
    bail!("the CustomResourceDefinition watch ended")
}

/// Runs `ktbx exist`. Its `--timeout` bounds everything, discovery and retries included;
/// unreachable servers (TLS failure, refused connection) and refusals (401/403) fail at once.
pub(crate) fn run(ctx: &Context, args: &ExistArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    ctx.block_on(execute(args, &ctx.kube, out))?
}

async fn execute(args: &ExistArgs, kube: &KubeArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let (resource, object) = args.target().map_err(anyhow::Error::msg)?;
    let target = KubeTarget::load(kube)?;
    let client = target.client().await?;
    let namespace = target.namespace().to_string();
    let deadline = Deadline::after(args.timeout);
    let answered = AtomicBool::new(false);
    let (ar, caps) = match target
        .within(
            deadline,
            &format!("looking for resource type {resource:?}"),
            wait_for_resource(&client, resource, &answered),
        )
        .await
    {
        Ok(found) => found?,
        // The server answered, without that type.
        Err(_) if answered.load(Ordering::SeqCst) => {
            bail!("the cluster has no resource type {resource:?}")
        }
        Err(timed_out) => return Err(timed_out.into()),
    };
    let (api, what): (Api<DynamicObject>, String) = match caps.scope {
        Scope::Namespaced => (
            Api::namespaced_with(client, &namespace, &ar),
            match object {
                Some(name) => format!("{resource}/{name} in {namespace}"),
                None => format!("{resource} in {namespace}"),
            },
        ),
        // Cluster-scoped objects live in no namespace.
        Scope::Cluster => (
            Api::all_with(client, &ar),
            match object {
                Some(name) => format!("{resource}/{name}"),
                None => resource.to_string(),
            },
        ),
    };
    let mut cfg = watcher::Config::default().timeout(WATCH_TIMEOUT_SECONDS);
    if let Some(name) = object {
        cfg = cfg.fields(&format!("metadata.name={name}"));
    }
    let spinner = common::progress::spinner(&format!("waiting for {what} to exist"));
    let mut last_error = None;
    let watching = async {
        let stream = watcher::watcher(api, cfg).default_backoff();
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            match item {
                Ok(Event::Apply(_) | Event::InitApply(_)) => return Ok(true),
                Ok(_) => {}
                Err(e) if is_permanent(&e) => return Err(e),
                Err(e) => last_error = Some(retry::describe_chain(&e)),
            }
        }
        Ok(false)
    };
    let found = tokio::time::timeout_at(deadline.at, watching).await;
    spinner.finish_and_clear();
    match found {
        Ok(Ok(true)) => {}
        Ok(Err(err)) => bail!("cannot watch {what}: {}", retry::describe_chain(&err)),
        Ok(Ok(false)) | Err(_) => bail!(
            "waited for {what} to exist for {} without luck{}",
            common::duration::format_duration(args.timeout),
            last_error
                .map(|e| format!(" (last error: {e})"))
                .unwrap_or_default()
        ),
    }
    writeln!(out, "{what} exists")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ar(group: &str, kind: &str, plural: &str) -> ApiResource {
        ApiResource {
            group: group.into(),
            version: "v1".into(),
            api_version: if group.is_empty() {
                "v1".into()
            } else {
                format!("{group}/v1")
            },
            kind: kind.into(),
            plural: plural.into(),
        }
    }

    #[test]
    fn resource_names_like_kubectl() {
        let sts = ar("apps", "StatefulSet", "statefulsets");
        assert!(names_resource("statefulset.apps", &sts));
        assert!(names_resource("statefulsets", &sts));
        assert!(names_resource("StatefulSet", &sts));
        assert!(!names_resource("statefulset.batch", &sts));
        let ip = ar("operators.coreos.com", "InstallPlan", "installplans");
        assert!(names_resource("installplans", &ip));
        assert!(names_resource("installplans.operators", &ip));
        assert!(names_resource("pods", &ar("", "Pod", "pods")));
    }
}
