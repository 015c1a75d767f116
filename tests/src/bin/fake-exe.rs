//! The fake executable behind `harness::fakebin`: hard-linked under each fake program name, it
//! records its call and answers from its script.

fn main() {
    std::process::exit(harness::fakebin::fake_main());
}
