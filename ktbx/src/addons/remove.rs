//! Removing an add-on before its cluster is deleted (`ktbx delete -f`): its custom resources
//! first, while the controllers that release their finalizers still run; then its helm release;
//! then its namespaces. Every wait shares one deadline, and a timeout names what is left and the
//! finalizers holding it.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use kube::discovery::ApiResource;
use kube::{Client, ResourceExt};
use tokio::time::Instant;

use super::Target;
use crate::targets::InstallTarget;

/// How often the waits look again.
const POLL: Duration = Duration::from_millis(200);

/// What removing one add-on deletes.
struct Removal {
    /// Custom resource kinds (`apiVersion`, `kind`) deleted in every namespace, in this order.
    custom: &'static [(&'static str, &'static str)],
    /// Helm release and its namespace.
    helm: Option<(&'static str, &'static str)>,
    /// Namespaces deleted last.
    namespaces: &'static [&'static str],
}

fn removal(what: InstallTarget) -> Removal {
    match what {
        InstallTarget::Olm => Removal {
            custom: &[
                ("operators.coreos.com/v1alpha1", "Subscription"),
                ("operators.coreos.com/v1alpha1", "ClusterServiceVersion"),
            ],
            helm: None,
            namespaces: &["operators", "olm"],
        },
        InstallTarget::Argocd => Removal {
            custom: &[
                ("argoproj.io/v1alpha1", "Application"),
                ("argoproj.io/v1beta1", "ArgoCD"),
            ],
            helm: None,
            namespaces: &["argocd"],
        },
        InstallTarget::Argowf => Removal {
            custom: &[("argoproj.io/v1alpha1", "Workflow")],
            helm: None,
            namespaces: &["argo"],
        },
        InstallTarget::Falco => Removal {
            custom: &[],
            helm: Some(("falco", "falco")),
            namespaces: &["falco"],
        },
        InstallTarget::Prometheus => Removal {
            custom: &[
                ("monitoring.coreos.com/v1", "Prometheus"),
                ("monitoring.coreos.com/v1", "Alertmanager"),
            ],
            helm: Some(("prometheus-stack", "monitoring")),
            namespaces: &["monitoring"],
        },
        InstallTarget::Helm
        | InstallTarget::Kind
        | InstallTarget::Kubectl
        | InstallTarget::Telepresence => Removal {
            custom: &[],
            helm: None,
            namespaces: &[],
        },
    }
}

/// `Kind/name -n ns (finalizers: …)` of an object being waited for.
fn leftover(kind: &str, obj: &DynamicObject) -> String {
    let mut line = match obj.namespace() {
        Some(ns) => format!("{kind}/{} -n {ns}", obj.name_any()),
        None => format!("{kind}/{}", obj.name_any()),
    };
    if !obj.finalizers().is_empty() {
        line.push_str(&format!(" (finalizers: {})", obj.finalizers().join(", ")));
    }
    line
}

/// The API of a custom resource kind in all namespaces; None when the cluster does not serve it.
async fn all_of(
    client: &Client,
    api_version: &str,
    kind: &str,
) -> Option<(Api<DynamicObject>, ApiResource)> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = kube::core::GroupVersionKind::gvk(group, version, kind);
    let (ar, _) = kube::discovery::pinned_kind(client, &gvk).await.ok()?;
    Some((Api::all_with(client.clone(), &ar), ar))
}

/// Deletes `obj` through `api`; already gone is fine.
async fn delete_ignoring_absent<K>(api: &Api<K>, name: &str) -> anyhow::Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(e).with_context(|| format!("deleting {name}")),
    }
}

/// Polls `left` until it returns nothing, or fails at `deadline` naming what is left.
async fn wait_gone<F, Fut>(
    what: &str,
    deadline: Instant,
    total: Duration,
    left: F,
) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Vec<String>>>,
{
    loop {
        let remaining = left().await?;
        if remaining.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "timed out after {} waiting for {what} to be deleted; still there: {}",
                common::duration::format_duration(total),
                remaining.join(", ")
            );
        }
        tokio::time::sleep(POLL.min(deadline - Instant::now())).await;
    }
}

/// Removes one add-on from the cluster of `target` within `deadline` (`total` names it in errors).
pub(crate) async fn remove(
    what: InstallTarget,
    name: &str,
    target: &Target,
    runner: &common::process::Runner,
    deadline: Instant,
    total: Duration,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let plan = removal(what);
    let mut lines = Vec::new();
    for (api_version, kind) in plan.custom {
        lines.push(format!(
            "delete every {kind} ({api_version}) and wait for its finalizers"
        ));
    }
    let client = target.live(out, lines).await?;
    if let Some(client) = &client {
        for (api_version, kind) in plan.custom {
            let Some((api, ar)) = all_of(client, api_version, kind).await else {
                continue;
            };
            for obj in api.list(&ListParams::default()).await?.items {
                let scoped: Api<DynamicObject> = match obj.namespace() {
                    Some(ns) => Api::namespaced_with(client.clone(), &ns, &ar),
                    None => api.clone(),
                };
                tracing::info!(object = %leftover(kind, &obj), "deleting");
                delete_ignoring_absent(&scoped, &obj.name_any()).await?;
            }
            let what = format!("the {kind} objects of {name}");
            wait_gone(&what, deadline, total, || async {
                Ok(api
                    .list(&ListParams::default())
                    .await?
                    .items
                    .iter()
                    .map(|o| leftover(kind, o))
                    .collect())
            })
            .await?;
        }
    }
    if let Some((release, namespace)) = plan.helm {
        let cmd = target
            .helm()
            .args([
                "uninstall",
                release,
                "--namespace",
                namespace,
                "--ignore-not-found",
            ])
            .args(target.context_args("--kube-context"));
        runner
            .run_logged(&cmd)
            .with_context(|| format!("uninstalling the helm release {release} of {name}"))?;
    }
    let lines = plan
        .namespaces
        .iter()
        .map(|ns| format!("delete namespace {ns} and wait until it is gone"));
    let Some(client) = target.live(out, lines).await? else {
        return Ok(());
    };
    let namespaces: Api<Namespace> = Api::all(client);
    for ns in plan.namespaces {
        delete_ignoring_absent(&namespaces, ns).await?;
    }
    let what = format!("the namespaces of {name}");
    wait_gone(&what, deadline, total, || async {
        let mut left = Vec::new();
        for ns in plan.namespaces {
            if let Some(n) = namespaces.get_opt(ns).await? {
                let phase = n.status.and_then(|s| s.phase).unwrap_or_default();
                left.push(format!("namespace {ns} ({phase})"));
            }
        }
        Ok(left)
    })
    .await
}
