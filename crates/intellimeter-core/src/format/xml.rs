//! XML exactly as Python's `dicttoxml` 1.7.4 writes it with
//! `custom_root="Response"` and `attr_type=True` (see the spec README):
//! a prolog with a space before `?>`, no whitespace between elements, a
//! `type` attribute on every element, `True`/`False`, `<k type="null"></k>`,
//! list items named `item`.
//!
//! Text and names go through quick-xml's escaping ([`escape`] says how
//! it is used); [`XmlWriter`] writes the tags around them, and the
//! streamed export (`export.rs`) writes its rows with quick-xml's writer.
//! The prolog is a constant: quick-xml writes no space before `?>`.

use super::append;
use super::document::{Container, DocumentWriter, Record, RecordHead, Scalar, Slot, write_value};
use super::row::write_float;
use crate::Value;
use quick_xml::events::{BytesStart, BytesText, Event};
use std::borrow::Cow;

pub(crate) const PROLOG: &str = r#"<?xml version="1.0" encoding="UTF-8" ?>"#;

/// The root element, `<Response>` without a `type`.
pub(crate) const ROOT: &str = "Response";

pub fn to_string(value: &Value) -> String {
    let mut writer = XmlWriter::default();
    write_value(&mut writer, Slot::Root, value);
    writer.into_string()
}

/// A document as dicttoxml writes it ([`DocumentWriter`]): the prolog,
/// then `<Response>` holding the root's entries or items (a root scalar
/// as one `item`). The tags are written straight into the output (their
/// names are escaped with [`escape`], as dicttoxml does), the texts go
/// through [`escape`].
pub struct XmlWriter {
    out: Vec<u8>,
    /// Where each hole's text goes ([`DocumentWriter::hole`]).
    holes: Vec<(usize, u32)>,
}

impl Default for XmlWriter {
    fn default() -> Self {
        XmlWriter::with_capacity(PROLOG.len())
    }
}

impl XmlWriter {
    pub fn with_capacity(bytes: usize) -> Self {
        let mut out = Vec::with_capacity(bytes.max(PROLOG.len()));
        out.extend_from_slice(PROLOG.as_bytes());
        XmlWriter {
            out,
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
        String::from_utf8(self.out).expect("the XML is written from UTF-8 text")
    }

    /// The bytes and the holes' places in them.
    pub fn into_parts(self) -> (Vec<u8>, Vec<(usize, u32)>) {
        (self.out, self.holes)
    }

    /// `<name type="…">`; the root's `<Response>` has no type.
    fn start(&mut self, slot: Slot, type_name: &str) {
        let name = match slot {
            Slot::Root => {
                self.out.extend_from_slice(b"<Response>");
                return;
            }
            Slot::Field(key) => escape(key),
            Slot::Item => Cow::Borrowed("item"),
        };
        self.out.push(b'<');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b" type=\"");
        self.out.extend_from_slice(type_name.as_bytes());
        self.out.extend_from_slice(b"\">");
    }

    fn end(&mut self, slot: Slot) {
        let name = match slot {
            Slot::Root => Cow::Borrowed(ROOT),
            Slot::Field(key) => escape(key),
            Slot::Item => Cow::Borrowed("item"),
        };
        self.out.extend_from_slice(b"</");
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b'>');
    }
}

/// Appends a scalar's element text.
pub(crate) fn write_text(out: &mut Vec<u8>, value: Scalar) {
    match value {
        Scalar::Null => {}
        Scalar::Bool(flag) => out.extend_from_slice(if flag { b"True" } else { b"False" }),
        Scalar::Int(n) => append(out, itoa::Buffer::new().format(n).as_bytes()),
        Scalar::Float(x) => write_float(out, x),
        Scalar::Str(raw) => append(out, escape(raw).as_bytes()),
        // ISO style: `T` for the first space.
        Scalar::LocalDateTime(raw) => match raw.split_once(' ') {
            Some((date, time)) => {
                append(out, escape(date).as_bytes());
                out.push(b'T');
                append(out, escape(time).as_bytes());
            }
            None => append(out, escape(raw).as_bytes()),
        },
    }
}

impl DocumentWriter for XmlWriter {
    fn open(&mut self, slot: Slot, container: Container) {
        self.start(
            slot,
            match container {
                Container::Dict => "dict",
                Container::List => "list",
            },
        );
    }

    fn close(&mut self, slot: Slot, _container: Container) {
        self.end(slot);
    }

    fn scalar(&mut self, slot: Slot, value: Scalar) {
        if slot == Slot::Root {
            self.start(Slot::Root, "");
            self.scalar(Slot::Item, value);
            self.end(Slot::Root);
            return;
        }
        self.start(slot, value.type_name());
        write_text(&mut self.out, value);
        self.end(slot);
    }

    fn hole(&mut self, slot: Slot, type_name: &'static str, id: u32) {
        self.start(slot, type_name);
        self.holes.push((self.out.len(), id));
        self.end(slot);
    }

    /// The record's tags as framed once ([`Record`]), each cell's type and
    /// text between them.
    fn record(&mut self, slot: Slot, record: &Record, cells: &[Scalar]) {
        self.framed_record(slot, record, cells.iter().copied());
    }

    fn record_after(&mut self, slot: Slot, record: &Record, head: &RecordHead, cells: &[Scalar]) {
        self.framed_record(slot, record, head.scalars().chain(cells.iter().copied()));
    }
}

impl XmlWriter {
    fn framed_record<'a>(
        &mut self,
        slot: Slot,
        record: &Record,
        cells: impl Iterator<Item = Scalar<'a>>,
    ) {
        self.start(slot, "dict");
        for ((open, close), cell) in record.xml_framing().iter().zip(cells) {
            append(&mut self.out, open);
            append(&mut self.out, cell.type_name().as_bytes());
            self.out.extend_from_slice(b"\">");
            write_text(&mut self.out, cell);
            append(&mut self.out, close);
        }
        self.end(slot);
    }
}

/// A start tag whose text is fixed, such as `item type="dict"`: quick-xml
/// borrows it, so writing it allocates nothing.
pub(crate) fn start_tag(content: &'static str) -> BytesStart<'static> {
    let name_len = content.find(' ').unwrap_or(content.len());
    BytesStart::from_content(content, name_len)
}

/// Text escaped by [`escape`], as a quick-xml text event.
pub(crate) fn text(raw: &str) -> Event<'_> {
    Event::Text(BytesText::from_escaped(escape(raw)))
}

/// dicttoxml's `escape_xml`: `&`, `"`, `'`, `<` and `>` become `&amp;`,
/// `&quot;`, `&apos;`, `&lt;` and `&gt;`, and every other character is
/// written as it is.
///
/// That is quick-xml's [`escape`](quick_xml::escape::escape) (its
/// `partial_escape` and `minimal_escape` leave the quotes, or also `>`),
/// except for `\r`, which quick-xml writes `&#13;` and dicttoxml leaves
/// alone: text holding a `\r` is escaped piece by piece around it. The
/// tests hold both facts.
///
/// Nothing is refused or replaced either: control characters and the
/// other characters XML 1.0 forbids (U+0000 to U+0008, U+000B, U+000C,
/// U+000E to U+001F, U+FFFE, U+FFFF) go out as they are, as dicttoxml's
/// do, and a document holding one is not well-formed; a `\r` goes out
/// raw, which a parser reads back as `\n`. Point names refuse control
/// characters (ingest-wire's name rule) but not U+FFFE or U+FFFF.
/// Allocates only when `text` has a character to escape.
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    let escaped = quick_xml::escape::escape(text);
    // Borrowed: nothing to escape, so no `\r` either (one scan of `text`).
    if matches!(escaped, Cow::Borrowed(_)) || !text.contains('\r') {
        return escaped;
    }
    let mut out = String::with_capacity(text.len() + 8);
    for (index, piece) in text.split('\r').enumerate() {
        if index > 0 {
            out.push('\r');
        }
        out.push_str(&quick_xml::escape::escape(piece));
    }
    Cow::Owned(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::{escape, to_string};
    use crate::Value;

    /// dicttoxml 1.7.4's `escape_xml`, as the writer did it by hand before
    /// quick-xml: `&` first, then `"`, `'`, `<`, `>`.
    fn dicttoxml_escape(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&apos;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                _ => out.push(c),
            }
        }
        out
    }

    /// Every Unicode scalar value once, in order.
    fn every_char() -> String {
        (0..=u32::from(char::MAX))
            .filter_map(char::from_u32)
            .collect()
    }

    #[test]
    fn escape_is_dicttoxml_escape_for_every_character() {
        let all = every_char();
        assert_eq!(escape(&all), dicttoxml_escape(&all));
        for text in [
            "",
            "\r",
            "\r\r",
            "\r\n",
            "a\rb",
            "&\r<\r>",
            "\r\"'\r",
            "é\r😀&",
        ] {
            assert_eq!(escape(text), dicttoxml_escape(text), "{text:?}");
        }
        // Nothing to escape: the text itself, borrowed.
        assert!(matches!(escape("meter1 é"), std::borrow::Cow::Borrowed(_)));
    }

    /// Why [`escape`] wraps quick-xml's `escape` and not another variant:
    /// `escape` escapes the same characters as dicttoxml but for `\r`,
    /// `partial_escape` leaves the quotes and `minimal_escape` also `>`.
    #[test]
    fn which_quick_xml_escape_matches() {
        use quick_xml::escape as qx;
        let all = every_char();
        let expected = dicttoxml_escape(&all);
        assert_eq!(qx::escape(&all), expected.replace('\r', "&#13;"));
        assert_eq!(qx::escape("\r"), "&#13;");
        assert_eq!(qx::partial_escape("\"'"), "\"'");
        assert_eq!(qx::minimal_escape("\"'>"), "\"'>");
        assert_ne!(qx::partial_escape(&all), expected);
        assert_ne!(qx::minimal_escape(&all), expected);
    }

    /// An element as a parser gives it back: name, `type` attribute, text
    /// (references resolved, line ends normalised) and child elements.
    #[derive(Debug, PartialEq)]
    pub(crate) struct Element {
        name: String,
        kind: Option<String>,
        text: String,
        children: Vec<Element>,
    }

    /// XML 1.0's `Char` production.
    fn is_xml_char(c: char) -> bool {
        matches!(c, '\t' | '\n' | '\r' | ' '..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
    }

    /// Reads `document` with quick-xml's `Reader` (its checks on: end tags
    /// match, no bare `&`) into its root element, and panics unless it is
    /// one well-formed XML 1.0 document: the declaration, one root, only
    /// predefined entities, and only characters XML allows (which the
    /// `Reader` does not check itself).
    pub(crate) fn read_back(document: &str) -> Element {
        use quick_xml::XmlVersion;
        use quick_xml::escape::resolve_predefined_entity;
        use quick_xml::events::Event;
        use quick_xml::reader::Reader;

        if let Some(bad) = document.chars().find(|&c| !is_xml_char(c)) {
            panic!("{bad:?} is not an XML 1.0 character");
        }
        let mut reader = Reader::from_str(document);
        let mut open: Vec<Element> = Vec::new();
        let mut root = None;
        let mut declared = false;
        loop {
            let event = reader
                .read_event()
                .unwrap_or_else(|error| panic!("at {}: {error}", reader.error_position()));
            let text = match event {
                Event::Decl(decl) if !declared && open.is_empty() && root.is_none() => {
                    assert_eq!(decl.version().unwrap(), "1.0");
                    assert_eq!(decl.encoding().unwrap().unwrap(), "UTF-8");
                    declared = true;
                    continue;
                }
                Event::Start(start) => {
                    assert!(declared && root.is_none(), "an element outside the root");
                    let mut kind = None;
                    for attribute in start.attributes() {
                        let attribute = attribute.unwrap();
                        assert_eq!(attribute.key.as_ref(), "type");
                        let value = attribute.normalized_value(XmlVersion::Implicit1_0);
                        kind = Some(value.unwrap().into_owned());
                    }
                    open.push(Element {
                        name: start.name().as_ref().to_owned(),
                        kind,
                        text: String::new(),
                        children: Vec::new(),
                    });
                    continue;
                }
                Event::End(_) => {
                    let element = open.pop().expect("the reader checks end tags");
                    match open.last_mut() {
                        Some(parent) => parent.children.push(element),
                        None => root = Some(element),
                    }
                    continue;
                }
                Event::Text(text) => text.xml10_content().into_owned(),
                Event::GeneralRef(reference) => match reference.resolve_char_ref().unwrap() {
                    Some(c) => c.to_string(),
                    None => resolve_predefined_entity(&reference)
                        .unwrap_or_else(|| panic!("undefined entity {reference:?}"))
                        .to_owned(),
                },
                Event::Eof => break,
                other => panic!("unexpected {other:?}"),
            };
            open.last_mut()
                .unwrap_or_else(|| panic!("text outside the root: {text:?}"))
                .text
                .push_str(&text);
        }
        assert!(open.is_empty(), "unclosed {open:?}");
        root.expect("a root element")
    }

    /// XML 1.0's end-of-line handling: `\r\n` and a lone `\r` read as `\n`.
    fn read_as(text: &str) -> String {
        text.replace("\r\n", "\n").replace('\r', "\n")
    }

    /// The Python type dicttoxml names in `type`.
    fn python_type(value: &Value) -> &'static str {
        match value {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) | Value::LocalDateTime(_) => "str",
            Value::Dict(_) => "dict",
            Value::List(_) => "list",
        }
    }

    fn expected_element(name: &str, value: &Value) -> Element {
        let (text, children) = match value {
            Value::Null => (String::new(), Vec::new()),
            Value::Bool(flag) => (
                (if *flag { "True" } else { "False" }).to_owned(),
                Vec::new(),
            ),
            Value::Int(n) => (n.to_string(), Vec::new()),
            Value::Float(x) => (crate::format::pyfloat::repr(*x), Vec::new()),
            Value::Str(raw) => (read_as(raw), Vec::new()),
            Value::LocalDateTime(raw) => (read_as(&raw.replacen(' ', "T", 1)), Vec::new()),
            Value::Dict(_) | Value::List(_) => (String::new(), expected_children(value)),
        };
        Element {
            name: name.to_owned(),
            kind: Some(python_type(value).to_owned()),
            text,
            children,
        }
    }

    fn expected_children(value: &Value) -> Vec<Element> {
        match value {
            Value::Dict(entries) => entries
                .iter()
                .map(|(key, value)| expected_element(key, value))
                .collect(),
            Value::List(items) => items
                .iter()
                .map(|item| expected_element("item", item))
                .collect(),
            other => vec![expected_element("item", other)],
        }
    }

    /// What a parser should read back from `to_string(value)`.
    pub(crate) fn expected_root(value: &Value) -> Element {
        Element {
            name: "Response".to_owned(),
            kind: None,
            text: String::new(),
            children: expected_children(value),
        }
    }

    /// One text holding every character XML 1.0 allows, in order.
    pub(crate) fn every_xml_char() -> String {
        every_char().chars().filter(|&c| is_xml_char(c)).collect()
    }

    /// Texts to round-trip: hand-picked edges and random mixes of pieces
    /// that need care (xorshift with a fixed seed, so a failure repeats).
    pub(crate) fn edge_texts() -> Vec<String> {
        const PIECES: [&str; 40] = [
            "&",
            "<",
            ">",
            "\"",
            "'",
            ";",
            "#",
            "&amp;",
            "&lt",
            "&#13;",
            "&#x41;",
            "]]>",
            "<!--",
            "<?",
            "a",
            "Z",
            "0",
            " ",
            "  ",
            "\t",
            "\n",
            "\r",
            "\r\n",
            "\n\r",
            "é",
            "名前",
            "😀",
            "\u{85}",
            "\u{2028}",
            "\u{7f}",
            "\u{9f}",
            "\u{d7ff}",
            "\u{e000}",
            "\u{fffd}",
            "\u{10000}",
            "\u{10ffff}",
            "=",
            "/",
            "-",
            "meter1",
        ];
        let mut texts: Vec<String> = PIECES.iter().map(|piece| (*piece).to_owned()).collect();
        texts.push(String::new());
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2_000 {
            let len = next() % 24;
            let text = (0..len)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect();
            texts.push(text);
        }
        texts
    }

    #[test]
    fn round_trips_through_quick_xml_reader() {
        for text in edge_texts() {
            let value = Value::dict([
                ("text", Value::str(text.as_str())),
                ("time", Value::LocalDateTime(text.clone())),
                (
                    "list",
                    Value::List(vec![
                        Value::str(text.as_str()),
                        Value::Null,
                        Value::dict([("inner", Value::str(text.as_str()))]),
                        Value::Float(0.1),
                        Value::Int(-3),
                        Value::Bool(true),
                    ]),
                ),
            ]);
            assert_eq!(
                read_back(&to_string(&value)),
                expected_root(&value),
                "{text:?}"
            );
        }
        for value in [
            Value::str(every_xml_char()),
            Value::Null,
            Value::str("a<b"),
            Value::List(vec![]),
            Value::empty_dict(),
            Value::dict([("Zähler", Value::str("é")), ("名前", Value::Int(1))]),
        ] {
            assert_eq!(
                read_back(&to_string(&value)),
                expected_root(&value),
                "{value:?}"
            );
        }
    }

    /// The checks [`read_back`] relies on do refuse what is not
    /// well-formed: the round trip above could fail.
    #[test]
    fn read_back_refuses_documents_that_are_not_well_formed() {
        const PROLOG: &str = super::PROLOG;
        for bad in [
            "<Response></Response>",
            "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><Response>",
            "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><Response></Other>",
            "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><Response>&</Response>",
            "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><Response>&nbsp;</Response>",
            "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><Response>\u{0}</Response>",
            "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><Response>\u{fffe}</Response>",
            "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><Response></Response><Response></Response>",
            "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><Response></Response>x",
        ] {
            let result = std::panic::catch_unwind(|| read_back(bad));
            assert!(result.is_err(), "read back {bad:?}");
        }
        let good = format!("{PROLOG}<Response><k type=\"str\">&amp;&#65;</k></Response>");
        assert_eq!(
            read_back(&good),
            Element {
                name: "Response".into(),
                kind: None,
                text: String::new(),
                children: vec![Element {
                    name: "k".into(),
                    kind: Some("str".into()),
                    text: "&A".into(),
                    children: Vec::new(),
                }],
            }
        );
    }

    #[test]
    fn data_example_from_the_page() {
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
                ("MeterParam", Value::str("meter2")),
                (
                    "TimeStamping",
                    Value::LocalDateTime("2019-10-30 13:15:00".into()),
                ),
                ("value", Value::Float(35757.359)),
            ]),
        ]);
        assert_eq!(
            to_string(&value),
            r#"<?xml version="1.0" encoding="UTF-8" ?><Response><item type="dict"><MeterParam type="str">meter1</MeterParam><TimeStamping type="str">2019-10-30T13:15:00</TimeStamping><value type="float">28540.24</value></item><item type="dict"><MeterParam type="str">meter2</MeterParam><TimeStamping type="str">2019-10-30T13:15:00</TimeStamping><value type="float">35757.359</value></item></Response>"#
        );
    }

    #[test]
    fn session_example_from_the_page() {
        let value = Value::dict([
            ("uuid", Value::Int(1)),
            ("project", Value::Int(1)),
            ("username", Value::str("test")),
            ("email", Value::str("test@example.com")),
            ("joined", Value::str("2019-10-29 16:07:17")),
            ("xml", Value::Bool(true)),
            ("project_name", Value::str("myProject")),
        ]);
        assert_eq!(
            to_string(&value),
            r#"<?xml version="1.0" encoding="UTF-8" ?><Response><uuid type="int">1</uuid><project type="int">1</project><username type="str">test</username><email type="str">test@example.com</email><joined type="str">2019-10-29 16:07:17</joined><xml type="bool">True</xml><project_name type="str">myProject</project_name></Response>"#
        );
    }

    #[test]
    fn empty_null_nested_and_escaped() {
        assert_eq!(
            to_string(&Value::empty_dict()),
            r#"<?xml version="1.0" encoding="UTF-8" ?><Response></Response>"#
        );
        assert_eq!(
            to_string(&Value::List(vec![])),
            r#"<?xml version="1.0" encoding="UTF-8" ?><Response></Response>"#
        );
        let value = Value::dict([
            ("none", Value::Null),
            ("flag", Value::Bool(false)),
            ("list", Value::List(vec![Value::Int(1), Value::str("a")])),
            ("text", Value::str(r#"<a href="x">&'</a>"#)),
            ("big", Value::Float(1e20)),
        ]);
        assert_eq!(
            to_string(&value),
            r#"<?xml version="1.0" encoding="UTF-8" ?><Response><none type="null"></none><flag type="bool">False</flag><list type="list"><item type="int">1</item><item type="str">a</item></list><text type="str">&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;</text><big type="float">1e+20</big></Response>"#
        );
    }

    /// `to_string(value)` is the prolog and `<Response>{inner}</Response>`.
    #[track_caller]
    fn check(value: Value, inner: &str) {
        assert_eq!(
            to_string(&value),
            format!(r#"<?xml version="1.0" encoding="UTF-8" ?><Response>{inner}</Response>"#),
            "{value:?}"
        );
    }

    /// One `<k type="str">` element holding `text`.
    fn text(text: &str) -> Value {
        Value::dict([("k", Value::str(text))])
    }

    #[test]
    fn other_examples_from_the_page() {
        check(
            Value::dict([("uuid", Value::Int(1))]),
            r#"<uuid type="int">1</uuid>"#,
        );
        check(
            Value::dict([(
                "key",
                Value::str("5a683c7dd6-c73b2a4313-f0fb321137-9123b7cec0"),
            )]),
            r#"<key type="str">5a683c7dd6-c73b2a4313-f0fb321137-9123b7cec0</key>"#,
        );
        check(
            Value::List(
                [("meter1", 0.5), ("meter2", 0.08)]
                    .into_iter()
                    .map(|(meter, value)| {
                        Value::dict([
                            ("MeterParam", Value::str(meter)),
                            (
                                "TimeStamping",
                                Value::LocalDateTime("2019-10-30 14:10:00".into()),
                            ),
                            ("value", Value::Float(value)),
                        ])
                    })
                    .collect(),
            ),
            r#"<item type="dict"><MeterParam type="str">meter1</MeterParam><TimeStamping type="str">2019-10-30T14:10:00</TimeStamping><value type="float">0.5</value></item><item type="dict"><MeterParam type="str">meter2</MeterParam><TimeStamping type="str">2019-10-30T14:10:00</TimeStamping><value type="float">0.08</value></item>"#,
        );
        check(
            Value::List(vec![
                Value::dict([
                    ("uuid", Value::Int(1)),
                    ("username", Value::str("test")),
                    ("email", Value::str("test@example.com")),
                    ("joined", Value::LocalDateTime("2019-10-29 16:07:17".into())),
                ]),
                Value::dict([
                    ("uuid", Value::Int(2)),
                    ("username", Value::str("test2")),
                    ("email", Value::str("test2@example.com")),
                    ("joined", Value::LocalDateTime("2019-10-31 14:45:12".into())),
                ]),
            ]),
            r#"<item type="dict"><uuid type="int">1</uuid><username type="str">test</username><email type="str">test@example.com</email><joined type="str">2019-10-29T16:07:17</joined></item><item type="dict"><uuid type="int">2</uuid><username type="str">test2</username><email type="str">test2@example.com</email><joined type="str">2019-10-31T14:45:12</joined></item>"#,
        );
        check(
            Value::dict([
                ("id", Value::Int(1)),
                ("MeterId", Value::str("meter1")),
                ("ModbusId", Value::Int(1)),
                ("Port", Value::str("USB0")),
                ("NoPhases", Value::str("3")),
                ("MeterType", Value::str("I-45/MFX/636")),
                ("ModbusMap", Value::str("Priority.ici")),
                ("SaveEvery", Value::Int(5)),
                ("startAddress", Value::Int(1100)),
            ]),
            r#"<id type="int">1</id><MeterId type="str">meter1</MeterId><ModbusId type="int">1</ModbusId><Port type="str">USB0</Port><NoPhases type="str">3</NoPhases><MeterType type="str">I-45/MFX/636</MeterType><ModbusMap type="str">Priority.ici</ModbusMap><SaveEvery type="int">5</SaveEvery><startAddress type="int">1100</startAddress>"#,
        );
    }

    #[test]
    fn escapes_the_five_markup_characters_and_nothing_else_printable() {
        for (raw, escaped) in [
            ("&", "&amp;"),
            ("<", "&lt;"),
            (">", "&gt;"),
            ("\"", "&quot;"),
            ("'", "&apos;"),
            // Already escaped text is escaped again: the value is text.
            ("&amp;", "&amp;amp;"),
            ("&#13;", "&amp;#13;"),
            ("]]>", "]]&gt;"),
            ("<![CDATA[x]]>", "&lt;![CDATA[x]]&gt;"),
            ("a&b<c>d\"e'f", "a&amp;b&lt;c&gt;d&quot;e&apos;f"),
            ("&&<<>>", "&amp;&amp;&lt;&lt;&gt;&gt;"),
            (
                " !#$%()*+,-./:;=?@[\\]^_`{|}~",
                " !#$%()*+,-./:;=?@[\\]^_`{|}~",
            ),
        ] {
            check(text(raw), &format!(r#"<k type="str">{escaped}</k>"#));
        }
    }

    /// Characters other than the five go out as they are, also the ones
    /// XML 1.0 forbids or normalises: see [`super::escape`].
    #[test]
    fn control_and_forbidden_characters_are_written_verbatim() {
        for raw in [
            "\t",
            "\n",
            "\r",
            "\r\n",
            "a\rb",
            "\0",
            "\u{1}",
            "\u{8}",
            "\u{b}",
            "\u{c}",
            "\u{1f}",
            "\u{7f}",
            "\u{85}",
            "\u{9f}",
            "\u{d7ff}",
            "\u{e000}",
            "\u{fffd}",
            "\u{fffe}",
            "\u{ffff}",
            "\u{10ffff}",
            "x\u{0}&\r<",
        ] {
            let escaped = raw.replace('&', "&amp;").replace('<', "&lt;");
            check(text(raw), &format!(r#"<k type="str">{escaped}</k>"#));
        }
    }

    #[test]
    fn empty_values_null_and_top_level_scalars() {
        check(text(""), r#"<k type="str"></k>"#);
        check(
            Value::dict([
                ("s", Value::str("")),
                ("t", Value::LocalDateTime(String::new())),
                ("d", Value::empty_dict()),
                ("l", Value::List(vec![])),
                ("n", Value::Null),
            ]),
            r#"<s type="str"></s><t type="str"></t><d type="dict"></d><l type="list"></l><n type="null"></n>"#,
        );
        check(Value::Null, r#"<item type="null"></item>"#);
        check(Value::Bool(true), r#"<item type="bool">True</item>"#);
        check(Value::Int(-7), r#"<item type="int">-7</item>"#);
        check(Value::Float(0.1), r#"<item type="float">0.1</item>"#);
        check(Value::str("a<b"), r#"<item type="str">a&lt;b</item>"#);
        check(
            Value::List(vec![Value::Null, Value::Null]),
            r#"<item type="null"></item><item type="null"></item>"#,
        );
    }

    #[test]
    fn numbers() {
        check(
            Value::List(vec![
                Value::Int(0),
                Value::Int(i64::MIN),
                Value::Int(i64::MAX),
                Value::Float(-0.0),
                Value::Float(5.0),
                Value::Float(1e-5),
                Value::Float(1e16),
                Value::Float(f64::NAN),
                Value::Float(f64::INFINITY),
                Value::Float(f64::NEG_INFINITY),
            ]),
            concat!(
                r#"<item type="int">0</item><item type="int">-9223372036854775808</item>"#,
                r#"<item type="int">9223372036854775807</item><item type="float">-0.0</item>"#,
                r#"<item type="float">5.0</item><item type="float">1e-05</item>"#,
                r#"<item type="float">1e+16</item><item type="float">nan</item>"#,
                r#"<item type="float">inf</item><item type="float">-inf</item>"#,
            ),
        );
    }

    /// A local date-time gets a `T` for its first space only; a `Str`
    /// keeps its spaces.
    #[test]
    fn local_date_times() {
        for (raw, written) in [
            ("2019-10-30 13:15:00", "2019-10-30T13:15:00"),
            ("2019-10-30", "2019-10-30"),
            ("a b c", "aTb c"),
            (" x", "Tx"),
            ("x ", "xT"),
            ("<a> &b", "&lt;a&gt;T&amp;b"),
        ] {
            check(
                Value::dict([("t", Value::LocalDateTime(raw.into()))]),
                &format!(r#"<t type="str">{written}</t>"#),
            );
        }
        check(
            Value::dict([("t", Value::str("2019-10-30 13:15:00"))]),
            r#"<t type="str">2019-10-30 13:15:00</t>"#,
        );
    }

    #[test]
    fn nested_lists_and_dicts() {
        check(
            Value::List(vec![
                Value::List(vec![]),
                Value::List(vec![Value::List(vec![Value::Int(1)]), Value::str("x")]),
                Value::dict([(
                    "inner",
                    Value::List(vec![Value::dict([(
                        "deep",
                        Value::List(vec![Value::Null]),
                    )])]),
                )]),
            ]),
            concat!(
                r#"<item type="list"></item>"#,
                r#"<item type="list"><item type="list"><item type="int">1</item></item><item type="str">x</item></item>"#,
                r#"<item type="dict"><inner type="list"><item type="dict"><deep type="list"><item type="null"></item></deep></item></inner></item>"#,
            ),
        );
    }

    /// Keys become element names as they are, escaped like text (the
    /// API's keys are fixed ASCII names, so this never makes a bad name).
    #[test]
    fn non_ascii_and_odd_names() {
        check(
            Value::dict([
                ("Zähler", Value::str("é")),
                ("名前", Value::str("メーター 😀")),
                ("a<b&c", Value::Int(1)),
                ("", Value::Null),
            ]),
            concat!(
                r#"<Zähler type="str">é</Zähler><名前 type="str">メーター 😀</名前>"#,
                r#"<a&lt;b&amp;c type="int">1</a&lt;b&amp;c>< type="null"></>"#,
            ),
        );
    }
}
