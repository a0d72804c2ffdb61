//! The request parsers on raw bytes: query strings, form and JSON bodies,
//! content types, format negotiation (`?format=`, `Accept`), cookies,
//! bearer tokens, client addresses, the field rules, and local times of
//! any instant. Every refusal is a 4xx.

#![no_main]

use intellimeter_core::http::request::{Params, requested_format};
use intellimeter_core::domain::time::LocalClock;
use intellimeter_core::ApiRequest;
use intellimeter_core::domain::validate;
use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/x-www-form-urlencoded",
    "application/json; charset=utf-8",
    "text/plain",
    "",
];
const ZONES: &[&str] = &[
    "UTC",
    "America/Toronto",
    "Pacific/Apia",
    "Australia/Lord_Howe",
];

fuzz_target!(|input: &[u8]| {
    let Some((&selector, rest)) = input.split_first() else {
        return;
    };
    // Fields separated by 0xFF (never in UTF-8): query, body, accept,
    // cookie, authorization, forwarded-for.
    let mut fields = rest.split(|b| *b == 0xFF);
    let mut next = || fields.next().unwrap_or_default();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let query = text(next());
    let body = next().to_vec();
    let (accept, cookie, authorization, forwarded) =
        (text(next()), text(next()), text(next()), text(next()));

    let mut request = ApiRequest::new("POST", "/x");
    request.query = query.clone();
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    if !content_type.is_empty() {
        request = request.with_header("content-type", content_type);
    }
    request = request
        .with_header("accept", &accept)
        .with_header("cookie", &cookie)
        .with_header("authorization", &authorization)
        .with_header("x-forwarded-for", &forwarded)
        .with_header("spin-client-addr", &forwarded)
        .with_body(body);

    if let Err(error) = Params::parse(&request) {
        assert!(matches!(error.status(), 400 | 415), "{error:?}");
    }
    if let Err(error) = requested_format(&request) {
        assert_eq!(error.status(), 400, "{error:?}");
    }
    let _ = request.cookies("__Host-session").count();
    let _ = request.bearer_token();
    let address = request.client_address(Some("x-forwarded-for"));
    assert!(address.chars().count() <= 64, "{address}");
    for check in [
        validate::username,
        validate::email,
        validate::password,
        validate::project_name,
        validate::point_name,
    ] {
        if let Err(error) = check(&query) {
            assert_eq!(error.status(), 400);
        }
    }
    if let Err(error) = validate::boolean("xml", &query) {
        assert_eq!(error.status(), 400);
    }

    // Local times of any instant, and the start of any day.
    if rest.len() >= 8 {
        let seconds = i64::from_le_bytes(rest[..8].try_into().expect("8 bytes"));
        let mut clock = LocalClock::new(ZONES[usize::from(selector >> 4) % ZONES.len()]);
        let _ = clock.format_minutes(seconds);
        let _ = clock.ticks(seconds, seconds.saturating_add(i64::from(rest[0]) << 20));
        if let Ok(day) = jiff::Timestamp::from_second(seconds)
            .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date())
        {
            let _ = clock.start_of_day(day);
        }
    }
});
