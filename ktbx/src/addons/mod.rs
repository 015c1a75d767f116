//! Cluster add-ons applied natively (server-side apply through kube, watch-based waits): CNIs
//! (Calico, Cilium), OLM, ArgoCD (through OLM), Argo Workflows; Falco and Prometheus through
//! `helm upgrade --install`. Every install can be re-run without changes. With `--dry-run` each
//! step is printed instead: [`Target::live`] is the one dry-run/client preamble of every step.

mod argo;
mod cni;
mod helm;
mod manifests;
mod olm;
mod remove;
mod wait;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use common::kube::{KubeArgs, KubeTarget};
use common::process::{Cmd, Runner};
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::discovery::ApiResource;

use crate::client_tools;
use crate::targets::{Cni, InstallTarget};

pub(crate) use cni::install_cni;
pub(crate) use remove::remove;
pub(crate) use wait::wait_nodes;

/// The cluster an add-on goes to, and how.
pub(crate) struct Target {
    kube: Option<KubeTarget>,
    /// Kube context passed to helm and cilium (None: the current context).
    pub(crate) context: Option<String>,
    /// Kubeconfig passed to helm and cilium.
    pub(crate) kubeconfig: Option<PathBuf>,
    /// Timeout of each wait.
    pub(crate) timeout: Duration,
    /// How client tools (cilium, argocd, argo) are installed.
    pub(crate) tools: client_tools::Settings,
}

impl Target {
    /// A target for `context` (None: current). In dry-run mode the kubeconfig is not read.
    pub(crate) fn new(
        kube_args: &KubeArgs,
        context: Option<String>,
        dry_run: bool,
        timeout: Duration,
        tools: client_tools::Settings,
    ) -> anyhow::Result<Self> {
        let kube = if dry_run {
            None
        } else {
            let args = KubeArgs {
                context: context.clone(),
                ..kube_args.clone()
            };
            Some(KubeTarget::load(&args)?)
        };
        Ok(Self {
            kube,
            context,
            kubeconfig: kube_args.kubeconfig.clone(),
            timeout,
            tools,
        })
    }

    /// The client, or None in dry-run mode.
    pub(crate) async fn client_opt(&self) -> anyhow::Result<Option<Client>> {
        match &self.kube {
            Some(kube) => Ok(Some(kube.client().await?)),
            None => Ok(None),
        }
    }

    fn context_args(&self, flag: &str) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(ctx) = &self.context {
            args.extend([flag.to_string(), ctx.clone()]);
        }
        if let Some(kc) = &self.kubeconfig {
            args.extend(["--kubeconfig".to_string(), kc.display().to_string()]);
        }
        args
    }

    /// The shared preamble of every step: in dry-run mode writes `lines` (what the step would do)
    /// and returns None; otherwise returns the client.
    async fn live(
        &self,
        out: &mut dyn Write,
        lines: impl IntoIterator<Item = String>,
    ) -> anyhow::Result<Option<Client>> {
        if self.kube.is_none() {
            for line in lines {
                writeln!(out, "{line}")?;
            }
        }
        self.client_opt().await
    }

    fn helm(&self) -> Cmd {
        Cmd::new("helm").hint("install it with `ktbx install helm`")
    }
}

/// The API of the custom resource `group/version` `kind` in `namespace`, found by discovery.
async fn discover(
    client: Client,
    api_version: &str,
    kind: &str,
    namespace: &str,
) -> anyhow::Result<(Api<DynamicObject>, ApiResource)> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = kube::core::GroupVersionKind::gvk(group, version, kind);
    let (ar, _) = kube::discovery::pinned_kind(&client, &gvk)
        .await
        .with_context(|| format!("discovering {kind}"))?;
    Ok((Api::namespaced_with(client, namespace, &ar), ar))
}

/// The table entries an install target uses (validated before anything runs).
pub(crate) fn pins(what: InstallTarget) -> &'static [&'static str] {
    match what {
        InstallTarget::Argocd => &["argocd", "argocd-operator"],
        InstallTarget::Argowf => &["argowf"],
        InstallTarget::Falco => &["falco"],
        InstallTarget::Helm => &["helm"],
        InstallTarget::Kind => &["kind"],
        InstallTarget::Kubectl => &["kubectl"],
        InstallTarget::Olm => &["olm"],
        InstallTarget::Prometheus => &["prometheus"],
        InstallTarget::Telepresence => &["telepresence"],
    }
}

/// The table entries a CNI uses.
pub(crate) fn cni_pins(cni: Cni) -> &'static [&'static str] {
    match cni {
        Cni::Calico => &["calico"],
        Cni::Cilium => &["cilium-cli", "cilium"],
    }
}

/// Installs one cluster add-on (or, for client tools, delegates to the client installer).
pub(crate) async fn install(
    what: InstallTarget,
    target: &Target,
    runner: &Runner,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match what {
        InstallTarget::Olm => {
            tracing::info!("Install OLM");
            olm::install_olm(target, out).await
        }
        InstallTarget::Argocd => {
            tracing::info!("Install ArgoCD");
            argo::install_argocd(target, runner, out).await
        }
        InstallTarget::Argowf => {
            tracing::info!("Install Argo-workflows");
            argo::install_argowf(target, runner, out).await
        }
        InstallTarget::Falco => {
            tracing::info!("Install Falco");
            let host = crate::doctor::Host::from_env();
            crate::doctor::fail_early(&crate::doctor::inotify(&host))?;
            for cmd in helm::helm_cmds(target, &helm::FALCO)? {
                runner.run_logged(&cmd)?;
            }
            wait::wait_pods(target, "falco", None, out).await
        }
        InstallTarget::Prometheus => {
            tracing::info!("Install Prometheus");
            for cmd in helm::helm_cmds(target, &helm::PROMETHEUS)? {
                runner.run_logged(&cmd)?;
            }
            Ok(())
        }
        InstallTarget::Helm
        | InstallTarget::Kind
        | InstallTarget::Kubectl
        | InstallTarget::Telepresence => {
            let name = client_tools::tool_name(what).context("not a client tool")?;
            client_tools::ensure(runner, name, &target.tools, out)
                .await
                .map(drop)
        }
    }
}
