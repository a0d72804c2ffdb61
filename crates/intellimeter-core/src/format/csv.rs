//! CSV export: RFC 4180 (comma separated, CRLF after every record, a field
//! quoted only when it holds a comma, a quote or a line break, quotes
//! doubled), written by the `csv` crate, header
//! `MeterParam,TimeStamping,value`. Values are Python float reprs, as in the
//! JSON and XML exports.
//!
//! **Formula injection**: a spreadsheet runs a cell starting with `=`, `+`,
//! `-` or `@` as a formula (tab and carriage return can hide such a start).
//! Meter names are user text, so a text cell starting with one of those
//! gets a leading `'`, which makes spreadsheets show it as text (OWASP "CSV
//! Injection"). Numbers are written as they are.

use super::document::Scalar;
use super::row::{ExportRow, METER, TIME, VALUE, write_float};
use std::cell::RefCell;
use std::io;
use std::io::Write as _;

/// Characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether a text cell needs a leading `'` against formula injection.
pub(super) fn needs_neutralising(text: &str) -> bool {
    text.starts_with(FORMULA_STARTS)
}

/// One `csv::Writer` for the whole export, drained into the caller's buffer
/// after every record.
pub(crate) struct CsvWriter {
    inner: ::csv::Writer<Sink>,
    /// Reused for a neutralised text cell or a formatted value.
    field: Vec<u8>,
}

/// Where the `csv::Writer` puts its bytes until [`CsvWriter::drain_into`]
/// moves them out. `csv::Writer` only lends its destination by shared
/// reference (`get_ref`), hence the `RefCell`.
struct Sink(RefCell<Vec<u8>>);

impl io::Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.get_mut().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

const IN_MEMORY: &str = "writing CSV to memory cannot fail";

impl CsvWriter {
    pub(crate) fn new() -> Self {
        let inner = ::csv::WriterBuilder::new()
            .terminator(::csv::Terminator::CRLF)
            .buffer_capacity(4096)
            .from_writer(Sink(RefCell::new(Vec::new())));
        CsvWriter {
            inner,
            field: Vec::new(),
        }
    }

    pub(super) fn header(&mut self, out: &mut Vec<u8>) {
        self.inner
            .write_record([METER, TIME, VALUE])
            .expect(IN_MEMORY);
        self.drain_into(out);
    }

    pub(super) fn row(&mut self, out: &mut Vec<u8>, row: &ExportRow) {
        self.text_field(row.meter);
        // A timestamp never starts with a formula character, but it is a
        // text cell all the same.
        self.text_field(row.time);
        self.field.clear();
        write_float(&mut self.field, row.value);
        self.inner.write_field(&self.field).expect(IN_MEMORY);
        // No more fields: ends the record.
        self.inner.write_record(None::<&[u8]>).expect(IN_MEMORY);
        self.drain_into(out);
    }

    /// A header of other names than the export's (a table of another
    /// answer, such as `/usage`'s).
    pub(crate) fn header_of(&mut self, names: &[&str], out: &mut Vec<u8>) {
        self.inner.write_record(names).expect(IN_MEMORY);
        self.drain_into(out);
    }

    /// One cell of a record of another table: text neutralised like the
    /// export's meter names, numbers as the JSON writes them, null empty.
    pub(crate) fn cell(&mut self, value: Scalar) {
        self.field.clear();
        match value {
            Scalar::Str(text) | Scalar::LocalDateTime(text) => return self.text_field(text),
            Scalar::Null => {}
            Scalar::Bool(flag) => {
                self.field
                    .extend_from_slice(if flag { b"True" } else { b"False" })
            }
            Scalar::Int(n) => {
                let _ = write!(self.field, "{n}");
            }
            Scalar::Float(x) => write_float(&mut self.field, x),
        }
        self.inner.write_field(&self.field).expect(IN_MEMORY);
    }

    /// Ends the record of [`cell`](Self::cell)s and moves it to `out`.
    pub(crate) fn end_record(&mut self, out: &mut Vec<u8>) {
        self.inner.write_record(None::<&[u8]>).expect(IN_MEMORY);
        self.drain_into(out);
    }

    fn text_field(&mut self, text: &str) {
        if needs_neutralising(text) {
            self.field.clear();
            self.field.push(b'\'');
            self.field.extend_from_slice(text.as_bytes());
            self.inner.write_field(&self.field)
        } else {
            self.inner.write_field(text)
        }
        .expect(IN_MEMORY);
    }

    /// Moves everything written so far to the end of `out`.
    fn drain_into(&mut self, out: &mut Vec<u8>) {
        self.inner.flush().expect(IN_MEMORY);
        out.append(&mut self.inner.get_ref().0.borrow_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::needs_neutralising;
    use crate::format::Format;
    use crate::format::export::tests::render;
    use crate::format::row::ExportRow;

    fn csv_of(meter: &str, value: f64) -> String {
        let row = ExportRow {
            meter,
            time: "2019-10-30 13:15:00",
            value,
        };
        let text = String::from_utf8(render(Format::Csv, &[row])).unwrap();
        let body = text
            .strip_prefix("MeterParam,TimeStamping,value\r\n")
            .unwrap();
        body.strip_suffix("\r\n").unwrap().to_owned()
    }

    #[test]
    fn neutralises_formula_starts() {
        for (meter, cell) in [
            ("=1+2", "'=1+2"),
            ("=HYPERLINK(\"http://x\")", r#""'=HYPERLINK(""http://x"")""#),
            ("+41 22", "'+41 22"),
            ("-5", "'-5"),
            ("-Pump", "'-Pump"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "\"'\r=1\""),
            ("=cmd|' /C calc'!A0,x", "\"'=cmd|' /C calc'!A0,x\""),
        ] {
            assert!(needs_neutralising(meter), "{meter:?}");
            assert_eq!(
                csv_of(meter, 1.0),
                format!("{cell},2019-10-30 13:15:00,1.0"),
                "{meter:?}"
            );
        }
    }

    #[test]
    fn leaves_other_text_and_numbers_alone() {
        for meter in [
            "meter1", "a=b", "1+1", "x-1", "mail@x", " =1", "'=1", "é=", "",
        ] {
            assert!(!needs_neutralising(meter), "{meter:?}");
        }
        assert_eq!(csv_of("a=b", -3.5), "a=b,2019-10-30 13:15:00,-3.5");
        assert_eq!(csv_of("m", -1e20), "m,2019-10-30 13:15:00,-1e+20");
        assert_eq!(csv_of("m", 0.0), "m,2019-10-30 13:15:00,0.0");
    }

    #[test]
    fn quotes_like_rfc_4180() {
        assert_eq!(
            csv_of("Hall, \"North\"", 1.5),
            r#""Hall, ""North""",2019-10-30 13:15:00,1.5"#
        );
        assert_eq!(
            csv_of("two\nlines", 1.5),
            "\"two\nlines\",2019-10-30 13:15:00,1.5"
        );
        assert_eq!(
            csv_of("Compteur é", 1.5),
            "Compteur é,2019-10-30 13:15:00,1.5"
        );
    }
}
