//! Shared building blocks of the fink-tools workspace (`ktbx`, `ciux`, `finkctl`).
//!
//! Each module is small and owns one concern; the binaries compose them. Three modules are behind
//! features, so that a tool links only what it uses: `kube` ([`kube`]), `download` ([`download`])
//! and `runtime` ([`runtime`], which the other two turn on).

#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod cli;
pub mod config;
#[cfg(feature = "download")]
pub mod download;
pub mod duration;
pub mod fs;
pub mod image_ref;
#[cfg(feature = "kube")]
pub mod kube;
pub mod logging;
pub mod names;
pub mod process;
pub mod progress;
#[cfg(feature = "runtime")]
pub mod runtime;
pub mod tls;
