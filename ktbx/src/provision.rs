//! Creating one kind cluster, shared by `create` and `apply`: the kind config written to a
//! temporary file, `kind create cluster`, the registries and mirrors written into every node,
//! then the cluster-side preparation (registry ConfigMap, CNI, nodes Ready).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use common::process::{Cmd, Runner};

use crate::addons::{self, Target};
use crate::cluster;
use crate::config::KindSettings;
use crate::kind_config::KubeadmApis;
use crate::mirrors::Mirrors;
use crate::registry;

/// What one `kind create cluster` needs, validated up front.
pub(crate) struct ClusterPlan {
    /// The effective kind settings.
    pub(crate) settings: KindSettings,
    /// The rendered kind config.
    pub(crate) rendered: String,
    /// The container runtime (docker, podman, nerdctl).
    pub(crate) runtime: String,
    /// Port of the local registry container, if any.
    pub(crate) registry: Option<u16>,
    /// Registry mirrors written into every node.
    pub(crate) mirrors: Mirrors,
}

/// Checks `host[:port]` of `kind.privateRegistry`.
fn validate_registry(registry: &str) -> anyhow::Result<()> {
    let (host, port) = registry
        .rsplit_once(':')
        .map_or((registry, None), |(h, p)| (h, Some(p)));
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if host_ok && port_ok {
        Ok(())
    } else {
        bail!(
            "invalid kind.privateRegistry {registry:?}: expected host[:port], e.g. docker-registry.docker-registry:5000"
        )
    }
}

/// Makes the paths of `s` absolute against `base` (checking that the audit policy is a file) and
/// checks the private registry.
pub(crate) fn check_settings(mut s: KindSettings, base: &Path) -> anyhow::Result<KindSettings> {
    if !s.audit_policy.is_empty() {
        let path = base.join(&s.audit_policy);
        match std::fs::metadata(&path) {
            Err(_) => bail!("audit policy file not found: {}", path.display()),
            Ok(m) if m.is_dir() => bail!("audit policy file is a directory: {}", path.display()),
            Ok(_) => s.audit_policy = path.display().to_string(),
        }
    }
    if !s.extra_mount_path.is_empty() {
        s.extra_mount_path = base.join(&s.extra_mount_path).display().to_string();
    }
    if !s.private_registry.is_empty() {
        validate_registry(&s.private_registry)?;
    }
    Ok(s)
}

/// `vMAJOR.MINOR` of a node image tag (`kindest/node:v1.36.1@sha256:…` → (1, 36)).
fn image_minor(image: &str) -> Option<(u64, u64)> {
    let without_digest = image.split('@').next()?;
    let tag = without_digest.rsplit_once(':')?.1;
    let mut parts = tag.strip_prefix('v')?.split('.');
    Some((
        parts.next()?.parse().ok()?,
        parts.next()?.split('-').next()?.parse().ok()?,
    ))
}

/// Which kubeadm API versions to patch: from the node image when given, else from the kind
/// version (kind v0.32 defaults to Kubernetes 1.36, which uses v1beta4); both when unknown.
pub(crate) fn kubeadm_apis(kind_version: Option<&str>, image: &str) -> KubeadmApis {
    if let Some(minor) = image_minor(image) {
        return if minor >= (1, 36) {
            KubeadmApis::V1beta3AndV1beta4
        } else {
            KubeadmApis::V1beta3
        };
    }
    let parsed = kind_version.and_then(|v| {
        let mut p = v.trim().trim_start_matches('v').split('.');
        Some((
            p.next()?.parse::<u64>().ok()?,
            p.next()?.parse::<u64>().ok()?,
        ))
    });
    match parsed {
        Some(v) if v < (0, 32) => KubeadmApis::V1beta3,
        _ => KubeadmApis::V1beta3AndV1beta4,
    }
}

/// The `kind create cluster` command.
pub(crate) fn kind_create_cmd(
    config_path: &Path,
    name: Option<&str>,
    image: &str,
    verbosity: i64,
    kubeconfig: Option<&Path>,
) -> Cmd {
    let mut cmd = cluster::kind_cluster_cmd("create", None)
        .arg("--config")
        .arg(config_path);
    if let Some(kubeconfig) = kubeconfig {
        cmd = cmd.arg("--kubeconfig").arg(kubeconfig);
    }
    if let Some(name) = name {
        cmd = cmd.args(["--name", name]);
    }
    if !image.is_empty() {
        cmd = cmd.args(["--image", image]);
    }
    if verbosity > 0 {
        cmd = cmd.args(["--verbosity".to_string(), verbosity.to_string()]);
    }
    cmd
}

/// Runs `kind create cluster` with the plan's config, then makes every node trust the private
/// registry, reach the local registry and use the mirrors. Returns the node names (none in a dry run).
pub(crate) fn create_cluster(
    plan: &ClusterPlan,
    runner: &Runner,
    name: Option<&str>,
    effective: &str,
    verbosity: i64,
    kubeconfig: Option<&Path>,
    out: &mut dyn Write,
) -> anyhow::Result<Vec<String>> {
    let dry = runner.is_dry_run();
    if let Some(port) = plan.registry {
        registry::ensure_container(runner, &plan.runtime, port)?;
    }
    // The temp dir (and the config in it) is removed when this function returns; a dry run makes none.
    let tmp = if dry {
        None
    } else {
        Some(
            tempfile::Builder::new()
                .prefix("ktbx-kind-config")
                .tempdir()
                .context("creating a temp dir")?,
        )
    };
    let config_path = tmp.as_ref().map_or_else(
        || PathBuf::from("$TMPDIR/kind-config.yaml"),
        |t| t.path().join("kind-config.yaml"),
    );
    if dry {
        writeln!(
            out,
            "# kind config {}\n{}",
            config_path.display(),
            plan.rendered
        )?;
    } else {
        std::fs::write(&config_path, &plan.rendered)
            .with_context(|| format!("writing {}", config_path.display()))?;
    }
    out.flush()?;
    runner
        .run_logged(&kind_create_cmd(
            &config_path,
            name,
            &plan.settings.image,
            verbosity,
            kubeconfig,
        ))
        .context("kind create cluster failed")?;
    let nodes = if dry {
        Vec::new()
    } else {
        cluster::list_nodes(runner, effective)?
    };
    configure_nodes(plan, runner, &nodes)?;
    Ok(nodes)
}

/// Writes the registry settings of the plan into `nodes`: private registry, local registry, mirrors.
pub(crate) fn configure_nodes(
    plan: &ClusterPlan,
    runner: &Runner,
    nodes: &[String],
) -> anyhow::Result<()> {
    if !plan.settings.private_registry.is_empty() {
        registry::trust_insecure(
            runner,
            &plan.runtime,
            nodes,
            &plan.settings.private_registry,
        )?;
    }
    if let Some(port) = plan.registry {
        registry::connect_local(runner, &plan.runtime, nodes, port)?;
    }
    registry::configure_mirrors(runner, &plan.runtime, nodes, &plan.mirrors)
}

/// The cluster side of a new cluster: the local registry's ConfigMap, the CNI, nodes Ready.
pub(crate) async fn prepare_cluster(
    plan: &ClusterPlan,
    target: &Target,
    runner: &Runner,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if let Some(port) = plan.registry {
        registry::publish_hosting_configmap(target, port, out).await?;
    }
    if let Some(cni) = plan.settings.cni {
        tracing::info!("Install custom CNI");
        addons::install_cni(cni, target, runner, out).await?;
    }
    tracing::info!("Wait for Kubernetes nodes to be up and running");
    addons::wait_nodes(target, out).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeadm_versions_follow_kind_and_image() {
        assert_eq!(kubeadm_apis(Some("0.31.0\n"), ""), KubeadmApis::V1beta3);
        assert_eq!(
            kubeadm_apis(Some("0.32.0"), ""),
            KubeadmApis::V1beta3AndV1beta4
        );
        assert_eq!(kubeadm_apis(None, ""), KubeadmApis::V1beta3AndV1beta4);
        assert_eq!(
            kubeadm_apis(Some("0.32.0"), "kindest/node:v1.35.0"),
            KubeadmApis::V1beta3
        );
        assert_eq!(
            kubeadm_apis(Some("0.31.0"), "kindest/node:v1.36.1@sha256:ab"),
            KubeadmApis::V1beta3AndV1beta4
        );
    }

    #[test]
    fn kind_argv() {
        let line = kind_create_cmd(
            Path::new("/t/kind-config.yaml"),
            Some("x"),
            "kindest/node:v1.35.0",
            2,
            None,
        )
        .to_shell_line();
        assert_eq!(
            line,
            "kind create cluster --config /t/kind-config.yaml --name x --image kindest/node:v1.35.0 --verbosity 2"
        );
        assert_eq!(
            kind_create_cmd(Path::new("/c"), None, "", 0, Some(Path::new("/k"))).to_shell_line(),
            "kind create cluster --config /c --kubeconfig /k"
        );
    }
}
