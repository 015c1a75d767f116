//! The shared test harness of the fink-tools workspace.
//!
//! No kind node image or docker engine runs on the development and CI machines, so every test
//! that touches a cluster, a registry, a git remote or a download runs against the real local
//! stand-ins defined here, bound to loopback addresses only: the fake API server, and a real
//! kube-apiserver 1.20 built from Debian's sources ([`real_apiserver`], skipped where it is not
//! built).

pub mod apiserver;
pub mod archive;
pub mod fakebin;
pub mod git;
pub mod git_http;
pub mod kube_bin;
pub mod kubelet;
pub mod layers;
pub mod net;
pub mod proxy;
pub mod real_apiserver;
pub mod registry;
pub mod release;
mod server_thread;
pub mod snapshot;
pub mod stack;
pub mod tls;
pub mod tools;
pub mod unreachable;
