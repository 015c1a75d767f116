//! The CNI of a new cluster: Calico through the tigera operator, Cilium through its CLI.

use std::io::Write;

use anyhow::Context;
use common::process::{Cmd, Runner};
use k8s_openapi::api::apps::v1::DaemonSet;
use kube::Api;

use super::Target;
use super::manifests::apply_manifests;
use super::wait::{Workload, wait_rollout};
use crate::client_tools;
use crate::targets::Cni;

/// Installs a CNI into a new cluster.
pub(crate) async fn install_cni(
    cni: Cni,
    target: &Target,
    runner: &Runner,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match cni {
        Cni::Calico => {
            apply_manifests(target, "calico", "tigera-operator", out).await?;
            // The operator creates calico-system and its workloads later: wait for them to appear and roll out.
            wait_rollout(
                target,
                Workload::DaemonSet,
                "calico-system",
                "calico-node",
                out,
            )
            .await?;
            wait_rollout(
                target,
                Workload::Deployment,
                "calico-system",
                "calico-kube-controllers",
                out,
            )
            .await
        }
        Cni::Cilium => {
            let version = client_tools::version("cilium", &target.tools)?;
            let cilium = client_tools::ensure(runner, "cilium-cli", &target.tools, out).await?;
            // Install unless the agent already runs: the original skipped this when its CLI was present.
            let present = match target.live(out, []).await? {
                Some(client) => Api::<DaemonSet>::namespaced(client, "kube-system")
                    .get_opt("cilium")
                    .await?
                    .is_some(),
                None => false,
            };
            if !present {
                let cmd = Cmd::new(cilium)
                    .args(["install", "--version", &version])
                    .args(target.context_args("--context"));
                runner.run_logged(&cmd).context("cilium install failed")?;
            }
            wait_rollout(target, Workload::DaemonSet, "kube-system", "cilium", out).await
        }
    }
}
