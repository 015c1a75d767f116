//! Registries seen from the kind nodes, the way current kind documents it: a `hosts.toml` under
//! `/etc/containerd/certs.d/<host:port>/` in every node (containerd 2.x reads it without a
//! restart), instead of the deprecated `registry.configs` containerd patch; plus the local
//! registry container of `create --registry` and its `local-registry-hosting` ConfigMap.

use std::io::Write;

use anyhow::Context;
use common::process::{Cmd, Runner};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams};

use crate::addons::Target;
use crate::mirrors::{self, Mirrors};

/// Name of the local registry container.
pub(crate) const LOCAL_REGISTRY: &str = "kind-registry";
/// Image of the local registry container.
pub(crate) const REGISTRY_IMAGE: &str = "registry:2";
const CERTS_DIR: &str = "/etc/containerd/certs.d";

/// `hosts.toml` trusting an HTTPS registry without verifying its certificate.
pub(crate) fn insecure_hosts_toml(registry: &str) -> String {
    format!(
        "server = \"https://{registry}\"\n\n[host.\"https://{registry}\"]\n  skip_verify = true\n"
    )
}

/// `hosts.toml` sending `localhost:<port>` to the local registry container over plain HTTP.
pub(crate) fn local_hosts_toml() -> String {
    format!("[host.\"http://{LOCAL_REGISTRY}:5000\"]\n")
}

/// The commands writing `hosts.toml` for `registry` into one node (no shell: the file comes on stdin).
pub(crate) fn write_hosts_cmds(runtime: &str, node: &str, registry: &str, toml: &str) -> [Cmd; 2] {
    let dir = format!("{CERTS_DIR}/{registry}");
    [
        Cmd::new(runtime).args(["exec", node, "mkdir", "-p", &dir]),
        Cmd::new(runtime)
            .args([
                "exec",
                "-i",
                node,
                "cp",
                "/dev/stdin",
                &format!("{dir}/hosts.toml"),
            ])
            .stdin_bytes(toml),
    ]
}

fn write_hosts(
    runner: &Runner,
    runtime: &str,
    nodes: &[String],
    registry: &str,
    toml: &str,
) -> anyhow::Result<()> {
    for node in nodes {
        for cmd in write_hosts_cmds(runtime, node, registry, toml) {
            runner
                .run_logged(&cmd)
                .with_context(|| format!("configuring registry {registry} in node {node}"))?;
        }
    }
    Ok(())
}

/// Makes every node trust `registry` without TLS verification.
pub(crate) fn trust_insecure(
    runner: &Runner,
    runtime: &str,
    nodes: &[String],
    registry: &str,
) -> anyhow::Result<()> {
    write_hosts(
        runner,
        runtime,
        nodes,
        registry,
        &insecure_hosts_toml(registry),
    )
}

/// Writes one `hosts.toml` per mirrored registry into every node.
pub(crate) fn configure_mirrors(
    runner: &Runner,
    runtime: &str,
    nodes: &[String],
    mirrors: &Mirrors,
) -> anyhow::Result<()> {
    for (registry, endpoints) in mirrors.iter() {
        write_hosts(
            runner,
            runtime,
            nodes,
            registry,
            &mirrors::hosts_toml(registry, endpoints),
        )?;
    }
    Ok(())
}

/// Starts the local registry container on 127.0.0.1:<port> unless it runs already.
pub(crate) fn ensure_container(runner: &Runner, runtime: &str, port: u16) -> anyhow::Result<()> {
    let running = runner
        .probe(&Cmd::new(runtime).args(["inspect", "-f", "{{.State.Running}}", LOCAL_REGISTRY]))
        .is_ok_and(|o| o.status.success() && o.stdout_str().trim() == "true");
    if running {
        return Ok(());
    }
    let cmd = Cmd::new(runtime).args([
        "run".to_string(),
        "-d".to_string(),
        "--restart=always".to_string(),
        "-p".to_string(),
        format!("127.0.0.1:{port}:5000"),
        "--network".to_string(),
        "bridge".to_string(),
        "--name".to_string(),
        LOCAL_REGISTRY.to_string(),
        REGISTRY_IMAGE.to_string(),
    ]);
    runner
        .run_logged(&cmd)
        .context("starting the local registry container")?;
    Ok(())
}

/// Removes the local registry container when it exists (`ktbx delete -f` of a stack declaring it).
pub(crate) fn remove_container(runner: &Runner, runtime: &str) -> anyhow::Result<bool> {
    let exists = runner
        .probe(&Cmd::new(runtime).args(["inspect", "-f", "{{.Name}}", LOCAL_REGISTRY]))
        .is_ok_and(|o| o.status.success());
    if exists {
        runner
            .run_logged(&Cmd::new(runtime).args(["rm", "-f", LOCAL_REGISTRY]))
            .context("removing the local registry container")?;
    }
    Ok(exists)
}

/// Points `localhost:<port>` in every node at the registry and joins it to the `kind` network.
pub(crate) fn connect_local(
    runner: &Runner,
    runtime: &str,
    nodes: &[String],
    port: u16,
) -> anyhow::Result<()> {
    write_hosts(
        runner,
        runtime,
        nodes,
        &format!("localhost:{port}"),
        &local_hosts_toml(),
    )?;
    let connected = runner
        .probe(&Cmd::new(runtime).args([
            "inspect",
            "-f",
            "{{json .NetworkSettings.Networks.kind}}",
            LOCAL_REGISTRY,
        ]))
        .is_ok_and(|o| o.status.success() && o.stdout_str().trim() != "null");
    if !connected {
        runner
            .run_logged(&Cmd::new(runtime).args(["network", "connect", "kind", LOCAL_REGISTRY]))
            .context("connecting the local registry to the kind network")?;
    }
    Ok(())
}

/// The `local-registry-hosting` ConfigMap (KEP-1755) in `kube-public`.
pub(crate) fn hosting_configmap(port: u16) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "local-registry-hosting", "namespace": "kube-public"},
        "data": {
            "localRegistryHosting.v1": format!(
                "host: \"localhost:{port}\"\nhelp: \"https://kind.sigs.k8s.io/docs/user/local-registry/\"\n"
            )
        }
    })
}

/// Publishes the local registry to cluster tooling.
pub(crate) async fn publish_hosting_configmap(
    target: &Target,
    port: u16,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let Some(client) = target.client_opt().await? else {
        writeln!(
            out,
            "apply --server-side ConfigMap/local-registry-hosting -n kube-public"
        )?;
        return Ok(());
    };
    let api: Api<ConfigMap> = Api::namespaced(client, "kube-public");
    api.patch(
        "local-registry-hosting",
        &PatchParams::apply(crate::apply::FIELD_MANAGER).force(),
        &Patch::Apply(hosting_configmap(port)),
    )
    .await
    .context("applying ConfigMap local-registry-hosting")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_toml_for_an_insecure_registry() {
        assert_eq!(
            insecure_hosts_toml("docker-registry.docker-registry:5000"),
            "server = \"https://docker-registry.docker-registry:5000\"\n\n[host.\"https://docker-registry.docker-registry:5000\"]\n  skip_verify = true\n"
        );
    }

    #[test]
    fn node_commands_take_the_file_on_stdin() {
        let [mkdir, cp] = write_hosts_cmds("docker", "x-control-plane", "localhost:5001", "t");
        assert_eq!(
            mkdir.to_shell_line(),
            "docker exec x-control-plane mkdir -p /etc/containerd/certs.d/localhost:5001"
        );
        assert_eq!(
            cp.to_shell_line(),
            "docker exec -i x-control-plane cp /dev/stdin /etc/containerd/certs.d/localhost:5001/hosts.toml"
        );
    }

    #[test]
    fn configmap_names_the_port() {
        let cm = hosting_configmap(5001);
        assert_eq!(
            cm["data"]["localRegistryHosting.v1"],
            "host: \"localhost:5001\"\nhelp: \"https://kind.sigs.k8s.io/docs/user/local-registry/\"\n"
        );
    }
}
