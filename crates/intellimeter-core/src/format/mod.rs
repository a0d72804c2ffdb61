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
