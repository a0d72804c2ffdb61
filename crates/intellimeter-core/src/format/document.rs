//! A document written as it is walked, without building a [`Value`] tree
//! first: a writer per format ([`super::json::JsonWriter`],
//! [`super::xml::XmlWriter`]) takes the calls of one walk. [`write_value`]
//! walks a [`Value`], so every answer goes through the same writers; an
//! answer of tens of thousands of rows (`/usage`) writes its rows straight
//! into them ([`Document`]), borrowing its texts, one definition of the
//! document for both formats.

use crate::value::Value;
use std::sync::OnceLock;

/// Where a value goes: the document itself, a dict's field or a list's
/// item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot<'a> {
    Root,
    Field(&'a str),
    Item,
}

/// A container's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Dict,
    List,
}

/// A value that holds no other, borrowed ([`Value`]'s scalars).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
    /// `YYYY-mm-dd HH:MM:SS` local time ([`Value::LocalDateTime`]).
    LocalDateTime(&'a str),
}

impl<'a> Scalar<'a> {
    /// `Some(text)` as a string, `None` as null.
    pub fn optional_str(text: Option<&'a str>) -> Self {
        text.map_or(Scalar::Null, Scalar::Str)
    }

    pub fn optional_int(number: Option<i64>) -> Self {
        number.map_or(Scalar::Null, Scalar::Int)
    }

    pub fn optional_float(number: Option<f64>) -> Self {
        number.map_or(Scalar::Null, Scalar::Float)
    }

    /// dicttoxml's name of the Python type (XML's `type` attribute).
    pub fn type_name(self) -> &'static str {
        match self {
            Scalar::Null => "null",
            Scalar::Bool(_) => "bool",
            Scalar::Int(_) => "int",
            Scalar::Float(_) => "float",
            Scalar::Str(_) | Scalar::LocalDateTime(_) => "str",
        }
    }
}

/// The field names of a dict that a document writes many times over (a
/// row of a large answer), with their framing in each format worked out
/// once ([`DocumentWriter::record`]).
pub struct Record {
    pub fields: &'static [&'static str],
    /// Per field, the JSON before its value: `{"Name": ` for the first,
    /// `, "Name": ` for the others.
    json: OnceLock<Vec<Vec<u8>>>,
    /// Per field, the XML before its type (`<Name type="`) and after its
    /// text (`</Name>`).
    xml: OnceLock<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl Record {
    pub const fn new(fields: &'static [&'static str]) -> Self {
        Record {
            fields,
            json: OnceLock::new(),
            xml: OnceLock::new(),
        }
    }

    /// What JSON writes before each field's value.
    pub(crate) fn json_framing(&self) -> &[Vec<u8>] {
        self.json.get_or_init(|| {
            self.fields
                .iter()
                .enumerate()
                .map(|(index, name)| {
                    let mut piece = if index == 0 {
                        b"{".to_vec()
                    } else {
                        b", ".to_vec()
                    };
                    super::json::write_string(&mut piece, name);
                    piece.extend_from_slice(b": ");
                    piece
                })
                .collect()
        })
    }

    /// What XML writes around each field's type and text.
    pub(crate) fn xml_framing(&self) -> &[(Vec<u8>, Vec<u8>)] {
        self.xml.get_or_init(|| {
            self.fields
                .iter()
                .map(|name| {
                    let name = super::xml::escape(name);
                    (
                        format!("<{name} type=\"").into_bytes(),
                        format!("</{name}>").into_bytes(),
                    )
                })
                .collect()
        })
    }
}

/// The first cells of many records of one [`Record`] that are the same in
/// each (a bucket's bounds, which every meter's row of it shares), owned,
/// and written once per format ([`DocumentWriter::record_after`]).
pub struct RecordHead {
    cells: Vec<Value>,
    /// The JSON of the record's first fields, these cells with their
    /// keys: `{"A": a, "B": b` ([`Record`]'s framing).
    json: OnceLock<Vec<u8>>,
}

impl RecordHead {
    pub fn new<'a>(cells: impl IntoIterator<Item = Scalar<'a>>) -> Self {
        let cells = cells
            .into_iter()
            .map(|cell| match cell {
                Scalar::Null => Value::Null,
                Scalar::Bool(flag) => Value::Bool(flag),
                Scalar::Int(n) => Value::Int(n),
                Scalar::Float(x) => Value::Float(x),
                Scalar::Str(text) => Value::Str(text.to_owned()),
                Scalar::LocalDateTime(text) => Value::LocalDateTime(text.to_owned()),
            })
            .collect();
        RecordHead {
            cells,
            json: OnceLock::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The cells, borrowed.
    pub fn scalars(&self) -> impl Iterator<Item = Scalar<'_>> {
        // Made of scalars only (`new`).
        self.cells
            .iter()
            .map(|cell| scalar_of(cell).unwrap_or(Scalar::Null))
    }

    /// The JSON of `record`'s first fields, these cells with their keys
    /// (the head belongs to one record: the first use frames it).
    pub(crate) fn json(&self, record: &Record) -> &[u8] {
        self.json.get_or_init(|| {
            let mut out = Vec::new();
            for (piece, cell) in record.json_framing().iter().zip(self.scalars()) {
                out.extend_from_slice(piece);
                super::json::write_scalar(&mut out, cell);
            }
            out
        })
    }
}

/// Takes one document, call by call: every [`open`](Self::open) is
/// matched by a [`close`](Self::close) with the same slot and container,
/// and the root slot is used once.
pub trait DocumentWriter {
    fn open(&mut self, slot: Slot, container: Container);
    fn close(&mut self, slot: Slot, container: Container);
    fn scalar(&mut self, slot: Slot, value: Scalar);
    /// A scalar filled in later ([`super::template::Template`]): what
    /// frames it at `slot` is written, and where its text goes is kept as
    /// hole `id`. `type_name` is the type it will have
    /// ([`Scalar::type_name`]).
    fn hole(&mut self, slot: Slot, type_name: &'static str, id: u32);

    /// A dict of `record`'s fields, each with its cell of `cells` (as
    /// many), at `slot`: what opening a dict, a scalar per field and
    /// closing it write, which a writer may frame faster.
    fn record(&mut self, slot: Slot, record: &Record, cells: &[Scalar]) {
        self.open(slot, Container::Dict);
        for (name, cell) in record.fields.iter().zip(cells) {
            self.scalar(Slot::Field(name), *cell);
        }
        self.close(slot, Container::Dict);
    }

    /// [`record`](Self::record) of `head`'s cells followed by `cells`
    /// (as many as `record`'s fields in all), which a writer may have
    /// framed with the head once.
    fn record_after(&mut self, slot: Slot, record: &Record, head: &RecordHead, cells: &[Scalar]) {
        let all: Vec<Scalar> = head.scalars().chain(cells.iter().copied()).collect();
        self.record(slot, record, &all);
    }
}

/// Something that writes itself as a document (an answer rendered in the
/// negotiated format without a [`Value`] tree).
pub trait Document {
    fn write(&self, out: &mut dyn DocumentWriter);

    /// About how many bytes the document takes (the output is reserved
    /// once); 0 when unknown.
    fn size_hint(&self) -> usize {
        0
    }

    /// How many parts the document is written in
    /// ([`write_part`](Self::write_part)): a host may send each before the
    /// next is written ([`super::DocumentParts`]). One by default.
    fn parts(&self) -> usize {
        1
    }

    /// Part `index` of [`parts`](Self::parts): written one after the
    /// other into one writer, they write what [`write`](Self::write) does.
    fn write_part(&self, index: usize, out: &mut dyn DocumentWriter) {
        if index == 0 {
            self.write(out);
        }
    }
}

impl Document for Value {
    fn write(&self, out: &mut dyn DocumentWriter) {
        write_value(out, Slot::Root, self);
    }
}

/// `value` as a scalar, borrowed; `None` for a dict or a list.
fn scalar_of(value: &Value) -> Option<Scalar<'_>> {
    Some(match value {
        Value::Null => Scalar::Null,
        Value::Bool(flag) => Scalar::Bool(*flag),
        Value::Int(n) => Scalar::Int(*n),
        Value::Float(x) => Scalar::Float(*x),
        Value::Str(text) => Scalar::Str(text),
        Value::LocalDateTime(text) => Scalar::LocalDateTime(text),
        Value::Dict(_) | Value::List(_) => return None,
    })
}

/// Walks `value` into `out` at `slot`.
pub fn write_value(out: &mut dyn DocumentWriter, slot: Slot, value: &Value) {
    match value {
        Value::Dict(entries) => {
            out.open(slot, Container::Dict);
            for (key, value) in entries {
                write_value(out, Slot::Field(key), value);
            }
            out.close(slot, Container::Dict);
        }
        Value::List(items) => {
            out.open(slot, Container::List);
            for item in items {
                write_value(out, Slot::Item, item);
            }
            out.close(slot, Container::List);
        }
        scalar => out.scalar(slot, scalar_of(scalar).unwrap_or(Scalar::Null)),
    }
}
