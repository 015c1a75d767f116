//! finkctl's module stack is one-way (see `harness::layers`): no arrow up, no command importing
//! another, no circle.

#[test]
#[ignore = "finkctl is being reshaped into cmd/<command>.rs and context.rs (issue 13); un-ignore then"]
fn the_modules_form_a_one_way_stack() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    if let Err(wrong) = harness::layers::check(&src) {
        panic!("the module stack is broken:\n{}", wrong.join("\n"));
    }
}
