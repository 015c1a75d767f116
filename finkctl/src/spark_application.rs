//! A Fink task as a spark-operator `SparkApplication` (`sparkoperator.k8s.io/v1beta2`): the same
//! image, confs, resources, arguments and JAAS Secret mount as the spark-submit command.

use kube::discovery::ApiResource;
use serde_json::{Map, Value, json};

use crate::restart_policy::RestartPolicy;
use crate::spark_job::{
    AppArg, ConfStyle, Cpu, DRIVER_JAVA_OPTIONS, JAAS_MOUNT_PATH, JAAS_SECRET, SparkJob, Task,
    executor_jaas_java_options,
};

/// API group/version of SparkApplication.
pub(crate) const API_VERSION: &str = "sparkoperator.k8s.io/v1beta2";
/// Default Spark version written in `spec.sparkVersion`.
pub(crate) const DEFAULT_SPARK_VERSION: &str = "3.4.1";
/// Label set on every SparkApplication created by finkctl.
pub(crate) const TASK_LABEL: &str = "fink.astrolabsoftware.org/task";

/// Name of the SparkApplication of a task, e.g. `fink-stream2raw`.
pub(crate) fn application_name(job: &SparkJob) -> String {
    task_application_name(job.task)
}

/// Name of the SparkApplication of `task`.
pub(crate) fn task_application_name(task: Task) -> String {
    format!("fink-{}", task.name())
}

/// The number of executors (`spec.executor.instances`): validated by `build_job`; empty means
/// Spark's default of one.
pub(crate) fn executor_instances(job: &SparkJob) -> u32 {
    job.instances.parse().unwrap_or(1)
}

/// Renders `job` as a SparkApplication manifest; without a `restart` policy, `type: Never`.
pub(crate) fn render(
    job: &SparkJob,
    spark_version: &str,
    restart: Option<&RestartPolicy>,
) -> Value {
    let mut spark_conf = Map::new();
    for conf in &job.storage {
        spark_conf.insert(conf.key.clone(), Value::String(conf.value.clone()));
    }
    let mut driver = Map::new();
    let mut executor = Map::new();
    driver.insert("serviceAccount".into(), json!(job.service_account));
    driver.insert("javaOptions".into(), json!(DRIVER_JAVA_OPTIONS));
    executor.insert("instances".into(), json!(executor_instances(job)));
    if !job.memory.is_empty() {
        driver.insert("memory".into(), json!(job.memory));
        executor.insert("memory".into(), json!(job.memory));
    }
    match &job.cpu {
        Cpu::Unset => {}
        Cpu::ZeroRequest => {
            spark_conf.insert("spark.kubernetes.driver.request.cores".into(), json!("0"));
            spark_conf.insert("spark.kubernetes.executor.request.cores".into(), json!("0"));
        }
        Cpu::Cores(cores) => match cores.parse::<i64>() {
            Ok(n) => {
                driver.insert("cores".into(), json!(n));
                executor.insert("cores".into(), json!(n));
            }
            Err(_) => {
                driver.insert("coreRequest".into(), json!(cores));
                executor.insert("coreRequest".into(), json!(cores));
            }
        },
    }
    let mut spec = json!({
        "type": "Python",
        "pythonVersion": "3",
        "mode": "cluster",
        "image": job.image,
        "imagePullPolicy": "IfNotPresent",
        "mainApplicationFile": job.main_file,
        "arguments": arguments(job),
        "sparkVersion": spark_version,
        "restartPolicy": restart.map_or_else(|| json!({ "type": "Never" }), RestartPolicy::to_spec),
        "sparkConf": spark_conf,
    });
    if job.kafka_jaas {
        executor.insert("javaOptions".into(), json!(executor_jaas_java_options()));
        executor.insert(
            "volumeMounts".into(),
            json!([{ "name": "kafka-secret", "mountPath": JAAS_MOUNT_PATH, "readOnly": true }]),
        );
        spec["volumes"] =
            json!([{ "name": "kafka-secret", "secret": { "secretName": JAAS_SECRET } }]);
    }
    spec["driver"] = Value::Object(driver);
    spec["executor"] = Value::Object(executor);
    json!({
        "apiVersion": API_VERSION,
        "kind": "SparkApplication",
        "metadata": {
            "name": application_name(job),
            "namespace": job.namespace,
            "labels": { TASK_LABEL: job.task.name() },
        },
        "spec": spec,
    })
}

/// `manifest` (rendered from `job`) with the secret Spark confs (the S3 keys) shown as
/// `<redacted>`: what `--dry-run` prints.
pub(crate) fn redacted(mut manifest: Value, job: &SparkJob) -> Value {
    let secrets = job
        .storage
        .iter()
        .filter(|c| c.style == ConfStyle::SecretValue && !c.value.is_empty());
    for conf in secrets {
        if let Some(value) = manifest["spec"]["sparkConf"].get_mut(&conf.key) {
            *value = json!("<redacted>");
        }
    }
    manifest
}

fn arguments(job: &SparkJob) -> Vec<String> {
    job.arg_lines
        .iter()
        .flatten()
        .flat_map(|arg| match arg {
            AppArg::Option(flag, value) => vec![flag.clone(), value.clone()],
            AppArg::Flag(flag) | AppArg::Raw(flag) => vec![flag.clone()],
        })
        .collect()
}

/// The SparkApplication API resource.
pub(crate) fn spark_application_resource() -> ApiResource {
    ApiResource {
        group: "sparkoperator.k8s.io".into(),
        version: "v1beta2".into(),
        api_version: API_VERSION.into(),
        kind: "SparkApplication".into(),
        plural: "sparkapplications".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FinkConfig;
    use crate::spark_job::{JobRequest, build_job};

    fn fixture_config(extra: &str) -> FinkConfig {
        FinkConfig::from_yaml_texts(&[
            include_str!("../tests/fixtures/finkctl.yaml.orig"),
            include_str!("../tests/fixtures/finkctl.secret.yaml"),
            extra,
        ])
        .unwrap()
    }

    fn job(task: Task, config: &FinkConfig) -> SparkJob {
        let request = JobRequest {
            task,
            night: "20000101",
            image: Some("param_image"),
            noscience: true,
            namespace: "spark",
        };
        build_job(config, &request).unwrap()
    }

    #[test]
    fn distribution_has_the_same_image_confs_resources_arguments_and_jaas_mount() {
        let config = fixture_config("");
        let app = render(
            &job(Task::Distribution, &config),
            DEFAULT_SPARK_VERSION,
            None,
        );
        assert_eq!(app["apiVersion"], API_VERSION);
        assert_eq!(app["metadata"]["name"], "fink-distribution");
        assert_eq!(app["metadata"]["namespace"], "spark");
        let spec = &app["spec"];
        assert_eq!(spec["image"], "param_image");
        assert_eq!(
            spec["mainApplicationFile"],
            "local:///home/fink/fink-broker/bin/distribute.py"
        );
        assert_eq!(
            spec["sparkConf"]["spark.hadoop.fs.s3a.endpoint"],
            "http://minio.minio:9000"
        );
        assert_eq!(
            spec["sparkConf"]["spark.hadoop.fs.s3a.secret.key"],
            "minioadmin"
        );
        let shown = redacted(app.clone(), &job(Task::Distribution, &config));
        for key in ["access.key", "secret.key"] {
            assert_eq!(
                shown["spec"]["sparkConf"][format!("spark.hadoop.fs.s3a.{key}")],
                "<redacted>"
            );
        }
        assert_eq!(shown["spec"]["image"], "param_image");
        assert_eq!(spec["driver"]["memory"], "2Gi");
        assert_eq!(spec["executor"]["cores"], 1);
        assert_eq!(spec["driver"]["serviceAccount"], "spark");
        assert_eq!(
            spec["executor"]["javaOptions"],
            "-Djava.security.auth.login.config=/etc/fink-broker/kafka-jaas.conf"
        );
        assert_eq!(
            spec["executor"]["volumeMounts"][0]["mountPath"],
            "/etc/fink-broker"
        );
        assert_eq!(
            spec["volumes"][0]["secret"]["secretName"],
            "fink-kafka-jaas"
        );
        let args: Vec<&str> = spec["arguments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(&args[..3], ["-log_level", "INFO", "-online_data_prefix"]);
        assert!(args.contains(&"--noscience"));
        assert_eq!(&args[args.len() - 2..], ["-night", "20000101"]);
    }

    #[test]
    fn zero_cpu_and_instances() {
        let config = fixture_config("run:\n  cpu: 0\n");
        let app = render(&job(Task::Raw2science, &config), "3.5.0", None);
        assert_eq!(
            app["spec"]["sparkConf"]["spark.kubernetes.driver.request.cores"],
            "0"
        );
        assert!(app["spec"]["driver"].get("cores").is_none());
        assert_eq!(app["spec"]["executor"]["instances"], 4);
        assert_eq!(app["spec"]["sparkVersion"], "3.5.0");
        assert!(app["spec"].get("volumes").is_none());
    }
}
