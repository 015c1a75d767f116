//! Runs the fake Kubernetes API server until killed, for manual use and external checks.
//!
//! `fake-apiserver --kubeconfig <path> [--namespace <ns>] [--crds]` binds a free loopback port,
//! writes a kubeconfig pointing at it, prints `ready` on stdout once it serves, and runs until
//! killed. `--crds` registers the Strimzi KafkaTopic/KafkaUser and spark-operator
//! SparkApplication definitions.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use harness::apiserver::{FakeApiServer, crds};

fn main() -> anyhow::Result<()> {
    let mut kubeconfig: Option<PathBuf> = None;
    let mut namespace = String::from("default");
    let mut with_crds = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--kubeconfig" => {
                kubeconfig = Some(args.next().context("--kubeconfig needs a path")?.into())
            }
            "--namespace" => namespace = args.next().context("--namespace needs a name")?,
            "--crds" => with_crds = true,
            "-h" | "--help" => {
                println!("usage: fake-apiserver --kubeconfig <path> [--namespace <ns>] [--crds]");
                return Ok(());
            }
            other => bail!(
                "unknown argument {other:?}; usage: fake-apiserver --kubeconfig <path> [--namespace <ns>] [--crds]"
            ),
        }
    }
    let kubeconfig = kubeconfig
        .context("missing --kubeconfig <path>: where to write the kubeconfig of the fake server")?;
    let mut builder = FakeApiServer::builder();
    if with_crds {
        builder = builder
            .crd(crds::kafka_topic())
            .crd(crds::kafka_user())
            .crd(crds::spark_application());
    }
    let server = builder.start();
    server
        .write_kubeconfig(&kubeconfig, &namespace)
        .with_context(|| format!("cannot write the kubeconfig {}", kubeconfig.display()))?;
    eprintln!("fake API server listening on {}", server.url());
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    drop(out);
    loop {
        std::thread::park();
    }
}
