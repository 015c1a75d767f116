//! Shared building blocks of the fink-tools workspace (`ktbx`, `ciux`, `finkctl`).
//!
//! Each module is small and owns one concern; the binaries compose them.

pub mod cli;
pub mod config;
pub mod download;
pub mod duration;
pub mod fs;
pub mod image_ref;
pub mod kube;
pub mod logging;
pub mod names;
pub mod process;
pub mod progress;
pub mod tls;
