//! `cargo xtask demo`: the whole system in one command, on a fresh machine with only the Rust
//! toolchain and git.
//!
//! It builds the three tools, generates a Fink-like multi-repository stack in a temporary
//! directory (served by `git daemon` on loopback), and runs what a CI job runs: `ciux ignite` and
//! its env file, `ciux get image`, `ciux get clustername`, `ktbx create --dry-run`, then finkctl
//! against a **simulated** cluster (the harness's fake Kubernetes API server, in this process, on
//! loopback; this process plays the spark-operator's part). The image registry is Debian's
//! `docker-registry` when installed, otherwise a simulated empty registry (every image absent).
//! Everything runs under one temporary directory, removed at the end with the servers.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use harness::apiserver::{FakeApiServer, crds};
use harness::registry::Registry;
use harness::release::ReleaseServer;
use harness::stack::{self, FinkStack};
use harness::tools::{Profile, Tools};

/// When the simulated spark-operator's pods get Ready.
const PODS_READY_AFTER: Duration = Duration::from_secs(1);

/// Runs the demo.
pub(crate) fn run() -> Result<()> {
    eprintln!("xtask: building ktbx, ciux and finkctl");
    let tools = Tools::build(Profile::Debug).map_err(anyhow::Error::msg)?;
    let started = Instant::now();
    let temp = tempfile::Builder::new()
        .prefix("fink-demo-")
        .tempdir()
        .context("creating the demo directory")?;
    let demo = Demo::new(temp.path(), tools)?;
    demo.play()?;
    println!(
        "\nDone in {:.1} s. Removing {} and stopping the local servers.",
        started.elapsed().as_secs_f64(),
        temp.path().display()
    );
    drop(demo);
    temp.close().context("removing the demo directory")?;
    Ok(())
}

/// The registry of the demo: a real one when installed, else an empty HTTP server.
enum DemoRegistry {
    Real(Registry),
    SimulatedEmpty(ReleaseServer),
}

impl DemoRegistry {
    fn start() -> DemoRegistry {
        if on_path("docker-registry") {
            DemoRegistry::Real(Registry::start())
        } else {
            DemoRegistry::SimulatedEmpty(ReleaseServer::start())
        }
    }

    fn host(&self) -> String {
        match self {
            DemoRegistry::Real(registry) => registry.host(),
            DemoRegistry::SimulatedEmpty(server) => server.addr().to_string(),
        }
    }
}

struct Demo {
    root: PathBuf,
    tools: Tools,
    // Field order = drop order: the stack (git daemon) before the registry.
    stack: FinkStack,
    registry: DemoRegistry,
}

impl Demo {
    fn new(root: &Path, tools: Tools) -> Result<Demo> {
        for dir in ["home", "cache", "finkctl"] {
            std::fs::create_dir_all(root.join(dir))
                .with_context(|| format!("creating {}", root.join(dir).display()))?;
        }
        let registry = DemoRegistry::start();
        let real = matches!(registry, DemoRegistry::Real(_));
        let stack = FinkStack::generate(root, &registry.host(), real);
        if let DemoRegistry::Real(r) = &registry {
            for (repo, tag) in stack.required_images() {
                r.push_image(repo, tag);
            }
        }
        Ok(Demo {
            root: root.to_owned(),
            tools,
            stack,
            registry,
        })
    }

    fn play(&self) -> Result<()> {
        println!("fink-tools demo: ciux, ktbx and finkctl on a generated multi-repository stack");
        println!(
            "Tools: {} ({})",
            self.tools.dir().display(),
            self.tools.origin
        );
        println!(
            "DEMO={} (HOME, KUBECONFIG and every file live here)",
            self.root.display()
        );

        section("1. The stack: git repositories served by `git daemon` on loopback");
        println!(
            "  $DEMO/work/fink-broker            the project, on branch {} (tag v3.1.0 + 1 commit)",
            harness::stack::WORK_BRANCH
        );
        println!(
            "  {}  cloned next to it (clone: true)",
            self.stack.daemon.url("fink-alert-simulator.git")
        );
        println!(
            "  {}           remote only: its branch goes into the env file",
            self.stack.daemon.url("fink-cd.git")
        );
        println!("  .ciux of fink-broker:");
        let ciux_file = std::fs::read_to_string(self.stack.project().join(".ciux"))?;
        self.show(&ciux_file, "    ");

        section("2. The image registry");
        match &self.registry {
            DemoRegistry::Real(r) => println!(
                "  Debian's docker-registry on {} holding {}",
                r.host(),
                self.stack
                    .required_images()
                    .iter()
                    .map(|(repo, tag)| format!("{repo}:{tag}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            DemoRegistry::SimulatedEmpty(s) => println!(
                "  SIMULATED: docker-registry is not installed, so an empty registry answers on {}\n  \
                 (every image is reported absent; the .ciux above declares no image that must exist)",
                s.addr()
            ),
        }

        section("3. ciux resolves the stack and writes the env file a CI job sources");
        let project = self.stack.project().display().to_string();
        self.tool(
            "ciux",
            &[
                "ignite",
                "--selector",
                "itest",
                "--suffix",
                "noscience",
                &project,
            ],
        )?;
        let env_path = self.stack.project().join(".ciux.d/ciux_itest.sh");
        let env_file = std::fs::read_to_string(&env_path)
            .with_context(|| format!("ciux ignite wrote no {}", env_path.display()))?;
        println!("$ cat $DEMO/work/fink-broker/.ciux.d/ciux_itest.sh");
        self.show(&env_file, "  ");
        let image =
            env_value(&env_file, "CIUX_IMAGE_URL").context("the env file has no CIUX_IMAGE_URL")?;
        self.tool(
            "ciux",
            &["get", "image", "--check", "--suffix", "noscience", &project],
        )?;
        let cluster = self.tool("ciux", &["get", "clustername", &project])?;
        let cluster = cluster.trim().to_string();

        section("4. ktbx plans the kind cluster (dry run: no docker, no kind needed)");
        self.tool("ktbx", &["create", "--dry-run", "-s", "--name", &cluster])?;

        section("5. finkctl against a SIMULATED Kubernetes cluster");
        let api = FakeApiServer::builder()
            .crd(crds::kafka_topic())
            .crd(crds::kafka_user())
            .crd(crds::spark_application())
            .start();
        api.write_kubeconfig(&self.root.join("kubeconfig"), "spark")
            .context("writing the demo kubeconfig")?;
        stack::write_finkctl_config(&self.root.join("finkctl"))
            .context("writing the finkctl configuration")?;
        stack::seed_platform(&api);
        println!(
            "  SIMULATED: the harness's fake Kubernetes API server on {} (namespaces spark and kafka,\n  \
             the Strimzi user secret kafka/fink-producer, the SparkApplication CRD); this demo plays the\n  \
             spark-operator: it turns each SparkApplication into a driver and an executor pod, Ready 1 s later.",
            api.url()
        );
        self.tool("finkctl", &["createsecrets"])?;
        if api
            .get_json("v1", "Secret", Some("spark"), "fink-kafka-jaas")
            .is_none()
        {
            bail!("finkctl createsecrets did not create spark/fink-kafka-jaas");
        }
        println!("  (Secret spark/fink-kafka-jaas now exists in the simulated cluster)");
        self.tool("finkctl", &["run", "stream2raw", "--dry-run", "-i", &image])?;
        self.tool(
            "finkctl",
            &[
                "run",
                "stream2raw",
                "--backend",
                "spark-operator",
                "-i",
                &image,
            ],
        )?;
        let pods = stack::play_spark_operator(&api, "fink-stream2raw", PODS_READY_AFTER)
            .context("SparkApplication spark/fink-stream2raw was not applied")?;
        println!(
            "  [simulated spark-operator] SparkApplication fink-stream2raw → pods {} (Ready in 1 s)",
            pods.join(", ")
        );
        self.tool(
            "finkctl",
            &["wait", "tasks", "--expected", "1", "--timeout", "30s"],
        )?;
        Ok(())
    }

    /// Runs a tool like a user would, prints the command line and its output (paths under the
    /// demo directory shown as `$DEMO`), fails if it fails, returns its stdout.
    fn tool(&self, name: &str, args: &[&str]) -> Result<String> {
        let program = match name {
            "ktbx" => &self.tools.ktbx,
            "ciux" => &self.tools.ciux,
            _ => &self.tools.finkctl,
        };
        println!("\n$ {name} {}", self.short(&args.join(" ")));
        let output = Command::new(program)
            .args(args)
            .envs(self.env())
            .current_dir(&self.root)
            .output()
            .with_context(|| format!("running {}", program.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr);
        self.show(&stdout, "  ");
        self.show(&stderr, "  ");
        if !output.status.success() {
            bail!("`{name} {}` failed ({})", args.join(" "), output.status);
        }
        Ok(stdout)
    }

    /// The environment of every tool: everything under the demo directory.
    fn env(&self) -> Vec<(&'static str, OsString)> {
        vec![
            ("HOME", self.root.join("home").into()),
            ("XDG_CACHE_HOME", self.root.join("cache").into()),
            ("KUBECONFIG", self.root.join("kubeconfig").into()),
            ("FINKCONFIG", self.root.join("finkctl").into()),
            ("NO_COLOR", "1".into()),
        ]
    }

    fn short(&self, text: &str) -> String {
        text.replace(&self.root.display().to_string(), "$DEMO")
    }

    fn show(&self, text: &str, indent: &str) {
        for line in self.short(text).lines() {
            println!("{indent}{line}");
        }
    }
}

/// The value of `export NAME=value` in an env file.
fn env_value(env_file: &str, name: &str) -> Option<String> {
    let prefix = format!("export {name}=");
    env_file
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map(str::to_string)
}

/// Whether `program` is an executable on `PATH`.
pub(crate) fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn section(title: &str) {
    println!("\n== {title}");
}

#[cfg(test)]
mod tests {
    use super::env_value;

    #[test]
    fn env_values_are_read_from_export_lines() {
        let text = "# Label selector: itest\nexport CIUX_BUILD=true\nexport CIUX_IMAGE_URL=r/fink-broker:v1\n";
        assert_eq!(
            env_value(text, "CIUX_IMAGE_URL").as_deref(),
            Some("r/fink-broker:v1")
        );
        assert_eq!(env_value(text, "CIUX_IMAGE"), None);
    }
}
