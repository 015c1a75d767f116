//! What every test module needs: the fixtures, a directory holding the e2e sample configuration
//! and a `finkctl` command with a clean environment.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use harness::apiserver::{FakeApiServer, crds};

/// Path of a file in `tests/fixtures`.
pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Text of a file in `tests/fixtures`.
pub(crate) fn read_fixture(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

/// Writes the e2e sample (`finkctl.yaml` with `edit` applied, `finkctl.secret.yaml`) into `dir`.
pub(crate) fn write_sample_config(dir: &Path, edit: impl Fn(String) -> String) {
    std::fs::write(
        dir.join("finkctl.yaml"),
        edit(read_fixture("finkctl.yaml.orig")),
    )
    .unwrap();
    std::fs::write(
        dir.join("finkctl.secret.yaml"),
        read_fixture("finkctl.secret.yaml"),
    )
    .unwrap();
}

/// `finkctl` with only `PATH` from the test's environment, `HOME` and the working directory set
/// to `home`, and the e2e kubeconfig (server `https://127.0.0.1:34729`, nothing listening).
pub(crate) fn finkctl(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("finkctl").unwrap();
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("KUBECONFIG", fixture("kubeconfig"))
        .current_dir(home)
        .timeout(std::time::Duration::from_secs(60));
    cmd
}

/// A fake API server serving the KafkaTopic and SparkApplication CRDs, a kubeconfig whose context
/// namespace is `spark`, and an empty home (the tests' files add their own helpers).
pub(crate) struct Cluster {
    pub(crate) server: FakeApiServer,
    pub(crate) dir: tempfile::TempDir,
}

impl Cluster {
    pub(crate) fn start() -> Self {
        Self::with(
            FakeApiServer::builder()
                .crd(crds::kafka_topic())
                .crd(crds::spark_application())
                .start(),
        )
    }

    pub(crate) fn with(server: FakeApiServer) -> Self {
        let dir = tempfile::tempdir().unwrap();
        server
            .write_kubeconfig(&dir.path().join("kubeconfig"), "spark")
            .unwrap();
        Self { server, dir }
    }

    /// `finkctl` in the home, against this cluster.
    pub(crate) fn finkctl(&self) -> Command {
        let mut cmd = finkctl(self.dir.path());
        cmd.env("KUBECONFIG", self.dir.path().join("kubeconfig"));
        cmd
    }
}
