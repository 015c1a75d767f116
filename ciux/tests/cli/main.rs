//! ciux's integration tests, in one test binary `cli` (one link instead of one per file), one module
//! per area, as ripgrep does.

mod support;

mod dependency_urls;
mod errors;
mod fink_broker_flows;
mod get;
mod git_http;
mod hardening;
mod help;
mod ignite;
mod image;
mod registry_auth;
mod registry_decision;
