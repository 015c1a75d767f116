//! Tests of the harness's stand-ins, each over real HTTP, git or processes; one module per stand-in.

mod apiserver;
#[path = "harness/archive.rs"]
mod archive;
#[path = "harness/fakebin.rs"]
mod fakebin;
#[path = "harness/git.rs"]
mod git;
#[path = "harness/install_sh.rs"]
mod install_sh;
#[path = "harness/proxy.rs"]
mod proxy;
#[path = "harness/registry.rs"]
mod registry;
#[path = "harness/release.rs"]
mod release;
