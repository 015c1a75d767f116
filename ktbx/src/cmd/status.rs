//! `ktbx status`: the kind clusters and how many of their nodes are Ready.

use std::io::Write;

use common::kube::wait::is_node_ready;
use common::kube::{KubeArgs, KubeTarget};
use common::process::Runner;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::ListParams;

use crate::cli::StatusArgs;
use crate::cluster;
use crate::context::Context;

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    /// Cluster name.
    pub(crate) cluster: String,
    /// Ready nodes and all nodes, or why they are unknown.
    pub(crate) nodes: Result<(usize, usize), String>,
}

/// Renders the table.
pub(crate) fn render(rows: &[Row]) -> String {
    let width = rows
        .iter()
        .map(|r| r.cluster.len())
        .max()
        .unwrap_or(0)
        .max("CLUSTER".len());
    let mut out = format!("{:<width$}  {:<15}  READY\n", "CLUSTER", "CONTEXT");
    for row in rows {
        let ready = match &row.nodes {
            Ok((ready, total)) => format!("{ready}/{total}"),
            Err(why) => format!("unknown ({why})"),
        };
        out.push_str(&format!(
            "{:<width$}  {:<15}  {ready}\n",
            row.cluster,
            cluster::context_of(&row.cluster)
        ));
    }
    out
}

async fn node_readiness(kube: &KubeArgs, cluster: &str) -> Result<(usize, usize), String> {
    let args = KubeArgs {
        context: Some(cluster::context_of(cluster)),
        ..kube.clone()
    };
    let target = KubeTarget::load(&args).map_err(|e| e.to_string())?;
    let client = target.client().await.map_err(|e| e.to_string())?;
    let nodes = Api::<Node>::all(client)
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok((
        nodes.items.iter().filter(|n| is_node_ready(n)).count(),
        nodes.items.len(),
    ))
}

/// Runs `ktbx status`.
pub(crate) fn run(ctx: &Context, _args: &StatusArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    ctx.block_on(execute(&ctx.kube, &Runner::new(false), out))?
}

async fn execute(kube: &KubeArgs, runner: &Runner, out: &mut dyn Write) -> anyhow::Result<()> {
    let clusters = cluster::list_clusters(runner)?;
    if clusters.is_empty() {
        writeln!(out, "No kind clusters found.")?;
        return Ok(());
    }
    let mut rows = Vec::new();
    for name in clusters {
        let nodes = node_readiness(kube, &name).await;
        rows.push(Row {
            cluster: name,
            nodes,
        });
    }
    out.write_all(render(&rows).as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let rows = vec![
            Row {
                cluster: "kind".into(),
                nodes: Ok((1, 1)),
            },
            Row {
                cluster: "fink-ci-0".into(),
                nodes: Err("no context".into()),
            },
        ];
        assert_eq!(
            render(&rows),
            "CLUSTER    CONTEXT          READY\nkind       kind-kind        1/1\nfink-ci-0  kind-fink-ci-0   unknown (no context)\n"
        );
    }
}
