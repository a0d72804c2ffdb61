//! A document rendered once with holes for what changes with every request
//! (a clock's ages and states), kept in a read model and filled in per
//! request: copying bytes and writing a few scalars instead of building
//! and rendering the document again (`/status`).

use super::Format;
use super::document::{Document, Scalar};
use super::{json, xml};
use std::borrow::Cow;

/// A rendered document and where its holes are; its bytes borrowed from
/// the kept value they were read from ([`Template::from_bytes`]), or owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template<'a> {
    format: Format,
    bytes: Cow<'a, [u8]>,
    /// `(offset into bytes, hole id)`, offsets ascending.
    holes: Vec<(usize, u32)>,
}

impl Template<'_> {
    /// `document` rendered in `format` (JSON or XML, [`Format::of_answer`]),
    /// its [`DocumentWriter::hole`](super::document::DocumentWriter::hole)s
    /// left open.
    pub fn render(document: &dyn Document, format: Format) -> Template<'static> {
        let format = format.of_answer();
        let (bytes, holes) = match format {
            Format::Xml => {
                let mut writer = xml::XmlWriter::with_capacity(document.size_hint());
                document.write(&mut writer);
                writer.into_parts()
            }
            _ => {
                let mut writer = json::JsonWriter::with_capacity(document.size_hint());
                document.write(&mut writer);
                writer.into_parts()
            }
        };
        Template {
            format,
            bytes: Cow::Owned(bytes),
            holes,
        }
    }

    /// The template with its bytes its own.
    pub fn into_owned(self) -> Template<'static> {
        Template {
            format: self.format,
            bytes: Cow::Owned(self.bytes.into_owned()),
            holes: self.holes,
        }
    }

    /// The document with each hole's text written from `value_of(id)`,
    /// in the template's format.
    pub fn fill<'a>(&self, mut value_of: impl FnMut(u32) -> Scalar<'a>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len() + 16 * self.holes.len());
        let mut copied = 0;
        for &(at, id) in &self.holes {
            // Mostly a key or two between holes: copied inline.
            super::append(&mut out, &self.bytes[copied..at]);
            copied = at;
            match self.format {
                Format::Xml => xml::write_text(&mut out, value_of(id)),
                _ => json::write_scalar(&mut out, value_of(id)),
            }
        }
        out.extend_from_slice(&self.bytes[copied..]);
        out
    }

    /// The template as bytes to keep: the format, the hole count, the
    /// holes (u32 offset, u32 id; little endian), then the document.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(5 + 8 * self.holes.len() + self.bytes.len());
        bytes.push(match self.format {
            Format::Xml => b'x',
            _ => b'j',
        });
        bytes.extend_from_slice(&(self.holes.len() as u32).to_le_bytes());
        for &(at, id) in &self.holes {
            bytes.extend_from_slice(&(at as u32).to_le_bytes());
            bytes.extend_from_slice(&id.to_le_bytes());
        }
        bytes.extend_from_slice(&self.bytes);
        bytes
    }

    /// A template [`to_bytes`](Self::to_bytes) wrote, borrowing its
    /// document from `bytes` (a view read per request: the answer is
    /// written from it, not from a copy); `None` for anything else (a
    /// damaged or foreign value).
    pub fn from_bytes(bytes: &[u8]) -> Option<Template<'_>> {
        let format = match bytes.first()? {
            b'x' => Format::Xml,
            b'j' => Format::Json,
            _ => return None,
        };
        let number = |at: usize| -> Option<usize> {
            Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize)
        };
        let count = number(1)?;
        let body_at = count.checked_mul(8)?.checked_add(5)?;
        let body = bytes.get(body_at..)?;
        let mut holes = Vec::with_capacity(count);
        let mut previous = 0;
        for index in 0..count {
            let at = number(5 + 8 * index)?;
            let id = u32::try_from(number(9 + 8 * index)?).ok()?;
            if at < previous || at > body.len() {
                return None;
            }
            previous = at;
            holes.push((at, id));
        }
        Some(Template {
            format,
            bytes: Cow::Borrowed(body),
            holes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::document::{Container, DocumentWriter, Slot};
    use crate::value::Value;

    /// `{"Fixed": "a<b", "Age": ?, "Items": [?, 7]}`, holes 10 and 11.
    struct Sample;

    impl Document for Sample {
        fn write(&self, out: &mut dyn DocumentWriter) {
            out.open(Slot::Root, Container::Dict);
            out.scalar(Slot::Field("Fixed"), Scalar::Str("a<b"));
            out.hole(Slot::Field("Age"), "int", 10);
            out.open(Slot::Field("Items"), Container::List);
            out.hole(Slot::Item, "str", 11);
            out.scalar(Slot::Item, Scalar::Int(7));
            out.close(Slot::Field("Items"), Container::List);
            out.close(Slot::Root, Container::Dict);
        }
    }

    /// The same document with the holes' values, as a value tree.
    fn filled(age: i64, item: &str) -> Value {
        Value::dict([
            ("Fixed", Value::str("a<b")),
            ("Age", Value::Int(age)),
            ("Items", Value::List(vec![Value::str(item), Value::Int(7)])),
        ])
    }

    #[test]
    fn a_filled_template_is_the_document_rendered_with_its_values() {
        for format in [Format::Json, Format::Xml] {
            let template = Template::render(&Sample, format);
            let bytes = template.to_bytes();
            let kept = Template::from_bytes(&bytes).unwrap();
            assert_eq!(kept, template);
            assert_eq!(kept.clone().into_owned(), template);
            for (age, item) in [(0, "ok"), (-12_345, "x & \"y\" <z>")] {
                let bytes = kept.fill(|id| match id {
                    10 => Scalar::Int(age),
                    11 => Scalar::Str(item),
                    other => panic!("no hole {other}"),
                });
                assert_eq!(
                    String::from_utf8(bytes).unwrap(),
                    format.render(&filled(age, item)),
                    "{format:?}"
                );
            }
        }
    }

    #[test]
    fn damaged_templates_are_refused() {
        let bytes = Template::render(&Sample, Format::Json).to_bytes();
        for cut in 0..bytes.len().min(21) {
            assert_eq!(Template::from_bytes(&bytes[..cut]), None, "cut at {cut}");
        }
        let mut foreign = bytes.clone();
        foreign[0] = b'?';
        assert_eq!(Template::from_bytes(&foreign), None);
        // A hole past the end of the document.
        let mut past = bytes.clone();
        past[5..9].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Template::from_bytes(&past), None);
    }
}
