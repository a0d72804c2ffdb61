//! YAML export: a block sequence with one mapping per row, keys in the
//! `/data` order:
//!
//! ```yaml
//! - MeterParam: meter1
//!   TimeStamping: '2019-10-30 13:15:00'
//!   value: 28540.24
//! ```
//!
//! and `[]` when there is no row. Each row is a complete sequence entry, so
//! the rows concatenate into one document.
//!
//! The output must read back unchanged both in YAML 1.2 parsers and in the
//! YAML 1.1 ones still common (PyYAML, Go's yaml.v2, SnakeYAML), where plain
//! `yes`, `on`, `2019-10-30 13:15:00`, `12:30` or `1_000` are not strings.
//!
//! Serializer: `serde_yaml_ng` 0.10. `serde_yaml` is deprecated; of its two
//! maintained forks `serde_yaml_ng` and `serde_norway` write byte-identical
//! YAML for these rows and both build for `wasm32-wasip2` (pure Rust: the
//! C libyaml transpiled to Rust). `serde_yaml_ng` keeps `serde_yaml`'s API
//! and builds on dtolnay's original `unsafe-libyaml`, the emitter
//! `serde_yaml` itself shipped with, where `serde_norway` needs its own fork
//! of it (`unsafe-libyaml-norway`): one fork fewer in the supply chain.
//!
//! Both forks quote only what YAML 1.2 would misread, so they leave `yes`,
//! `on`, dates and times plain, and write floats with ryu (`1e20`, which
//! YAML 1.1 reads as a string). Hence this file:
//!
//! - writes the row layout itself (no serializer set up per row: the export
//!   writes millions of rows);
//! - writes a name plain only when it is plainly safe (letters, digits and
//!   ` _-./`, starting with a letter, not a YAML 1.1 word); this is always
//!   the serializer's own output for such a name (tested);
//! - single-quotes a one-line printable string that YAML 1.1 could read as
//!   something else (booleans, nulls, numbers, times; the timestamp always);
//! - lets the serializer write every other string (indicators, `: `, ` #`,
//!   line breaks, control characters need its quoting and escaping);
//! - writes values as Python's float repr with a `.0` added to a bare
//!   exponent mantissa (`1.0e+20`): a float in YAML 1.1 and 1.2 alike,
//!   reading back to the same `f64`.

use super::row::{ExportRow, METER, TIME, VALUE, write_float};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// Appends one row as a sequence entry.
pub(super) fn write_row(out: &mut Vec<u8>, row: &ExportRow) {
    write_entry(out, true, METER, row.meter, false);
    write_entry(out, false, TIME, row.time, true);
    out.extend_from_slice(b"  ");
    out.extend_from_slice(VALUE.as_bytes());
    out.extend_from_slice(b": ");
    write_value(out, row.value);
    out.push(b'\n');
}

/// Appends `key: text` as an entry of the row's mapping, the first one
/// behind the sequence's `- `. `always_quote` keeps `text` from being a
/// plain scalar.
fn write_entry(out: &mut Vec<u8>, first: bool, key: &str, text: &str, always_quote: bool) {
    let start = out.len();
    out.extend_from_slice(if first { b"- " } else { b"  " });
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b": ");
    let quote = always_quote || read_as_non_string_by_yaml_1_1(text);
    if !quote && is_plainly_safe(text) {
        out.extend_from_slice(text.as_bytes());
        out.push(b'\n');
    } else if quote && is_one_printable_line(text) {
        write_single_quoted(out, text);
        out.push(b'\n');
    } else {
        // Let the serializer write `- key: text` (as `[{key: text}]`), so
        // multi-line block scalars come indented for this place; a later
        // key then trades the `- ` for two spaces.
        out.truncate(start);
        serde_yaml_ng::to_writer(&mut *out, &[OneEntry { key, text }])
            .expect("serializing strings into memory cannot fail");
        debug_assert!(out[start..].starts_with(b"- "));
        if !first {
            out[start] = b' ';
        }
        // Only a string the serializer will not write plain gets here with
        // `quote`: it has a line break or a character it must escape.
        debug_assert!(
            !quote || matches!(out[start + key.len() + 4], b'\'' | b'"' | b'|' | b'>'),
            "{text:?} left plain"
        );
    }
}

/// A one-entry mapping, `{key: text}`, for the serializer.
struct OneEntry<'a> {
    key: &'a str,
    text: &'a str,
}

impl Serialize for OneEntry<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.key, self.text)?;
        map.end()
    }
}

/// Whether a YAML 1.1 parser could resolve `text`, written plain, to
/// something other than a string. Errs on the safe side: besides the
/// boolean and null words, `<<` (merge) and `=` (value), anything that
/// starts like a number (digit, `.`, or a sign and then one of those) is
/// quoted, which covers ints, floats, `.inf`, `.nan`, sexagesimals and
/// timestamps.
fn read_as_non_string_by_yaml_1_1(text: &str) -> bool {
    const WORDS: [&str; 13] = [
        "", "~", "<<", "=", "y", "n", "yes", "no", "true", "false", "on", "off", "null",
    ];
    if WORDS.iter().any(|word| word.eq_ignore_ascii_case(text)) {
        return true;
    }
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.')
}

/// A name safe as a plain scalar in any YAML version, written as is. (The
/// caller has ruled out the YAML 1.1 words.)
fn is_plainly_safe(text: &str) -> bool {
    text.starts_with(char::is_alphabetic)
        && !text.ends_with(' ')
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '_' | '-' | '.' | '/'))
}

/// Whether `text` can go between single quotes as it is: no line break
/// (a single-quoted scalar folds them) and only characters YAML allows
/// unescaped (no control characters, BOM or non-characters U+FFFE/U+FFFF).
fn is_one_printable_line(text: &str) -> bool {
    text.chars().all(|c| {
        !c.is_control()
            && !matches!(
                c,
                '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
            )
    })
}

/// `'text'`, with `'` doubled: the only escape a single-quoted scalar has.
fn write_single_quoted(out: &mut Vec<u8>, text: &str) {
    out.push(b'\'');
    for (index, part) in text.split('\'').enumerate() {
        if index > 0 {
            out.extend_from_slice(b"''");
        }
        out.extend_from_slice(part.as_bytes());
    }
    out.push(b'\'');
}

/// A float both YAML 1.1 and 1.2 read back as the same `f64`: Python's
/// repr, but YAML 1.1 wants a `.` in the mantissa (`1.0e+20`, not
/// `1e+20`), and the non-finite values in YAML spelling.
fn write_value(out: &mut Vec<u8>, x: f64) {
    if x.is_nan() {
        out.extend_from_slice(b".nan");
    } else if x.is_infinite() {
        out.extend_from_slice(if x > 0.0 { b".inf" } else { b"-.inf" });
    } else {
        let start = out.len();
        write_float(out, x);
        let written = &out[start..];
        if let Some(e) = written.iter().position(|&b| b == b'e')
            && !written[..e].contains(&b'.')
        {
            out.splice(start + e..start + e, *b".0");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Format;
    use crate::format::export::tests::{AWKWARD, EXAMPLE, render};
    use crate::format::row::ExportRow;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Row {
        #[serde(rename = "MeterParam")]
        meter: String,
        #[serde(rename = "TimeStamping")]
        time: String,
        value: f64,
    }

    /// Names that a careless writer would turn into something else.
    const NASTY: &[&str] = &[
        "yes",
        "No",
        "ON",
        "off",
        "y",
        "N",
        "true",
        "False",
        "null",
        "NULL",
        "~",
        "",
        "<<",
        "=",
        "1.5",
        "-1",
        "+1",
        "0x1F",
        "0o17",
        "1e3",
        "1_000",
        ".5",
        ".inf",
        "-.inf",
        ".NaN",
        "nan",
        "inf",
        "12:30",
        "190:20:30",
        "2019-10-30",
        "2019-10-30 13:15:00",
        "2019-10-30T13:15:00Z",
        "- x",
        "-",
        "-x",
        "a: b",
        "a:b",
        "#c",
        "c #d",
        "'q'",
        "\"dq\"",
        "? k",
        ":",
        "!tag",
        "&anchor",
        "*alias",
        "%YAML",
        "@at",
        "`tick",
        "|",
        ">",
        "[a]",
        "{a}",
        "a, b",
        " lead",
        "trail ",
        "two\nlines",
        "trailing newline\n",
        "\nleading",
        "tab\there",
        "cr\rx",
        "nul\0x",
        "bell\u{7}",
        "del\u{7f}",
        "nel\u{85}x",
        "ls\u{2028}x",
        "bom\u{feff}x",
        "Compteur é",
        "Zähler 2",
        "счётчик",
        "電表",
        "😀 emoji",
        "meter1",
        "Pump 2/B",
        "a.b_c-d",
        "=SUM(A1:A9)",
        "Hall, \"North\"",
        "---",
        "...",
        "x\\y",
        "very long name ",
    ];

    fn yaml(rows: &[ExportRow]) -> String {
        String::from_utf8(render(Format::Yaml, rows)).unwrap()
    }

    fn parse(text: &str) -> Vec<Row> {
        serde_yaml_ng::from_str(text).unwrap_or_else(|error| panic!("{error}\n{text}"))
    }

    #[track_caller]
    fn assert_round_trips(rows: &[ExportRow]) {
        let text = yaml(rows);
        let parsed = parse(&text);
        assert_eq!(parsed.len(), rows.len(), "{text}");
        for (back, row) in parsed.iter().zip(rows) {
            assert_eq!(back.meter, row.meter, "{text}");
            assert_eq!(back.time, row.time, "{text}");
            assert_eq!(back.value.to_bits(), row.value.to_bits(), "{text}");
        }
    }

    #[test]
    fn rows_parse_back_unchanged() {
        assert_round_trips(&EXAMPLE);
        assert_round_trips(&AWKWARD);
        let values = [
            0.0,
            -0.0,
            5.0,
            -12.5,
            1e20,
            -1e-5,
            1e16,
            0.1,
            28540.24,
            f64::MAX,
        ];
        let rows: Vec<ExportRow> = NASTY
            .iter()
            .zip(values.iter().cycle())
            .map(|(meter, value)| ExportRow {
                meter,
                time: "2019-10-30 13:15:00",
                value: *value,
            })
            .collect();
        assert_round_trips(&rows);
        // One at a time too: the first entry of a document is not special.
        for row in &rows {
            assert_round_trips(std::slice::from_ref(row));
        }
    }

    #[test]
    fn empty_is_an_empty_sequence() {
        assert_eq!(yaml(&[]), "[]\n");
        assert!(parse("[]\n").is_empty());
    }

    #[test]
    fn yaml_1_1_lookalikes_are_quoted() {
        let row = |meter| ExportRow {
            meter,
            time: "2019-10-30 13:15:00",
            value: 1.0,
        };
        for (meter, written) in [
            ("yes", "'yes'"),
            ("On", "'On'"),
            ("n", "'n'"),
            ("=", "'='"),
            ("<<", "'<<'"),
            ("12:30", "'12:30'"),
            ("1_000", "'1_000'"),
            ("2019-10-30", "'2019-10-30'"),
            ("-.inf", "'-.inf'"),
            ("1 o'clock", "'1 o''clock'"),
            ("meter1", "meter1"),
            ("Compteur é", "Compteur é"),
        ] {
            assert_eq!(
                yaml(&[row(meter)]),
                format!(
                    "- MeterParam: {written}\n  TimeStamping: '2019-10-30 13:15:00'\n  value: 1.0\n"
                ),
            );
        }
    }

    #[test]
    fn the_serializer_writes_the_hard_strings() {
        let entry = |meter| {
            let mut out = Vec::new();
            write_entry(&mut out, false, METER, meter, false);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(entry("a: b"), "  MeterParam: 'a: b'\n");
        assert_eq!(entry("#c"), "  MeterParam: '#c'\n");
        assert_eq!(
            entry("two\nlines"),
            "  MeterParam: |-\n    two\n    lines\n"
        );
        assert_eq!(entry("tab\there"), "  MeterParam: \"tab\\there\"\n");
        // Quoting forced on a string with a line break still quotes.
        let mut out = Vec::new();
        write_entry(&mut out, false, TIME, "2019\n10", true);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "  TimeStamping: |-\n    2019\n    10\n"
        );
    }

    /// The hand-written plain names are what the serializer writes too.
    #[test]
    fn plain_names_agree_with_the_serializer() {
        let mut plain = 0;
        for meter in NASTY
            .iter()
            .chain(&["Zähler", "Pump 2 . B/1", "a-b_c.d", "Ölstand 3"])
        {
            if read_as_non_string_by_yaml_1_1(meter) || !is_plainly_safe(meter) {
                continue;
            }
            plain += 1;
            let mut by_hand = Vec::new();
            write_entry(&mut by_hand, true, METER, meter, false);
            let by_serializer = serde_yaml_ng::to_string(&[OneEntry {
                key: METER,
                text: meter,
            }])
            .unwrap();
            assert_eq!(String::from_utf8(by_hand).unwrap(), by_serializer);
        }
        assert!(plain >= 10, "{plain}");
    }

    #[test]
    fn values_are_yaml_floats() {
        let value = |x| {
            let mut out = Vec::new();
            write_value(&mut out, x);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(value(28540.24), "28540.24");
        assert_eq!(value(5.0), "5.0");
        assert_eq!(value(-0.0), "-0.0");
        assert_eq!(value(1e20), "1.0e+20");
        assert_eq!(value(-1e-5), "-1.0e-05");
        assert_eq!(value(1.5e20), "1.5e+20");
        assert_eq!(value(f64::INFINITY), ".inf");
        assert_eq!(value(f64::NEG_INFINITY), "-.inf");
        assert_eq!(value(f64::NAN), ".nan");
    }
}
