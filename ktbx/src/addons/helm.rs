//! Add-ons installed with `helm upgrade --install`: Falco and kube-prometheus-stack.

use anyhow::Context;
use common::process::Cmd;

use super::Target;
use crate::client_tools;

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
