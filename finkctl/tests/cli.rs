//! finkctl's integration tests, in one test binary (one link instead of one per file), one module
//! per area, as ripgrep does.

#[path = "cli/support.rs"]
mod support;

#[path = "cli/config_discovery.rs"]
mod config_discovery;
#[path = "cli/kube_commands.rs"]
mod kube_commands;
#[path = "cli/run_dry_run.rs"]
mod run_dry_run;
#[path = "cli/run_spark_submit.rs"]
mod run_spark_submit;
#[path = "cli/s3_makebucket.rs"]
mod s3_makebucket;
#[path = "cli/unreachable.rs"]
mod unreachable;
