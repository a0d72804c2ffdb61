//! What the workspace's property tests share. A dev-dependency only: no
//! shipped program links it.

use proptest::test_runner::Config;

/// How many cases a property test runs: `default` (kept small so that
/// `cargo test` stays fast), or `PROPTEST_CASES` for a longer run.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default)
}

/// A proptest configuration of [`cases`]`(default)` cases that writes no
/// regression files (a failure prints its shrunk input; a test that
/// matters is then written down by hand).
pub fn proptest_config(default: u32) -> Config {
    Config {
        cases: cases(default),
        failure_persistence: None,
        ..Config::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_holds_unless_the_environment_says_otherwise() {
        let expected = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|cases| cases.parse().ok())
            .unwrap_or(7);
        assert_eq!(proptest_config(7).cases, expected);
        assert!(proptest_config(7).failure_persistence.is_none());
    }
}
