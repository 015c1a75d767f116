//! `ktbx create`: validate everything, render the kind config, run `kind create cluster`, make
//! the nodes trust the registries, install the CNI, wait for the nodes and install components,
//! always against the context of the cluster just created (`kind-<name>`).

use std::io::Write;
use std::path::Path;

use anyhow::bail;
use common::process::{Cmd, Runner};

use crate::addons::{self, Target};
use crate::cli::CreateArgs;
use crate::cluster;
use crate::config::{Config, KindSettings};
use crate::context::Context;
use crate::doctor;
use crate::kind_config::{KindCluster, PortMapping};
use crate::mirrors::Mirrors;
use crate::provision::{self, ClusterPlan, kubeadm_apis};
use crate::targets::{Component, InstallTarget};

/// Everything `create` needs besides the arguments.
pub(crate) struct CreateEnv<'a> {
    /// Global `--name`.
    pub(crate) name: Option<&'a str>,
    /// Global `-v`.
    pub(crate) verbosity: i64,
    /// The loaded config.
    pub(crate) config: &'a Config,
    /// Where relative paths of the config resolve.
    pub(crate) cwd: &'a Path,
    /// `$KIND_CLUSTER_NAME`.
    pub(crate) kind_cluster_name: Option<String>,
    /// Global `--kubeconfig` / `--context` (the context is replaced by the new cluster's).
    pub(crate) kube: &'a common::kube::KubeArgs,
    /// Runs kind, docker, helm, cilium.
    pub(crate) runner: &'a Runner,
}

/// The effective kind settings: the config file, then the flags; paths made absolute and checked.
pub(crate) fn effective_settings(
    config: &Config,
    args: &CreateArgs,
    cwd: &Path,
) -> anyhow::Result<KindSettings> {
    let mut s = config.kind.clone();
    if args.single || config.single {
        s.workers = 0;
    }
    if let Some(cni) = args.cni {
        s.cni = Some(cni);
    }
    // The flag and kind.image were checked as image references when parsed.
    if let Some(image) = &args.image {
        s.image = image.clone();
    }
    provision::check_settings(s, cwd)
}

/// Components in dependency order (OLM before ArgoCD), without duplicates.
pub(crate) fn ordered_components(components: &[Component]) -> Vec<Component> {
    let mut out = components.to_vec();
    out.sort();
    out.dedup();
    out
}

fn component_target(c: Component) -> InstallTarget {
    match c {
        Component::Olm => InstallTarget::Olm,
        Component::Argocd => InstallTarget::Argocd,
        Component::Argowf => InstallTarget::Argowf,
        Component::Helm => InstallTarget::Helm,
    }
}

/// Runs `ktbx create`.
pub(crate) fn run(ctx: &Context, args: &CreateArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = ctx.config()?;
    let cwd = std::env::current_dir()?;
    let runner = Runner::new(args.setup.dry_run);
    let env = CreateEnv {
        name: ctx.name.as_deref(),
        verbosity: ctx.verbosity,
        config: &config,
        cwd: &cwd,
        kind_cluster_name: std::env::var("KIND_CLUSTER_NAME").ok(),
        kube: &ctx.kube,
        runner: &runner,
    };
    ctx.block_on(execute(args, &env, out))?
}

async fn execute(
    args: &CreateArgs,
    env: &CreateEnv<'_>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    args.extra.ignore();
    // Validate everything before kind runs.
    let settings = effective_settings(env.config, args, env.cwd)?;
    let ports = args
        .ports
        .iter()
        .map(|p| PortMapping::parse(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let names = cluster::cluster_names(env.name, args.count);
    for name in names.iter().flatten() {
        cluster::validate_name(name)?;
        if let Some(warning) = cluster::long_name_warning(name) {
            tracing::warn!("{warning}");
        }
    }
    let mirrors = Mirrors::default().with_flags(
        &args.setup.mirrors.mirrors,
        args.setup.mirrors.inherit_docker,
    )?;
    let components = ordered_components(&args.install);
    let dry = env.runner.is_dry_run();
    let tools = crate::client_tools::Settings {
        install_dir: crate::cli::default_install_dir(),
        flag_versions: args.setup.pin.versions(&[]),
        config: env.config.clone(),
        dry_run: dry,
    };
    let pins: Vec<&str> = settings
        .cni
        .map(addons::cni_pins)
        .unwrap_or_default()
        .iter()
        .chain(
            components
                .iter()
                .flat_map(|c| addons::pins(component_target(*c))),
        )
        .copied()
        .collect();
    crate::client_tools::validate(&pins, &tools)?;

    // Preflight.
    let kind_found = common::process::which("kind").is_some();
    if !kind_found && !dry {
        bail!("`kind` not found on PATH: {}", cluster::KIND_HINT);
    }
    let runtime = match cluster::runtime_from_env() {
        Ok(r) => r,
        Err(e) if dry => {
            tracing::warn!("{e:#}");
            "docker".to_string()
        }
        Err(e) => return Err(e),
    };
    // The cheap host checks (files and sockets); inotify limits matter for several nodes only.
    let host = doctor::Host::from_env();
    let mut findings = if settings.workers > 0 || names.len() > 1 {
        doctor::inotify(&host)
    } else {
        Vec::new()
    };
    findings.push(doctor::cgroup(&host));
    preflight(&findings, dry)?;
    let kind_version = if kind_found {
        env.runner
            .probe(&Cmd::new("kind").args(["version", "-q"]))
            .ok()
            .map(|o| o.stdout_str())
    } else {
        None
    };
    let cluster_config = KindCluster::from_settings(
        &settings,
        &ports,
        kubeadm_apis(kind_version.as_deref(), &settings.image),
    );
    let plan = Plan {
        cluster: ClusterPlan {
            rendered: cluster_config.render(),
            settings,
            runtime,
            registry: args.registry,
            mirrors,
        },
        components,
        tools,
        timeout: args
            .timeout
            .or(env.config.timeout)
            .unwrap_or(crate::cli::CREATE_TIMEOUT),
    };

    writeln!(out, "Create k8s cluster")?;
    tracing::info!(config = ?plan.cluster.settings, "Current ktbx configuration");
    let existing = if kind_found {
        cluster::list_clusters(env.runner)?
    } else {
        Vec::new()
    };
    for (index, name) in names.iter().enumerate() {
        if names.len() > 1 {
            tracing::info!(
                name = name.as_deref().unwrap_or_default(),
                index = index + 1,
                total = names.len(),
                "Creating cluster"
            );
        }
        let effective = cluster::effective_name(name.as_deref(), env.kind_cluster_name.as_deref());
        if existing.contains(&effective) {
            if args.if_not_exists {
                writeln!(out, "Cluster {effective} already exists")?;
                continue;
            }
            if !args.recreate {
                bail!(
                    "a kind cluster named {effective} already exists: use --if-not-exists to keep it, --recreate to replace it, or `ktbx delete -n {effective}`"
                );
            }
            env.runner
                .run_logged(&cluster::kind_cluster_cmd("delete", Some(&effective)))?;
        }
        // The host ports, once an existing cluster that may hold them is kept or deleted.
        let needed = doctor::Ports {
            mappings: &ports,
            registry: None,
        };
        preflight(&doctor::ports(&needed), dry)?;
        let created = create_one(env, &plan, name.as_deref(), &effective, out).await;
        let diag_dir = (!dry)
            .then(|| crate::diag::dir_from_env(args.setup.diag.diag_dir.as_deref()))
            .flatten();
        let context = cluster::context_of(&effective);
        crate::diag::on_failure(
            created,
            diag_dir.as_deref(),
            &effective,
            env.kube,
            Some(&context),
            || plan.files(&effective, args),
        )
        .await?;
    }
    Ok(())
}

/// Stops on a failing host check (a dry run only warns).
fn preflight(findings: &[doctor::Finding], dry: bool) -> anyhow::Result<()> {
    match doctor::fail_early(findings) {
        Err(e) if dry => {
            tracing::warn!("{e:#}");
            Ok(())
        }
        other => other,
    }
}

/// What every cluster of one `create` shares, validated up front.
struct Plan {
    cluster: ClusterPlan,
    components: Vec<Component>,
    tools: crate::client_tools::Settings,
    timeout: std::time::Duration,
}

impl Plan {
    /// The files of a diagnostics bundle: the kind config used and the plan.
    fn files(&self, cluster: &str, args: &CreateArgs) -> Vec<(&'static str, String)> {
        let plan = format!(
            "cluster: {cluster}\nruntime: {}\ncomponents: {:?}\ntimeout: {}\nsettings: {:#?}\narguments: {args:#?}\n",
            self.cluster.runtime,
            self.components,
            common::duration::format_duration(self.timeout),
            self.cluster.settings,
        );
        vec![
            ("kind-config.yaml", self.cluster.rendered.clone()),
            ("plan.txt", plan),
        ]
    }
}

async fn create_one(
    env: &CreateEnv<'_>,
    plan: &Plan,
    name: Option<&str>,
    effective: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let runner = env.runner;
    provision::create_cluster(
        &plan.cluster,
        runner,
        name,
        effective,
        env.verbosity,
        env.kube.kubeconfig.as_deref(),
        out,
    )?;
    let target = Target::new(
        env.kube,
        Some(cluster::context_of(effective)),
        runner.is_dry_run(),
        plan.timeout,
        plan.tools.clone(),
    )?;
    provision::prepare_cluster(&plan.cluster, &target, runner, out).await?;
    for component in &plan.components {
        addons::install(component_target(*component), &target, runner, out).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::Cni;

    fn args() -> CreateArgs {
        CreateArgs {
            single: false,
            cni: None,
            install: vec![],
            count: 1,
            image: None,
            ports: vec![],
            registry: None,
            if_not_exists: false,
            recreate: false,
            timeout: None,
            setup: crate::cli::SetupArgs::default(),
            extra: crate::cli::ExtraWords::default(),
        }
    }

    #[test]
    fn flags_override_the_file() {
        let mut config = Config::default();
        config.kind.cni = Some(Cni::Cilium);
        config.kind.workers = 2;
        let s = effective_settings(
            &config,
            &CreateArgs {
                single: true,
                cni: Some(Cni::Calico),
                ..args()
            },
            Path::new("/"),
        )
        .unwrap();
        assert_eq!((s.workers, s.cni), (0, Some(Cni::Calico)));
        config.single = true;
        assert_eq!(
            effective_settings(&config, &args(), Path::new("/"))
                .unwrap()
                .workers,
            0
        );
    }

    #[test]
    fn audit_policy_is_checked_and_made_absolute() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("audit.yaml"), "x").unwrap();
        let mut config = Config::default();
        config.kind.audit_policy = "audit.yaml".into();
        let s = effective_settings(&config, &args(), tmp.path()).unwrap();
        assert_eq!(
            s.audit_policy,
            tmp.path().join("audit.yaml").display().to_string()
        );
        config.kind.audit_policy = "missing.yaml".into();
        let err = effective_settings(&config, &args(), tmp.path())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "audit policy file not found: {}",
                tmp.path().join("missing.yaml").display()
            )
        );
        config.kind.audit_policy = tmp.path().display().to_string();
        let err = effective_settings(&config, &args(), tmp.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("audit policy file is a directory: "),
            "{err}"
        );
    }

    #[test]
    fn odd_registries_are_rejected() {
        let mut config = Config::default();
        config.kind.private_registry = "reg\"]\nx".into();
        assert!(effective_settings(&config, &args(), Path::new("/")).is_err());
        config.kind.private_registry = "docker-registry.docker-registry:5000".into();
        assert!(effective_settings(&config, &args(), Path::new("/")).is_ok());
    }

    #[test]
    fn olm_goes_before_argocd() {
        use Component::*;
        assert_eq!(
            ordered_components(&[Helm, Argocd, Olm, Argocd]),
            vec![Olm, Argocd, Helm]
        );
    }
}
