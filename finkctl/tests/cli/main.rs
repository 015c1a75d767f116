//! finkctl's integration tests, in one test binary (one link instead of one per file), one module
//! per area, as ripgrep does.

mod support;

mod config_discovery;
mod kube_commands;
mod lifecycle;
mod run_dry_run;
mod run_spark_submit;
mod s3_makebucket;
mod triage;
mod unreachable;
