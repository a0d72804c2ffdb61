//! JSON as Python's `json.dumps` writes it (the page's examples):
//! `{"a": 1, "b": [1, 2]}` with `", "` and `": "` separators and non-ASCII
//! escaped as `\uXXXX` (`ensure_ascii`).

use super::append;
use super::document::{Container, DocumentWriter, Record, RecordHead, Scalar, Slot, write_value};
use super::row::write_float;
use crate::Value;
use std::io::Write as _;

pub fn to_string(value: &Value) -> String {
    let mut writer = JsonWriter::default();
    write_value(&mut writer, Slot::Root, value);
    writer.into_string()
}

/// A document as JSON ([`DocumentWriter`]).
#[derive(Default)]
pub struct JsonWriter {
    out: Vec<u8>,
    /// Per open container, whether nothing is in it yet (no `, ` before
    /// the next entry).
    empty: Vec<bool>,
    /// Where each hole's text goes ([`DocumentWriter::hole`]).
    holes: Vec<(usize, u32)>,
}

impl JsonWriter {
    pub fn with_capacity(bytes: usize) -> Self {
        JsonWriter {
            out: Vec::with_capacity(bytes),
            empty: Vec::new(),
            holes: Vec::new(),
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }

    /// The bytes written since the last take, the writer going on where
    /// it was (what is open stays open) in a buffer of `capacity`; for a
    /// document written in parts, which has no holes.
    pub fn take_written(&mut self, capacity: usize) -> Vec<u8> {
        std::mem::replace(&mut self.out, Vec::with_capacity(capacity))
    }

    pub fn into_string(self) -> String {
        String::from_utf8(self.out).expect("JSON is written as ASCII")
    }

    /// The bytes and the holes' places in them.
    pub fn into_parts(self) -> (Vec<u8>, Vec<(usize, u32)>) {
        (self.out, self.holes)
    }

    /// The separator and key that come before a value at `slot`.
    fn begin(&mut self, slot: Slot) {
        if slot == Slot::Root {
            return;
        }
        if let Some(empty) = self.empty.last_mut()
            && !std::mem::replace(empty, false)
        {
            self.out.extend_from_slice(b", ");
        }
        if let Slot::Field(key) = slot {
            write_string(&mut self.out, key);
            self.out.extend_from_slice(b": ");
        }
    }
}

impl DocumentWriter for JsonWriter {
    fn open(&mut self, slot: Slot, container: Container) {
        self.begin(slot);
        self.out.push(match container {
            Container::Dict => b'{',
            Container::List => b'[',
        });
        self.empty.push(true);
    }

    fn close(&mut self, _slot: Slot, container: Container) {
        self.empty.pop();
        self.out.push(match container {
            Container::Dict => b'}',
            Container::List => b']',
        });
    }

    fn scalar(&mut self, slot: Slot, value: Scalar) {
        self.begin(slot);
        write_scalar(&mut self.out, value);
    }

    fn hole(&mut self, slot: Slot, _type_name: &'static str, id: u32) {
        self.begin(slot);
        self.holes.push((self.out.len(), id));
    }

    /// The record's keys as framed once ([`Record`]), each value after
    /// its own.
    fn record(&mut self, slot: Slot, record: &Record, cells: &[Scalar]) {
        self.begin(slot);
        self.framed_record(record.json_framing(), (&[], 0), cells);
    }

    /// The head as written once with its record's keys, then each cell
    /// after its own key.
    fn record_after(&mut self, slot: Slot, record: &Record, head: &RecordHead, cells: &[Scalar]) {
        self.begin(slot);
        self.framed_record(
            record.json_framing(),
            (head.json(record), head.len()),
            cells,
        );
    }
}

impl JsonWriter {
    /// A record's dict: `head`'s JSON (the bytes of its first cells with
    /// their keys, and how many), then each of `cells` after its key in
    /// `framing`; `{}` when that is nothing.
    fn framed_record(&mut self, framing: &[Vec<u8>], head: (&[u8], usize), cells: &[Scalar]) {
        let (head_json, head_cells) = head;
        let after = framing.get(head_cells..).unwrap_or_default();
        if head_json.is_empty() && (after.is_empty() || cells.is_empty()) {
            self.out.extend_from_slice(b"{}");
            return;
        }
        self.out.extend_from_slice(head_json);
        for (piece, cell) in after.iter().zip(cells) {
            append(&mut self.out, piece);
            write_scalar(&mut self.out, *cell);
        }
        self.out.push(b'}');
    }
}

/// Appends a scalar as `json.dumps` writes it.
pub(crate) fn write_scalar(out: &mut Vec<u8>, value: Scalar) {
    match value {
        Scalar::Null => out.extend_from_slice(b"null"),
        Scalar::Bool(true) => out.extend_from_slice(b"true"),
        Scalar::Bool(false) => out.extend_from_slice(b"false"),
        Scalar::Int(n) => append(out, itoa::Buffer::new().format(n).as_bytes()),
        Scalar::Float(x) => write_number(out, x),
        Scalar::Str(text) | Scalar::LocalDateTime(text) => write_string(out, text),
    }
}

/// Appends a float as `json.dumps` writes it: `NaN`, `Infinity` and
/// `-Infinity` for the non-finite ones, Python's `repr` otherwise.
pub(crate) fn write_number(out: &mut Vec<u8>, x: f64) {
    match x {
        x if x.is_nan() => out.extend_from_slice(b"NaN"),
        x if x == f64::INFINITY => out.extend_from_slice(b"Infinity"),
        x if x == f64::NEG_INFINITY => out.extend_from_slice(b"-Infinity"),
        x => write_float(out, x),
    }
}

/// Appends `text` as a JSON string literal (quotes included), escaped the
/// way `json.dumps` does with `ensure_ascii`.
pub(crate) fn write_string(out: &mut Vec<u8>, text: &str) {
    // Most texts (every key, every time) need no escape: one check, one
    // copy.
    if !needs_escape(text.as_bytes()) {
        out.reserve(text.len() + 2);
        out.push(b'"');
        append(out, text.as_bytes());
        out.push(b'"');
        return;
    }
    out.push(b'"');
    let mut rest = text;
    while !rest.is_empty() {
        // Printable ASCII other than a quote or a backslash goes out as
        // it is, a run at a time.
        let plain = rest.bytes().position(is_escaped).unwrap_or(rest.len());
        out.extend_from_slice(&rest.as_bytes()[..plain]);
        rest = &rest[plain..];
        let Some(c) = rest.chars().next() else {
            break;
        };
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
        rest = &rest[c.len_utf8()..];
    }
    out.push(b'"');
}

/// Whether any byte of `bytes` is not printable ASCII or is a quote or a
/// backslash, which [`write_string`] escapes. Eight bytes at a time (a
/// byte at a time is most of writing a large answer in WebAssembly,
/// which has no vector instructions here): for each word, whether some
/// byte is below `0x20`, equals `"`, `\\` or `0x7f`, or has its top bit
/// set. Each test is exact for the word as a whole (Hacker's Delight
/// 6-1, "find a zero byte"), which is all this asks.
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    /// Whether some byte of `word` is zero.
    fn has_zero(word: u64) -> bool {
        word.wrapping_sub(ONES) & !word & HIGHS != 0
    }
    /// Whether some byte of `word` is below `n` (`n` at most 128).
    fn has_less(word: u64, n: u8) -> bool {
        word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS != 0
    }
    let mut words = bytes.chunks_exact(8);
    for chunk in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        if word & HIGHS != 0
            || has_less(word, b' ')
            || has_zero(word ^ (ONES * u64::from(b'"')))
            || has_zero(word ^ (ONES * u64::from(b'\\')))
            || has_zero(word ^ (ONES * 0x7f))
        {
            return true;
        }
    }
    words.remainder().iter().any(|&byte| is_escaped(byte))
}

/// Whether [`write_string`] escapes `byte`: anything but printable ASCII,
/// and a quote or a backslash.
fn is_escaped(byte: u8) -> bool {
    !(b' '..=b'~').contains(&byte) || byte == b'"' || byte == b'\\'
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

    proptest::proptest! {
        /// Any text reads back as itself, written in ASCII only.
        #[test]
        fn strings_read_back_as_written(text in ".*", ascii in "[ -~]*") {
            for text in [text, ascii] {
                let mut out = Vec::new();
                super::write_string(&mut out, &text);
                proptest::prop_assert!(out.is_ascii());
                let back: String = serde_json::from_slice(&out).unwrap();
                proptest::prop_assert_eq!(back, text);
            }
        }
    }

    proptest::proptest! {
        /// The word-at-a-time check says what a byte-at-a-time one says,
        /// for bytes around each edge it tests, at every offset.
        #[test]
        fn the_escape_check_sees_every_byte_that_needs_one(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(vec![
                        0u8, 0x1f, b' ', b'!', b'"', b'#', b'[', b'\\', b']', b'~', 0x7f, 0x80, 0xff,
                    ]),
                    b' '..=b'~',
                ],
                0..40,
            )
        ) {
            let bytewise = bytes.iter().any(|&byte| super::is_escaped(byte));
            proptest::prop_assert_eq!(super::needs_escape(&bytes), bytewise);
        }
    }

    #[test]
    fn output_is_valid_json() {
        let value = Value::dict([("k", Value::str("ü\t<&>")), ("f", Value::Float(1e20))]);
        let parsed: serde_json::Value = serde_json::from_str(&to_string(&value)).unwrap();
        assert_eq!(parsed["k"], "ü\t<&>");
        assert_eq!(parsed["f"], 1e20);
    }
}
