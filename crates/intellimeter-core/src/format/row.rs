//! One exported reading and what every file format writes of it: the
//! field names in the `/data` shape and order, and Python's float text.
//! Each format file (`csv.rs`, `json.rs`, `xml.rs`, `yaml.rs`, and the
//! streamed writer `export.rs`) imports this, none imports another.

use super::pyfloat;

/// Field names of a row, in the `/data` shape and order.
pub(crate) const METER: &str = "MeterParam";
pub(crate) const TIME: &str = "TimeStamping";
pub(crate) const VALUE: &str = "value";

/// One exported reading, in the `/data` shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExportRow<'a> {
    /// `MeterParam`: the point's display name (user-controlled text).
    pub meter: &'a str,
    /// `TimeStamping`: local time `YYYY-mm-dd HH:MM:SS`, already in the
    /// project's zone.
    pub time: &'a str,
    /// The cumulative register value; finite.
    pub value: f64,
}

/// Appends Python's `repr(x)`: the same text as [`pyfloat::repr`], without
/// its allocations for the usual magnitudes. In Python's fixed-notation
/// range (`1e-4 <= |x| < 1e16`, and zero) `repr` is the shortest
/// round-tripping digits without exponent, plus `.0` on whole numbers,
/// which is what zmij writes there (it turns to exponents only below
/// `1e-5` and from `1e16`); everything else goes to `repr`. Zmij rather
/// than ryu: the same digits (a test below compares them), and about 10 %
/// of writing a month of hours of `/usage` faster in WebAssembly.
pub(crate) fn write_float(out: &mut Vec<u8>, x: f64) {
    let magnitude = x.abs();
    if magnitude < 1e15 && x.fract() == 0.0 && !(x == 0.0 && x.is_sign_negative()) {
        // A whole number (readings' counts and coverage's 1.0 often are):
        // its integer and `.0`, the integer being exact below 2^53.
        super::append(out, itoa::Buffer::new().format(x as i64).as_bytes());
        out.extend_from_slice(b".0");
    } else if magnitude == 0.0 || (1e-4..1e16).contains(&magnitude) {
        super::append(out, zmij::Buffer::new().format_finite(x).as_bytes());
    } else {
        out.extend_from_slice(pyfloat::repr(x).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    fn written(x: f64) -> String {
        let mut out = Vec::new();
        super::write_float(&mut out, x);
        String::from_utf8(out).unwrap()
    }

    proptest! {
        /// Zmij's shortest digits are ryu's (which the 300,000 floats
        /// checked against Python's `repr` were written with), for any
        /// bits and for the decimals meters send.
        #[test]
        fn floats_are_written_with_ryus_digits(
            bits in any::<u64>(),
            hundredths in -10_000_000_000i64..10_000_000_000,
            scale in -6i32..17,
        ) {
            let decimal = hundredths as f64 / 100.0 * 10f64.powi(scale - 8);
            for x in [f64::from_bits(bits), decimal, decimal * 3.0 + 0.1] {
                if !x.is_finite() {
                    continue;
                }
                let magnitude = x.abs();
                let expected = if magnitude < 1e15 && x.fract() == 0.0 && !(x == 0.0 && x.is_sign_negative()) {
                    format!("{}.0", x as i64)
                } else if magnitude == 0.0 || (1e-4..1e16).contains(&magnitude) {
                    ryu::Buffer::new().format_finite(x).to_owned()
                } else {
                    continue;
                };
                prop_assert_eq!(written(x), expected, "{:e}", x);
            }
        }
    }
}
