//! Kubernetes access: which kubeconfig, context and namespace to use, the cluster's raw `server`
//! string, one shared client, and watch-based waits ([`wait`]).
//!
//! The kubeconfig comes from `--kubeconfig`, else `$KUBECONFIG` (a colon-separated list merged as
//! kubectl does: the first file that sets a map key or `current-context` wins; listed files that
//! do not exist are skipped), else `~/.kube/config`, else the in-cluster service account. A file
//! that is missing, unreadable or not valid YAML, or a context that does not exist, is an error
//! naming the file.

pub mod retry;
pub mod wait;

use std::ffi::OsString;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ::kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};

use crate::names::{NameError, validate_dns1123_label};

/// The longest any API request waits for the next bytes of its answer.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a connection (TCP and TLS handshake) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the server keeps each watch request open (`timeoutSeconds`): shorter than
/// [`READ_TIMEOUT`], so that a quiet watch ends cleanly and is resumed instead of being cut.
pub const WATCH_TIMEOUT_SECONDS: u32 = 20;
/// The bound of a whole command that has no `--timeout` of its own, retries included.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// The `--kubeconfig`, `--context` and `--namespace` flags (long only, global).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KubeArgs {
    /// Kubeconfig file to use [default: $KUBECONFIG, else ~/.kube/config, else in-cluster]
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use [default: the current context]
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace to work in [default: the context's namespace, else "default"]
    #[arg(long, global = true, value_name = "NAME")]
    pub namespace: Option<String>,
}

/// Why the cluster cannot be reached or its configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// No kubeconfig anywhere and not running in a cluster.
    #[error(
        "no kubeconfig found: --kubeconfig not given, $KUBECONFIG not set, {} does not exist and this is not running inside a cluster (pass --kubeconfig FILE or set KUBECONFIG)",
        default_path.as_ref().map_or_else(|| "~/.kube/config".to_string(), |p| p.display().to_string())
    )]
    NoKubeconfig {
        /// `~/.kube/config`, when `$HOME` is known.
        default_path: Option<PathBuf>,
    },
    /// A kubeconfig named explicitly does not exist.
    #[error("kubeconfig {} (from {origin}) does not exist", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
        /// `--kubeconfig` or `$KUBECONFIG`.
        origin: &'static str,
    },
    /// None of the files listed in `$KUBECONFIG` exists.
    #[error("none of the kubeconfig files in $KUBECONFIG exists: {files}")]
    NoneExists {
        /// The listed files.
        files: String,
    },
    /// A kubeconfig cannot be read.
    #[error("cannot read kubeconfig {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A kubeconfig is not valid YAML or has a wrong type.
    #[error("invalid kubeconfig {}:{line}:{column}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// 1-based column.
        column: u64,
        /// What is wrong.
        message: String,
    },
    /// The kubeconfig is valid YAML but does not describe a usable context.
    #[error("kubeconfig {files}: {message}")]
    Invalid {
        /// The file (or merged files).
        files: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// kube rejected the selected context (bad server URL, unreadable certificate...).
    #[error("kubeconfig {files}: {source}")]
    Config {
        /// The file (or merged files).
        files: String,
        /// kube's error.
        #[source]
        source: KubeconfigError,
    },
    /// The in-cluster configuration cannot be loaded.
    #[error(
        "no kubeconfig found and cannot use the in-cluster service account (/var/run/secrets/kubernetes.io/serviceaccount): {0}"
    )]
    InCluster(#[source] ::kube::config::InClusterError),
    /// `--namespace` is not a valid namespace name.
    #[error(transparent)]
    Namespace(#[from] NameError),
    /// A command's conversation with the API server did not end within its timeout.
    #[error(
        "timed out after {} {what}: the API server {server} did not answer in time (check that it is reachable, or allow more time with --timeout)",
        crate::duration::format_duration(*timeout)
    )]
    TimedOut {
        /// The API server.
        server: String,
        /// What the command was doing, such as `listing spark pods`.
        what: String,
        /// The bound.
        timeout: Duration,
    },
    /// The client could not be built.
    #[error("cannot create a Kubernetes client for {server}: {source}")]
    Client {
        /// The API server.
        server: String,
        /// kube's error.
        #[source]
        source: ::kube::Error,
    },
}

/// The cluster a command talks to: resolved kubeconfig, context, server and namespace.
pub struct KubeTarget {
    files: Vec<PathBuf>,
    context: Option<String>,
    server: String,
    namespace: String,
    config: ::kube::Config,
    client: tokio::sync::OnceCell<::kube::Client>,
}

impl std::fmt::Debug for KubeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeTarget")
            .field("files", &self.files)
            .field("context", &self.context)
            .field("server", &self.server)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// The parts of the process environment that select a kubeconfig.
#[derive(Debug, Clone, Default)]
struct Environment {
    kubeconfig: Option<OsString>,
    home: Option<PathBuf>,
    in_cluster: bool,
}

impl Environment {
    fn current() -> Self {
        Environment {
            kubeconfig: std::env::var_os("KUBECONFIG"),
            home: std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from),
            in_cluster: std::env::var_os("KUBERNETES_SERVICE_HOST").is_some(),
        }
    }
}

/// Which configuration source applies.
#[derive(Debug, PartialEq)]
enum Source {
    Files(Vec<PathBuf>),
    InCluster,
}

impl KubeTarget {
    /// Resolves the kubeconfig, context and namespace from the flags and the environment. Does
    /// not contact the cluster.
    pub fn load(args: &KubeArgs) -> Result<KubeTarget, KubeError> {
        Self::load_from(args, &Environment::current())
    }

    fn load_from(args: &KubeArgs, env: &Environment) -> Result<KubeTarget, KubeError> {
        if let Some(namespace) = &args.namespace {
            validate_dns1123_label("namespace", namespace)?;
        }
        match select_source(args, env)? {
            Source::Files(files) => Self::from_files(files, args),
            Source::InCluster => Self::in_cluster(args),
        }
    }

    fn from_files(files: Vec<PathBuf>, args: &KubeArgs) -> Result<KubeTarget, KubeError> {
        let merged = read_merged(&files)?;
        let names = describe_files(&files);
        let invalid = |message: String| KubeError::Invalid {
            files: names.clone(),
            message,
        };
        let available = || {
            let list: Vec<&str> = merged.contexts.iter().map(|c| c.name.as_str()).collect();
            if list.is_empty() {
                "it defines no contexts".to_string()
            } else {
                format!("available: {}", list.join(", "))
            }
        };
        let context_name = match (&args.context, &merged.current_context) {
            (Some(name), _) => name.clone(),
            (None, Some(name)) if !name.is_empty() => name.clone(),
            _ => {
                return Err(invalid(format!(
                    "no current-context is set; pass --context NAME ({})",
                    available()
                )));
            }
        };
        let origin = if args.context.is_some() {
            "--context"
        } else {
            "current-context"
        };
        let context = merged
            .contexts
            .iter()
            .find(|c| c.name == context_name)
            .ok_or_else(|| {
                invalid(format!(
                    "context {context_name:?} ({origin}) is not defined ({})",
                    available()
                ))
            })?
            .context
            .clone()
            .ok_or_else(|| invalid(format!("context {context_name:?} is empty")))?;
        let cluster = merged
            .clusters
            .iter()
            .find(|c| c.name == context.cluster)
            .and_then(|c| c.cluster.clone())
            .ok_or_else(|| {
                invalid(format!(
                    "context {context_name:?} uses cluster {:?}, which is not defined",
                    context.cluster
                ))
            })?;
        let server = cluster
            .server
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid(format!("cluster {:?} has no server", context.cluster)))?;
        let namespace = args
            .namespace
            .clone()
            .or_else(|| context.namespace.clone().filter(|ns| !ns.is_empty()))
            .unwrap_or_else(|| "default".to_string());
        let options = KubeConfigOptions {
            context: Some(context_name.clone()),
            ..KubeConfigOptions::default()
        };
        // Building the config does no I/O that needs a runtime (kube's loader is async in name only).
        let mut config =
            futures::executor::block_on(::kube::Config::from_custom_kubeconfig(merged, &options))
                .map_err(|source| KubeError::Config {
                files: names.clone(),
                source,
            })?;
        config.default_namespace = namespace.clone();
        apply_timeouts(&mut config);
        tracing::debug!(kubeconfig = %names, context = %context_name, %server, %namespace, "kubernetes target");
        Ok(KubeTarget {
            files,
            context: Some(context_name),
            server,
            namespace,
            config,
            client: tokio::sync::OnceCell::new(),
        })
    }

    fn in_cluster(args: &KubeArgs) -> Result<KubeTarget, KubeError> {
        let mut config = ::kube::Config::incluster().map_err(KubeError::InCluster)?;
        let server = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_string();
        let namespace = args
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        config.default_namespace = namespace.clone();
        apply_timeouts(&mut config);
        Ok(KubeTarget {
            files: Vec::new(),
            context: None,
            server,
            namespace,
            config,
            client: tokio::sync::OnceCell::new(),
        })
    }

    /// The cluster's `server:` string exactly as written in the kubeconfig (no trailing `/` added).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// `--namespace`, else the context's namespace, else `default`.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The context in use (`None` in-cluster).
    pub fn context(&self) -> Option<&str> {
        self.context.as_deref()
    }

    /// The kubeconfig files merged (empty in-cluster).
    pub fn kubeconfig_files(&self) -> &[PathBuf] {
        &self.files
    }

    /// kube's connection configuration.
    pub fn config(&self) -> &::kube::Config {
        &self.config
    }

    /// Runs `work`, a command's whole conversation with the API server (retries and waits
    /// included), until `deadline`; `what` says what it was doing (`listing spark pods`) in the
    /// error. Waits inside `work` that share the deadline end first with their own message.
    pub async fn within<F: Future>(
        &self,
        deadline: Deadline,
        what: &str,
        work: F,
    ) -> Result<F::Output, KubeError> {
        // Inner waits compute their own timer from `deadline.remaining()` a moment later, so it
        // ends a hair after `deadline.at`: the grace lets them end first with their own message.
        tokio::time::timeout_at(deadline.at + INNER_WAIT_GRACE, work)
            .await
            .map_err(|_| KubeError::TimedOut {
                server: self.server.clone(),
                what: what.to_string(),
                timeout: deadline.timeout,
            })
    }

    /// The client, built on first use and shared afterwards (clones are cheap). Needs a tokio
    /// runtime, and its connections belong to that runtime: use one `KubeTarget` per runtime.
    pub async fn client(&self) -> Result<::kube::Client, KubeError> {
        self.client
            .get_or_try_init(|| async {
                ::kube::Client::try_from(self.config.clone()).map_err(|source| KubeError::Client {
                    server: self.server.clone(),
                    source,
                })
            })
            .await
            .cloned()
    }
}

/// How long after its deadline [`KubeTarget::within`] gives up, so that a wait inside it sharing
/// the deadline reports its own timeout first.
const INNER_WAIT_GRACE: Duration = Duration::from_millis(250);

/// The end of a command's time with the API server (its `--timeout`, counted from the start).
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    /// When the time is up.
    pub at: tokio::time::Instant,
    /// The whole time allowed.
    pub timeout: Duration,
}

impl Deadline {
    /// `timeout` from now.
    pub fn after(timeout: Duration) -> Deadline {
        Deadline {
            at: tokio::time::Instant::now() + timeout,
            timeout,
        }
    }

    /// The time left (zero once it is up).
    pub fn remaining(&self) -> Duration {
        self.at
            .saturating_duration_since(tokio::time::Instant::now())
    }
}

/// Every request gets a connect and a read timeout: a server that accepts and never answers
/// cannot hold a request forever.
fn apply_timeouts(config: &mut ::kube::Config) {
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = Some(READ_TIMEOUT);
    // The read timeout counts from the request, not from when a pooled connection went idle.
    config.reset_reader_on_write = true;
}

fn select_source(args: &KubeArgs, env: &Environment) -> Result<Source, KubeError> {
    if let Some(path) = &args.kubeconfig {
        if !path.exists() {
            return Err(KubeError::Missing {
                path: path.clone(),
                origin: "--kubeconfig",
            });
        }
        return Ok(Source::Files(vec![path.clone()]));
    }
    if let Some(value) = env.kubeconfig.as_ref().filter(|v| !v.is_empty()) {
        let listed: Vec<PathBuf> = std::env::split_paths(value)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if listed.len() == 1 && !listed[0].exists() {
            return Err(KubeError::Missing {
                path: listed[0].clone(),
                origin: "$KUBECONFIG",
            });
        }
        let (present, absent): (Vec<PathBuf>, Vec<PathBuf>) =
            listed.iter().cloned().partition(|p| p.exists());
        for path in &absent {
            tracing::debug!(path = %path.display(), "kubeconfig listed in $KUBECONFIG does not exist, skipped");
        }
        if present.is_empty() {
            return Err(KubeError::NoneExists {
                files: describe_files(&listed),
            });
        }
        return Ok(Source::Files(present));
    }
    let default_path = env
        .home
        .as_ref()
        .map(|home| home.join(".kube").join("config"));
    if let Some(path) = default_path.as_ref().filter(|p| p.exists()) {
        return Ok(Source::Files(vec![path.clone()]));
    }
    if env.in_cluster {
        return Ok(Source::InCluster);
    }
    Err(KubeError::NoKubeconfig { default_path })
}

/// Reads and merges kubeconfig files, kubectl style (first file to set a key wins).
fn read_merged(files: &[PathBuf]) -> Result<Kubeconfig, KubeError> {
    let mut merged: Option<Kubeconfig> = None;
    for path in files {
        let config = Kubeconfig::read_from(path).map_err(|e| read_error(path, e))?;
        merged = Some(match merged {
            None => config,
            Some(base) => base.merge(config).map_err(|source| KubeError::Config {
                files: describe_files(files),
                source,
            })?,
        });
    }
    Ok(merged.unwrap_or_default())
}

fn read_error(path: &Path, err: KubeconfigError) -> KubeError {
    match err {
        KubeconfigError::ReadConfig(source, _) => KubeError::Read {
            path: path.to_path_buf(),
            source,
        },
        KubeconfigError::Parse(yaml) => {
            let location = yaml.location().filter(|l| l.line() > 0);
            KubeError::Parse {
                path: path.to_path_buf(),
                line: location.map_or(1, |l| l.line()),
                column: location.map_or(1, |l| l.column()),
                message: crate::config::yaml_message(&yaml),
            }
        }
        other => KubeError::Config {
            files: path.display().to_string(),
            source: other,
        },
    }
}

fn describe_files(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIND: &str = "\
apiVersion: v1
kind: Config
clusters:
- name: kind-kind
  cluster:
    server: https://127.0.0.1:34729
contexts:
- name: kind-kind
  context:
    cluster: kind-kind
    user: kind-kind
- name: other
  context:
    cluster: other
    user: kind-kind
    namespace: spark
users:
- name: kind-kind
  user: {}
current-context: kind-kind
";

    const SECOND: &str = "\
apiVersion: v1
kind: Config
clusters:
- name: kind-kind
  cluster:
    server: https://10.0.0.1:6443
- name: other
  cluster:
    server: http://127.0.0.1:8080/prefix/
contexts:
- name: kind-kind
  context:
    cluster: kind-kind
    namespace: ignored
- name: second-only
  context:
    cluster: other
    namespace: kafka
current-context: second-only
";

    struct Files {
        dir: tempfile::TempDir,
    }

    impl Files {
        fn new() -> Self {
            Files {
                dir: tempfile::tempdir().unwrap(),
            }
        }
        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            path
        }
        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }
    }

    fn args(kubeconfig: Option<&Path>) -> KubeArgs {
        KubeArgs {
            kubeconfig: kubeconfig.map(Path::to_path_buf),
            ..KubeArgs::default()
        }
    }

    fn env_list(paths: &[&Path]) -> Environment {
        Environment {
            kubeconfig: Some(std::env::join_paths(paths).unwrap()),
            ..Environment::default()
        }
    }

    #[test]
    fn explicit_kubeconfig_gives_raw_server_and_default_namespace() {
        let f = Files::new();
        let path = f.write("kubeconfig", KIND);
        let target = KubeTarget::load_from(&args(Some(&path)), &Environment::default()).unwrap();
        assert_eq!(target.server(), "https://127.0.0.1:34729");
        assert_eq!(target.namespace(), "default");
        assert_eq!(target.context(), Some("kind-kind"));
        assert_eq!(target.kubeconfig_files(), [path]);
        assert_eq!(target.config().default_namespace, "default");
    }

    #[test]
    fn context_and_namespace_flags_override() {
        let f = Files::new();
        let path = f.write("kubeconfig", KIND);
        let other = f.write("second", SECOND);
        let env = env_list(&[&path, &other]);
        let mut a = KubeArgs {
            context: Some("other".into()),
            ..KubeArgs::default()
        };
        let target = KubeTarget::load_from(&a, &env).unwrap();
        assert_eq!(target.namespace(), "spark");
        // The server string is kept verbatim, trailing slash and path included.
        assert_eq!(target.server(), "http://127.0.0.1:8080/prefix/");
        a.namespace = Some("kafka".into());
        assert_eq!(
            KubeTarget::load_from(&a, &env).unwrap().namespace(),
            "kafka"
        );
    }

    #[test]
    fn kubeconfig_list_merges_first_wins() {
        let f = Files::new();
        let first = f.write("a/config", KIND);
        let second = f.write("b/config", SECOND);
        let target =
            KubeTarget::load_from(&KubeArgs::default(), &env_list(&[&first, &second])).unwrap();
        // current-context from the first file; cluster kind-kind from the first file.
        assert_eq!(target.context(), Some("kind-kind"));
        assert_eq!(target.server(), "https://127.0.0.1:34729");
        assert_eq!(target.namespace(), "default");
        assert_eq!(target.kubeconfig_files(), [first.clone(), second.clone()]);

        // Reversed: the second file now wins for the shared keys.
        let target =
            KubeTarget::load_from(&KubeArgs::default(), &env_list(&[&second, &first])).unwrap();
        assert_eq!(target.context(), Some("second-only"));
        assert_eq!(target.namespace(), "kafka");
        let a = KubeArgs {
            context: Some("kind-kind".into()),
            ..KubeArgs::default()
        };
        let target = KubeTarget::load_from(&a, &env_list(&[&second, &first])).unwrap();
        assert_eq!(target.server(), "https://10.0.0.1:6443");
        assert_eq!(target.namespace(), "ignored");
        // Contexts only defined in the later file are available.
        let a = KubeArgs {
            context: Some("other".into()),
            ..KubeArgs::default()
        };
        assert_eq!(
            KubeTarget::load_from(&a, &env_list(&[&second, &first]))
                .unwrap()
                .namespace(),
            "spark"
        );
    }

    #[test]
    fn kubeconfig_list_skips_missing_files_but_not_all() {
        let f = Files::new();
        let present = f.write("config", KIND);
        let missing = f.path("missing");
        let target =
            KubeTarget::load_from(&KubeArgs::default(), &env_list(&[&missing, &present])).unwrap();
        assert_eq!(target.kubeconfig_files(), [present]);
        let err = KubeTarget::load_from(
            &KubeArgs::default(),
            &env_list(&[&missing, &f.path("also")]),
        )
        .unwrap_err();
        assert!(matches!(err, KubeError::NoneExists { .. }));
        assert!(
            err.to_string().contains("missing") && err.to_string().contains("also"),
            "{err}"
        );
    }

    #[test]
    fn missing_kubeconfig_is_an_error_naming_the_file() {
        let f = Files::new();
        let missing = f.path("nope");
        let err =
            KubeTarget::load_from(&args(Some(&missing)), &Environment::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "kubeconfig {} (from --kubeconfig) does not exist",
                missing.display()
            )
        );
        let err = KubeTarget::load_from(&KubeArgs::default(), &env_list(&[&missing])).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "kubeconfig {} (from $KUBECONFIG) does not exist",
                missing.display()
            )
        );
    }

    #[test]
    fn default_path_then_in_cluster_then_error() {
        let f = Files::new();
        let home = f.path("home");
        let env = Environment {
            home: Some(home.clone()),
            ..Environment::default()
        };
        let err = KubeTarget::load_from(&KubeArgs::default(), &env).unwrap_err();
        assert!(matches!(err, KubeError::NoKubeconfig { .. }));
        assert!(
            err.to_string()
                .contains(&format!("{}/.kube/config does not exist", home.display())),
            "{err}"
        );
        assert!(err.to_string().contains("pass --kubeconfig FILE"), "{err}");

        let in_cluster = Environment {
            in_cluster: true,
            ..env.clone()
        };
        assert_eq!(
            select_source(&KubeArgs::default(), &in_cluster).unwrap(),
            Source::InCluster
        );

        let default = f.write("home/.kube/config", KIND);
        assert_eq!(
            select_source(&KubeArgs::default(), &in_cluster).unwrap(),
            Source::Files(vec![default])
        );
        // An empty KUBECONFIG counts as unset.
        let empty = Environment {
            kubeconfig: Some("".into()),
            ..in_cluster
        };
        assert!(matches!(
            select_source(&KubeArgs::default(), &empty).unwrap(),
            Source::Files(_)
        ));
    }

    #[test]
    #[ignore = "run in its own process, with an in-cluster environment, by in_cluster_is_the_last_resort"]
    fn isolated_in_cluster_without_service_account_files() {
        assert!(
            std::env::var_os("KUBERNETES_SERVICE_HOST").is_some(),
            "started by in_cluster_is_the_last_resort"
        );
        let err = KubeTarget::load(&KubeArgs::default()).unwrap_err();
        assert!(matches!(err, KubeError::InCluster(_)), "{err}");
        assert!(
            err.to_string().starts_with(
                "no kubeconfig found and cannot use the in-cluster service account (/var/run/secrets/kubernetes.io/serviceaccount): "
            ),
            "{err}"
        );
    }

    #[test]
    fn in_cluster_is_the_last_resort() {
        if Path::new("/var/run/secrets/kubernetes.io/serviceaccount").exists() {
            return; // Running inside a pod: the in-cluster config would work.
        }
        let home = tempfile::tempdir().unwrap();
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "kube::tests::isolated_in_cluster_without_service_account_files",
                "--ignored",
                "--quiet",
            ])
            .env_remove("KUBECONFIG")
            .env("HOME", home.path())
            .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
            .env("KUBERNETES_SERVICE_PORT", "6443")
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "{status}");
    }

    #[test]
    fn bad_yaml_reports_file_line_and_column() {
        let f = Files::new();
        let path = f.write(
            "config",
            "apiVersion: v1\nclusters:\n- name: a\n  cluster: [\n",
        );
        let err = KubeTarget::load_from(&args(Some(&path)), &Environment::default()).unwrap_err();
        let KubeError::Parse { line, .. } = err else {
            panic!("{err:?}")
        };
        assert!(line >= 4, "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("invalid kubeconfig {}:{line}:", path.display())),
            "{err}"
        );

        let path = f.write("typed", "contexts: 3\n");
        let err = KubeTarget::load_from(&args(Some(&path)), &Environment::default()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("invalid kubeconfig {}:1:", path.display())),
            "{err}"
        );
    }

    #[test]
    fn current_context_naming_a_missing_context_is_an_error() {
        let f = Files::new();
        let path = f.write(
            "config",
            &KIND.replace("current-context: kind-kind", "current-context: gone"),
        );
        let err = KubeTarget::load_from(&args(Some(&path)), &Environment::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "kubeconfig {}: context \"gone\" (current-context) is not defined (available: kind-kind, other)",
                path.display()
            )
        );
        let a = KubeArgs {
            kubeconfig: Some(path.clone()),
            context: Some("typo".into()),
            ..KubeArgs::default()
        };
        let err = KubeTarget::load_from(&a, &Environment::default()).unwrap_err();
        assert!(
            err.to_string()
                .contains("context \"typo\" (--context) is not defined"),
            "{err}"
        );
    }

    #[test]
    fn context_without_cluster_or_server_is_an_error() {
        let f = Files::new();
        let path = f.write("config", KIND);
        let a = KubeArgs {
            kubeconfig: Some(path.clone()),
            context: Some("other".into()),
            ..KubeArgs::default()
        };
        let err = KubeTarget::load_from(&a, &Environment::default()).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("context \"other\" uses cluster \"other\", which is not defined"),
            "{err}"
        );

        let path = f.write("noserver", "clusters:\n- name: c\n  cluster: {}\ncontexts:\n- name: x\n  context:\n    cluster: c\ncurrent-context: x\n");
        let err = KubeTarget::load_from(&args(Some(&path)), &Environment::default()).unwrap_err();
        assert!(
            err.to_string().ends_with("cluster \"c\" has no server"),
            "{err}"
        );
    }

    #[test]
    fn empty_kubeconfig_has_no_current_context() {
        let f = Files::new();
        let path = f.write("config", "");
        let err = KubeTarget::load_from(&args(Some(&path)), &Environment::default()).unwrap_err();
        assert!(
            err.to_string().ends_with(
                "no current-context is set; pass --context NAME (it defines no contexts)"
            ),
            "{err}"
        );
    }

    #[test]
    fn invalid_namespace_flag_is_rejected_early() {
        let f = Files::new();
        let path = f.write("config", KIND);
        let a = KubeArgs {
            kubeconfig: Some(path),
            namespace: Some("Bad_NS".into()),
            ..KubeArgs::default()
        };
        let err = KubeTarget::load_from(&a, &Environment::default()).unwrap_err();
        assert!(
            err.to_string().starts_with("invalid namespace \"Bad_NS\""),
            "{err}"
        );
    }

    #[test]
    fn flags_are_long_only_and_global() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            kube: KubeArgs,
            #[command(subcommand)]
            cmd: Sub,
        }
        #[derive(clap::Subcommand)]
        enum Sub {
            Get,
        }
        let cli = <Cli as clap::Parser>::try_parse_from([
            "x",
            "get",
            "--context",
            "c",
            "--namespace",
            "n",
            "--kubeconfig",
            "/k",
        ])
        .unwrap();
        assert!(matches!(cli.cmd, Sub::Get));
        assert_eq!(cli.kube.context.as_deref(), Some("c"));
        assert_eq!(cli.kube.namespace.as_deref(), Some("n"));
        assert_eq!(cli.kube.kubeconfig.as_deref(), Some(Path::new("/k")));
        assert!(<Cli as clap::Parser>::try_parse_from(["x", "-n", "a", "get"]).is_err());
    }
}
