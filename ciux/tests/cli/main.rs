//! ciux's integration tests, in one test binary `cli` (one link instead of one per file), one module
//! per area, as ripgrep does.

mod support;

mod cli_e2e;
mod dependency_urls;
mod fink_broker_flows;
mod git_http;
mod hardening;
mod help;
mod registry_decision;
