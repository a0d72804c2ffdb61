//! Output formats, one file each (like ripgrep's printer). Every format
//! renders the same [`crate::Value`], so JSON and XML of one request carry
//! the same data.

pub(crate) mod csv;
pub mod document;
pub mod export;
pub mod json;
pub(crate) mod pyfloat;
pub mod row;
pub mod template;
pub mod xml;
mod yaml;

pub use row::ExportRow;

/// Every format the API writes. An answer is negotiated as JSON or XML
/// (`?format=`, `Accept`: [`crate::http::request::requested_format`]
/// yields no other); a file export (`/file?type=`) may also be CSV or
/// YAML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
    Csv,
    Yaml,
}

impl Format {
    /// A file format by the name `/file?type=` takes: `csv`, `json`,
    /// `xml`, `yaml` or `yml`, in any case.
    pub fn of_file(name: &str) -> Option<Self> {
        [
            ("csv", Format::Csv),
            ("json", Format::Json),
            ("xml", Format::Xml),
            ("yaml", Format::Yaml),
            ("yml", Format::Yaml),
        ]
        .into_iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map(|(_, format)| format)
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Xml => "application/xml; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Yaml => "application/yaml",
        }
    }

    /// The file name extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Xml => "xml",
            Format::Csv => "csv",
            Format::Yaml => "yaml",
        }
    }

    /// The format a document answer (a [`crate::Value`]) takes in: XML
    /// when that was negotiated, else JSON (CSV and YAML are file formats
    /// only, streamed row by row by [`export::ExportWriter`]).
    pub fn of_answer(self) -> Self {
        match self {
            Format::Xml => Format::Xml,
            Format::Json | Format::Csv | Format::Yaml => Format::Json,
        }
    }

    /// `value` as a document answer ([`Self::of_answer`]).
    pub fn render(self, value: &crate::Value) -> String {
        match self.of_answer() {
            Format::Xml => xml::to_string(value),
            _ => json::to_string(value),
        }
    }

    /// `document` as a document answer ([`Self::of_answer`]), written
    /// without a [`crate::Value`] tree.
    pub fn write(self, document: &dyn document::Document) -> Vec<u8> {
        let size = document.size_hint();
        match self.of_answer() {
            Format::Xml => {
                let mut writer = xml::XmlWriter::with_capacity(size);
                document.write(&mut writer);
                writer.into_bytes()
            }
            _ => {
                let mut writer = json::JsonWriter::with_capacity(size);
                document.write(&mut writer);
                writer.into_bytes()
            }
        }
    }
}

/// A body rendered once in each format, chosen per request.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub json: Vec<u8>,
    pub xml: Vec<u8>,
}

impl Rendered {
    /// A body rendered in `format` only: the other is left empty, which
    /// the answer refuses to send (`respond`) if it is negotiated anyway.
    pub fn only(format: Format, body: Vec<u8>) -> Self {
        match format.of_answer() {
            Format::Xml => Rendered {
                json: Vec::new(),
                xml: body,
            },
            _ => Rendered {
                json: body,
                xml: Vec::new(),
            },
        }
    }

    pub fn of(value: &crate::Value) -> Self {
        Rendered {
            json: Format::Json.render(value).into_bytes(),
            xml: Format::Xml.render(value).into_bytes(),
        }
    }
}

/// A document written part by part ([`document::Document::parts`]) in an
/// answer format, each part's bytes taken as soon as it is written: a
/// large answer (a month of hours of `/usage`, 16 MB of JSON) goes out
/// while the rest is still being written, and is never whole in memory.
pub struct DocumentParts {
    document: Box<dyn document::Document>,
    writer: PartsWriter,
    next: usize,
    part_bytes: usize,
}

enum PartsWriter {
    Json(json::JsonWriter),
    Xml(xml::XmlWriter),
}

impl DocumentParts {
    /// `document` in `format` ([`Format::of_answer`]).
    pub fn new(format: Format, document: Box<dyn document::Document>) -> Self {
        let part_bytes = document.size_hint() / document.parts().max(1) + 256;
        let writer = match format.of_answer() {
            Format::Xml => PartsWriter::Xml(xml::XmlWriter::with_capacity(part_bytes)),
            _ => PartsWriter::Json(json::JsonWriter::with_capacity(part_bytes)),
        };
        DocumentParts {
            document,
            writer,
            next: 0,
            part_bytes,
        }
    }

    /// The next part's bytes; `None` after the last.
    pub fn next_part(&mut self) -> Option<Vec<u8>> {
        if self.next >= self.document.parts() {
            return None;
        }
        let index = self.next;
        self.next += 1;
        Some(match &mut self.writer {
            PartsWriter::Json(writer) => {
                self.document.write_part(index, writer);
                writer.take_written(self.part_bytes)
            }
            PartsWriter::Xml(writer) => {
                self.document.write_part(index, writer);
                writer.take_written(self.part_bytes)
            }
        })
    }
}

/// Appends `bytes`, a short slice in pieces of known length (16, 8, 4, 2
/// and 1 bytes), which compile to plain loads and stores. In WebAssembly a
/// copy of unknown length is a `memory.copy`, which wasmtime runs as a
/// call into the host: dearer than the copy itself for the few bytes of
/// a key, a time or a number.
#[inline(always)]
pub(crate) fn append(out: &mut Vec<u8>, bytes: &[u8]) {
    let length = bytes.len();
    if length > 31 {
        out.extend_from_slice(bytes);
        return;
    }
    out.reserve(length);
    let mut rest = bytes;
    append_piece::<16>(out, &mut rest);
    append_piece::<8>(out, &mut rest);
    append_piece::<4>(out, &mut rest);
    append_piece::<2>(out, &mut rest);
    append_piece::<1>(out, &mut rest);
}

/// Moves the first `N` bytes of `rest`, when it has as many, to `out`.
#[inline(always)]
fn append_piece<const N: usize>(out: &mut Vec<u8>, rest: &mut &[u8]) {
    if let Some((piece, tail)) = rest.split_first_chunk::<N>() {
        out.extend_from_slice(piece);
        *rest = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::document::{Container, Document, DocumentWriter, Scalar, Slot};
    use super::{DocumentParts, Format};

    /// `{"Rows": [{"n": 0, "text": "a<b"}, …]}` in `parts` parts, rows
    /// spread over them unevenly.
    struct Rows {
        rows: usize,
        parts: usize,
    }

    impl Document for Rows {
        fn write(&self, out: &mut dyn DocumentWriter) {
            for index in 0..self.parts {
                self.write_part(index, out);
            }
        }

        fn parts(&self) -> usize {
            self.parts
        }

        fn write_part(&self, index: usize, out: &mut dyn DocumentWriter) {
            if index == 0 {
                out.open(Slot::Root, Container::Dict);
                out.open(Slot::Field("Rows"), Container::List);
            }
            for n in (0..self.rows).filter(|n| n * n % self.parts == index) {
                out.open(Slot::Item, Container::Dict);
                out.scalar(Slot::Field("n"), Scalar::Int(n as i64));
                out.scalar(Slot::Field("text"), Scalar::Str("a<b"));
                out.close(Slot::Item, Container::Dict);
            }
            if index + 1 == self.parts {
                out.close(Slot::Field("Rows"), Container::List);
                out.close(Slot::Root, Container::Dict);
            }
        }
    }

    proptest::proptest! {
        /// Appending in pieces of known length adds the bytes as they
        /// are, for every length below and around the pieces' sizes,
        /// after what is there already.
        #[test]
        fn append_adds_the_bytes_as_they_are(
            before in proptest::collection::vec(proptest::num::u8::ANY, 0..20),
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..70),
        ) {
            let mut out = before.clone();
            super::append(&mut out, &bytes);
            let mut expected = before;
            expected.extend_from_slice(&bytes);
            proptest::prop_assert_eq!(out, expected);
        }
    }

    proptest::proptest! {
        /// A record is written as its dict would be, field by field, in a
        /// list among other items too, in JSON and in XML (names and
        /// texts that need escaping included); so is one after a head of
        /// any of its first cells, and one given fewer cells than fields
        /// (its dict has the fields that have one).
        #[test]
        fn a_record_is_written_as_its_dict(
            names in proptest::collection::vec("[A-Za-z\"<&é]{0,6}", 0..6),
            values in proptest::collection::vec(
                (0u8..4, proptest::num::i64::ANY, proptest::num::f64::ANY),
                0..6,
            ),
            text in "[ -~é]{0,8}",
            split in 0usize..8,
            short in 0usize..3,
        ) {
            let fields: &'static [&'static str] = Box::leak(
                names
                    .into_iter()
                    .map(|name| &*Box::leak(name.into_boxed_str()))
                    .collect::<Vec<_>>()
                    .into_boxed_slice(),
            );
            let record = super::document::Record::new(fields);
            let mut cells: Vec<Scalar> = values
                .into_iter()
                .map(|(kind, int, float)| match kind {
                    0 => Scalar::Null,
                    1 => Scalar::Int(int),
                    2 => Scalar::Float(float),
                    _ => Scalar::Bool(int % 2 == 0),
                })
                .collect();
            cells.resize(fields.len(), Scalar::Null);
            if let Some(first) = cells.first_mut() {
                *first = Scalar::Str(&text);
            }
            cells.truncate(fields.len().saturating_sub(short));
            let split = split.min(cells.len());
            // Made per writer: a head is framed on first use.
            let head = || super::document::RecordHead::new(cells[..split].iter().copied());
            let write = |out: &mut dyn DocumentWriter, way: u8| {
                let head = head();
                out.open(Slot::Root, Container::List);
                for _ in 0..2 {
                    if way == 1 {
                        out.record(Slot::Item, &record, &cells);
                        continue;
                    }
                    if way == 2 {
                        out.record_after(Slot::Item, &record, &head, &cells[split..]);
                        continue;
                    }
                    out.open(Slot::Item, Container::Dict);
                    for (name, cell) in fields.iter().zip(&cells) {
                        out.scalar(Slot::Field(name), *cell);
                    }
                    out.close(Slot::Item, Container::Dict);
                }
                out.close(Slot::Root, Container::List);
            };
            let json = |way| {
                let mut writer = super::json::JsonWriter::default();
                write(&mut writer, way);
                writer.into_bytes()
            };
            let xml = |way| {
                let mut writer = super::xml::XmlWriter::default();
                write(&mut writer, way);
                writer.into_bytes()
            };
            for way in [1, 2] {
                proptest::prop_assert_eq!(json(way), json(0), "way {}", way);
                proptest::prop_assert_eq!(xml(way), xml(0), "way {}", way);
            }
        }
    }

    /// A document's parts, taken one by one as a host sends them, make
    /// the document written whole, in JSON and in XML, whatever parts are
    /// empty of rows.
    #[test]
    fn a_document_in_parts_is_the_document() {
        for (rows, parts) in [(0, 1), (1, 3), (10, 4), (100, 7)] {
            for format in [Format::Json, Format::Xml] {
                let whole = format.write(&Rows { rows, parts });
                let mut stream = DocumentParts::new(format, Box::new(Rows { rows, parts }));
                let mut sent = Vec::new();
                let mut count = 0;
                while let Some(part) = stream.next_part() {
                    sent.extend_from_slice(&part);
                    count += 1;
                }
                assert_eq!(count, parts);
                assert!(stream.next_part().is_none());
                assert_eq!(
                    String::from_utf8(sent).unwrap(),
                    String::from_utf8(whole).unwrap(),
                    "{rows} rows in {parts} parts, {format:?}"
                );
            }
        }
    }
}
