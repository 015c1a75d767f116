//! `finkctl`: Command-line tool for managing the Fink broker and its components on Spark over Kubernetes.
//!
//! The binary is a thin `main`; the commands live in this library so that they can be tested
//! and so that `xtask` can reach the CLI definition.

pub mod cli;
pub mod config;
pub mod createsecrets;
pub mod delete;
pub mod jaas;
pub mod night;
pub mod run;
pub mod s3;
pub mod sigv4;
pub mod spark_application;
pub mod spark_job;
pub mod spark_submit;
pub mod template;
pub mod topics;
pub mod wait;

use std::future::Future;

use anyhow::Context as _;
use clap::CommandFactory;

use crate::cli::{Cli, Command, GetCommand, WaitCommand};
use crate::config::{ConfigSources, FinkConfig};
use common::kube::{Deadline, KubeArgs, KubeTarget};

/// What every command gets from the global flags.
#[derive(Debug, Clone)]
pub struct Context {
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--endpoint`.
    pub endpoint: Option<String>,
    /// Where the configuration files are.
    pub sources: ConfigSources,
    /// Kubernetes flags.
    pub kube: KubeArgs,
}

impl Context {
    /// Loads the configuration; `required` makes missing files an error.
    pub fn config(&self, required: bool) -> anyhow::Result<FinkConfig> {
        let mut config = FinkConfig::load(&self.sources, required)?;
        if let Some(endpoint) = &self.endpoint {
            config.set_string("s3.endpoint", endpoint);
        }
        Ok(config)
    }

    /// Reads the kubeconfig (no client is built).
    pub fn kube_target(&self) -> anyhow::Result<KubeTarget> {
        Ok(KubeTarget::load(&self.kube)?)
    }
}

/// A Kubernetes client error as a short message: for API errors, the server's message, reason and
/// HTTP code (instead of the whole `Status` structure); for others, the error and its causes.
pub fn api_error(err: kube::Error) -> anyhow::Error {
    match err {
        kube::Error::Api(status) => {
            anyhow::anyhow!(
                "{} ({}, HTTP {})",
                status.message,
                status.reason,
                status.code
            )
        }
        // The causes (refused connection, TLS failure) in one line, without repeats.
        other => anyhow::anyhow!(common::kube::retry::describe(&other)),
    }
}

/// Runs `future` on the thread's single-threaded runtime (only commands that talk to a server).
/// The runtime lives as long as the thread, so that a client built in one call (kept by
/// `KubeTarget`) still works in the next.
pub fn block_on<F: Future>(future: F) -> anyhow::Result<F::Output> {
    thread_local! {
        static RUNTIME: std::cell::OnceCell<tokio::runtime::Runtime> = const { std::cell::OnceCell::new() };
    }
    RUNTIME.with(|cell| {
        if cell.get().is_none() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let _ = cell.set(runtime);
        }
        let runtime = cell.get().expect("just set");
        Ok(runtime.block_on(future))
    })
}

/// Runs `work`, a command's conversation with `target`'s API server, on a fresh runtime and
/// until `deadline` (retries and waits included); `what` names it in the timeout error.
pub fn block_on_kube<T>(
    target: &KubeTarget,
    deadline: Deadline,
    what: &str,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    block_on(target.within(deadline, what, work))??
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    common::logging::init(cli.verbosity.level);
    let ctx = Context {
        dry_run: cli.dry_run,
        endpoint: cli.endpoint,
        sources: ConfigSources::from_env(cli.config, cli.secret),
        kube: cli.kube,
    };
    match cli.command {
        Command::Version => {
            // The original's `<module version>  <module sum>`: the second field is the commit of a
            // release build (`cargo xtask dist`), empty for other builds.
            print!(
                "v{}  {}",
                env!("CARGO_PKG_VERSION"),
                option_env!("FINK_TOOLS_COMMIT").unwrap_or("")
            );
            Ok(())
        }
        Command::Completion(args) => Ok(common::cli::write_completions(
            Cli::command(),
            &args,
            &mut std::io::stdout().lock(),
        )?),
        Command::Run(args) => run::run(&ctx, &args),
        Command::S3(args) => s3::command(&ctx, &args),
        Command::Createsecrets(args) => createsecrets::command(&ctx, &args),
        Command::Delete(args) => delete::command(&ctx, &args),
        Command::Get(args) => match args.what {
            GetCommand::Topic(args) => topics::get_command(&ctx, &args),
        },
        Command::Wait(args) => match args.what {
            WaitCommand::Topic(topic) => wait::topics_command(&ctx, &topic, args.timeout),
            WaitCommand::Task(task) => wait::tasks_command(&ctx, &task, args.timeout),
        },
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::config::FinkConfig;
    use crate::night::resolve_night;
    use crate::s3::Endpoint;
    use crate::template::render_night;

    proptest! {
        /// Nights, templates, endpoints and configuration files from users end in a value or an
        /// error, never in a panic.
        #[test]
        fn user_input_never_panics(text in "\\PC{0,40}", yaml in "[a-z:{}\\[\\] \\n\"'-]{0,60}") {
            let _ = resolve_night(false, Some(&text), "");
            let _ = render_night("k", &text, "20000101");
            let _ = Endpoint::parse(&text, false);
            if let Ok(config) = FinkConfig::from_yaml_texts(&[&yaml, &text]) {
                let _ = config.string("run.night");
                let _ = config.boolean("s3.use_ssl");
                let _ = config.list("run.extra_args");
                let _ = config.redacted_yaml();
                let _ = config.unknown_keys();
            }
        }
    }
}
