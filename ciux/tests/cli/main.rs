//! ciux's integration tests, in one test binary `cli` (one link instead of one per file), one module
//! per area, as ripgrep does.

mod support;

mod dependency_urls;
mod env_file_errors;
mod errors;
mod explain;
mod fink_broker_flows;
mod get;
mod git_http;
mod hardening;
mod help;
mod ignite;
mod image;
mod lock;
mod packages;
mod registry_auth;
mod registry_decision;
