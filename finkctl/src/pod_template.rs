//! The executor pod template of a spark-submit run with Kafka: it mounts the JAAS Secret, and lives
//! in a `fink-broker-<digits>` temporary directory (the original's name) removed when the run ends.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::spark_job::{JAAS_MOUNT_PATH, JAAS_SECRET};

/// File name of the executor pod template.
pub(crate) const POD_TEMPLATE: &str = "executor-pod-template.yaml";

/// A `fink-broker-<digits>` directory holding the executor pod template; removed on drop.
pub(crate) struct PodTemplateDir {
    /// The directory.
    pub(crate) path: PathBuf,
}

impl PodTemplateDir {
    /// Creates the directory and writes the template in it.
    pub(crate) fn create() -> anyhow::Result<Self> {
        let base = std::env::temp_dir();
        loop {
            let path = temp_dir_name(&base);
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    // Owned from here on: dropped (and removed) if the template cannot be written.
                    let dir = Self { path };
                    let file = dir.path.join(POD_TEMPLATE);
                    std::fs::write(&file, executor_pod_template())
                        .with_context(|| format!("cannot write {}", file.display()))?;
                    return Ok(dir);
                }
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(err) => {
                    return Err(err).with_context(|| format!("cannot create {}", path.display()));
                }
            }
        }
    }
}

impl Drop for PodTemplateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `<base>/fink-broker-<decimal digits>`, as Go's `os.MkdirTemp`.
pub(crate) fn temp_dir_name(base: &Path) -> PathBuf {
    let random = RandomState::new().build_hasher().finish() as u32;
    base.join(format!("fink-broker-{random}"))
}

/// Executor pod template mounting the JAAS Secret.
fn executor_pod_template() -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: spark-kubernetes-executor\n    volumeMounts:\n    - name: kafka-secret\n      mountPath: {JAAS_MOUNT_PATH}\n      readOnly: true\n  volumes:\n  - name: kafka-secret\n    secret:\n      secretName: {JAAS_SECRET}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_dir_suffix_is_decimal_digits() {
        let name = temp_dir_name(Path::new("/tmp"));
        let suffix = name
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .strip_prefix("fink-broker-")
            .unwrap();
        assert!(
            !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()),
            "{suffix}"
        );
    }

    #[test]
    fn pod_template_mounts_the_secret() {
        let pod: serde_json::Value = serde_saphyr::from_str(&executor_pod_template()).unwrap();
        assert_eq!(
            pod["spec"]["volumes"][0]["secret"]["secretName"],
            "fink-kafka-jaas"
        );
        assert_eq!(
            pod["spec"]["containers"][0]["volumeMounts"][0]["mountPath"],
            "/etc/fink-broker"
        );
    }
}
