//! `finkctl.yaml` + `finkctl.secret.yaml`: discovery, deep merge, and typed decoding with the
//! original's loose typing (viper and mapstructure's `WeaklyTypedInput`: keys without case,
//! numbers read as strings, Go booleans), and secret redaction.
//!
//! Discovery: `--config`/`--secret` name files explicitly; otherwise each file is searched on its
//! own in `$FINKCONFIG` (the only directory when set), else the working directory, then
//! `$HOME/.finkctl`.

use std::ffi::OsString;
use std::path::PathBuf;

use common::config::{ConfigLocator, Node, Scalars};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::restart_policy::RestartPolicy;

/// Name of the main configuration file.
pub(crate) const CONFIG_FILE: &str = "finkctl.yaml";
/// Name of the secret configuration file, deep-merged over the main one.
pub(crate) const SECRET_FILE: &str = "finkctl.secret.yaml";

/// Shown instead of a secret value.
const REDACTED: &str = "<redacted>";

/// A configuration problem.
#[derive(Debug, Error)]
pub(crate) enum ConfigError {
    /// A required file was not found in any searched place.
    #[error(
        "{file} not found (searched {searched}): set FINKCONFIG to the directory that holds it, or pass --{flag} <file>"
    )]
    NotFound {
        /// File name looked for.
        file: &'static str,
        /// The places searched.
        searched: String,
        /// The flag that names the file explicitly.
        flag: &'static str,
    },
    /// A file cannot be found, read or parsed (the message names file, line and column).
    #[error(transparent)]
    File(#[from] common::config::ConfigError),
    /// A value has the wrong shape for its key.
    #[error("config key {key}: {problem}")]
    Value {
        /// Dotted key.
        key: String,
        /// What is wrong.
        problem: String,
    },
}

/// Where to look for the files: explicit paths from the flags, and the search environment.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConfigSources {
    /// `--config <file>`.
    pub(crate) config: Option<PathBuf>,
    /// `--secret <file>`.
    pub(crate) secret: Option<PathBuf>,
    /// `$FINKCONFIG`: when set, the only place searched (a directory, or a file).
    pub(crate) finkconfig: Option<OsString>,
    /// The working directory.
    pub(crate) cwd: PathBuf,
    /// `$HOME`.
    pub(crate) home: Option<PathBuf>,
}

impl ConfigSources {
    /// Sources from the flags and the process environment.
    pub(crate) fn from_env(config: Option<PathBuf>, secret: Option<PathBuf>) -> Self {
        Self {
            config,
            secret,
            finkconfig: std::env::var_os("FINKCONFIG"),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            home: std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        }
    }

    fn locate(
        &self,
        explicit: Option<&PathBuf>,
        file: &'static str,
        names: &'static [&'static str],
        flag: &'static str,
        required: bool,
    ) -> Result<Option<PathBuf>, ConfigError> {
        let locator = ConfigLocator {
            explicit: explicit.cloned(),
            env_var: "FINKCONFIG",
            file_names: names,
            home_subdir: ".finkctl",
        };
        let found =
            match locator.find_from(self.finkconfig.clone(), &self.cwd, self.home.as_deref()) {
                // Commands that only read optional keys do not fail on a FINKCONFIG directory
                // lacking one of the files (the original did not read them at all).
                Err(common::config::ConfigError::NotInDir { .. })
                    if !required && explicit.is_none() =>
                {
                    None
                }
                other => other?,
            };
        match found {
            None if required => Err(ConfigError::NotFound {
                file,
                searched: locator.searched(),
                flag,
            }),
            found => Ok(found),
        }
    }
}

/// `run:` settings shared by the three tasks (a task's own `cpu`, `memory`, `instances` win).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct Run {
    /// Spark cores of the driver and executors (`0`: request no cores).
    pub(crate) cpu: String,
    /// Spark memory of the driver and executors.
    pub(crate) memory: String,
    /// Number of Spark executors.
    pub(crate) instances: String,
    /// `-tinterval`.
    pub(crate) fink_trigger_update: String,
    /// Spark image (`--image` wins).
    pub(crate) image: String,
    /// `-online_data_prefix` (default `s3a://<s3.bucket>`).
    pub(crate) online_data_prefix: String,
    /// `-producer`.
    pub(crate) producer: String,
    /// `-log_level`.
    pub(crate) log_level: String,
    /// Default night (`-N`/`-t` win).
    pub(crate) night: String,
    /// Spark service account.
    pub(crate) service_account: String,
    /// Directory of the fink-broker scripts in the image.
    pub(crate) script_dir: String,
    /// Spark version of the SparkApplication backend.
    pub(crate) spark_version: String,
    /// Arguments appended to every task's command line.
    pub(crate) extra_args: Vec<String>,
    /// `restart_policy:` of every task (a task's own wins).
    pub(crate) restart_policy: Option<RestartPolicy>,
}

/// `stream2raw:` settings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct Stream2raw {
    /// Overrides `run.cpu`.
    pub(crate) cpu: String,
    /// Overrides `run.memory`.
    pub(crate) memory: String,
    /// Overrides `run.instances`.
    pub(crate) instances: String,
    /// `-servers`, and the default of `distribution.distribution_servers`.
    pub(crate) kafka_socket: String,
    /// `-schema`.
    pub(crate) fink_alert_schema: String,
    /// `-startingoffsets_stream`.
    pub(crate) kafka_starting_offset: String,
    /// `-topic` (templated with the night).
    pub(crate) kafka_topic: String,
    /// `-max_offsets_per_trigger`.
    pub(crate) max_offsets_per_trigger: String,
    /// Also pass `-night`.
    pub(crate) night_arg: bool,
    /// Arguments appended to this task's command line.
    pub(crate) extra_args: Vec<String>,
    /// `restart_policy:` (overrides `run.restart_policy`).
    pub(crate) restart_policy: Option<RestartPolicy>,
}

/// `raw2science:` settings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct Raw2science {
    /// Overrides `run.cpu`.
    pub(crate) cpu: String,
    /// Overrides `run.memory`.
    pub(crate) memory: String,
    /// Overrides `run.instances`.
    pub(crate) instances: String,
    /// `-mmconfigpath`.
    pub(crate) mmconfigpath: String,
    /// Arguments appended to this task's command line.
    pub(crate) extra_args: Vec<String>,
    /// `restart_policy:` (overrides `run.restart_policy`).
    pub(crate) restart_policy: Option<RestartPolicy>,
}

/// `distribution:` settings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct Distribution {
    /// Overrides `run.cpu`.
    pub(crate) cpu: String,
    /// Overrides `run.memory`.
    pub(crate) memory: String,
    /// Overrides `run.instances`.
    pub(crate) instances: String,
    /// `-distribution_servers` (default `stream2raw.kafka_socket`).
    pub(crate) distribution_servers: String,
    /// `-distribution_schema`.
    pub(crate) distribution_schema: String,
    /// `-substream_prefix`.
    pub(crate) substream_prefix: String,
    /// `-kafka_buffer_memory`.
    pub(crate) kafka_buffer_memory: String,
    /// `-kafka_delivery_timeout_ms`.
    pub(crate) kafka_delivery_timeout_ms: String,
    /// `-mmconfigpath`.
    pub(crate) mmconfigpath: String,
    /// `-kafka_security_protocol`.
    pub(crate) kafka_security_protocol: String,
    /// Arguments appended to this task's command line.
    pub(crate) extra_args: Vec<String>,
    /// The Kafka user of the JAAS Secret.
    pub(crate) kafka: DistributionKafka,
    /// `restart_policy:` (overrides `run.restart_policy`).
    pub(crate) restart_policy: Option<RestartPolicy>,
}

/// `distribution.kafka:` (secret file).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct DistributionKafka {
    /// JAAS user name.
    pub(crate) username: String,
    /// JAAS password (default: read from the Kafka user's Secret).
    pub(crate) password: String,
}

/// `s3:` settings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct S3 {
    /// Endpoint URL (`--endpoint` wins).
    pub(crate) endpoint: String,
    /// TLS to the endpoint.
    pub(crate) use_ssl: bool,
    /// Bucket (templated with the night).
    pub(crate) bucket: String,
    /// Access key (secret file).
    pub(crate) id: String,
    /// Secret key (secret file).
    pub(crate) secret: String,
}

/// `kafka:` settings of `topics` and `createsecrets`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct Kafka {
    /// Namespace of the Kafka cluster.
    pub(crate) namespace: String,
    /// Secret of the Kafka user.
    pub(crate) user_secret: String,
    /// Broker pod running `kafka-topics.sh`.
    pub(crate) broker_pod: String,
    /// Its container.
    pub(crate) broker_container: String,
    /// Bootstrap server seen from the broker.
    pub(crate) bootstrap_server: String,
    /// Prefix of the topics produced by the broker.
    pub(crate) topic_prefix: String,
    /// Path of `kafka-topics.sh` in the container.
    pub(crate) topics_script: String,
}

/// The merged configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct FinkConfig {
    /// `v1alpha1` or `v1alpha2`: read so that it is not reported as unknown, never checked.
    #[serde(rename = "apiVersion", skip_serializing)]
    api_version: String,
    /// `run:`.
    pub(crate) run: Run,
    /// `stream2raw:`.
    pub(crate) stream2raw: Stream2raw,
    /// `raw2science:`.
    pub(crate) raw2science: Raw2science,
    /// `distribution:`.
    pub(crate) distribution: Distribution,
    /// `s3:`.
    pub(crate) s3: S3,
    /// `kafka:`.
    pub(crate) kafka: Kafka,
    /// Keys of the files that finkctl does not know, as dotted paths.
    #[serde(skip)]
    unknown: Vec<String>,
}

impl FinkConfig {
    /// Finds, reads and merges both files. With `required`, a file that is not found is an
    /// error (commands that build Spark jobs need them); otherwise missing files mean defaults.
    pub(crate) fn load(sources: &ConfigSources, required: bool) -> Result<Self, ConfigError> {
        let main = sources.locate(
            sources.config.as_ref(),
            CONFIG_FILE,
            &[CONFIG_FILE],
            "config",
            required,
        )?;
        let secret = sources.locate(
            sources.secret.as_ref(),
            SECRET_FILE,
            &[SECRET_FILE],
            "secret",
            required,
        )?;
        let mut trees = Vec::new();
        for path in main.iter().chain(secret.iter()) {
            tracing::debug!(file = %path.display(), "reading configuration");
            trees.push(common::config::read_tree(path)?);
        }
        let config = Self::decode(trees)?;
        for key in &config.unknown {
            tracing::warn!("unknown configuration key {key} is ignored");
        }
        Ok(config)
    }

    /// Merges YAML texts in order (tests); later documents win.
    #[cfg(test)]
    pub(crate) fn from_yaml_texts(texts: &[&str]) -> Result<Self, ConfigError> {
        let trees = texts
            .iter()
            .map(|text| common::config::parse_tree(text, std::path::Path::new("<inline>")))
            .collect::<Result<Vec<_>, _>>()?;
        Self::decode(trees)
    }

    /// Deep-merges the trees in order (viper's `MergeInConfig`) and decodes the result.
    fn decode(trees: Vec<Node>) -> Result<Self, ConfigError> {
        let mut trees = trees.into_iter();
        let Some(mut merged) = trees.next() else {
            return Ok(Self::default());
        };
        for tree in trees {
            merged.merge(tree);
        }
        let decoded = common::config::decode::<Self>(&merged, Scalars::Loose)?;
        Ok(Self {
            unknown: decoded.unknown,
            ..decoded.value
        })
    }

    /// The whole configuration as YAML with secret values replaced by `<redacted>`.
    pub(crate) fn redacted_yaml(&self) -> String {
        let mut shown = self.clone();
        for secret in [
            &mut shown.s3.id,
            &mut shown.s3.secret,
            &mut shown.distribution.kafka.password,
        ] {
            if !secret.is_empty() {
                *secret = REDACTED.to_string();
            }
        }
        serde_saphyr::to_string(&shown).unwrap_or_default()
    }

    /// Dotted keys present in the files that finkctl does not know.
    #[cfg(test)]
    pub(crate) fn unknown_keys(&self) -> &[String] {
        &self.unknown
    }
}

/// `value`, or `default` when it is empty (viper's unset and empty are the same).
pub(crate) fn or_default(value: &str, default: &str) -> String {
    if value.is_empty() { default } else { value }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN: &str = "run:\n  Night: 20240101\n  cpu: 0\n  image: img\ns3:\n  use_ssl: \"false\"\n  bucket: b\ndistribution:\n  kafka:\n    username: u\n";
    const SECRET: &str =
        "s3:\n  id: minioadmin\n  secret: s3cr3t\ndistribution:\n  kafka:\n    password: pw\n";

    #[test]
    fn secret_is_deep_merged_and_keys_match_without_case() {
        let c = FinkConfig::from_yaml_texts(&[MAIN, SECRET]).unwrap();
        assert_eq!(c.run.night, "20240101");
        assert_eq!(c.run.cpu, "0");
        assert_eq!(c.s3.bucket, "b");
        assert_eq!(c.s3.secret, "s3cr3t");
        assert_eq!(c.distribution.kafka.username, "u");
        assert_eq!(c.distribution.kafka.password, "pw");
        assert_eq!(c.run.producer, "");
        assert!(c.unknown_keys().is_empty(), "{:?}", c.unknown_keys());
    }

    #[test]
    fn go_booleans_and_wrong_shapes() {
        let bool_of = |v: &str| {
            FinkConfig::from_yaml_texts(&[&format!("s3:\n  use_ssl: {v}\n")]).map(|c| c.s3.use_ssl)
        };
        for (v, want) in [
            ("\"false\"", false),
            ("T", true),
            ("1", true),
            ("\"\"", false),
            ("", false),
        ] {
            assert_eq!(bool_of(v).unwrap(), want, "{v}");
        }
        assert_eq!(
            bool_of("maybe").unwrap_err().to_string(),
            "<inline>:2:12: s3.use_ssl: \"maybe\" is not a boolean (use true or false)"
        );
        let err = FinkConfig::from_yaml_texts(&["run:\n  image: [a]\n"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "<inline>:2:10: run.image: invalid type: sequence, expected a string"
        );
    }

    #[test]
    fn lists_accept_one_value_or_many() {
        let c = FinkConfig::from_yaml_texts(&[
            "run:\n  extra_args: [-a, 1]\nraw2science:\n  extra_args: -x\ndistribution:\n  extra_args:\n",
        ])
        .unwrap();
        assert_eq!(c.run.extra_args, ["-a", "1"]);
        assert_eq!(c.raw2science.extra_args, ["-x"]);
        assert!(c.distribution.extra_args.is_empty());
    }

    #[test]
    fn redaction_hides_secrets_only() {
        let c = FinkConfig::from_yaml_texts(&[MAIN, SECRET]).unwrap();
        let dump = c.redacted_yaml();
        assert!(
            !dump.contains("s3cr3t") && !dump.contains("minioadmin") && !dump.contains("pw\n"),
            "{dump}"
        );
        assert!(
            dump.contains("<redacted>") && dump.contains("image: img"),
            "{dump}"
        );
    }

    #[test]
    fn unknown_keys_are_reported_with_their_path() {
        let c = FinkConfig::from_yaml_texts(&[
            "apiVersion: v1\nrun:\n  cpus: 1\n  cpu: 1\nfoo: 2\n",
            "Distribution:\n  kafka:\n    user: x\n",
        ])
        .unwrap();
        assert_eq!(
            c.unknown_keys(),
            ["run.cpus", "foo", "Distribution.kafka.user"]
        );
    }

    #[test]
    fn yaml_errors_carry_the_file_and_a_location() {
        let err = FinkConfig::from_yaml_texts(&["run:\n  cpu: 1\n bad: [\n"])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("<inline>:3:"), "{err}");
        assert!(FinkConfig::from_yaml_texts(&["- a\n"]).is_err());
        let err = FinkConfig::from_yaml_texts(&["s3:\n  id: x\nDistribution:\n  kafka: 5\n"])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "<inline>:4:10: Distribution.kafka: invalid type: string \"5\", expected a mapping"
        );
        let c = FinkConfig::from_yaml_texts(&["run:\ns3: ~\n"]).unwrap();
        assert_eq!(c.run.night, "");
        assert!(
            FinkConfig::from_yaml_texts(&["# only comments\n"])
                .unwrap()
                .unknown_keys()
                .is_empty()
        );
    }

    #[test]
    fn discovery_searches_each_file_and_reports_the_directories() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().join("cwd");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&cwd).unwrap();
        std::fs::create_dir_all(home.join(".finkctl")).unwrap();
        std::fs::write(cwd.join(CONFIG_FILE), "run:\n  night: 1\n").unwrap();
        std::fs::write(home.join(".finkctl").join(SECRET_FILE), "s3:\n  id: i\n").unwrap();
        let sources = ConfigSources {
            cwd: cwd.clone(),
            home: Some(home.clone()),
            ..Default::default()
        };
        let c = FinkConfig::load(&sources, true).unwrap();
        assert_eq!(c.run.night, "1");
        assert_eq!(c.s3.id, "i");

        // FINKCONFIG is the only place searched.
        let only = ConfigSources {
            finkconfig: Some(home.join(".finkctl").into()),
            ..sources.clone()
        };
        assert_eq!(FinkConfig::load(&only, false).unwrap().s3.id, "i");
        let err = FinkConfig::load(&only, true).unwrap_err().to_string();
        assert!(err.starts_with("no finkctl.yaml in "), "{err}");
        assert!(err.contains("$FINKCONFIG"), "{err}");

        let empty = tempfile::tempdir().unwrap();
        let nowhere = ConfigSources {
            cwd: empty.path().to_path_buf(),
            home: None,
            ..Default::default()
        };
        let err = FinkConfig::load(&nowhere, true).unwrap_err().to_string();
        assert!(
            err.starts_with("finkctl.yaml not found (searched $FINKCONFIG"),
            "{err}"
        );
        assert!(err.contains("--config <file>"), "{err}");
        assert!(FinkConfig::load(&nowhere, false).is_ok());

        let explicit = ConfigSources {
            config: Some(dir.path().join("nope.yaml")),
            ..sources
        };
        let err = FinkConfig::load(&explicit, false).unwrap_err().to_string();
        assert!(
            err.contains("nope.yaml") && err.contains("does not exist"),
            "{err}"
        );
    }
}
