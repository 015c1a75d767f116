//! The integration tests of `ktbx`, in one test binary (one link instead of one per file), one
//! module per area. They run the real `ktbx` executable against fakes: `kind`, `docker`, `helm`
//! on PATH, a fake API server and a release server on 127.0.0.1.

mod cluster;
mod commands;
mod e2e;
mod host;
mod install;
mod stack;
mod support;
mod user_lines;
