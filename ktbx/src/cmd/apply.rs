//! `ktbx apply -f stack.yaml`: ensure that the cluster of a stack file exists with its registry,
//! mirrors, CNI and add-ons at their pins. What was applied is read back from the cluster's record
//! (one GET, see [`crate::stack_state`]); only the parts that drifted are applied, so a second run
//! makes no change, no `kind` call and no mutating API request. `--diff` prints the drift,
//! `--dry-run` what would run.

use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, bail};
use common::kube::{KubeArgs, KubeTarget};
use common::process::{Cmd, Runner};

use crate::addons::{self, Target};
use crate::cli::{ApplyArgs, INSTALL_TIMEOUT};
use crate::client_tools;
use crate::cluster;
use crate::context::Context;
use crate::diag;
use crate::kind_config::KindCluster;
use crate::provision::{self, ClusterPlan};
use crate::registry;
use crate::stack::{self, Resolved};
use crate::stack_state::{self, Change, State};

/// Runs `ktbx apply`.
pub(crate) fn run(ctx: &Context, args: &ApplyArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let stack = stack::load(&args.file)?;
    let config = ctx.config()?;
    let mirrors = stack.mirrors.clone().with_flags(
        &args.setup.mirrors.mirrors,
        args.setup.mirrors.inherit_docker,
    )?;
    let base = args.file.parent().unwrap_or(Path::new("."));
    let settings = provision::check_settings(stack.settings.clone(), base)
        .with_context(|| format!("in {}", args.file.display()))?;
    let name = ctx.name.clone().or_else(|| stack.name.clone());
    let effective = cluster::effective_name(
        name.as_deref(),
        std::env::var("KIND_CLUSTER_NAME").ok().as_deref(),
    );
    cluster::validate_name(&effective)?;
    let mut flag_versions = stack.pins.clone();
    for (tool, version) in args.setup.pin.versions(&[]) {
        flag_versions.retain(|(n, _)| *n != tool);
        flag_versions.push((tool, version));
    }
    let tools = client_tools::Settings {
        install_dir: crate::cli::default_install_dir(),
        flag_versions,
        config: config.clone(),
        dry_run: args.setup.dry_run || args.diff,
    };
    let desired = stack_state::desired(
        &settings,
        &stack.ports,
        stack.registry,
        &mirrors,
        &stack.addons,
        &tools,
    )?;
    let timeout = args
        .timeout
        .or(stack.timeout)
        .or(config.timeout)
        .unwrap_or(INSTALL_TIMEOUT);
    let plan = ClusterPlan {
        settings,
        rendered: String::new(),
        runtime: String::new(),
        registry: stack.registry,
        mirrors,
    };
    let apply = Apply {
        args,
        stack: &stack,
        kube: &ctx.kube,
        verbosity: ctx.verbosity,
        effective,
        desired,
        tools,
        timeout,
        runner: Runner::new(args.setup.dry_run || args.diff),
    };
    let diag_dir = (!args.setup.dry_run && !args.diff)
        .then(|| diag::dir_from_env(args.setup.diag.diag_dir.as_deref()))
        .flatten();
    ctx.block_on(async {
        let applied = apply.execute(plan, out).await;
        diag::on_failure(
            applied,
            diag_dir.as_deref(),
            &apply.effective,
            apply.kube,
            Some(&apply.context()),
            || apply.bundle_files(),
        )
        .await
    })?
}

/// One `apply` run, validated.
struct Apply<'a> {
    args: &'a ApplyArgs,
    stack: &'a Resolved,
    kube: &'a KubeArgs,
    verbosity: i64,
    effective: String,
    desired: State,
    tools: client_tools::Settings,
    timeout: std::time::Duration,
    runner: Runner,
}

impl Apply<'_> {
    /// The kube context of the cluster: `--context`, else kind's `kind-<name>`.
    fn context(&self) -> String {
        self.kube
            .context
            .clone()
            .unwrap_or_else(|| cluster::context_of(&self.effective))
    }

    /// The files of a diagnostics bundle: the stack file as given and the desired state.
    fn bundle_files(&self) -> Vec<(&'static str, String)> {
        let stack = std::fs::read_to_string(&self.args.file)
            .unwrap_or_else(|e| format!("(cannot read {}: {e})\n", self.args.file.display()));
        let plan = format!(
            "cluster: {}\ntimeout: {}\ndesired: {:#?}\n",
            self.effective,
            common::duration::format_duration(self.timeout),
            self.desired,
        );
        vec![("stack.yaml", stack), ("plan.txt", plan)]
    }

    /// The record of the cluster; None when the context, the cluster or the record is missing.
    async fn recorded(&self) -> Option<State> {
        let args = KubeArgs {
            context: Some(self.context()),
            ..self.kube.clone()
        };
        let target = KubeTarget::load(&args)
            .map_err(|e| tracing::debug!("no record: {e}"))
            .ok()?;
        let client = target
            .client()
            .await
            .map_err(|e| tracing::debug!("no record: {e}"))
            .ok()?;
        stack_state::read(client)
            .await
            .map_err(|e| tracing::info!("no record of a previous apply: {e}"))
            .ok()?
    }

    async fn execute(&self, mut plan: ClusterPlan, out: &mut dyn Write) -> anyhow::Result<()> {
        let recorded = self.recorded().await;
        let exists = recorded.is_some() || {
            let known = common::process::which("kind").is_some();
            known && cluster::list_clusters(&self.runner)?.contains(&self.effective)
        };
        let file = self.args.file.display().to_string();
        let mut state = recorded.clone().unwrap_or_default();
        if exists && recorded.is_none() {
            // A cluster made by `ktbx create` or kind: its settings are taken as they are.
            tracing::warn!(
                "cluster {} exists without a record of `ktbx apply`: its kind settings are taken as they are",
                self.effective
            );
            if let Some(cluster) = self.desired.get(stack_state::CLUSTER) {
                state.insert(stack_state::CLUSTER.into(), cluster.clone());
            }
        }
        let changes = stack_state::drift(&state, &self.desired);
        if self.args.diff {
            if !exists {
                writeln!(out, "+ kind cluster {}: to be created", self.effective)?;
            }
            if changes.is_empty() && exists {
                writeln!(out, "kind cluster {} matches {file}", self.effective)?;
            }
            stack_state::write_drift(out, &changes, &file)?;
            return Ok(());
        }
        // Add-ons dropped from the file stay installed (and recorded) until `delete -f`.
        let left_installed =
            |c: &Change| matches!(c, Change::Remove(key, _) if key.starts_with("addon."));
        for change in changes.iter().filter(|c| left_installed(c)) {
            tracing::warn!(
                "{} is no longer in {file}: apply leaves it installed; `ktbx delete -f {file}` removes the cluster",
                change.key()
            );
        }
        if exists && changes.iter().all(left_installed) {
            writeln!(
                out,
                "kind cluster {} matches {file}: nothing to do",
                self.effective
            )?;
            return Ok(());
        }
        let dry = self.runner.is_dry_run();
        let changed = |key: &str| changes.iter().any(|c| c.key() == key);
        let needs_runtime = !exists
            || changed(stack_state::REGISTRY)
            || changed(stack_state::MIRRORS)
            || recorded.is_none();
        if needs_runtime {
            plan.runtime = match cluster::runtime_from_env() {
                Ok(r) => r,
                Err(e) if dry => {
                    tracing::warn!("{e:#}");
                    "docker".to_string()
                }
                Err(e) => return Err(e),
            };
        }
        let target = Target::new(
            self.kube,
            Some(self.context()),
            dry,
            self.timeout,
            self.tools.clone(),
        )?;
        if !exists {
            self.create(&mut plan, &target, out).await?;
            for key in [
                stack_state::CLUSTER,
                stack_state::REGISTRY,
                stack_state::MIRRORS,
                stack_state::CNI,
            ] {
                self.copy(&mut state, key);
            }
            self.save(&target, &state, out).await?;
        } else {
            if let Some(Change::Update(..)) =
                changes.iter().find(|c| c.key() == stack_state::CLUSTER)
            {
                tracing::warn!(
                    "the kind settings of {file} differ from those of cluster {}: kind cannot change them; `ktbx delete -f {file}` then `ktbx apply -f {file}` recreates it (`ktbx apply --diff` shows how)",
                    self.effective
                );
            }
            if changed(stack_state::REGISTRY) || changed(stack_state::MIRRORS) || recorded.is_none()
            {
                let nodes = if dry {
                    Vec::new()
                } else {
                    cluster::list_nodes(&self.runner, &self.effective)?
                };
                if let Some(port) = plan.registry {
                    registry::ensure_container(&self.runner, &plan.runtime, port)?;
                }
                provision::configure_nodes(&plan, &self.runner, &nodes)?;
                if let Some(port) = plan.registry {
                    registry::publish_hosting_configmap(&target, port, out).await?;
                }
                self.copy(&mut state, stack_state::REGISTRY);
                self.copy(&mut state, stack_state::MIRRORS);
                self.save(&target, &state, out).await?;
            }
            if changed(stack_state::CNI) {
                if let Some(cni) = plan.settings.cni {
                    addons::install_cni(cni, &target, &self.runner, out).await?;
                }
                self.copy(&mut state, stack_state::CNI);
                self.save(&target, &state, out).await?;
            }
        }
        for addon in &self.stack.addons {
            let key = stack_state::addon_key(*addon);
            if state.get(&key) == self.desired.get(&key) {
                continue;
            }
            writeln!(
                out,
                "Apply add-on {} ({})",
                addon.name(),
                self.desired.get(&key).map_or("", String::as_str)
            )?;
            addons::install(addon.target(), &target, &self.runner, out)
                .await
                .with_context(|| format!("Error while installing {}", addon.name()))?;
            self.copy(&mut state, &key);
            self.save(&target, &state, out).await?;
        }
        Ok(())
    }

    /// Creates the cluster: kind, registries and mirrors in the nodes, CNI, nodes Ready.
    async fn create(
        &self,
        plan: &mut ClusterPlan,
        target: &Target,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let dry = self.runner.is_dry_run();
        let kind_found = common::process::which("kind").is_some();
        if !kind_found && !dry {
            bail!("`kind` not found on PATH: {}", cluster::KIND_HINT);
        }
        let kind_version = if kind_found {
            self.runner
                .probe(&Cmd::new("kind").args(["version", "-q"]))
                .ok()
                .map(|o| o.stdout_str())
        } else {
            None
        };
        plan.rendered = KindCluster::from_settings(
            &plan.settings,
            &self.stack.ports,
            provision::kubeadm_apis(kind_version.as_deref(), &plan.settings.image),
        )
        .render();
        writeln!(out, "Create kind cluster {}", self.effective)?;
        provision::create_cluster(
            plan,
            &self.runner,
            Some(&self.effective),
            &self.effective,
            self.verbosity,
            self.kube.kubeconfig.as_deref(),
            out,
        )?;
        provision::prepare_cluster(plan, target, &self.runner, out).await
    }

    /// Marks `key` as applied as desired.
    fn copy(&self, state: &mut State, key: &str) {
        match self.desired.get(key) {
            Some(value) => state.insert(key.to_string(), value.clone()),
            None => state.remove(key),
        };
    }

    /// Writes the record (in a dry run: says so).
    async fn save(
        &self,
        target: &Target,
        state: &State,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        match target.client_opt().await? {
            Some(client) => stack_state::write(client, state).await,
            None => {
                writeln!(
                    out,
                    "apply --server-side ConfigMap/{} -n {}",
                    stack_state::RECORD_NAME,
                    stack_state::RECORD_NAMESPACE
                )?;
                Ok(())
            }
        }
    }
}
