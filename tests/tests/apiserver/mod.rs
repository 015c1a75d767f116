//! The fake Kubernetes API server, driven over real HTTP by kube-rs, raw HTTP and kubectl.

mod binary;
mod contract;
mod crud;
mod discovery;
mod exec;
mod faults;
mod kubectl;
mod logs;
mod patch;
mod real_semantics;
mod selectors;
mod support;
mod watch;
mod websocket;
