//! Bounds and shapes of what clients may store. Each check says exactly
//! what was wrong.

use crate::error::ApiError;

pub const MAX_USERNAME_CHARS: usize = 64;
pub const MAX_EMAIL_CHARS: usize = 254;
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Bounds the argon2 input; far beyond any real password.
pub const MAX_PASSWORD_BYTES: usize = 1024;
pub const MAX_PROJECT_NAME_CHARS: usize = 100;

fn text(field: &str, value: &str, max_chars: usize) -> Result<(), ApiError> {
    let chars = value.chars().count();
    if chars == 0 {
        return Err(ApiError::bad_request(format!("{field} must not be empty")));
    }
    if chars > max_chars {
        return Err(ApiError::bad_request(format!(
            "{field} is longer than {max_chars} characters"
        )));
    }
    if value.chars().any(ingest_wire::forbidden_in_names) {
        return Err(ApiError::bad_request(format!(
            "{field} must not contain control characters, U+FFFE or U+FFFF"
        )));
    }
    if value.trim() != value {
        return Err(ApiError::bad_request(format!(
            "{field} must not start or end with spaces"
        )));
    }
    Ok(())
}

pub fn username(value: &str) -> Result<(), ApiError> {
    text("username", value, MAX_USERNAME_CHARS)
}

/// A metering point's name, as `POST /point` sets it: the same rule as a
/// `MeterId` on the wire (`ingest_wire::check_point_name`), so that every
/// name ingest creates could have been given by a rename and back.
pub fn point_name(value: &str) -> Result<(), ApiError> {
    ingest_wire::check_point_name(value).map_err(|why| ApiError::bad_request(format!("new {why}")))
}

pub fn project_name(value: &str) -> Result<(), ApiError> {
    text("name", value, MAX_PROJECT_NAME_CHARS)
}

pub fn email(value: &str) -> Result<(), ApiError> {
    text("email", value, MAX_EMAIL_CHARS)?;
    let valid = match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !value.contains(char::is_whitespace)
        }
        None => false,
    };
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "email {value:?} is not an email address"
        )))
    }
}

pub fn password(value: &str) -> Result<(), ApiError> {
    if value.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::bad_request(format!(
            "password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if value.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::bad_request(format!(
            "password is longer than {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`, any case).
pub fn boolean(field: &str, value: &str) -> Result<bool, ApiError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "{field} must be true or false, not {value:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(username("test").is_ok());
        assert!(username("").is_err());
        assert!(username(" test").is_err());
        assert!(username("te\nst").is_err());
        assert!(username("te\u{FFFF}st").is_err(), "not writable in XML");
        assert!(username(&"x".repeat(65)).is_err());
        assert!(username(&"é".repeat(64)).is_ok());
    }

    #[test]
    fn point_names_follow_the_rule_of_meter_ids_on_the_wire() {
        // Names ingest once took and `POST /point` refused.
        for name in ["meter1 ", " meter1", "", "me\nter", &"x".repeat(65)] {
            let wire = ingest_wire::check_point_name(name);
            assert!(wire.is_err(), "{name:?}");
            let error = point_name(name).unwrap_err();
            assert_eq!(error.message, format!("new {}", wire.unwrap_err()));
        }
        for name in ["meter1", "Main panel", &"é".repeat(64)] {
            assert!(point_name(name).is_ok() && ingest_wire::check_point_name(name).is_ok());
        }
    }

    #[test]
    fn emails_passwords_booleans() {
        assert!(email("test@example.com").is_ok());
        assert!(email("test.example.com").is_err());
        assert!(email("a@b@c").is_err());
        assert!(email("a b@c").is_err());
        assert!(email("@c").is_err());
        assert!(password("12345678").is_ok());
        assert!(password("1234567").is_err());
        assert!(password(&"x".repeat(1025)).is_err());
        assert!(boolean("xml", "True").unwrap());
        assert!(!boolean("xml", "0").unwrap());
        assert!(boolean("xml", "maybe").is_err());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ a-z@.\\t\\né]{0,8}",
            any::<String>(),
            Just("x".repeat(10_000)),
            Just("é".repeat(65)),
        ]
    }

    fn accepted_text(value: &str, max: usize) -> bool {
        let chars = value.chars().count();
        (1..=max).contains(&chars) && !value.chars().any(char::is_control) && value.trim() == value
    }

    proptest! {
        #![proptest_config(test_support::proptest_config(512))]

        #[test]
        fn account_fields_are_accepted_only_within_their_bounds(value in text()) {
            for (result, max) in [
                (username(&value), MAX_USERNAME_CHARS),
                (project_name(&value), MAX_PROJECT_NAME_CHARS),
                (point_name(&value), ingest_wire::MAX_ID_CHARS),
            ] {
                match result {
                    Ok(()) => prop_assert!(accepted_text(&value, max)),
                    Err(error) => {
                        prop_assert_eq!(error.status(), 400);
                        prop_assert!(!accepted_text(&value, max));
                    }
                }
            }
            if email(&value).is_ok() {
                prop_assert!(accepted_text(&value, MAX_EMAIL_CHARS));
                prop_assert_eq!(value.matches('@').count(), 1);
                prop_assert!(!value.starts_with('@') && !value.ends_with('@'));
            }
            match password(&value) {
                Ok(()) => prop_assert!(value.chars().count() >= MIN_PASSWORD_CHARS && value.len() <= MAX_PASSWORD_BYTES),
                Err(error) => prop_assert_eq!(error.status(), 400),
            }
            match boolean("xml", &value) {
                Ok(flag) => prop_assert_eq!(flag, ["true", "1", "yes"].contains(&value.to_ascii_lowercase().as_str())),
                Err(error) => prop_assert_eq!(error.status(), 400),
            }
        }
    }
}
