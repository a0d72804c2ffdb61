//! Every XML answer the end-to-end tests receive is read through quick-xml
//! (`App::send` calls [`assert_well_formed`]): one declaration, one root,
//! every start tag closed by its end tag, every reference known.

use quick_xml::Reader;
use quick_xml::events::Event;

/// Panics, naming `what`, unless `body` is a well-formed XML document.
#[track_caller]
pub fn assert_well_formed(body: &[u8], what: &str) {
    let mut reader = Reader::from_reader(body);
    reader.config_mut().check_end_names = true;
    let mut open: Vec<String> = Vec::new();
    let (mut roots, mut declarations) = (0, 0);
    let mut buffer = Vec::new();
    loop {
        let event = reader.read_event_into(&mut buffer).unwrap_or_else(|error| {
            panic!(
                "{what}: not well-formed XML at byte {}: {error}",
                reader.buffer_position()
            )
        });
        match event {
            Event::Decl(_) => declarations += 1,
            Event::Start(start) => {
                if open.is_empty() {
                    roots += 1;
                }
                open.push(AsRef::<str>::as_ref(&start.name()).to_owned());
            }
            Event::Empty(_) if open.is_empty() => roots += 1,
            Event::End(_) => {
                open.pop();
            }
            Event::Text(text) if open.is_empty() => assert!(
                text.chars().all(|c| c.is_ascii_whitespace()),
                "{what}: text outside the root"
            ),
            Event::GeneralRef(reference) => {
                let name: &str = reference.as_ref();
                let known = ["amp", "lt", "gt", "quot", "apos"].contains(&name)
                    || reference.resolve_char_ref().ok().flatten().is_some();
                assert!(known, "{what}: unknown reference &{name};");
            }
            Event::Eof => break,
            _ => {}
        }
        buffer.clear();
    }
    assert!(open.is_empty(), "{what}: unclosed elements at the end");
    assert_eq!(declarations, 1, "{what}: XML declarations");
    assert_eq!(roots, 1, "{what}: root elements");
}
