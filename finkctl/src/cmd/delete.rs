//! `finkctl delete`: delete the Spark pods (label `spark-app-selector`) of the current namespace,
//! or of every namespace with `--all-namespaces`.

use std::io::Write;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, ListParams};

use crate::cli::DeleteArgs;
use crate::context::{Context, block_on_kube};
use crate::kube_api::api_error;
use common::kube::Deadline;

/// Label carried by every pod created by Spark on Kubernetes.
const SPARK_POD_LABEL: &str = "spark-app-selector";

/// Runs `finkctl delete`.
pub(crate) fn run(ctx: &Context, args: &DeleteArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let target = ctx.kube_target()?;
    let scope = if args.all_namespaces {
        "all namespaces".to_string()
    } else {
        "current namespace".to_string()
    };
    writeln!(out, "Delete all spark pods in {scope}")?;
    block_on_kube(
        &target,
        Deadline::after(args.timeout),
        "deleting spark pods",
        async {
            let client = target.client().await?;
            let api: Api<Pod> = if args.all_namespaces {
                Api::all(client.clone())
            } else {
                Api::namespaced(client.clone(), target.namespace())
            };
            let pods = api
                .list(&ListParams::default().labels(SPARK_POD_LABEL))
                .await
                .map_err(api_error)
                .context("unable to list spark pods")?;
            for pod in pods {
                let name = pod.metadata.name.unwrap_or_default();
                let namespace = pod
                    .metadata
                    .namespace
                    .unwrap_or_else(|| target.namespace().to_string());
                if ctx.dry_run {
                    writeln!(out, "pod {namespace}/{name} would be deleted (dry run)")?;
                    continue;
                }
                tracing::info!(pod = %name, %namespace, "Delete pod");
                Api::<Pod>::namespaced(client.clone(), &namespace)
                    .delete(&name, &DeleteParams::default())
                    .await
                    .map_err(api_error)
                    .with_context(|| format!("unable to delete spark pod {namespace}/{name}"))?;
            }
            anyhow::Ok(())
        },
    )
}
