//! `ktbx exist TYPE [NAME]`: waits (watching, not polling) until an object of that type, or that
//! object, exists in the namespace, as the original's `wait_for_exist` intended.

use anyhow::{Context as _, bail};
use common::kube::{KubeArgs, KubeTarget};
use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::DynamicObject;
use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use std::io::Write;

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

async fn find_resource(
    client: &Client,
    wanted: &str,
) -> anyhow::Result<(ApiResource, ApiCapabilities)> {
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .context("discovering the cluster's resource types")?;
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            if names_resource(wanted, &ar) {
                return Ok((ar, caps));
            }
        }
    }
    bail!("the cluster has no resource type {wanted:?}")
}

/// Runs `ktbx exist`.
pub(crate) fn run(ctx: &Context, args: &ExistArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    ctx.block_on(execute(args, &ctx.kube, out))?
}

async fn execute(args: &ExistArgs, kube: &KubeArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let (resource, object) = args.target().map_err(anyhow::Error::msg)?;
    let target = KubeTarget::load(kube)?;
    let client = target.client().await?;
    let namespace = target.namespace().to_string();
    let what = match object {
        Some(name) => format!("{resource}/{name} in {namespace}"),
        None => format!("{resource} in {namespace}"),
    };
    let deadline = tokio::time::Instant::now() + args.timeout;
    let (ar, caps) = match find_resource(&client, resource).await {
        Ok(found) => found,
        Err(unknown) => {
            // The type may come with a CRD still being installed: discover again on each CRD change.
            let crds = Api::<CustomResourceDefinition>::all(client.clone());
            let rediscover = async {
                let stream = watcher::watcher(crds, watcher::Config::default()).default_backoff();
                let mut stream = std::pin::pin!(stream);
                while let Some(event) = stream.next().await {
                    if matches!(event, Ok(Event::Apply(_) | Event::InitDone))
                        && let Ok(found) = find_resource(&client, resource).await
                    {
                        return Some(found);
                    }
                }
                None
            };
            tokio::time::timeout_at(deadline, rediscover)
                .await
                .ok()
                .flatten()
                .ok_or(unknown)?
        }
    };
    let api: Api<DynamicObject> = match caps.scope {
        Scope::Namespaced => Api::namespaced_with(client, &namespace, &ar),
        Scope::Cluster => Api::all_with(client, &ar),
    };
    let mut cfg = watcher::Config::default();
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
                Ok(Event::Apply(_) | Event::InitApply(_)) => return true,
                Ok(_) => {}
                Err(e) => last_error = Some(e.to_string()),
            }
        }
        false
    };
    let found = tokio::time::timeout_at(deadline, watching)
        .await
        .unwrap_or(false);
    spinner.finish_and_clear();
    if !found {
        bail!(
            "waited for {what} to exist for {} without luck{}",
            common::duration::format_duration(args.timeout),
            last_error
                .map(|e| format!(" (last error: {e})"))
                .unwrap_or_default()
        );
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
