//! Floats written the way Python's `repr(float)` writes them, since both the
//! page's JSON (`json.dumps`) and XML (`dicttoxml`) examples come from Python:
//! the shortest digits that round-trip, `.0` on whole numbers, and exponent
//! notation when the decimal exponent is below -4 or above 15
//! (`1e-05`, `1e+16`).

/// `repr(x)` for a Python float.
pub fn repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let (digits, exponent) = shortest_digits(x.abs());
    let sign = if x.is_sign_negative() { "-" } else { "" };
    // Position of the decimal point relative to the first digit.
    let point = exponent + 1;
    let body = if (-3..=16).contains(&point) {
        fixed(&digits, point)
    } else {
        exponential(&digits, exponent)
    };
    format!("{sign}{body}")
}

/// The shortest digits that read back as `x` (finite, not negative), the
/// closest to it of those and of a tie the even one, as Python picks them
/// (zmij, as ryu; Rust's own `{:e}` rounds a tie up), and the decimal
/// exponent of the first: `1234.5` is `("12345", 3)`.
fn shortest_digits(x: f64) -> (String, i32) {
    if x == 0.0 {
        return ("0".to_owned(), 0);
    }
    let mut buffer = zmij::Buffer::new();
    let text = buffer.format_finite(x);
    let (mantissa, shift) = match text.split_once('e') {
        Some((mantissa, exponent)) => (
            mantissa,
            exponent
                .parse::<i32>()
                .expect("zmij writes an integer exponent"),
        ),
        None => (text, 0),
    };
    let whole = mantissa.find('.').unwrap_or(mantissa.len()) as i32;
    let all: String = mantissa.chars().filter(|c| *c != '.').collect();
    let leading = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_matches('0').to_owned();
    (digits, whole - 1 - leading as i32 + shift)
}

fn fixed(digits: &str, point: i32) -> String {
    let len = digits.len() as i32;
    if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point >= len {
        format!("{digits}{}.0", "0".repeat((point - len) as usize))
    } else {
        let (whole, fraction) = digits.split_at(point as usize);
        format!("{whole}.{fraction}")
    }
}

fn exponential(digits: &str, exponent: i32) -> String {
    let (first, rest) = digits.split_at(1);
    let mantissa = if rest.is_empty() {
        first.to_owned()
    } else {
        format!("{first}.{rest}")
    };
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

#[cfg(test)]
mod tests {
    use super::repr;

    #[track_caller]
    fn check(x: f64, expected: &str) {
        assert_eq!(repr(x), expected, "repr({x:?})");
    }

    #[test]
    fn matches_python_repr() {
        check(28540.24, "28540.24");
        check(35757.359, "35757.359");
        check(0.5, "0.5");
        check(0.08, "0.08");
        check(1.0, "1.0");
        check(0.0, "0.0");
        check(-0.0, "-0.0");
        check(-2.5, "-2.5");
        check(100.0, "100.0");
        check(1e15, "1000000000000000.0");
        // Ties of the 17th digit go to the even one, as in Python (Rust's
        // `Display` rounds them up).
        check(1_658_206_780_088_562.0 + 0.25, "1658206780088562.2");
        check(1_658_206_780_088_562.0 + 0.75, "1658206780088562.8");
        check(1e16, "1e+16");
        check(1.5e16, "1.5e+16");
        check(1e20, "1e+20");
        check(1e100, "1e+100");
        check(0.0001, "0.0001");
        check(0.00001, "1e-05");
        check(1.5e-7, "1.5e-07");
        check(123456789012345.6, "123456789012345.6");
        check(0.1 + 0.2, "0.30000000000000004");
        check(f64::NAN, "nan");
        check(f64::INFINITY, "inf");
        check(f64::NEG_INFINITY, "-inf");
        check(5e-324, "5e-324");
        check(f64::MAX, "1.7976931348623157e+308");
    }
}
