//! Output formats, one file each (like ripgrep's printer). Every format
//! renders the same [`crate::Value`], so JSON and XML of one request carry
//! the same data.

mod csv;
pub mod export;
pub mod json;
pub mod pyfloat;
pub mod xml;
mod yaml;

/// The response format a client negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Xml => "application/xml; charset=utf-8",
        }
    }

    pub fn render(self, value: &crate::Value) -> String {
        match self {
            Format::Json => json::to_string(value),
            Format::Xml => xml::to_string(value),
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
    pub fn of(value: &crate::Value) -> Self {
        Rendered {
            json: Format::Json.render(value).into_bytes(),
            xml: Format::Xml.render(value).into_bytes(),
        }
    }
}
