//! JSON as Python's `json.dumps` writes it (the page's examples):
//! `{"a": 1, "b": [1, 2]}` with `", "` and `": "` separators and non-ASCII
//! escaped as `\uXXXX` (`ensure_ascii`).

use super::pyfloat;
use crate::Value;
use std::fmt::Write;

pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Float(x) if x.is_nan() => out.push_str("NaN"),
        Value::Float(x) if x.is_infinite() => {
            out.push_str(if *x > 0.0 { "Infinity" } else { "-Infinity" })
        }
        Value::Float(x) => out.push_str(&pyfloat::repr(*x)),
        Value::Str(text) | Value::LocalDateTime(text) => write_string(out, text),
        Value::Dict(entries) => {
            out.push('{');
            for (index, (key, value)) in entries.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_string(out, key);
                out.push_str(": ");
                write_value(out, value);
            }
            out.push('}');
        }
        Value::List(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
    }
}

/// Appends `text` as a JSON string literal (quotes included), escaped the
/// way `json.dumps` does with `ensure_ascii`.
pub(crate) fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::to_string;
    use crate::Value;

    #[test]
    fn writes_like_python_json_dumps() {
        let value = Value::List(vec![
            Value::dict([
                ("MeterParam", Value::str("meter1")),
                (
                    "TimeStamping",
                    Value::LocalDateTime("2019-10-30 13:15:00".into()),
                ),
                ("value", Value::Float(28540.24)),
            ]),
            Value::dict([
                ("n", Value::Int(-3)),
                ("ok", Value::Bool(true)),
                ("x", Value::Null),
            ]),
        ]);
        assert_eq!(
            to_string(&value),
            r#"[{"MeterParam": "meter1", "TimeStamping": "2019-10-30 13:15:00", "value": 28540.24}, {"n": -3, "ok": true, "x": null}]"#
        );
        assert_eq!(to_string(&Value::empty_dict()), "{}");
        assert_eq!(to_string(&Value::List(vec![])), "[]");
    }

    #[test]
    fn escapes_like_ensure_ascii() {
        let value = Value::str("a\"b\\c\nd\u{1}é😀");
        assert_eq!(to_string(&value), r#""a\"b\\c\nd\u0001\u00e9\ud83d\ude00""#);
    }

    #[test]
    fn output_is_valid_json() {
        let value = Value::dict([("k", Value::str("ü\t<&>")), ("f", Value::Float(1e20))]);
        let parsed: serde_json::Value = serde_json::from_str(&to_string(&value)).unwrap();
        assert_eq!(parsed["k"], "ü\t<&>");
        assert_eq!(parsed["f"], 1e20);
    }
}
