//! Kubernetes access for finkctl: the `--kubeconfig/--context/--namespace` flags and the target
//! they select (raw `server:` string, namespace, client built once).
//!
//! INTERIM: a minimal stand-in with the shape of `common::kube` (CONTRACTS.md) until that module
//! lands in main; it is then replaced by `pub use common::kube::{KubeArgs, KubeTarget};`.

use std::path::PathBuf;

use clap::Args;
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::sync::OnceCell;

/// Kubernetes connection flags (long flags only, global).
#[derive(Debug, Clone, Default, Args)]
pub struct KubeArgs {
    /// Kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else in-cluster)
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use (default: the current context)
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Namespace (default: the context's namespace, else "default")
    #[arg(long, global = true)]
    pub namespace: Option<String>,
}

/// A problem with the Kubernetes configuration.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// No kubeconfig and not in a cluster.
    #[error(
        "no kubeconfig found (looked at {0}) and not running in a cluster: set KUBECONFIG or pass --kubeconfig"
    )]
    NoConfig(String),
    /// The kubeconfig cannot be read.
    #[error("cannot read kubeconfig {path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The selected context does not exist.
    #[error("kubeconfig {path}: context {context:?} not found")]
    Context {
        /// The file.
        path: PathBuf,
        /// The context.
        context: String,
    },
    /// The client cannot be built.
    #[error("cannot build the Kubernetes client: {0}")]
    Client(String),
}

/// The cluster and namespace selected by the flags and the environment.
pub struct KubeTarget {
    kubeconfig: Option<(PathBuf, Kubeconfig)>,
    context: Option<String>,
    server: String,
    namespace: String,
    client: OnceCell<kube::Client>,
}

impl KubeTarget {
    /// Reads the kubeconfig (`--kubeconfig`, else `$KUBECONFIG`, else `~/.kube/config`), or
    /// falls back to the in-cluster service account.
    pub fn load(args: &KubeArgs) -> Result<Self, KubeError> {
        let path = args
            .kubeconfig
            .clone()
            .or_else(|| {
                std::env::var_os("KUBECONFIG")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube/config")));
        let path = match path {
            Some(path) if path.exists() => path,
            other => {
                let looked = other
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "~/.kube/config".into());
                return Self::in_cluster(args).ok_or(KubeError::NoConfig(looked));
            }
        };
        let config = Kubeconfig::read_from(&path).map_err(|e| KubeError::Read {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let context_name = args
            .context
            .clone()
            .or_else(|| config.current_context.clone())
            .unwrap_or_default();
        let context = config
            .contexts
            .iter()
            .find(|c| c.name == context_name)
            .and_then(|c| c.context.clone())
            .ok_or_else(|| KubeError::Context {
                path: path.clone(),
                context: context_name.clone(),
            })?;
        let server = config
            .clusters
            .iter()
            .find(|c| c.name == context.cluster)
            .and_then(|c| c.cluster.as_ref())
            .and_then(|c| c.server.clone())
            .unwrap_or_default();
        let namespace = args
            .namespace
            .clone()
            .or(context.namespace.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".into());
        Ok(Self {
            kubeconfig: Some((path, config)),
            context: Some(context_name),
            server,
            namespace,
            client: OnceCell::new(),
        })
    }

    fn in_cluster(args: &KubeArgs) -> Option<Self> {
        let host = std::env::var("KUBERNETES_SERVICE_HOST").ok()?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").ok()?;
        let namespace = args.namespace.clone().or_else(|| {
            std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
                .ok()
                .map(|s| s.trim().to_string())
        });
        Some(Self {
            kubeconfig: None,
            context: None,
            server: format!("https://{host}:{port}"),
            namespace: namespace.unwrap_or_else(|| "default".into()),
            client: OnceCell::new(),
        })
    }

    /// The cluster's `server:` string, verbatim.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The namespace: `--namespace`, else the context's, else `default`.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The client, built on first use.
    pub async fn client(&self) -> Result<kube::Client, KubeError> {
        self.client
            .get_or_try_init(|| async {
                let mut config = match &self.kubeconfig {
                    Some((_, kubeconfig)) => {
                        let options = KubeConfigOptions {
                            context: self.context.clone(),
                            ..Default::default()
                        };
                        kube::Config::from_custom_kubeconfig(kubeconfig.clone(), &options)
                            .await
                            .map_err(|e| KubeError::Client(e.to_string()))?
                    }
                    None => {
                        kube::Config::incluster().map_err(|e| KubeError::Client(e.to_string()))?
                    }
                };
                config.default_namespace = self.namespace.clone();
                kube::Client::try_from(config).map_err(|e| KubeError::Client(e.to_string()))
            })
            .await
            .cloned()
    }
}
