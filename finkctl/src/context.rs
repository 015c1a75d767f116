//! What every command of one run shares: the global flags, the configuration files, the
//! kubeconfig, the diagnostics stream and the async runtime.

use std::cell::{RefCell, RefMut};
use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::kube::{Deadline, KubeArgs, KubeTarget};

use crate::config::{ConfigSources, FinkConfig};
use crate::diag::{dry_run_note, write_bundle};
use crate::pod_health::ROLE_LABEL;

/// The per-run state handed to every command.
pub(crate) struct Context {
    /// `--dry-run`.
    pub(crate) dry_run: bool,
    /// `--endpoint`.
    endpoint: Option<String>,
    /// Where the configuration files are.
    sources: ConfigSources,
    /// Kubernetes flags.
    kube: KubeArgs,
    /// The human-facing report stream (stderr), apart from the data on stdout.
    err: RefCell<Box<dyn Write>>,
}

/// Time allowed for writing the diagnostic bundle after a failed wait.
const DIAG_TIMEOUT: Duration = Duration::from_secs(60);

impl Context {
    /// A context for the global flags, writing diagnostics to `err`.
    pub(crate) fn new(
        dry_run: bool,
        endpoint: Option<String>,
        sources: ConfigSources,
        kube: KubeArgs,
        err: Box<dyn Write>,
    ) -> Self {
        Self {
            dry_run,
            endpoint,
            sources,
            kube,
            err: RefCell::new(err),
        }
    }

    /// Loads the configuration; `required` makes missing files an error.
    pub(crate) fn config(&self, required: bool) -> anyhow::Result<FinkConfig> {
        let mut config = FinkConfig::load(&self.sources, required)?;
        if let Some(endpoint) = &self.endpoint {
            config.s3.endpoint.clone_from(endpoint);
        }
        Ok(config)
    }

    /// Reads the kubeconfig (no client is built).
    pub(crate) fn kube_target(&self) -> anyhow::Result<KubeTarget> {
        Ok(KubeTarget::load(&self.kube)?)
    }

    /// Writes the diagnostic bundle of the namespace's abnormal Spark pods into `dir` after a
    /// failed wait (`wait`, `run --wait`); its own failure is only reported, the wait's error
    /// stays the error. A dry run only says where it would go.
    pub(crate) fn write_diagnostics(&self, dir: &Path) {
        if self.dry_run {
            let _ = writeln!(self.err(), "{}", dry_run_note(dir));
            return;
        }
        let written = self.kube_target().and_then(|target| {
            let namespace = target.namespace().to_string();
            block_on_kube(
                &target,
                Deadline::after(DIAG_TIMEOUT),
                "writing the diagnostic bundle",
                async {
                    let client = target.client().await?;
                    write_bundle(&client, &namespace, ROLE_LABEL, dir).await
                },
            )
        });
        let mut err = self.err();
        let _ = match written {
            Ok(written) => writeln!(err, "{written}"),
            Err(e) => writeln!(err, "warning: no diagnostic bundle: {e:#}"),
        };
    }

    /// The human-facing report stream (stderr), apart from the data on stdout.
    pub(crate) fn err(&self) -> RefMut<'_, Box<dyn Write>> {
        self.err.borrow_mut()
    }
}

/// Runs `future` on the thread's runtime (see `common::runtime`; only commands that talk to a
/// server).
pub(crate) fn block_on<F: Future>(future: F) -> anyhow::Result<F::Output> {
    Ok(common::runtime::block_on(future)?)
}

/// Runs `work`, a command's conversation with `target`'s API server, on the thread's runtime and
/// until `deadline` (retries and waits included); `what` names it in the timeout error.
pub(crate) fn block_on_kube<T>(
    target: &KubeTarget,
    deadline: Deadline,
    what: &str,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    block_on(target.within(deadline, what, work))??
}
