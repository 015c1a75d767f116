//! Tests of the harness's local stand-ins, each over real HTTP, git or processes.

#[path = "harness/fakebin.rs"]
mod fakebin;
#[path = "harness/git.rs"]
mod git;
#[path = "harness/proxy.rs"]
mod proxy;
#[path = "harness/registry.rs"]
mod registry;
#[path = "harness/release.rs"]
mod release;
