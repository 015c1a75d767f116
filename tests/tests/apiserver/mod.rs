//! The fake Kubernetes API server, driven over real HTTP by kube-rs, raw HTTP and kubectl.

mod binary;
mod patch;
mod crud;
mod selectors;
mod support;
mod watch;
