//! Whole requests to every route against a provisioned site: the grammar
//! and the properties of the core's `tests/harness` (never a 5xx, refusals
//! in the negotiated format, a refusal changes nothing), fed by libFuzzer.

#![no_main]

#[path = "../../../crates/intellimeter-core/tests/common/mod.rs"]
mod common;
#[path = "../../../crates/intellimeter-core/tests/harness/mod.rs"]
#[allow(dead_code)]
mod harness;

use libfuzzer_sys::fuzz_target;

thread_local! {
    static TEMPLATE: harness::Template = harness::Template::new();
}

fuzz_target!(|input: &[u8]| {
    TEMPLATE.with(|template| {
        if let Err(why) = harness::check(template, input) {
            panic!(
                "{why}\nrequest: {:?}",
                harness::generate(input, &template.credentials)
            );
        }
    });
});
