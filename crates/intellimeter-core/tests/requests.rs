//! Whole requests from a grammar (valid-looking and not) to every route
//! against a provisioned site: never a 5xx, refusals in the negotiated
//! format, and a refusal changes nothing (`harness/mod.rs` says exactly).
//! `PROPTEST_CASES` runs more cases than the default; the libFuzzer target
//! `tests/fuzz/fuzz_targets/requests.rs` runs the same checks for hours.

mod common;
mod harness;

use harness::{Template, check};
use intellimeter_core::routes;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::cell::RefCell;
use std::collections::BTreeMap;

use test_support::cases;

fn runner_cases() -> u32 {
    cases(1000)
}

#[test]
fn any_request_is_answered_below_500_and_a_refusal_changes_nothing() {
    let template = Template::new();
    let statuses = RefCell::new(BTreeMap::<u16, u32>::new());
    let mut runner = TestRunner::new(Config {
        cases: runner_cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&vec(any::<u8>(), 0..256), |input| {
        let outcome = check(&template, &input).map_err(|why| {
            TestCaseError::fail(format!(
                "{why}\nrequest: {:?}",
                harness::generate(&input, &template.credentials)
            ))
        })?;
        *statuses.borrow_mut().entry(outcome.status).or_default() += 1;
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    // The grammar reaches the handlers' success paths and many refusals,
    // not only the first check of each route.
    let statuses = statuses.into_inner();
    eprintln!("statuses of {} requests: {statuses:?}", runner_cases());
    let successes: u32 = statuses
        .iter()
        .filter(|(status, _)| **status < 300)
        .map(|(_, n)| n)
        .sum();
    assert!(successes > 0, "no request succeeded: {statuses:?}");
    for status in [400, 401, 404, 405] {
        assert!(statuses.contains_key(&status), "no {status}: {statuses:?}");
    }
}

#[test]
fn the_template_site_answers_plain_requests() {
    // The harness itself: a request every choice of which is 0 (a GET of
    // /session without credentials) is refused, and the site's credentials
    // do open it.
    let template = Template::new();
    assert_eq!(check(&template, &[]).unwrap().status, 401);
    let mut with_key = harness::generate(&[], &template.credentials);
    with_key.request = with_key.request.with_header(
        "authorization",
        &format!("Bearer {}", template.credentials.api_key),
    );
    assert_eq!(
        harness::check_request(&template, &with_key).unwrap().status,
        200
    );
}

/// Refuses after deleting a reading.
fn deletes_then_refuses(
    ctx: &intellimeter_core::context::Ctx,
    _: &intellimeter_core::ApiRequest,
) -> Result<intellimeter_core::Reply, intellimeter_core::ApiError> {
    ctx.db()?.execute(
        "DELETE FROM readings WHERE ts = (SELECT MAX(ts) FROM readings)",
        &[],
    )?;
    Err(intellimeter_core::ApiError::bad_request("no"))
}

/// Refuses after storing a session.
fn logs_in_then_refuses(
    ctx: &intellimeter_core::context::Ctx,
    _: &intellimeter_core::ApiRequest,
) -> Result<intellimeter_core::Reply, intellimeter_core::ApiError> {
    ctx.kv().set("session:x", b"{}")?;
    Err(intellimeter_core::ApiError::not_found("no"))
}

/// Fails as a fault of ours.
fn fails(
    _: &intellimeter_core::context::Ctx,
    _: &intellimeter_core::ApiRequest,
) -> Result<intellimeter_core::Reply, intellimeter_core::ApiError> {
    Err(intellimeter_core::ApiError::internal("broken"))
}

#[test]
fn the_checks_catch_what_they_look_for() {
    static BROKEN: [intellimeter_core::Route; 3] = [
        intellimeter_core::Route::new(&routes::session::SPEC, deletes_then_refuses),
        intellimeter_core::Route::new(&routes::session::SPEC, logs_in_then_refuses),
        intellimeter_core::Route::new(&routes::session::SPEC, fails),
    ];
    let template = Template::new();
    let mut says = Vec::new();
    for (route, format) in BROKEN.iter().zip(["json", "xml", "json"]) {
        let mut generated = harness::generate(&[], &template.credentials);
        generated.route = route;
        generated.request.query = format!("format={format}");
        says.push(harness::check_request(&template, &generated).unwrap_err());
    }
    assert!(
        says[0].contains("status 400, but table readings changed"),
        "{}",
        says[0]
    );
    assert!(
        says[1].contains("status 404, but the key-value store changed"),
        "{}",
        says[1]
    );
    assert!(says[2].starts_with("status 500"), "{}", says[2]);
}
