//! One Fink task as a Spark job, independent of how it is launched: the image, the Spark confs,
//! the resources and the Python arguments, all read from the configuration. The spark-submit
//! renderer (`spark_submit`) and the SparkApplication renderer (`spark_application`) both start
//! from a [`SparkJob`].

use crate::config::{ConfigError, FinkConfig, or_default};
use crate::restart_policy::RestartPolicy;
use crate::template::{TemplateError, render_night};

/// The Fink tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Subcommand)]
pub(crate) enum Task {
    /// Launch Stream2raw service on Spark over Kubernetes
    #[command(alias = "s2r")]
    Stream2raw,
    /// Launch Raw2science service on Spark over Kubernetes
    #[command(alias = "r")]
    Raw2science,
    /// Launch Distribution service on Spark over Kubernetes
    #[command(aliases = ["d", "dis"])]
    Distribution,
}

impl Task {
    /// The task's config section and name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Task::Stream2raw => "stream2raw",
            Task::Raw2science => "raw2science",
            Task::Distribution => "distribution",
        }
    }

    /// The fink-broker script of the task.
    pub(crate) fn script(self) -> &'static str {
        match self {
            Task::Stream2raw => "stream2raw.py",
            Task::Raw2science => "raw2science.py",
            Task::Distribution => "distribute.py",
        }
    }
}

/// Default Kubernetes service account of the Spark driver.
pub(crate) const DEFAULT_SERVICE_ACCOUNT: &str = "spark";
/// Default directory of the fink-broker scripts inside the image.
pub(crate) const DEFAULT_SCRIPT_DIR: &str = "local:///home/fink/fink-broker/bin/";
/// Java options given to the driver (Ivy cache in a writable place).
pub(crate) const DRIVER_JAVA_OPTIONS: &str = "-Divy.cache.dir=/tmp -Divy.home=/tmp";
/// Name of the Secret holding the Kafka JAAS file.
pub(crate) const JAAS_SECRET: &str = "fink-kafka-jaas";
/// Where the JAAS Secret is mounted in the executors.
pub(crate) const JAAS_MOUNT_PATH: &str = "/etc/fink-broker";
/// File name of the JAAS text inside the Secret.
pub(crate) const JAAS_FILE: &str = "kafka-jaas.conf";

/// Error while building a job from the configuration.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JobError {
    /// A config value has the wrong shape.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A templated value cannot be rendered.
    #[error(transparent)]
    Template(#[from] TemplateError),
}

/// How a `--conf key=value` is written on the spark-submit line (the original's template).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConfStyle {
    /// `key=value`
    Bare,
    /// `key="value"`
    QuotedValue,
    /// `key="value"`, and the value is a secret (hidden in logs)
    SecretValue,
    /// `"key=value"`
    QuotedWhole,
}

/// One Spark configuration property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Conf {
    /// Property name.
    pub(crate) key: String,
    /// Property value.
    pub(crate) value: String,
    /// Spark-submit quoting.
    pub(crate) style: ConfStyle,
}

impl Conf {
    fn new(key: &str, value: impl Into<String>, style: ConfStyle) -> Self {
        Self {
            key: key.to_string(),
            value: value.into(),
            style,
        }
    }
}

/// One argument of the Python script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AppArg {
    /// `-flag "value"`
    Option(String, String),
    /// `--flag` alone
    Flag(String),
    /// A verbatim token (extra arguments from the configuration)
    Raw(String),
}

/// The requested cores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cpu {
    /// No cores setting.
    Unset,
    /// `cpu: 0`: request zero cores (CI runners); Spark refuses `cores=0`.
    ZeroRequest,
    /// `cpu: N`: driver and executor cores.
    Cores(String),
}

/// A Fink task ready to be rendered for spark-submit or for the spark-operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SparkJob {
    /// Which task.
    pub(crate) task: Task,
    /// Kubernetes namespace of the driver.
    pub(crate) namespace: String,
    /// Service account of the driver.
    pub(crate) service_account: String,
    /// Container image.
    pub(crate) image: String,
    /// Storage confs (the S3A block, empty when `run.online_data_prefix` is set).
    pub(crate) storage: Vec<Conf>,
    /// Executor instances (`""`: Spark's default of the base conf).
    pub(crate) instances: String,
    /// Driver and executor memory (`""`: unset).
    pub(crate) memory: String,
    /// Driver and executor cores.
    pub(crate) cpu: Cpu,
    /// Whether the executors mount the Kafka JAAS Secret (distribution).
    pub(crate) kafka_jaas: bool,
    /// The Python script, e.g. `local:///home/fink/fink-broker/bin/stream2raw.py`.
    pub(crate) main_file: String,
    /// Python arguments, grouped by printed line.
    pub(crate) arg_lines: Vec<Vec<AppArg>>,
}

/// What the command line adds to the configuration.
#[derive(Debug, Clone)]
pub(crate) struct JobRequest<'a> {
    /// The task.
    pub(crate) task: Task,
    /// The resolved night.
    pub(crate) night: &'a str,
    /// `--image`, overriding `run.image`.
    pub(crate) image: Option<&'a str>,
    /// `--noscience` (or `NOSCIENCE=true`).
    pub(crate) noscience: bool,
    /// The namespace of the current kube context.
    pub(crate) namespace: &'a str,
}

/// The restart policy of `task`: its own `restart_policy` section, else `run.restart_policy`, else
/// none (the rendered application keeps `type: Never`).
pub(crate) fn restart_policy(config: &FinkConfig, task: Task) -> Option<&RestartPolicy> {
    let own = match task {
        Task::Stream2raw => &config.stream2raw.restart_policy,
        Task::Raw2science => &config.raw2science.restart_policy,
        Task::Distribution => &config.distribution.restart_policy,
    };
    own.as_ref().or(config.run.restart_policy.as_ref())
}

/// Builds the job of `request.task` from `config`.
pub(crate) fn build_job(
    config: &FinkConfig,
    request: &JobRequest<'_>,
) -> Result<SparkJob, JobError> {
    let task = request.task;
    let section = task.name();
    let own = TaskResources::of(config, task);
    let per_task = |specific: &str, shared: &str| or_default(specific, shared);
    let image = match request.image {
        Some(image) if !image.is_empty() => image.to_string(),
        _ => {
            let image = config.run.image.clone();
            if !image.is_empty() {
                common::image_ref::checked(&image).map_err(|e| ConfigError::Value {
                    key: "run.image".into(),
                    problem: e.to_string(),
                })?;
            }
            image
        }
    };
    let configured_prefix = config.run.online_data_prefix.clone();
    let (storage, online_data_prefix) = if configured_prefix.is_empty() {
        let bucket = render_night("s3.bucket", &config.s3.bucket, request.night)?;
        (s3_confs(config), format!("s3a://{bucket}"))
    } else {
        (Vec::new(), configured_prefix)
    };
    let instances = per_task(own.instances, &config.run.instances);
    if !instances.is_empty() && instances.parse::<u32>().is_err() {
        return Err(ConfigError::Value {
            key: format!("{section}.instances (or run.instances)"),
            problem: format!("{instances:?} is not a whole number of executors"),
        }
        .into());
    }
    let cpu = match per_task(own.cpu, &config.run.cpu).as_str() {
        "" => Cpu::Unset,
        "0" => Cpu::ZeroRequest,
        cores => Cpu::Cores(cores.to_string()),
    };
    let mut script_dir = or_default(&config.run.script_dir, DEFAULT_SCRIPT_DIR);
    if !script_dir.ends_with('/') {
        script_dir.push('/');
    }

    let opt = |flag: &str, value: String| AppArg::Option(flag.to_string(), value);
    let mut arg_lines = vec![
        vec![opt("-log_level", config.run.log_level.clone())],
        vec![opt("-online_data_prefix", online_data_prefix)],
        vec![opt("-producer", config.run.producer.clone())],
        vec![opt("-tinterval", config.run.fink_trigger_update.clone())],
    ];
    if request.noscience {
        arg_lines.push(vec![AppArg::Flag("--noscience".into())]);
    }
    let night = request.night.to_string();
    match task {
        Task::Stream2raw => {
            let topic = render_night(
                "stream2raw.kafka_topic",
                &config.stream2raw.kafka_topic,
                request.night,
            )?;
            arg_lines.push(vec![opt(
                "-servers",
                config.stream2raw.kafka_socket.clone(),
            )]);
            arg_lines.push(vec![opt(
                "-schema",
                config.stream2raw.fink_alert_schema.clone(),
            )]);
            arg_lines.push(vec![opt(
                "-startingoffsets_stream",
                config.stream2raw.kafka_starting_offset.clone(),
            )]);
            arg_lines.push(vec![opt("-topic", topic)]);
            arg_lines.push(vec![opt(
                "-max_offsets_per_trigger",
                config.stream2raw.max_offsets_per_trigger.clone(),
            )]);
            if config.stream2raw.night_arg {
                arg_lines.push(vec![opt("-night", night)]);
            }
        }
        Task::Raw2science => {
            arg_lines.push(vec![
                opt("-night", night),
                opt("-mmconfigpath", config.raw2science.mmconfigpath.clone()),
            ]);
        }
        Task::Distribution => {
            let servers = or_default(
                &config.distribution.distribution_servers,
                &config.stream2raw.kafka_socket,
            );
            arg_lines.push(vec![opt("-distribution_servers", servers)]);
            let schema = config.distribution.distribution_schema.clone();
            if !schema.is_empty() {
                arg_lines.push(vec![opt("-distribution_schema", schema)]);
            }
            let d = &config.distribution;
            for (key, value) in [
                ("substream_prefix", &d.substream_prefix),
                ("kafka_buffer_memory", &d.kafka_buffer_memory),
                ("kafka_delivery_timeout_ms", &d.kafka_delivery_timeout_ms),
                ("mmconfigpath", &d.mmconfigpath),
            ] {
                arg_lines.push(vec![opt(&format!("-{key}"), value.clone())]);
            }
            let protocol = d.kafka_security_protocol.clone();
            if !protocol.is_empty() {
                arg_lines.push(vec![opt("-kafka_security_protocol", protocol)]);
            }
            arg_lines.push(vec![opt("-night", night)]);
        }
    }
    // An option without a value is left out: fink-broker's argparse refuses `-name ""` for its
    // integer options, and its own defaults apply instead.
    for line in &mut arg_lines {
        line.retain(|arg| !matches!(arg, AppArg::Option(_, value) if value.is_empty()));
    }
    arg_lines.retain(|line| !line.is_empty());
    let extra: Vec<AppArg> = config
        .run
        .extra_args
        .iter()
        .chain(own.extra_args)
        .cloned()
        .map(AppArg::Raw)
        .collect();
    if !extra.is_empty() {
        arg_lines.push(extra);
    }

    Ok(SparkJob {
        task,
        namespace: request.namespace.to_string(),
        service_account: or_default(&config.run.service_account, DEFAULT_SERVICE_ACCOUNT),
        image,
        storage,
        instances,
        memory: per_task(own.memory, &config.run.memory),
        cpu,
        kafka_jaas: task == Task::Distribution,
        main_file: format!("{script_dir}{}", task.script()),
        arg_lines,
    })
}

/// A task's own `cpu`, `memory`, `instances` (which win over `run.*`) and `extra_args`.
struct TaskResources<'a> {
    cpu: &'a str,
    memory: &'a str,
    instances: &'a str,
    extra_args: &'a [String],
}

impl<'a> TaskResources<'a> {
    fn of(config: &'a FinkConfig, task: Task) -> Self {
        macro_rules! of {
            ($section:expr) => {
                Self {
                    cpu: &$section.cpu,
                    memory: &$section.memory,
                    instances: &$section.instances,
                    extra_args: &$section.extra_args,
                }
            };
        }
        match task {
            Task::Stream2raw => of!(config.stream2raw),
            Task::Raw2science => of!(config.raw2science),
            Task::Distribution => of!(config.distribution),
        }
    }
}

fn s3_confs(config: &FinkConfig) -> Vec<Conf> {
    use ConfStyle::*;
    let ssl = config.s3.use_ssl;
    vec![
        Conf::new(
            "spark.hadoop.fs.s3a.endpoint",
            config.s3.endpoint.clone(),
            Bare,
        ),
        Conf::new(
            "spark.hadoop.fs.s3a.access.key",
            config.s3.id.clone(),
            SecretValue,
        ),
        Conf::new(
            "spark.hadoop.fs.s3a.secret.key",
            config.s3.secret.clone(),
            SecretValue,
        ),
        Conf::new(
            "spark.hadoop.mapreduce.fileoutputcommitter.algorithm.version",
            "2",
            Bare,
        ),
        Conf::new(
            "spark.hadoop.fs.s3a.connection.ssl.enabled",
            ssl.to_string(),
            Bare,
        ),
        Conf::new("spark.hadoop.fs.s3a.fast.upload", "true", Bare),
        Conf::new("spark.hadoop.fs.s3a.path.style.access", "true", Bare),
        Conf::new(
            "spark.hadoop.fs.s3a.aws.credentials.provider",
            "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
            Bare,
        ),
        Conf::new(
            "spark.hadoop.fs.s3a.impl",
            "org.apache.hadoop.fs.s3a.S3AFileSystem",
            QuotedValue,
        ),
    ]
}

/// The executor Java option pointing to the mounted JAAS file.
pub(crate) fn executor_jaas_java_options() -> String {
    format!("-Djava.security.auth.login.config={JAAS_MOUNT_PATH}/{JAAS_FILE}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(task: Task) -> JobRequest<'static> {
        JobRequest {
            task,
            night: "20000101",
            image: None,
            noscience: false,
            namespace: "ns",
        }
    }

    #[test]
    fn online_data_prefix_replaces_the_s3_block() {
        let c = FinkConfig::from_yaml_texts(&[
            "run:\n  online_data_prefix: hdfs://nn:8020/fink\ns3:\n  bucket: b\n",
        ])
        .unwrap();
        let job = build_job(&c, &request(Task::Raw2science)).unwrap();
        assert!(job.storage.is_empty());
        assert!(job.arg_lines.contains(&vec![AppArg::Option(
            "-online_data_prefix".into(),
            "hdfs://nn:8020/fink".into()
        )]));
    }

    #[test]
    fn per_task_values_override_run_values() {
        let c = FinkConfig::from_yaml_texts(&[
            "run:\n  cpu: 2\n  memory: 1g\n  instances: 1\nraw2science:\n  memory: 3g\n  cpu: 0\n",
        ])
        .unwrap();
        let job = build_job(&c, &request(Task::Raw2science)).unwrap();
        assert_eq!(
            (job.memory.as_str(), job.instances.as_str(), &job.cpu),
            ("3g", "1", &Cpu::ZeroRequest)
        );
        let job = build_job(&c, &request(Task::Stream2raw)).unwrap();
        assert_eq!(job.cpu, Cpu::Cores("2".into()));
    }

    #[test]
    fn current_fink_broker_arguments_are_reachable_through_config() {
        let c = FinkConfig::from_yaml_texts(&[
            "run:\n  script_dir: local:///home/fink/fink-broker/bin/ztf\n  extra_args: [-x, '1']\nstream2raw:\n  night_arg: true\ndistribution:\n  kafka_security_protocol: SASL_PLAINTEXT\n  extra_args: -y\n",
        ])
        .unwrap();
        let job = build_job(&c, &request(Task::Stream2raw)).unwrap();
        assert_eq!(
            job.main_file,
            "local:///home/fink/fink-broker/bin/ztf/stream2raw.py"
        );
        assert!(
            job.arg_lines
                .contains(&vec![AppArg::Option("-night".into(), "20000101".into())])
        );
        assert_eq!(
            job.arg_lines.last().unwrap(),
            &vec![AppArg::Raw("-x".into()), AppArg::Raw("1".into())]
        );
        let job = build_job(&c, &request(Task::Distribution)).unwrap();
        let flat: Vec<_> = job.arg_lines.concat();
        assert!(flat.contains(&AppArg::Option(
            "-kafka_security_protocol".into(),
            "SASL_PLAINTEXT".into()
        )));
        assert!(
            !flat
                .iter()
                .any(|a| matches!(a, AppArg::Option(f, _) if f == "-distribution_schema"))
        );
        assert_eq!(
            job.arg_lines.last().unwrap(),
            &vec![
                AppArg::Raw("-x".into()),
                AppArg::Raw("1".into()),
                AppArg::Raw("-y".into())
            ]
        );
    }

    #[test]
    fn the_configured_image_must_be_an_image_reference() {
        let c = FinkConfig::from_yaml_texts(&["run:\n  image: \"img:1\\n--conf x=y\"\n"]).unwrap();
        let err = build_job(&c, &request(Task::Raw2science))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "config key run.image: invalid image reference \"img:1\\n--conf x=y\": a tag is 1 to 128 characters of [A-Za-z0-9_.-], not starting with . or -"
        );
        let c = FinkConfig::from_yaml_texts(&[
            "run:\n  image: gitlab-registry.in2p3.fr/astrolabsoftware/fink/fink-broker:2.7.1\n",
        ])
        .unwrap();
        assert!(build_job(&c, &request(Task::Raw2science)).is_ok());
    }

    #[test]
    fn options_without_a_value_are_left_out() {
        // fink-broker's deploy/fink_int/finkctl.yaml sets neither max_offsets_per_trigger nor
        // the distribution's Kafka sizes.
        let c = FinkConfig::from_yaml_texts(&[
            "run:\n  log_level: INFO\nraw2science:\n  mmconfigpath: ''\n",
        ])
        .unwrap();
        for task in [Task::Stream2raw, Task::Raw2science, Task::Distribution] {
            let job = build_job(&c, &request(task)).unwrap();
            let flat = job.arg_lines.concat();
            let empty: Vec<_> = flat
                .iter()
                .filter(|a| matches!(a, AppArg::Option(_, v) if v.is_empty()))
                .collect();
            assert!(empty.is_empty(), "{task:?}: {empty:?}");
            assert!(job.arg_lines.iter().all(|l| !l.is_empty()), "{task:?}");
            assert!(flat.contains(&AppArg::Option("-log_level".into(), "INFO".into())));
        }
        let job = build_job(&c, &request(Task::Raw2science)).unwrap();
        assert_eq!(
            job.arg_lines.last().unwrap(),
            &vec![AppArg::Option("-night".into(), "20000101".into())]
        );
    }

    #[test]
    fn instances_must_be_a_whole_number() {
        let c = FinkConfig::from_yaml_texts(&["run:\n  instances: 4x\n"]).unwrap();
        let err = build_job(&c, &request(Task::Raw2science))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "config key raw2science.instances (or run.instances): \"4x\" is not a whole number of executors"
        );
    }

    #[test]
    fn distribution_servers_default_to_the_kafka_socket() {
        let c = FinkConfig::from_yaml_texts(&["stream2raw:\n  kafka_socket: k:9092\n"]).unwrap();
        let job = build_job(&c, &request(Task::Distribution)).unwrap();
        assert!(job.arg_lines.concat().contains(&AppArg::Option(
            "-distribution_servers".into(),
            "k:9092".into()
        )));
    }

    #[test]
    fn unsupported_template_variables_fail() {
        let c =
            FinkConfig::from_yaml_texts(&["stream2raw:\n  kafka_topic: t-{{.Image}}\n"]).unwrap();
        let err = build_job(&c, &request(Task::Stream2raw))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("stream2raw.kafka_topic") && err.contains("{{.Image}}"),
            "{err}"
        );
    }

    fn policy(
        yaml: &str,
        task: Task,
    ) -> Result<Option<crate::restart_policy::RestartPolicy>, String> {
        let config = FinkConfig::from_yaml_texts(&[yaml]).map_err(|e| e.to_string())?;
        Ok(restart_policy(&config, task).cloned())
    }

    #[test]
    fn the_task_section_wins_over_run_and_intervals_become_seconds() {
        let yaml = "run:\n  restart_policy:\n    type: Always\ndistribution:\n  restart_policy:\n    type: OnFailure\n    on_failure_retries: 3\n    on_failure_retry_interval: 1m\n    on_submission_failure_retries: 1\n    on_submission_failure_retry_interval: 20\n";
        let spec = policy(yaml, Task::Distribution).unwrap().unwrap().to_spec();
        assert_eq!(
            spec,
            serde_json::json!({"type": "OnFailure", "onFailureRetries": 3, "onFailureRetryInterval": 60,
                   "onSubmissionFailureRetries": 1, "onSubmissionFailureRetryInterval": 20})
        );
        let spec = policy(yaml, Task::Stream2raw).unwrap().unwrap().to_spec();
        assert_eq!(spec, serde_json::json!({"type": "Always"}));
        assert!(
            policy("run:\n  cpu: 1\n", Task::Stream2raw)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn bad_sections_name_the_place_and_the_problem() {
        for (yaml, place, expected) in [
            (
                "stream2raw:\n  restart_policy:\n    type: Sometimes\n",
                "<inline>:3:11: stream2raw.restart_policy.type: ",
                "unknown variant `Sometimes`",
            ),
            (
                "stream2raw:\n  restart_policy:\n    type: Never\n    retries: 2\n",
                "<inline>:",
                "unknown field `retries`",
            ),
            (
                "stream2raw:\n  restart_policy:\n    type: OnFailure\n    on_failure_retry_interval: 0\n",
                "<inline>:4:32: stream2raw.restart_policy.on_failure_retry_interval: ",
                "at least 1 second",
            ),
            (
                "stream2raw:\n  restart_policy:\n    type: OnFailure\n    on_failure_retry_interval: 1.5s\n",
                "<inline>:4:32: stream2raw.restart_policy.on_failure_retry_interval: ",
                "not whole seconds",
            ),
        ] {
            let err = policy(yaml, Task::Stream2raw).unwrap_err();
            assert!(err.starts_with(place), "{err}");
            assert!(err.contains(expected), "{err}");
        }
    }
}
