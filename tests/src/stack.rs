//! A generated Fink-like multi-repository stack for `ciux`: the `fink-broker` project with its
//! `.ciux`, a simulator dependency that is cloned (and whose image is pulled), a remote-only
//! deployment repository and an image dependency, all served by `git daemon` on loopback.
//! Used by the cross-tool scenario tests and by `cargo xtask demo`.
//!
//! ```text
//! <root>/remotes/fink-alert-simulator.git  tag v3.2.0 on main          (clone: true, pull: true)
//! <root>/remotes/fink-cd.git               main, and my-feature          (remote only)
//! <root>/work/fink-broker                  tag v3.1.0, then my-feature   (the project, checked out)
//! ```

use std::path::{Path, PathBuf};

use crate::git::{GitDaemon, GitRepo};

/// The branch the project works on (fink-cd has it too, the simulator does not).
pub const WORK_BRANCH: &str = "my-feature";
/// The simulator's version (`main` is tagged).
pub const SIMULATOR_VERSION: &str = "v3.2.0";
/// The image dependency's repository and tag, under the registry's `fink/` namespace.
pub const HADOOP_IMAGE: (&str, &str) = ("fink/stackable-hadoop", "v24.11.0");
/// The repository of the simulator's image, under the registry.
pub const SIMULATOR_IMAGE_REPO: &str = "fink/fink-alert-simulator";

/// A generated stack; `git daemon` stops on drop (the files stay under the caller's root).
pub struct FinkStack {
    /// Serves `<root>/remotes`.
    pub daemon: GitDaemon,
    /// The project checkout, `<root>/work/fink-broker`, on [`WORK_BRANCH`].
    pub broker: GitRepo,
    /// `<root>/work`: where ciux clones the dependencies, next to the project.
    pub work: PathBuf,
    /// The image registry named in `.ciux` (`<host>/fink`).
    pub registry: String,
    /// Whether `.ciux` declares images (the simulator's `pull: true` and the hadoop image).
    pub with_images: bool,
}

impl FinkStack {
    /// Generates the stack under `root` for the registry `registry_host` (`127.0.0.1:PORT`).
    /// Without `with_images`, `.ciux` declares no image that must exist in the registry.
    pub fn generate(root: &Path, registry_host: &str, with_images: bool) -> FinkStack {
        let remotes = root.join("remotes");
        let simulator = GitRepo::init(&remotes.join("fink-alert-simulator.git"));
        simulator.commit(
            "simulator: alerts from a replay of ZTF nights",
            &[("README.md", "fink-alert-simulator\n")],
        );
        simulator.annotated_tag(SIMULATOR_VERSION, "release 3.2.0");
        let cd = GitRepo::init(&remotes.join("fink-cd.git"));
        cd.commit(
            "apps: fink-broker",
            &[("apps/fink-broker.yaml", "chart: fink-broker\n")],
        );
        cd.branch(WORK_BRANCH);
        let daemon = GitDaemon::serve(&remotes);

        let registry = format!("{registry_host}/fink");
        let mut ciux_file = vec![
            "apiVersion: v1alpha1".to_string(),
            format!("registry: {registry}"),
            "sourcePathes:".into(),
            "  - fink_broker".into(),
            "dependencies:".into(),
            format!("  - url: {}", daemon.url("fink-alert-simulator.git")),
            "    clone: true".into(),
        ];
        if with_images {
            ciux_file.push("    pull: true".into());
        }
        ciux_file.extend([
            "    labels:".into(),
            "      itest: \"true\"".into(),
            format!("  - url: {}", daemon.url("fink-cd.git")),
            "    labels:".into(),
            "      itest: \"true\"".into(),
        ]);
        if with_images {
            ciux_file.extend([
                format!(
                    "  - image: {registry_host}/{}:{}",
                    HADOOP_IMAGE.0, HADOOP_IMAGE.1
                ),
                "    labels:".into(),
                "      itest: \"true\"".into(),
            ]);
        }
        let ciux_file = ciux_file.join("\n") + "\n";

        let work = root.join("work");
        let broker = GitRepo::init(&work.join("fink-broker"));
        broker.commit(
            "broker: stream2raw, raw2science, distribution",
            &[
                (".ciux", &ciux_file),
                ("fink_broker/__init__.py", "VERSION = '3.1.0'\n"),
                ("README.md", "fink-broker\n"),
            ],
        );
        broker.annotated_tag("v3.1.0", "release 3.1.0");
        broker.git(["checkout", "-q", "-b", WORK_BRANCH]);
        broker.commit(
            "broker: faster cross-match",
            &[("fink_broker/xmatch.py", "def xmatch(): pass\n")],
        );
        FinkStack {
            daemon,
            broker,
            work,
            registry,
            with_images,
        }
    }

    /// The project directory.
    pub fn project(&self) -> &Path {
        self.broker.path()
    }

    /// `v3.1.0-1-g<7 hex>`: the project's version at HEAD.
    pub fn project_version(&self) -> String {
        format!("v3.1.0-1-g{}", &self.broker.head()[..7])
    }

    /// The images the registry must hold for `ciux ignite --selector itest` to succeed
    /// (`(repository, tag)`, repository relative to the registry host).
    pub fn required_images(&self) -> Vec<(&'static str, &'static str)> {
        if self.with_images {
            vec![(SIMULATOR_IMAGE_REPO, SIMULATOR_VERSION), HADOOP_IMAGE]
        } else {
            Vec::new()
        }
    }
}
