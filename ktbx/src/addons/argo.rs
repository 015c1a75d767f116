//! ArgoCD (its operator through OLM, then an instance) and Argo Workflows, with their CLIs.

use std::io::Write;

use common::process::Runner;

use super::Target;
use super::manifests::{apply_manifests, apply_objects};
use super::olm::{approve_install_plan, require_olm};
use super::wait::{Workload, wait_rollout};
use crate::apply::Applier;
use crate::client_tools;

pub(super) async fn install_argocd(
    target: &Target,
    runner: &Runner,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    require_olm(target, out).await?;
    // Manual approval of the pinned CSV: OLM installs exactly that version and never upgrades on its own.
    let csv = format!(
        "argocd-operator.{}",
        client_tools::version("argocd-operator", &target.tools)?
    );
    let subscription = format!(
        "apiVersion: operators.coreos.com/v1alpha1
kind: Subscription
metadata:
  name: argocd-operator
  namespace: operators
spec:
  channel: alpha
  name: argocd-operator
  source: operatorhubio-catalog
  sourceNamespace: olm
  startingCSV: {csv}
  installPlanApproval: Manual
  config:
    env:
    - name: ARGOCD_CLUSTER_CONFIG_NAMESPACES
      value: argocd
"
    );
    apply_objects(target, &subscription, out).await?;
    approve_install_plan(target, "operators", &csv, out).await?;
    wait_rollout(
        target,
        Workload::Deployment,
        "operators",
        "argocd-operator-controller-manager",
        out,
    )
    .await?;
    if let Some(client) = target.live(out, []).await? {
        Applier::new(client)
            .wait_established(vec!["argocds.argoproj.io".into()], target.timeout)
            .await?;
    }
    let version = client_tools::version("argocd", &target.tools)?;
    let instance = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: argocd\n---\napiVersion: argoproj.io/v1beta1\nkind: ArgoCD\nmetadata:\n  name: argocd\n  namespace: argocd\nspec:\n  version: {version}\n"
    );
    apply_objects(target, &instance, out).await?;
    client_tools::ensure(runner, "argocd", &target.tools, out).await?;
    wait_rollout(
        target,
        Workload::StatefulSet,
        "argocd",
        "argocd-application-controller",
        out,
    )
    .await?;
    for deployment in ["argocd-redis", "argocd-repo-server", "argocd-server"] {
        wait_rollout(target, Workload::Deployment, "argocd", deployment, out).await?;
    }
    Ok(())
}

pub(super) async fn install_argowf(
    target: &Target,
    runner: &Runner,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    apply_objects(
        target,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: argo\n",
        out,
    )
    .await?;
    apply_manifests(target, "argowf", "argo", out).await?;
    client_tools::ensure(runner, "argowf", &target.tools, out).await?;
    for deployment in ["workflow-controller", "argo-server"] {
        wait_rollout(target, Workload::Deployment, "argo", deployment, out).await?;
    }
    Ok(())
}
