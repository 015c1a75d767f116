//! What every command shares: the global flags, the config file and the async runtime.

use std::future::Future;

use common::kube::KubeArgs;

use crate::config::{self, Config};
use crate::tools;

/// The global state of one `ktbx` run, handed to every command.
pub(crate) struct Context {
    /// Global `--name`, None when not given or empty (then kind uses `$KIND_CLUSTER_NAME`, else
    /// `kind`).
    pub(crate) name: Option<String>,
    /// Global `-v`.
    pub(crate) verbosity: i64,
    /// Global `--kubeconfig`, `--context`, `--namespace`.
    pub(crate) kube: KubeArgs,
}

impl Context {
    /// Finds and loads the config file, reporting ignored keys.
    pub(crate) fn config(&self) -> anyhow::Result<Config> {
        let (config, path) = Config::discover(config::locator().find()?, &|name| {
            tools::tool(name).is_some()
        })?;
        if let Some(path) = &path {
            tracing::info!(file = %path.display(), "Use config file");
            for key in &config.unknown_keys {
                tracing::warn!(file = %path.display(), key = %key, "unknown config key ignored");
            }
        }
        Ok(config)
    }

    /// Runs a command's async part to completion on the thread's runtime (see `common::runtime`).
    pub(crate) fn block_on<F: Future>(&self, future: F) -> anyhow::Result<F::Output> {
        Ok(common::runtime::block_on(future)?)
    }
}
