//! The integration tests of `ktbx`, in one test binary (one link instead of one per file), one
//! module per area. They run the real `ktbx` executable against fakes: `kind`, `docker`, `helm`
//! on PATH, a fake API server and a release server on 127.0.0.1.

#[path = "cli/cluster.rs"]
mod cluster;
#[path = "cli/commands.rs"]
mod commands;
#[path = "cli/e2e.rs"]
mod e2e;
#[path = "cli/install.rs"]
mod install;
#[path = "cli/support.rs"]
mod support;
#[path = "cli/user_lines.rs"]
mod user_lines;
