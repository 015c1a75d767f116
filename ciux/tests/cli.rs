//! ciux's integration tests, in one test binary (one link instead of one per file), one module per
//! area, as ripgrep does.

#[path = "cli/support.rs"]
mod support;

#[path = "cli/cli_e2e.rs"]
mod cli_e2e;
#[path = "cli/dependency_urls.rs"]
mod dependency_urls;
#[path = "cli/env_file_errors.rs"]
mod env_file_errors;
#[path = "cli/fink_broker_flows.rs"]
mod fink_broker_flows;
#[path = "cli/git_http.rs"]
mod git_http;
#[path = "cli/git_versions.rs"]
mod git_versions;
#[path = "cli/hardening.rs"]
mod hardening;
#[path = "cli/help.rs"]
mod help;
#[path = "cli/packages.rs"]
mod packages;
#[path = "cli/registry_decision.rs"]
mod registry_decision;
#[path = "cli/registry_protocol.rs"]
mod registry_protocol;
