//! Streamed export of past readings for `GET /file`.
//!
//! Rows come from storage page by page and each page is sent before the next
//! is read, so nothing here holds the whole file: [`ExportWriter`] appends
//! the opening ([`ExportWriter::begin`]), one row at a time
//! ([`ExportWriter::row`]) and the closing ([`ExportWriter::end`]) to a
//! caller's buffer, which the caller may send and clear between calls.
//! Concatenated, the pieces are exactly one document:
//!
//! - JSON: Python's `json.dumps` of the row list (as the `/data` JSON).
//! - XML: `dicttoxml` of the row list (as the `/data` XML, time with a `T`).
//! - CSV: RFC 4180 with a header and formula neutralising, see `csv.rs`.
//! - YAML: a sequence of mappings safe for YAML 1.1 and 1.2, see `yaml.rs`.
//!
//! The export writes millions of rows, so the per-row path avoids
//! allocating: JSON is escaped straight into the output, XML
//! rows go through quick-xml's writer straight into the output (its
//! escaping allocates only for a name holding a markup character), and
//! floats are formatted straight into the output.

use super::Format;
use super::csv::CsvWriter;
use super::row::{ExportRow, write_float};
use super::{json, xml, yaml};
use quick_xml::Writer;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use std::io;

/// Writes one export document piece by piece: call [`begin`](Self::begin)
/// once, [`row`](Self::row) per reading, then [`end`](Self::end) once.
pub struct ExportWriter {
    format: Format,
    rows: u64,
    /// The CSV encoder, for [`Format::Csv`] only.
    csv: Option<CsvWriter>,
}

impl ExportWriter {
    pub fn new(format: Format) -> Self {
        ExportWriter {
            format,
            rows: 0,
            csv: (format == Format::Csv).then(CsvWriter::new),
        }
    }

    /// Appends the opening: the CSV header, `[`, or the XML prolog and root.
    pub fn begin(&mut self, out: &mut Vec<u8>) {
        match self.format {
            Format::Csv => self.csv_writer().header(out),
            Format::Json => out.push(b'['),
            Format::Xml => {
                out.extend_from_slice(xml::PROLOG.as_bytes());
                Writer::new(out)
                    .write_event(Event::Start(BytesStart::new(xml::ROOT)))
                    .expect("writing into a Vec<u8> cannot fail");
            }
            // A block sequence has no opening; an empty one is written by `end`.
            Format::Yaml => {}
        }
    }

    /// Appends one row.
    pub fn row(&mut self, out: &mut Vec<u8>, row: &ExportRow) {
        match self.format {
            Format::Csv => self.csv_writer().row(out, row),
            Format::Json => self.json_row(out, row),
            Format::Xml => Self::xml_row(out, row),
            Format::Yaml => yaml::write_row(out, row),
        }
        self.rows += 1;
    }

    /// Appends the closing.
    pub fn end(&mut self, out: &mut Vec<u8>) {
        match self.format {
            Format::Csv => {}
            Format::Json => out.push(b']'),
            Format::Xml => Writer::new(out)
                .write_event(Event::End(BytesEnd::new(xml::ROOT)))
                .expect("writing into a Vec<u8> cannot fail"),
            Format::Yaml => {
                if self.rows == 0 {
                    out.extend_from_slice(b"[]\n");
                }
            }
        }
    }

    /// How many rows [`row`](Self::row) has written.
    pub fn rows_written(&self) -> u64 {
        self.rows
    }

    fn csv_writer(&mut self) -> &mut CsvWriter {
        self.csv
            .as_mut()
            .expect("ExportWriter::new makes a CSV writer for the CSV format")
    }

    /// `{"MeterParam": "…", "TimeStamping": "…", "value": …}`, after `, `
    /// from the second row on.
    fn json_row(&self, out: &mut Vec<u8>, row: &ExportRow) {
        if self.rows > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(b"{\"MeterParam\": ");
        json::write_string(out, row.meter);
        out.extend_from_slice(b", \"TimeStamping\": ");
        json::write_string(out, row.time);
        out.extend_from_slice(b", \"value\": ");
        json::write_number(out, row.value);
        out.push(b'}');
    }

    /// One `<item type="dict">…</item>` as xml.rs writes a `/data` row, with
    /// quick-xml's writer straight into `out`. The tags are borrowed
    /// constants; escaping allocates only for text that has something to
    /// escape (the time never has).
    fn xml_row(out: &mut Vec<u8>, row: &ExportRow) {
        Self::write_xml_row(&mut Writer::new(out), row)
            .expect("writing into a Vec<u8> cannot fail");
    }

    fn write_xml_row(writer: &mut Writer<&mut Vec<u8>>, row: &ExportRow) -> io::Result<()> {
        let item = xml::start_tag(r#"item type="dict""#);
        let meter = xml::start_tag(r#"MeterParam type="str""#);
        let time = xml::start_tag(r#"TimeStamping type="str""#);
        let value = xml::start_tag(r#"value type="float""#);

        writer.write_event(Event::Start(item.borrow()))?;
        writer.write_event(Event::Start(meter.borrow()))?;
        writer.write_event(xml::text(row.meter))?;
        writer.write_event(Event::End(meter.to_end()))?;
        writer.write_event(Event::Start(time.borrow()))?;
        // A local date-time is written ISO style, `T` for the first space.
        match row.time.split_once(' ') {
            Some((date, clock)) => {
                writer.write_event(xml::text(date))?;
                writer.write_event(Event::Text(BytesText::from_escaped("T")))?;
                writer.write_event(xml::text(clock))?;
            }
            None => writer.write_event(xml::text(row.time))?,
        }
        writer.write_event(Event::End(time.to_end()))?;
        writer.write_event(Event::Start(value.borrow()))?;
        write_float(writer.get_mut(), row.value);
        writer.write_event(Event::End(value.to_end()))?;
        writer.write_event(Event::End(item.to_end()))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::Value;
    use crate::format::pyfloat;

    /// The `/data` example rows from the page.
    pub(crate) const EXAMPLE: [ExportRow<'static>; 2] = [
        ExportRow {
            meter: "meter1",
            time: "2019-10-30 13:15:00",
            value: 28540.24,
        },
        ExportRow {
            meter: "meter2",
            time: "2019-10-30 13:15:00",
            value: 35757.359,
        },
    ];

    /// Rows with text and values that need care in some format.
    pub(crate) const AWKWARD: [ExportRow<'static>; 8] = [
        ExportRow {
            meter: "Hall, \"North\"",
            time: "2019-10-30 13:30:00",
            value: 0.0,
        },
        ExportRow {
            meter: "=SUM(A1:A9)",
            time: "2019-10-30 13:45:00",
            value: 1e20,
        },
        ExportRow {
            meter: "-Pump 2",
            time: "2019-10-30 14:00:00",
            value: -12.5,
        },
        ExportRow {
            meter: "Compteur é 😀",
            time: "2019-10-31 00:00:00",
            value: 1e-5,
        },
        ExportRow {
            meter: "yes",
            time: "2019-10-31 00:15:00",
            value: 5.0,
        },
        ExportRow {
            meter: "line 1\nline 2\ttab <&'>",
            time: "2019-10-31 00:30:00",
            value: -0.0,
        },
        ExportRow {
            meter: "",
            time: "2019-10-31 00:45:00",
            value: 123456789012345680.0,
        },
        ExportRow {
            meter: "'q' #c a: b",
            time: "2019-10-31 01:00:00",
            value: 0.1,
        },
    ];

    pub(crate) fn render(format: Format, rows: &[ExportRow]) -> Vec<u8> {
        let mut writer = ExportWriter::new(format);
        let mut out = Vec::new();
        writer.begin(&mut out);
        for row in rows {
            writer.row(&mut out, row);
        }
        writer.end(&mut out);
        assert_eq!(writer.rows_written(), rows.len() as u64);
        out
    }

    fn render_str(format: Format, rows: &[ExportRow]) -> String {
        String::from_utf8(render(format, rows)).unwrap()
    }

    const ALL: [Format; 4] = [Format::Csv, Format::Json, Format::Xml, Format::Yaml];

    /// The rows as the `Value` the `/data` route renders.
    fn as_value(rows: &[ExportRow]) -> Value {
        Value::List(
            rows.iter()
                .map(|row| {
                    Value::dict([
                        ("MeterParam", Value::str(row.meter)),
                        ("TimeStamping", Value::LocalDateTime(row.time.into())),
                        ("value", Value::Float(row.value)),
                    ])
                })
                .collect(),
        )
    }

    #[test]
    fn parses_names_and_knows_types() {
        assert_eq!(Format::of_file("csv"), Some(Format::Csv));
        assert_eq!(Format::of_file("JSON"), Some(Format::Json));
        assert_eq!(Format::of_file("Xml"), Some(Format::Xml));
        assert_eq!(Format::of_file("yaml"), Some(Format::Yaml));
        assert_eq!(Format::of_file("YML"), Some(Format::Yaml));
        for bad in ["", "txt", " csv", "csv ", "jsonl", "xlsx"] {
            assert_eq!(Format::of_file(bad), None, "{bad:?}");
        }
        let described: Vec<_> = ALL
            .iter()
            .map(|format| (format.content_type(), format.extension()))
            .collect();
        assert_eq!(
            described,
            [
                ("text/csv; charset=utf-8", "csv"),
                ("application/json", "json"),
                ("application/xml; charset=utf-8", "xml"),
                ("application/yaml", "yaml"),
            ]
        );
        for format in ALL {
            assert_eq!(Format::of_file(format.extension()), Some(format));
        }
    }

    #[test]
    fn example_rows_in_every_format() {
        assert_eq!(
            render_str(Format::Csv, &EXAMPLE),
            "MeterParam,TimeStamping,value\r\n\
             meter1,2019-10-30 13:15:00,28540.24\r\n\
             meter2,2019-10-30 13:15:00,35757.359\r\n"
        );
        assert_eq!(
            render_str(Format::Json, &EXAMPLE),
            r#"[{"MeterParam": "meter1", "TimeStamping": "2019-10-30 13:15:00", "value": 28540.24}, {"MeterParam": "meter2", "TimeStamping": "2019-10-30 13:15:00", "value": 35757.359}]"#
        );
        assert_eq!(
            render_str(Format::Xml, &EXAMPLE),
            r#"<?xml version="1.0" encoding="UTF-8" ?><Response><item type="dict"><MeterParam type="str">meter1</MeterParam><TimeStamping type="str">2019-10-30T13:15:00</TimeStamping><value type="float">28540.24</value></item><item type="dict"><MeterParam type="str">meter2</MeterParam><TimeStamping type="str">2019-10-30T13:15:00</TimeStamping><value type="float">35757.359</value></item></Response>"#
        );
        assert_eq!(
            render_str(Format::Yaml, &EXAMPLE),
            "- MeterParam: meter1\n  TimeStamping: '2019-10-30 13:15:00'\n  value: 28540.24\n\
             - MeterParam: meter2\n  TimeStamping: '2019-10-30 13:15:00'\n  value: 35757.359\n"
        );
    }

    #[test]
    fn empty_export_in_every_format() {
        assert_eq!(
            render_str(Format::Csv, &[]),
            "MeterParam,TimeStamping,value\r\n"
        );
        assert_eq!(render_str(Format::Json, &[]), "[]");
        assert_eq!(
            render_str(Format::Xml, &[]),
            r#"<?xml version="1.0" encoding="UTF-8" ?><Response></Response>"#
        );
        assert_eq!(render_str(Format::Yaml, &[]), "[]\n");
    }

    #[test]
    fn json_and_xml_match_the_data_route_renderers() {
        for rows in [&EXAMPLE[..], &AWKWARD[..], &[]] {
            let value = as_value(rows);
            assert_eq!(render_str(Format::Json, rows), json::to_string(&value));
            assert_eq!(render_str(Format::Xml, rows), xml::to_string(&value));
        }
    }

    /// The XML rows byte for byte where text needs care: the five markup
    /// characters escaped, everything else (control characters, `\r`,
    /// characters XML 1.0 forbids) as it is, the time's first space a `T`.
    #[test]
    fn xml_rows_with_awkward_text() {
        let rows = [
            ExportRow {
                meter: "a&b<c>d\"e'f",
                time: "2019-10-30 13:15:00",
                value: 1.0,
            },
            ExportRow {
                meter: "\t\n\r\u{0}\u{1f}\u{7f}\u{fffe}\u{ffff}",
                time: "2019-10-30",
                value: 2.5,
            },
            ExportRow {
                meter: "",
                time: "a b c",
                value: f64::NAN,
            },
            ExportRow {
                meter: "Zähler 名前 😀 &amp;",
                time: "<x> &y",
                value: 1e16,
            },
        ];
        let expected = concat!(
            r#"<?xml version="1.0" encoding="UTF-8" ?><Response>"#,
            r#"<item type="dict"><MeterParam type="str">a&amp;b&lt;c&gt;d&quot;e&apos;f</MeterParam>"#,
            r#"<TimeStamping type="str">2019-10-30T13:15:00</TimeStamping><value type="float">1.0</value></item>"#,
            "<item type=\"dict\"><MeterParam type=\"str\">\t\n\r\u{0}\u{1f}\u{7f}\u{fffe}\u{ffff}</MeterParam>",
            r#"<TimeStamping type="str">2019-10-30</TimeStamping><value type="float">2.5</value></item>"#,
            r#"<item type="dict"><MeterParam type="str"></MeterParam>"#,
            r#"<TimeStamping type="str">aTb c</TimeStamping><value type="float">nan</value></item>"#,
            r#"<item type="dict"><MeterParam type="str">Zähler 名前 😀 &amp;amp;</MeterParam>"#,
            r#"<TimeStamping type="str">&lt;x&gt;T&amp;y</TimeStamping><value type="float">1e+16</value></item>"#,
            r#"</Response>"#,
        );
        assert_eq!(render_str(Format::Xml, &rows), expected);
        assert_eq!(xml::to_string(&as_value(&rows)), expected);
    }

    /// The XML export reads back with quick-xml's `Reader` to the rows'
    /// text, for the texts xml.rs round-trips, as name and as time.
    #[test]
    fn xml_round_trips_through_quick_xml_reader() {
        use crate::format::xml::tests::{edge_texts, every_xml_char, expected_root, read_back};
        let mut texts = edge_texts();
        texts.push(every_xml_char());
        let rows: Vec<ExportRow> = texts
            .iter()
            .enumerate()
            .map(|(index, text)| ExportRow {
                meter: text,
                time: if index % 2 == 0 {
                    text
                } else {
                    "2019-10-30 13:15:00"
                },
                value: index as f64 * 0.1,
            })
            .collect();
        let document = render_str(Format::Xml, &rows);
        assert_eq!(read_back(&document), expected_root(&as_value(&rows)));
    }

    #[test]
    fn json_parses_back_to_the_rows() {
        let rows: Vec<_> = EXAMPLE.iter().chain(&AWKWARD).collect();
        let owned: Vec<ExportRow> = rows.iter().map(|row| **row).collect();
        let parsed: serde_json::Value =
            serde_json::from_slice(&render(Format::Json, &owned)).unwrap();
        let parsed = parsed.as_array().unwrap();
        assert_eq!(parsed.len(), owned.len());
        for (item, row) in parsed.iter().zip(&owned) {
            let keys: Vec<_> = item.as_object().unwrap().keys().collect();
            assert_eq!(keys.len(), 3);
            assert_eq!(item["MeterParam"], row.meter);
            assert_eq!(item["TimeStamping"], row.time);
            let value = item["value"].as_f64().unwrap();
            assert_eq!(value.to_bits(), row.value.to_bits(), "{}", row.meter);
        }
    }

    /// Every piece lands in the caller's buffer when its call returns, and
    /// no state leaks from one row into the next: writing piece by piece
    /// into fresh buffers gives the same bytes as one buffer, and the same
    /// row written twice in a row gives the same bytes twice.
    #[test]
    fn row_by_row_equals_all_at_once() {
        let rows: Vec<ExportRow> = EXAMPLE.iter().chain(&AWKWARD).copied().collect();
        for format in ALL {
            let whole = render(format, &rows);
            let mut writer = ExportWriter::new(format);
            let mut pieces = Vec::new();
            let mut piece = Vec::new();
            writer.begin(&mut piece);
            pieces.push(std::mem::take(&mut piece));
            for row in &rows {
                writer.row(&mut piece, row);
                assert!(!piece.is_empty(), "{format:?}: a row wrote nothing");
                pieces.push(std::mem::take(&mut piece));
            }
            writer.end(&mut piece);
            pieces.push(piece);
            assert_eq!(pieces.concat(), whole, "{format:?}");

            let mut writer = ExportWriter::new(format);
            let mut sink = Vec::new();
            writer.begin(&mut sink);
            for row in &rows {
                let (mut first, mut second) = (Vec::new(), Vec::new());
                writer.row(&mut sink, &rows[0]);
                writer.row(&mut first, row);
                writer.row(&mut second, row);
                assert_eq!(first, second, "{format:?} {row:?}");
            }
        }
    }

    #[test]
    fn write_float_is_python_repr() {
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            5.0,
            -12.5,
            0.1,
            0.3,
            1e-4,
            1e-5,
            9.999e-5,
            1e15,
            1e15 - 1.0,
            -4503599627370497.0,
            1e16,
            1e20,
            1e22,
            1e-300,
            5e-324,
            28540.24,
            35757.359,
            123456789.123,
            9999999999999998.0,
            123456789012345680.0,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::EPSILON,
        ];
        // Both sides of the fixed-notation boundaries.
        for edge in [1e-4_f64, 1e16] {
            values.extend([
                edge,
                f64::from_bits(edge.to_bits() - 1),
                f64::from_bits(edge.to_bits() + 1),
            ]);
        }
        // A spread of magnitudes and digit counts (xorshift, fixed seed).
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let x = f64::from_bits(state);
            if x.is_finite() {
                values.push(x);
            }
            let decimal = (state % 100_000_000) as f64 / 1000.0;
            values.push(decimal);
            values.push(-decimal * 1e-6);
        }
        for x in values.into_iter().flat_map(|x| [x, -x]) {
            let mut out = Vec::new();
            write_float(&mut out, x);
            assert_eq!(String::from_utf8(out).unwrap(), pyfloat::repr(x), "{x:e}");
        }
    }
}
