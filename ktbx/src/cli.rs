//! Command-line definition of `ktbx` (clap derive), kept apart from the commands so that
//! `cargo xtask dist` can render man pages and completions from it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use common::cli::{CompletionArgs, Verbosity};
use common::kube::KubeArgs;

use crate::targets::{Cni, Component, InstallTarget};

const ROOT_LONG: &str = "Creates kind-based Kubernetes cluster

Examples:
  ktbx create --single -c calico
  ktbx delete";

/// A high-level cli on top of kind
#[derive(Debug, Parser)]
#[command(name = "ktbx", version, about, long_about = ROOT_LONG, arg_required_else_help = true)]
pub struct Cli {
    /// Global `-v N`.
    #[command(flatten)]
    pub(crate) verbosity: Verbosity,
    /// kind cluster name (default: $KIND_CLUSTER_NAME, else "kind")
    #[arg(short = 'n', long = "name", global = true)]
    pub(crate) name: Option<String>,
    /// Global `--kubeconfig`, `--context`, `--namespace` (add-ons, `exist`, `status`).
    #[command(flatten)]
    pub(crate) kube: KubeArgs,
    /// The command to run.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The commands of `ktbx`.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a kind cluster
    #[command(mut_arg("dry_run", |arg| arg.help(
        "Print the plan (commands and generated kind config) and change nothing"
    )))]
    Create(CreateArgs),
    /// Delete a kind cluster
    Delete(DeleteArgs),
    /// Create or update a cluster, its registry, mirrors and add-ons from a stack file
    #[command(
        long_about = "Create or update a cluster, its registry, mirrors and add-ons from a stack file.\n\
        Ensure semantics: only what differs from what the last apply recorded in the cluster \
        (ConfigMap kube-system/ktbx-stack) is applied; when nothing differs, nothing runs.",
        after_help = "Examples:\n  ktbx apply -f stack.yaml\n  ktbx apply -f stack.yaml --diff\n  ktbx delete -f stack.yaml"
    )]
    Apply(ApplyArgs),
    /// Install Kubernetes components on the cluster or on the client machine
    #[command(
        long_about = "Install Kubernetes components on the cluster or on the client machine.\n\
        Client tools go to $KTBX_INSTALL_DIR (default /usr/local/bin); sudo is used only when that \
        directory is not writable and ktbx runs on a terminal.\n\
        Several tools can be given at once: `ktbx install kind kubectl helm`."
    )]
    Install(InstallArgs),
    /// Launch an interactive shell with k8s client tools installed
    #[command(visible_alias = "d")]
    Desk(DeskArgs),
    /// Wait for a kubernetes resource to exist
    #[command(visible_alias = "e")]
    Exist(ExistArgs),
    /// List the kind clusters and the readiness of their nodes
    Status(StatusArgs),
    /// Print the version number of k8s-toolbox
    Version(VersionArgs),
    /// Generate the autocompletion script for the specified shell
    Completion(CompletionArgs),
    /// Check the host before creating a cluster: one line per check, exit 1 when one fails
    #[command(
        long_about = "Check the host before creating a cluster: inotify limits, cgroup v2 controllers, free \
        disk under the container runtime's root, the runtime itself, the host ports the cluster needs \
        (--port, --registry) and the installed kind, kubectl and helm against their pinned versions.\n\
        One line per check on stdout (ok, warn or FAIL, with the command that fixes it); exits 1 \
        when a check fails. `ktbx create` runs the file and port checks itself and stops on a failure."
    )]
    Doctor(DoctorArgs),
}

/// Arguments of `ktbx doctor`.
#[derive(Debug, Clone, Args)]
pub(crate) struct DoctorArgs {
    /// Host port mapping the cluster will need, as `create --port` takes it (repeatable)
    #[arg(long = "port", value_name = "MAPPING")]
    pub(crate) ports: Vec<String>,
    /// Port of the local registry the cluster will use
    #[arg(long = "registry", value_name = "PORT", num_args = 0..=1, default_missing_value = "5001")]
    pub(crate) registry: Option<u16>,
}

/// `--diag-dir` of the commands that collect a diagnostics bundle when they fail.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct DiagArgs {
    /// On failure, write a diagnostics bundle (nodes, pods, Warning events, logs of failing pods,
    /// kind config, plan) under DIR [default in CI: $RUNNER_TEMP/ktbx-diag]
    #[arg(long = "diag-dir", value_name = "DIR")]
    pub(crate) diag_dir: Option<PathBuf>,
}

/// The desk image (the original's, unpinned as there).
pub(crate) const DEFAULT_IMAGE: &str = "docker.io/k8sschool/k8s-toolbox:latest";

/// Environment variable naming the directory of client binaries.
pub(crate) const INSTALL_DIR_ENV: &str = "KTBX_INSTALL_DIR";
/// Default directory of client binaries.
pub(crate) const DEFAULT_INSTALL_DIR: &str = "/usr/local/bin";

/// `$KTBX_INSTALL_DIR`, else `/usr/local/bin` (for tools `create` installs).
pub(crate) fn default_install_dir() -> PathBuf {
    std::env::var_os(INSTALL_DIR_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_INSTALL_DIR), PathBuf::from)
}

/// Parses a Go-style duration (`90s`, `1m30s`) for a timeout flag.
fn parse_timeout(s: &str) -> Result<Duration, String> {
    common::duration::parse_duration(s).map_err(|e| e.to_string())
}

/// Parses `NAME=VERSION` of `--pin` (the name must be in the version table).
fn parse_pin(s: &str) -> Result<(String, String), String> {
    let (name, version) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VERSION, e.g. calico=v3.29.0 (got {s:?})"))?;
    crate::tools::lookup(name).map_err(|e| e.to_string())?;
    Ok((name.to_string(), version.to_string()))
}

/// Default of `create --timeout` (the original's node wait).
pub(crate) const CREATE_TIMEOUT: Duration = Duration::from_secs(180);
/// Default of `install --timeout` (the original's CNI and Falco waits).
pub(crate) const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// Version overrides shared by `create` and `install`.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct PinArgs {
    /// Use VERSION instead of the pinned version of NAME (repeatable, comma separated); NAME is one of
    /// kind, kubectl, helm, telepresence, cilium-cli, cilium, calico, olm, argocd-operator, argocd, argowf, falco,
    /// prometheus
    #[arg(long = "pin", value_name = "NAME=VERSION", value_delimiter = ',', value_parser = parse_pin)]
    pub(crate) pins: Vec<(String, String)>,
}

impl PinArgs {
    /// The version overrides given on the command line: `--pin NAME=VERSION`, then the per-tool
    /// flags `named` (which win).
    pub(crate) fn versions(&self, named: &[(&str, &Option<String>)]) -> Vec<(String, String)> {
        let mut versions = self.pins.clone();
        for (name, version) in named {
            if let Some(v) = version {
                versions.retain(|(n, _)| n != name);
                versions.push((name.to_string(), v.clone()));
            }
        }
        versions
    }
}

/// Registry mirrors written into every node as containerd `hosts.toml` (`create`, `apply`).
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct MirrorArgs {
    /// Pull REGISTRY's images through URL first (repeatable; several URLs of one registry are tried in order)
    #[arg(long = "mirror", value_name = "REGISTRY=URL")]
    pub(crate) mirrors: Vec<String>,
    /// Also use the registry-mirrors of docker's daemon.json for docker.io ($KTBX_DOCKER_DAEMON_JSON, else
    /// ~/.config/docker/daemon.json for rootless docker, else /etc/docker/daemon.json)
    #[arg(long = "inherit-docker-mirrors")]
    pub(crate) inherit_docker: bool,
}

/// What `create` and `apply` both take, in this order in their help: versions (`--pin`), registry
/// mirrors of the nodes, `--dry-run` and `--diag-dir`.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct SetupArgs {
    /// Versions of the CNI and components.
    #[command(flatten)]
    pub(crate) pin: PinArgs,
    /// Registry mirrors of the nodes.
    #[command(flatten)]
    pub(crate) mirrors: MirrorArgs,
    /// Print what would run and change nothing
    #[arg(long = "dry-run")]
    pub(crate) dry_run: bool,
    /// Where a failure's diagnostics go.
    #[command(flatten)]
    pub(crate) diag: DiagArgs,
}

/// Extra positional words some commands accept and ignore, as the originals did (scripts call
/// `ktbx create cluster`, `ktbx delete cluster -n X`).
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct ExtraWords {
    /// Ignored extra words
    #[arg(hide = true)]
    pub(crate) words: Vec<String>,
}

impl ExtraWords {
    /// Logs the ignored words (at debug level).
    pub(crate) fn ignore(&self) {
        if !self.words.is_empty() {
            tracing::debug!(words = ?self.words, "ignoring extra arguments");
        }
    }
}

/// Arguments of `ktbx create`.
#[derive(Debug, Clone, Args)]
pub(crate) struct CreateArgs {
    /// Create a single-node cluster (no worker nodes)
    #[arg(short = 's', long = "single")]
    pub(crate) single: bool,
    /// CNI plugin replacing kindnet: calico or cilium
    #[arg(short = 'c', long = "cni", value_enum)]
    pub(crate) cni: Option<Cni>,
    /// Components to install once the nodes are Ready: olm, argocd, argowf, helm (comma separated or repeated)
    #[arg(short = 'i', long = "install", value_enum, value_delimiter = ',')]
    pub(crate) install: Vec<Component>,
    /// Number of clusters; more than one are named <name>-0 … <name>-(N-1) (base name: --name, else "kind")
    #[arg(long = "count", default_value_t = 1)]
    pub(crate) count: u32,
    /// Node image (e.g. kindest/node:v1.35.0); overrides kind.image of the config file
    #[arg(long = "image", value_parser = common::image_ref::checked)]
    pub(crate) image: Option<String>,
    /// Map a host port to a control-plane port: [LISTEN_ADDRESS:]HOST_PORT:CONTAINER_PORT[/PROTOCOL] (repeatable)
    #[arg(long = "port", value_name = "MAPPING")]
    pub(crate) ports: Vec<String>,
    /// Create (or reuse) a local registry container on 127.0.0.1:<PORT> and connect the cluster to it
    #[arg(long = "registry", value_name = "PORT", num_args = 0..=1, default_missing_value = "5001")]
    pub(crate) registry: Option<u16>,
    /// Succeed without changes when a cluster with that name already exists
    #[arg(long = "if-not-exists", conflicts_with = "recreate")]
    pub(crate) if_not_exists: bool,
    /// Delete an existing cluster with that name first
    #[arg(long = "recreate")]
    pub(crate) recreate: bool,
    /// How long each wait for nodes, CNI and add-ons may take [default: config `timeout`, else 3m]
    #[arg(long = "timeout", value_parser = parse_timeout)]
    pub(crate) timeout: Option<Duration>,
    /// Versions, mirrors, `--dry-run` (its help set on [`Command::Create`]) and `--diag-dir`.
    #[command(flatten)]
    pub(crate) setup: SetupArgs,
    /// Ignored extra words (scripts use e.g. `ktbx create cluster`, `ktbx delete cluster -n X`)
    #[command(flatten)]
    pub(crate) extra: ExtraWords,
}

/// Arguments of `ktbx delete`.
#[derive(Debug, Clone, Args)]
pub(crate) struct DeleteArgs {
    /// delete cluster by name regexp pattern (matches anywhere in the name)
    #[arg(short = 'p', long = "pattern")]
    pub(crate) pattern: Option<String>,
    /// With -p: only the clusters created longer ago than this (e.g. 6h, 90m), by the creation
    /// time of their control-plane container
    #[arg(long = "older-than", value_name = "AGE", requires = "pattern", value_parser = parse_timeout)]
    pub(crate) older_than: Option<Duration>,
    /// Print the kind commands and delete nothing
    #[arg(long = "dry-run")]
    pub(crate) dry_run: bool,
    /// Ignored extra words (scripts use e.g. `ktbx create cluster`, `ktbx delete cluster -n X`)
    #[command(flatten)]
    pub(crate) extra: ExtraWords,
    /// Delete the cluster of a stack file: its add-ons in reverse order first, then the cluster and the
    /// registry it declares.
    #[command(flatten)]
    pub(crate) stack: DeleteStackArgs,
}

/// `ktbx delete -f FILE` (a self-contained group of `delete`).
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct DeleteStackArgs {
    /// Stack file: remove its add-ons in reverse order (custom resources, then releases and namespaces),
    /// then delete the cluster and the registry it declares
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE",
        conflicts_with = "pattern"
    )]
    pub(crate) file: Option<PathBuf>,
    /// With -f: how long removing all the add-ons may take, in all
    #[arg(long = "timeout", value_parser = parse_timeout, requires = "file", default_value = "5m")]
    pub(crate) timeout: Duration,
}

/// Arguments of `ktbx apply`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ApplyArgs {
    /// The stack file (format: see the README)
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub(crate) file: PathBuf,
    /// Print how the cluster differs from the stack file and change nothing
    #[arg(long = "diff", conflicts_with = "dry_run")]
    pub(crate) diff: bool,
    /// How long each wait may take [default: the stack's `timeout`, else config `timeout`, else 10m]
    #[arg(long = "timeout", value_parser = parse_timeout)]
    pub(crate) timeout: Option<Duration>,
    /// Versions replacing the stack's pins, mirrors added to (or replacing, per registry) the
    /// stack's, `--dry-run`, and where a failed apply leaves its diagnostics bundle.
    #[command(flatten)]
    pub(crate) setup: SetupArgs,
}

/// Arguments of `ktbx install`.
#[derive(Debug, Clone, Args)]
pub(crate) struct InstallArgs {
    /// What to install (several allowed; client tools are downloaded in parallel)
    #[arg(value_enum, value_name = "TOOL")]
    pub(crate) targets: Vec<InstallTarget>,
    /// kind version, with its leading v (also $KTBX_KIND_VERSION, config tools.kind.version)
    #[arg(long = "kind-version", value_name = "VERSION")]
    pub(crate) kind_version: Option<String>,
    /// kubectl version (also $KTBX_KUBECTL_VERSION, config tools.kubectl.version)
    #[arg(long = "kubectl-version", value_name = "VERSION")]
    pub(crate) kubectl_version: Option<String>,
    /// helm version (also $KTBX_HELM_VERSION, config tools.helm.version)
    #[arg(long = "helm-version", value_name = "VERSION")]
    pub(crate) helm_version: Option<String>,
    /// Directory receiving client binaries
    #[arg(long = "install-dir", env = INSTALL_DIR_ENV, default_value = DEFAULT_INSTALL_DIR)]
    pub(crate) install_dir: PathBuf,
    /// How long each wait for an add-on may take [default: config `timeout`, else 10m]
    #[arg(long = "timeout", value_parser = parse_timeout)]
    pub(crate) timeout: Option<Duration>,
    /// Versions of any tool or add-on.
    #[command(flatten)]
    pub(crate) pin: PinArgs,
    /// Print what would be downloaded, applied or run, and change nothing
    #[arg(long = "dry-run")]
    pub(crate) dry_run: bool,
    /// Where a failure's diagnostics go.
    #[command(flatten)]
    pub(crate) diag: DiagArgs,
}

/// Arguments of `ktbx desk`.
#[derive(Debug, Clone, Args)]
pub(crate) struct DeskArgs {
    /// Print docker command
    #[arg(long = "dry-run")]
    pub(crate) dry_run: bool,
    /// Container image of the desk
    #[arg(long = "image", default_value = DEFAULT_IMAGE, value_parser = common::image_ref::checked)]
    pub(crate) image: String,
    /// Ignored extra words (scripts use e.g. `ktbx create cluster`, `ktbx delete cluster -n X`)
    #[command(flatten)]
    pub(crate) extra: ExtraWords,
}

/// Arguments of `ktbx exist`.
#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Examples:\n  ktbx exist statefulset.apps argocd-application-controller --namespace argocd\n  ktbx exist --type installplans --namespace operators --timeout 4m"
)]
pub(crate) struct ExistArgs {
    /// TYPE [NAME]: the resource type, as kubectl names it (statefulset.apps, pods, installplans), then an
    /// optional object name; with --type, only NAME. Without a name, waits for any object of that type
    #[arg(value_name = "TYPE [NAME]", num_args = 0..=2)]
    pub(crate) words: Vec<String>,
    /// Resource type (the original's planned flag; then the only positional word is the name)
    #[arg(long = "type", value_name = "TYPE")]
    pub(crate) kind: Option<String>,
    /// How long to wait
    #[arg(long = "timeout", value_parser = parse_timeout, default_value = "2m")]
    pub(crate) timeout: Duration,
}

impl ExistArgs {
    /// The resource type and the optional object name.
    pub(crate) fn target(&self) -> Result<(&str, Option<&str>), String> {
        match (&self.kind, self.words.as_slice()) {
            (Some(kind), []) => Ok((kind, None)),
            (Some(kind), [name]) => Ok((kind, Some(name))),
            (None, [kind]) => Ok((kind, None)),
            (None, [kind, name]) => Ok((kind, Some(name))),
            (Some(_), _) => Err("with --type, give at most one name".into()),
            (None, _) => {
                Err("give the resource type: ktbx exist TYPE [NAME] (or --type TYPE)".into())
            }
        }
    }
}

/// Arguments of `ktbx status`.
#[derive(Debug, Clone, Args)]
pub(crate) struct StatusArgs {}

/// Arguments of `ktbx version`.
#[derive(Debug, Clone, Args)]
pub(crate) struct VersionArgs {
    /// only print version number
    #[arg(short = 'q', long = "quiet")]
    pub(crate) quiet: bool,
    /// Ignored extra words (scripts use e.g. `ktbx create cluster`, `ktbx delete cluster -n X`)
    #[command(flatten)]
    pub(crate) extra: ExtraWords,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn create(args: &[&str]) -> CreateArgs {
        match parse(args).command {
            Command::Create(c) => c,
            other => panic!("not create: {other:?}"),
        }
    }

    #[test]
    fn pin_help_names_every_table_entry() {
        let mut cmd = <Cli as clap::CommandFactory>::command();
        let help = cmd
            .find_subcommand_mut("install")
            .unwrap()
            .render_long_help()
            .to_string();
        let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains(&format!("NAME is one of {}", crate::tools::names())),
            "{help}"
        );
    }

    #[test]
    fn cli_definition_is_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn create_flags_keep_the_original_forms() {
        let c = create(&[
            "ktbx",
            "create",
            "-s",
            "-c",
            "calico",
            "-i",
            "olm,argocd",
            "-i",
            "helm",
        ]);
        assert!(c.single);
        assert_eq!(c.cni, Some(Cni::Calico));
        assert_eq!(
            c.install,
            vec![Component::Olm, Component::Argocd, Component::Helm]
        );
        assert_eq!(c.count, 1);
        let c = create(&[
            "ktbx",
            "create",
            "--single",
            "--cni=cilium",
            "--install",
            "argowf",
            "--count",
            "3",
        ]);
        assert_eq!((c.single, c.cni, c.count), (true, Some(Cni::Cilium), 3));
        assert_eq!(c.install, vec![Component::Argowf]);
        assert_eq!(c.timeout, None);
    }

    #[test]
    fn unknown_cni_and_components_are_rejected_at_parse_time() {
        assert!(Cli::try_parse_from(["ktbx", "create", "-c", "flannel"]).is_err());
        assert!(Cli::try_parse_from(["ktbx", "create", "-i", "olm,argo-workflow"]).is_err());
    }

    #[test]
    fn global_name_and_verbosity_go_anywhere() {
        let cli = parse(&["ktbx", "-n", "x", "-v2", "delete"]);
        assert_eq!((cli.name.as_deref(), cli.verbosity.level), (Some("x"), 2));
        let cli = parse(&["ktbx", "delete", "cluster", "-n", "y", "--verbosity=1"]);
        assert_eq!((cli.name.as_deref(), cli.verbosity.level), (Some("y"), 1));
        let Command::Delete(d) = cli.command else {
            panic!()
        };
        assert_eq!(d.extra.words, vec!["cluster"]);
        assert!(Cli::try_parse_from(["ktbx", "delete", "-v"]).is_err());
    }

    #[test]
    fn delete_pattern() {
        let Command::Delete(d) = parse(&["ktbx", "delete", "-p", "fink-ci"]).command else {
            panic!()
        };
        assert_eq!(d.pattern.as_deref(), Some("fink-ci"));
    }

    #[test]
    fn install_takes_several_tools_and_aliases() {
        let Command::Install(i) = parse(&[
            "ktbx",
            "install",
            "kind",
            "kubectl",
            "helm",
            "fa",
            "prom",
            "--kind-version=v0.20.0",
        ])
        .command
        else {
            panic!()
        };
        use InstallTarget::*;
        assert_eq!(i.targets, vec![Kind, Kubectl, Helm, Falco, Prometheus]);
        assert_eq!(i.kind_version.as_deref(), Some("v0.20.0"));
        assert!(Cli::try_parse_from(["ktbx", "install", "kubeclt"]).is_err());
    }

    #[test]
    fn aliases_of_desk_and_exist() {
        assert!(matches!(
            parse(&["ktbx", "d", "--dry-run"]).command,
            Command::Desk(DeskArgs { dry_run: true, .. })
        ));
        let cli = parse(&[
            "ktbx",
            "e",
            "pods",
            "--namespace",
            "olm",
            "--timeout",
            "30s",
        ]);
        assert_eq!(cli.kube.namespace.as_deref(), Some("olm"));
        let Command::Exist(e) = cli.command else {
            panic!()
        };
        assert_eq!(e.target(), Ok(("pods", None)));
        assert_eq!(e.timeout, Duration::from_secs(30));
    }

    #[test]
    fn exist_takes_the_type_as_a_word_or_a_flag() {
        let exist = |args: &[&str]| match parse(args).command {
            Command::Exist(e) => e,
            other => panic!("not exist: {other:?}"),
        };
        let e = exist(&["ktbx", "exist", "statefulset.apps", "argocd-server"]);
        assert_eq!(e.target(), Ok(("statefulset.apps", Some("argocd-server"))));
        let e = exist(&["ktbx", "exist", "--type", "installplans"]);
        assert_eq!(e.target(), Ok(("installplans", None)));
        let e = exist(&["ktbx", "e", "--type", "pods", "p"]);
        assert_eq!(e.target(), Ok(("pods", Some("p"))));
        assert!(
            exist(&["ktbx", "exist", "--type", "pods", "a", "b"])
                .target()
                .is_err()
        );
        assert!(exist(&["ktbx", "exist"]).target().is_err());
    }

    #[test]
    fn pins_name_a_table_entry() {
        let c = create(&[
            "ktbx",
            "create",
            "--pin",
            "calico=v3.29.0,cilium=1.18.1",
            "--pin",
            "olm=v0.30.0",
        ]);
        assert_eq!(
            c.setup.pin.pins,
            vec![
                ("calico".to_string(), "v3.29.0".to_string()),
                ("cilium".to_string(), "1.18.1".to_string()),
                ("olm".to_string(), "v0.30.0".to_string())
            ]
        );
        let err = Cli::try_parse_from(["ktbx", "install", "olm", "--pin", "flannel=v1.0.0"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown tool \"flannel\": expected one of kind, kubectl"),
            "{err}"
        );
        assert!(Cli::try_parse_from(["ktbx", "install", "olm", "--pin", "olm"]).is_err());
    }

    #[test]
    fn apply_and_delete_take_a_stack_file() {
        let Command::Apply(a) = parse(&[
            "ktbx",
            "apply",
            "-f",
            "stack.yaml",
            "--diff",
            "--mirror",
            "docker.io=http://m:5000",
            "--inherit-docker-mirrors",
        ])
        .command
        else {
            panic!()
        };
        assert_eq!(a.file, PathBuf::from("stack.yaml"));
        assert!(a.diff && a.setup.mirrors.inherit_docker && !a.setup.dry_run);
        assert_eq!(a.setup.mirrors.mirrors, ["docker.io=http://m:5000"]);
        assert!(Cli::try_parse_from(["ktbx", "apply"]).is_err());
        assert!(Cli::try_parse_from(["ktbx", "apply", "-f", "s", "--diff", "--dry-run"]).is_err());
        let Command::Delete(d) = parse(&["ktbx", "delete", "-f", "s.yaml"]).command else {
            panic!()
        };
        assert_eq!(
            (d.stack.file, d.stack.timeout),
            (Some(PathBuf::from("s.yaml")), Duration::from_secs(300))
        );
        assert!(Cli::try_parse_from(["ktbx", "delete", "-f", "s", "-p", "x"]).is_err());
        assert!(Cli::try_parse_from(["ktbx", "delete", "--timeout", "1m"]).is_err());
    }

    #[test]
    fn version_quiet() {
        assert!(matches!(
            parse(&["ktbx", "version", "-q"]).command,
            Command::Version(VersionArgs { quiet: true, .. })
        ));
        assert!(matches!(
            parse(&["ktbx", "version", "--quiet"]).command,
            Command::Version(VersionArgs { quiet: true, .. })
        ));
    }

    #[test]
    fn registry_flag_has_a_default_port() {
        assert_eq!(
            create(&["ktbx", "create", "--registry"]).registry,
            Some(5001)
        );
        assert_eq!(
            create(&["ktbx", "create", "--registry", "5002"]).registry,
            Some(5002)
        );
        assert_eq!(create(&["ktbx", "create"]).registry, None);
    }

    #[test]
    fn if_not_exists_and_recreate_exclude_each_other() {
        assert!(Cli::try_parse_from(["ktbx", "create", "--if-not-exists", "--recreate"]).is_err());
    }
}
