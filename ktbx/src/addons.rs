//! Cluster add-ons applied natively (server-side apply through kube, watch-based waits): CNIs
//! (Calico, Cilium), OLM, ArgoCD (through OLM), Argo Workflows; Falco and Prometheus through
//! `helm upgrade --install`. Every install can be re-run without changes. With `--dry-run` each
//! step is printed instead.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use common::kube::wait::{
    Check, is_daemonset_rolled_out, is_deployment_rolled_out, is_node_ready, is_pod_ready,
    is_statefulset_rolled_out, wait_all_ready, watch_until,
};
use common::kube::{KubeArgs, KubeTarget};
use common::process::{Cmd, Runner};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::ResourceExt;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::runtime::watcher;
use kube::{Api, Client};

use crate::apply::{Applier, parse_manifests};
use crate::client_tools;
use crate::targets::{Cni, InstallTarget};

const PROMETHEUS_VALUES: &str = "prometheus:
  prometheusSpec:
    serviceMonitorSelectorNilUsesHelmValues: false
    podMonitorSelectorNilUsesHelmValues: false
    storageSpec:
      volumeClaimTemplate:
        spec:
          accessModes: [\"ReadWriteOnce\"]
          resources:
            requests:
              storage: 50Gi
";

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

    fn dry(&self) -> bool {
        self.kube.is_none()
    }

    /// The client, or None in dry-run mode.
    pub(crate) async fn client_opt(&self) -> anyhow::Result<Option<Client>> {
        match &self.kube {
            Some(kube) => Ok(Some(kube.client().await?)),
            None => Ok(None),
        }
    }

    async fn client(&self) -> anyhow::Result<Client> {
        let kube = self.kube.as_ref().context("no cluster in dry-run mode")?;
        Ok(kube.client().await?)
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

    fn helm(&self) -> Cmd {
        Cmd::new("helm").hint("install it with `ktbx install helm`")
    }
}

/// Downloads and server-side applies the manifests of a table entry, in order.
async fn apply_manifests(
    target: &Target,
    name: &str,
    default_ns: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    for url in client_tools::manifest_urls(name, &target.tools)? {
        apply_url(target, &url, default_ns, out).await?;
    }
    Ok(())
}

/// Downloads and server-side applies a manifest URL.
async fn apply_url(
    target: &Target,
    url: &str,
    default_ns: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if target.dry() {
        writeln!(out, "apply --server-side {url}")?;
        return Ok(());
    }
    let text = client_tools::fetch_text(url).await?;
    let objects = parse_manifests(&text, url)?;
    Applier::new(target.client().await?)
        .apply_all(objects, default_ns, target.timeout)
        .await
}

/// Server-side applies objects given inline.
async fn apply_objects(target: &Target, yaml: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    let objects = parse_manifests(yaml, "ktbx")?;
    if target.dry() {
        for obj in &objects {
            writeln!(out, "apply --server-side {}", crate::apply::describe(obj))?;
        }
        return Ok(());
    }
    Applier::new(target.client().await?)
        .apply_all(objects, "default", target.timeout)
        .await
}

/// Which workload a rollout wait is about.
#[derive(Debug, Clone, Copy)]
enum Workload {
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
    if target.dry() {
        writeln!(out, "wait for {what}")?;
        return Ok(());
    }
    let api = api(target.client().await?);
    let spinner = common::progress::spinner(&format!("waiting for {what}"));
    let result = wait_all_ready(api, cfg, ready, target.timeout, what).await;
    spinner.finish_and_clear();
    result?;
    Ok(())
}

async fn wait_rollout(
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

async fn wait_pods(
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
async fn wait_phase(
    target: &Target,
    api_version: &str,
    kind: &str,
    namespace: &str,
    name: &str,
    phase: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let what = format!("{kind}/{name} in {namespace} to reach phase {phase}");
    if target.dry() {
        writeln!(out, "wait for {what}")?;
        return Ok(());
    }
    let client = target.client().await?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = kube::core::GroupVersionKind::gvk(group, version, kind);
    let (ar, _) = kube::discovery::pinned_kind(&client, &gvk)
        .await
        .with_context(|| format!("discovering {kind}"))?;
    let api: Api<DynamicObject> = Api::namespaced_with(client, namespace, &ar);
    let cond = |obj: Option<&DynamicObject>| {
        obj.and_then(|o| {
            o.data
                .get("status")?
                .get("phase")?
                .as_str()
                .map(str::to_string)
        })
        .as_deref()
            == Some(phase)
    };
    let spinner = common::progress::spinner(&format!("waiting for {what}"));
    let result = tokio::time::timeout(
        target.timeout,
        kube::runtime::wait::await_condition(api, name, cond),
    )
    .await;
    spinner.finish_and_clear();
    match result {
        Err(_) => bail!(
            "timed out after {} waiting for {what}",
            common::duration::format_duration(target.timeout)
        ),
        Ok(r) => {
            r.with_context(|| format!("waiting for {what}"))?;
            Ok(())
        }
    }
}

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
            let present = match &target.kube {
                Some(_) => Api::<DaemonSet>::namespaced(target.client().await?, "kube-system")
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

async fn install_olm(target: &Target, out: &mut dyn Write) -> anyhow::Result<()> {
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

async fn require_olm(target: &Target) -> anyhow::Result<()> {
    if target.dry() {
        return Ok(());
    }
    let client = target.client().await?;
    let gvk = kube::core::GroupVersionKind::gvk("operators.coreos.com", "v1alpha1", "Subscription");
    if kube::discovery::pinned_kind(&client, &gvk).await.is_err() {
        bail!(
            "ArgoCD is installed through OLM, which is not in this cluster: run `ktbx install olm` first"
        );
    }
    Ok(())
}

/// Waits for the InstallPlan that installs `csv` and approves it.
async fn approve_install_plan(
    target: &Target,
    namespace: &str,
    csv: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let what = format!("the InstallPlan of {csv} in {namespace}");
    if target.dry() {
        writeln!(out, "approve {what}")?;
        return Ok(());
    }
    let client = target.client().await?;
    let gvk = kube::core::GroupVersionKind::gvk("operators.coreos.com", "v1alpha1", "InstallPlan");
    let (ar, _) = kube::discovery::pinned_kind(&client, &gvk)
        .await
        .context("discovering InstallPlan")?;
    let api: Api<DynamicObject> = Api::namespaced_with(client, namespace, &ar);
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

async fn install_argocd(
    target: &Target,
    runner: &Runner,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    require_olm(target).await?;
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
    if !target.dry() {
        Applier::new(target.client().await?)
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

async fn install_argowf(
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

/// A helm release of a chart from the table.
pub(crate) struct Release {
    /// Table entry holding the chart and its version.
    pub(crate) tool: &'static str,
    /// Release name.
    pub(crate) name: &'static str,
    /// Namespace (created when missing).
    pub(crate) namespace: &'static str,
    /// `--set` values.
    pub(crate) set: &'static [&'static str],
    /// Values file given on stdin.
    pub(crate) values: Option<&'static str>,
}

/// Falco with falcosidekick and its web UI, as the original.
pub(crate) const FALCO: Release = Release {
    tool: "falco",
    name: "falco",
    namespace: "falco",
    set: &[
        "tty=true",
        "falcosidekick.enabled=true",
        "falcosidekick.webui.enabled=true",
    ],
    values: None,
};

/// kube-prometheus-stack scraping every ServiceMonitor/PodMonitor, with a 50Gi volume.
pub(crate) const PROMETHEUS: Release = Release {
    tool: "prometheus",
    name: "prometheus-stack",
    namespace: "monitoring",
    set: &[],
    values: Some(PROMETHEUS_VALUES),
};

/// `helm repo add --force-update` and `helm upgrade --install` of a release (idempotent).
pub(crate) fn helm_cmds(target: &Target, release: &Release) -> anyhow::Result<[Cmd; 2]> {
    let chart = crate::tools::lookup(release.tool)?
        .chart
        .with_context(|| format!("{} has no helm chart", release.tool))?;
    let version = client_tools::version(release.tool, &target.tools)?;
    let repo = target
        .helm()
        .args(["repo", "add", chart.repo, chart.repo_url, "--force-update"]);
    let mut upgrade = target
        .helm()
        .args(["upgrade", "--install", release.name, chart.chart]);
    if !version.is_empty() {
        upgrade = upgrade.args(["--version", &version]);
    }
    upgrade = upgrade.args(["--namespace", release.namespace, "--create-namespace"]);
    for value in release.set {
        upgrade = upgrade.args(["--set", value]);
    }
    if let Some(values) = release.values {
        upgrade = upgrade.args(["-f", "-"]).stdin_bytes(values);
    }
    Ok([repo, upgrade.args(target.context_args("--kube-context"))])
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
            install_olm(target, out).await
        }
        InstallTarget::Argocd => {
            tracing::info!("Install ArgoCD");
            install_argocd(target, runner, out).await
        }
        InstallTarget::Argowf => {
            tracing::info!("Install Argo-workflows");
            install_argowf(target, runner, out).await
        }
        InstallTarget::Falco => {
            tracing::info!("Install Falco");
            for warning in crate::cluster::inotify_warnings(|p| std::fs::read_to_string(p).ok()) {
                tracing::warn!("{warning}");
            }
            for cmd in helm_cmds(target, &FALCO)? {
                runner.run_logged(&cmd)?;
            }
            wait_pods(target, "falco", None, out).await
        }
        InstallTarget::Prometheus => {
            tracing::info!("Install Prometheus");
            for cmd in helm_cmds(target, &PROMETHEUS)? {
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
