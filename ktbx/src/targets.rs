//! What ktbx can install: the CNI plugins, the components of `create -i` and the targets of
//! `ktbx install`. Domain types: the CLI parses into them, the commands act on them.

use clap::ValueEnum;

/// The CNI plugins `create -c` knows.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Cni {
    /// Calico, through the tigera operator
    Calico,
    /// Cilium, through the cilium CLI
    Cilium,
}

/// The components `create -i` installs once the nodes are Ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub(crate) enum Component {
    /// Operator Lifecycle Manager
    Olm,
    /// ArgoCD (through OLM; OLM is installed first when asked for in the same call)
    Argocd,
    /// Argo Workflows
    Argowf,
    /// The helm client
    Helm,
}

/// Client tools and cluster add-ons `ktbx install` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum)]
pub(crate) enum InstallTarget {
    /// ArgoCD operator (through OLM), an ArgoCD instance and the argocd CLI
    Argocd,
    /// Argo Workflows and the argo CLI
    Argowf,
    /// Falco (helm chart; alias: fa)
    #[value(alias = "fa")]
    Falco,
    /// Helm on the client machine
    Helm,
    /// kind on the client machine
    Kind,
    /// kubectl on the client machine
    Kubectl,
    /// Operator Lifecycle Manager (OLM)
    Olm,
    /// kube-prometheus-stack (helm chart; alias: prom)
    #[value(alias = "prom")]
    Prometheus,
    /// telepresence on the client machine (client only)
    Telepresence,
}
