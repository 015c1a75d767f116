//! Command-line definition of `finkctl` (clap derive), kept apart from the commands so that
//! `cargo xtask dist` can render man pages and completions from it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use common::cli::{CompletionArgs, Verbosity};

use common::kube::KubeArgs;

use crate::application_wait::WaitFor;
use crate::report::ReportFormat;
use crate::spark_job::Task;
use crate::topics::TopicSource;

const LONG_ABOUT: &str = "\
Command-line tool for managing and interacting with the Fink broker and its components on Spark over Kubernetes

Configuration: finkctl.yaml, with finkctl.secret.yaml deep-merged over it, each searched in
(1) $FINKCONFIG (the only directory searched when set), else (2) the current working directory,
then (3) $HOME/.finkctl. --config and --secret name the files explicitly.";

/// Command-line tool for managing and interacting with the Fink broker and its components on Spark over Kubernetes
#[derive(Debug, Parser)]
#[command(name = "finkctl", version, about, long_about = LONG_ABOUT, propagate_version = true)]
pub struct Cli {
    /// Log level.
    #[command(flatten)]
    pub(crate) verbosity: Verbosity,
    /// Only print what would be done (command line, manifest or action); change nothing
    #[arg(long, global = true)]
    pub(crate) dry_run: bool,
    /// S3 service URL, with or without scheme (overrides s3.endpoint)
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) endpoint: Option<String>,
    /// Main configuration file (instead of searching for finkctl.yaml)
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Secret configuration file (instead of searching for finkctl.secret.yaml)
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) secret: Option<PathBuf>,
    /// Kubernetes access.
    #[command(flatten)]
    pub(crate) kube: KubeArgs,
    /// The command to run.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The commands of `finkctl`.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print the version of finkctl
    Version(VersionArgs),
    /// Generate the autocompletion script for the specified shell
    Completion(CompletionArgs),
    /// Display Fink-broker parameters, for running it on Spark over Kubernetes
    Run(RunArgs),
    /// Manage the S3 storage of Fink broker
    S3(S3Args),
    /// Create/update secrets used by Fink broker
    #[command(alias = "cs")]
    Createsecrets(CreateSecretsArgs),
    /// Delete all spark pods in current namespace
    Delete(DeleteArgs),
    /// Display one or many resources
    #[command(arg_required_else_help = true)]
    Get(GetArgs),
    /// Wait for Fink broker resources to reach a condition
    #[command(arg_required_else_help = true)]
    Wait(WaitArgs),
    /// Suspend a task's SparkApplication (spec.suspend) and wait until it is SUSPENDED
    #[command(arg_required_else_help = true)]
    Suspend(LifecycleArgs),
    /// Resume a task's suspended SparkApplication and wait until it runs again
    #[command(arg_required_else_help = true)]
    Resume(LifecycleArgs),
    /// Show the state of Fink tasks and of their Spark pods
    Status(StatusArgs),
    /// Print the logs of a task's Spark pods
    Logs(LogsArgs),
    /// Show the events of a task's SparkApplication and pods, warnings first
    Events(EventsArgs),
}

/// Arguments of `suspend` and `resume`.
#[derive(Debug, Args)]
pub(crate) struct LifecycleArgs {
    /// Time allowed for the whole command, the wait for the state included (Go duration)
    #[arg(long, global = true, default_value = "60s", value_parser = common::duration::parse_duration)]
    pub(crate) timeout: Duration,
    /// Output format of the state reached
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = ReportFormat::Text)]
    pub(crate) output: ReportFormat,
    /// The task whose SparkApplication changes
    #[command(subcommand)]
    pub(crate) task: Task,
}

/// Arguments of `version` (none).
#[derive(Debug, Args)]
pub(crate) struct VersionArgs {}

/// The night flags of `run` and `s3`.
#[derive(Debug, Args)]
pub(crate) struct NightArgs {
    /// Night to process, YYYYMMDD; overrides run.night, replaces {{.Night}} in finkctl.yaml
    #[arg(short = 'N', long, global = true, value_name = "YYYYMMDD")]
    pub(crate) night: Option<String>,
    /// Use today's UTC date as the night; takes precedence over --night
    #[arg(short = 't', long, global = true)]
    pub(crate) tonight: bool,
}

/// Arguments of `run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The night to process.
    #[command(flatten)]
    pub(crate) night: NightArgs,
    /// Fink-broker image; overrides run.image
    #[arg(short = 'i', long, global = true, value_parser = common::image_ref::checked)]
    pub(crate) image: Option<String>,
    /// Run without the science modules (also set by NOSCIENCE=true)
    #[arg(short = 'n', long, global = true)]
    pub(crate) noscience: bool,
    /// How to launch the task
    #[arg(long, global = true, value_enum, default_value_t = Backend::SparkSubmit)]
    pub(crate) backend: Backend,
    /// Time allowed for the Kubernetes API calls, retries included (the JAAS Secret, the
    /// SparkApplication, the driver pod's outcome; default 60s; spark-submit itself is not
    /// bounded); with --wait, for the whole wait too (default: no limit)
    #[arg(long, global = true, value_parser = common::duration::parse_duration)]
    pub(crate) timeout: Option<Duration>,
    /// Block until the application ends, the exit code mirroring its state (--wait or
    /// --wait=completed), or until it is RUNNING with its driver and executors Ready
    /// (--wait=running, streaming tasks)
    #[arg(long, global = true, value_enum, num_args = 0..=1, require_equals = true,
          default_missing_value = "completed", value_name = "UNTIL")]
    pub(crate) wait: Option<WaitFor>,
    /// Print what applying the SparkApplication would change in the live one, and which
    /// changes restart it; writes nothing
    #[arg(long, global = true, conflicts_with = "wait")]
    pub(crate) diff: bool,
    /// Output format of the state printed by --wait and of --diff
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = ReportFormat::Text)]
    pub(crate) output: ReportFormat,
    /// With --wait: on failure, write a diagnostic bundle of the abnormal Spark pods into DIR
    #[arg(long, global = true, value_name = "DIR", requires = "wait")]
    pub(crate) diag_dir: Option<PathBuf>,
    /// The task to launch; without one, the configuration is logged (at -v 1)
    #[command(subcommand)]
    pub(crate) task: Option<Task>,
}

/// How `run <task>` launches the Spark job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Backend {
    /// Run spark-submit (blocks until the job ends)
    SparkSubmit,
    /// Apply a spark-operator SparkApplication (sparkoperator.k8s.io/v1beta2)
    SparkOperator,
}

/// Arguments of `s3`.
#[derive(Debug, Args)]
pub(crate) struct S3Args {
    /// The night of {{.Night}} in s3.bucket.
    #[command(flatten)]
    pub(crate) night: NightArgs,
    /// The S3 action; without one, the configuration is logged (at -v 1)
    #[command(subcommand)]
    pub(crate) command: Option<S3Command>,
}

/// S3 actions.
#[derive(Debug, Clone, Copy, Subcommand)]
pub(crate) enum S3Command {
    /// Create the Fink broker bucket (object lock enabled) if it does not exist
    #[command(alias = "mb")]
    Makebucket,
}

/// Arguments of `createsecrets`.
#[derive(Debug, Args)]
pub(crate) struct CreateSecretsArgs {
    /// Kafka username
    #[arg(short = 'k', long, default_value = "fink-producer")]
    pub(crate) kafka_username: String,
    /// Kafka password (default: read from the Kafka user's Secret)
    #[arg(short = 'p', long)]
    pub(crate) kafka_password: Option<String>,
    /// Time allowed for the whole command, waiting for the namespace to exist included (Go
    /// duration)
    #[arg(long, default_value = "120s", value_parser = common::duration::parse_duration)]
    pub(crate) timeout: Duration,
}

/// Arguments of `delete`.
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// Delete Spark pods of every namespace, not only the current one
    #[arg(short = 'A', long)]
    pub(crate) all_namespaces: bool,
    /// Time allowed for the whole command, retries included (Go duration)
    #[arg(long, default_value = "60s", value_parser = common::duration::parse_duration)]
    pub(crate) timeout: Duration,
}

/// Arguments of `get`.
#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// What to get.
    #[command(subcommand)]
    pub(crate) what: GetCommand,
}

/// Resources `get` can show.
#[derive(Debug, Subcommand)]
pub(crate) enum GetCommand {
    /// List the Kafka topics produced by the fink-broker
    #[command(aliases = ["to", "topics"])]
    Topic(TopicArgs),
}

/// Output formats of `get topics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// The original's text
    Text,
    /// A JSON array of topic names
    Json,
}

/// Arguments shared by `get topics` and `wait topics`.
#[derive(Debug, Clone, Args)]
pub(crate) struct TopicArgs {
    /// Where topic names come from
    #[arg(long, value_enum, default_value_t = TopicSource::Exec)]
    pub(crate) source: TopicSource,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) output: OutputFormat,
    /// Time allowed for the whole command, retries included (Go duration)
    #[arg(long, default_value = "60s", value_parser = common::duration::parse_duration)]
    pub(crate) timeout: Duration,
}

/// Arguments of `wait`.
#[derive(Debug, Args)]
pub(crate) struct WaitArgs {
    /// Total time to wait, every Kubernetes call and retry included (Go duration)
    #[arg(long, global = true, default_value = "10s", value_parser = common::duration::parse_duration)]
    pub(crate) timeout: Duration,
    /// On failure, write a diagnostic bundle of the abnormal Spark pods into this directory
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) diag_dir: Option<PathBuf>,
    /// What to wait for.
    #[command(subcommand)]
    pub(crate) what: WaitCommand,
}

/// Conditions `wait` can wait for.
#[derive(Debug, Subcommand)]
pub(crate) enum WaitCommand {
    /// Wait for the fink-broker Kafka topics to be created
    #[command(aliases = ["to", "topics"])]
    Topic(WaitTopicArgs),
    /// Wait for fink-broker pods to be launched
    #[command(aliases = ["tsk", "tasks"])]
    Task(WaitTaskArgs),
}

/// Arguments of `wait topics`.
#[derive(Debug, Args)]
pub(crate) struct WaitTopicArgs {
    /// Number of fink topics expected
    #[arg(short = 'e', long, default_value_t = 10)]
    pub(crate) expected: usize,
    /// Succeed when at least --expected topics exist (default: exactly)
    #[arg(long)]
    pub(crate) at_least: bool,
    /// Where topic names come from
    #[arg(long, value_enum, default_value_t = TopicSource::Auto)]
    pub(crate) source: TopicSource,
    /// Pause between the end of one run of kafka-topics.sh and the start of the next (Go
    /// duration, at least 100ms; one run at a time); KafkaTopic resources are watched
    #[arg(long, default_value = "2s", value_parser = common::duration::parse_duration)]
    pub(crate) interval: Duration,
}

/// Arguments of `wait tasks`.
#[derive(Debug, Args)]
pub(crate) struct WaitTaskArgs {
    /// Minimum number of pods per Spark role (driver, executor)
    #[arg(short = 'e', long, default_value_t = 3)]
    pub(crate) expected: usize,
}

/// A task by name or alias (`stream2raw`, `s2r`, `raw2science`, `r`, `distribution`, `d`, `dis`).
fn task_name(text: &str) -> Result<Task, String> {
    use clap::{FromArgMatches, Subcommand};
    let tasks = Task::augment_subcommands(clap::Command::new("task"));
    tasks
        .try_get_matches_from(["task", text])
        .ok()
        .and_then(|m| Task::from_arg_matches(&m).ok())
        .ok_or_else(|| {
            format!("unknown task {text:?}: expected stream2raw (s2r), raw2science (r) or distribution (d, dis)")
        })
}

/// Arguments of `status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// The tasks to show: stream2raw (s2r), raw2science (r), distribution (d, dis); default:
    /// every task found
    #[arg(value_parser = task_name)]
    pub(crate) tasks: Vec<Task>,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = ReportFormat::Text)]
    pub(crate) output: ReportFormat,
    /// Also write a diagnostic bundle of the abnormal Spark pods into this directory
    #[arg(long, value_name = "DIR")]
    pub(crate) diag_dir: Option<PathBuf>,
    /// Time allowed for the whole command, retries included (Go duration)
    #[arg(long, default_value = "60s", value_parser = common::duration::parse_duration)]
    pub(crate) timeout: Duration,
}

/// Arguments of `logs`.
#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    /// The task: stream2raw (s2r), raw2science (r) or distribution (d, dis)
    #[arg(value_parser = task_name)]
    pub(crate) task: Task,
    /// Keep streaming new lines, across container restarts and dropped streams, until the pods end
    #[arg(short = 'f', long)]
    pub(crate) follow: bool,
    /// The executor numbered N instead of the driver
    #[arg(long, value_name = "N", conflicts_with = "all_executors")]
    pub(crate) executor: Option<u32>,
    /// Every executor instead of the driver (each line prefixed with its pod)
    #[arg(long)]
    pub(crate) all_executors: bool,
    /// The previous run of the container (after a restart)
    #[arg(short = 'p', long)]
    pub(crate) previous: bool,
    /// Only the last N lines (of each pod)
    #[arg(long, value_name = "N")]
    pub(crate) tail: Option<u32>,
    /// Time allowed without --follow, retries included (Go duration)
    #[arg(long, default_value = "60s", value_parser = common::duration::parse_duration)]
    pub(crate) timeout: Duration,
}

/// Arguments of `events`.
#[derive(Debug, Args)]
pub(crate) struct EventsArgs {
    /// The task: stream2raw (s2r), raw2science (r) or distribution (d, dis)
    #[arg(value_parser = task_name)]
    pub(crate) task: Task,
    /// Keep printing new events
    #[arg(short = 'w', long)]
    pub(crate) watch: bool,
    /// Output format (one JSON or YAML document per event with --watch)
    #[arg(short = 'o', long, value_enum, default_value_t = ReportFormat::Text)]
    pub(crate) output: ReportFormat,
    /// Time allowed without --watch, retries included (Go duration)
    #[arg(long, default_value = "60s", value_parser = common::duration::parse_duration)]
    pub(crate) timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn flags_work_before_and_after_the_task_and_aliases_resolve() {
        let cli = parse(&[
            "finkctl",
            "run",
            "--noscience",
            "s2r",
            "--image",
            "x",
            "-N",
            "20240101",
            "--dry-run",
        ]);
        assert!(cli.dry_run);
        let Command::Run(run) = cli.command else {
            panic!()
        };
        assert_eq!(run.task, Some(Task::Stream2raw));
        assert!(run.noscience);
        assert_eq!(run.image.as_deref(), Some("x"));
        for (alias, task) in [
            ("r", Task::Raw2science),
            ("d", Task::Distribution),
            ("dis", Task::Distribution),
        ] {
            let Command::Run(run) = parse(&["finkctl", "run", alias]).command else {
                panic!()
            };
            assert_eq!(run.task, Some(task));
        }
    }

    #[test]
    fn endpoint_is_accepted_before_s3() {
        let cli = parse(&[
            "finkctl",
            "--endpoint=localhost:9000",
            "s3",
            "mb",
            "-N",
            "20240101",
        ]);
        assert_eq!(cli.endpoint.as_deref(), Some("localhost:9000"));
        let Command::S3(s3) = cli.command else {
            panic!()
        };
        assert_eq!(s3.night.night.as_deref(), Some("20240101"));
        // One night group for both commands: -N and -t before or after the subcommand.
        for args in [
            &["finkctl", "run", "-t", "s2r", "-N", "20240102"][..],
            &["finkctl", "s3", "-N", "20240102", "mb", "-t"],
        ] {
            let night = match parse(args).command {
                Command::Run(run) => run.night,
                Command::S3(s3) => s3.night,
                _ => panic!("{args:?}"),
            };
            assert_eq!(
                (night.night.as_deref(), night.tonight),
                (Some("20240102"), true)
            );
        }
    }

    #[test]
    fn wait_and_create_secrets_defaults() {
        let Command::Wait(w) = parse(&[
            "finkctl",
            "wait",
            "topics",
            "-e",
            "20",
            "--timeout",
            "60s",
            "-v1",
        ])
        .command
        else {
            panic!()
        };
        assert_eq!(w.timeout, Duration::from_secs(60));
        let WaitCommand::Topic(t) = w.what else {
            panic!()
        };
        assert_eq!(
            (t.expected, t.at_least, t.interval),
            (20, false, Duration::from_secs(2))
        );
        let Command::Wait(w) = parse(&["finkctl", "wait", "tsk"]).command else {
            panic!()
        };
        assert_eq!(w.timeout, Duration::from_secs(10));
        let WaitCommand::Task(t) = w.what else {
            panic!()
        };
        assert_eq!(t.expected, 3);
        let Command::Createsecrets(c) = parse(&["finkctl", "cs"]).command else {
            panic!()
        };
        assert_eq!(
            (
                c.kafka_username.as_str(),
                c.kafka_password.as_deref(),
                c.timeout
            ),
            ("fink-producer", None, Duration::from_secs(120))
        );
        assert!(Cli::try_parse_from(["finkctl", "wait", "topics", "--timeout", "ten"]).is_err());
    }

    #[test]
    fn verbosity_takes_a_value_in_every_form_and_anywhere() {
        for (args, level) in [
            (&["finkctl", "-v1", "version"][..], 1),
            (&["finkctl", "version", "-v", "2"], 2),
            (&["finkctl", "--verbosity=3", "delete"], 3),
            (&["finkctl", "run", "s2r", "-v", "-1"], -1),
            (&["finkctl", "version"], 0),
        ] {
            assert_eq!(parse(args).verbosity.level, level, "{args:?}");
        }
        assert!(Cli::try_parse_from(["finkctl", "version", "-v"]).is_err());
    }

    #[test]
    fn status_logs_and_events_take_task_names_and_aliases() {
        let Command::Status(s) = parse(&["finkctl", "status", "s2r", "dis", "-o", "yaml"]).command
        else {
            panic!()
        };
        assert_eq!(s.tasks, [Task::Stream2raw, Task::Distribution]);
        assert_eq!(s.output, ReportFormat::Yaml);
        let Command::Logs(l) = parse(&["finkctl", "logs", "r", "-f", "--executor", "2"]).command
        else {
            panic!()
        };
        assert_eq!(
            (l.task, l.follow, l.executor),
            (Task::Raw2science, true, Some(2))
        );
        let err = Cli::try_parse_from(["finkctl", "logs", "nope"]).unwrap_err();
        assert!(err.to_string().contains("unknown task \"nope\""), "{err}");
        assert!(
            Cli::try_parse_from(["finkctl", "logs", "d", "--executor", "1", "--all-executors"])
                .is_err()
        );
    }

    #[test]
    fn the_definition_is_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }
}
