//! The Operator Lifecycle Manager, and the InstallPlan approval of operators installed through it.

use std::io::Write;

use anyhow::{Context, bail};
use common::kube::wait::{Check, watch_until};
use kube::ResourceExt;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::runtime::watcher;

use super::manifests::apply_manifests;
use super::wait::{Workload, wait_phase, wait_pods, wait_rollout};
use super::{Target, discover};

pub(super) async fn install_olm(target: &Target, out: &mut dyn Write) -> anyhow::Result<()> {
    apply_manifests(target, "olm", "olm", out).await?;
    wait_rollout(target, Workload::Deployment, "olm", "olm-operator", out).await?;
    wait_rollout(target, Workload::Deployment, "olm", "catalog-operator", out).await?;
    wait_phase(
        target,
        "operators.coreos.com/v1alpha1",
        "ClusterServiceVersion",
        "olm",
        "packageserver",
        "Succeeded",
        out,
    )
    .await?;
    wait_rollout(target, Workload::Deployment, "olm", "packageserver", out).await?;
    wait_pods(
        target,
        "olm",
        Some("olm.catalogSource=operatorhubio-catalog"),
        out,
    )
    .await
}

pub(super) async fn require_olm(target: &Target, out: &mut dyn Write) -> anyhow::Result<()> {
    let Some(client) = target.live(out, []).await? else {
        return Ok(());
    };
    if discover(
        client,
        "operators.coreos.com/v1alpha1",
        "Subscription",
        "operators",
    )
    .await
    .is_err()
    {
        bail!(
            "ArgoCD is installed through OLM, which is not in this cluster: run `ktbx install olm` first"
        );
    }
    Ok(())
}

/// Waits for the InstallPlan that installs `csv` and approves it.
pub(super) async fn approve_install_plan(
    target: &Target,
    namespace: &str,
    csv: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let what = format!("the InstallPlan of {csv} in {namespace}");
    let Some(client) = target.live(out, [format!("approve {what}")]).await? else {
        return Ok(());
    };
    let (api, ar) = discover(
        client,
        "operators.coreos.com/v1alpha1",
        "InstallPlan",
        namespace,
    )
    .await?;
    let installs = |plan: &DynamicObject| {
        plan.data["spec"]["clusterServiceVersionNames"]
            .as_array()
            .is_some_and(|names| names.iter().any(|n| n == csv))
    };
    let spinner = common::progress::spinner(&format!("waiting for {what}"));
    let plans = watch_until(
        api.clone(),
        ar,
        watcher::Config::default(),
        target.timeout,
        &what,
        |plans| {
            if plans.iter().any(installs) {
                Check::Done
            } else {
                Check::Pending
            }
        },
    )
    .await;
    spinner.finish_and_clear();
    for plan in plans?.iter().filter(|p| installs(p)) {
        if plan.data["spec"]["approved"] != serde_json::Value::Bool(true) {
            api.patch(
                &plan.name_any(),
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"spec": {"approved": true}})),
            )
            .await
            .with_context(|| format!("approving InstallPlan {}", plan.name_any()))?;
        }
    }
    Ok(())
}
