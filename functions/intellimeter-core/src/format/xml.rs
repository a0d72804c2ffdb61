//! XML exactly as Python's `dicttoxml` 1.7.4 writes it with
//! `custom_root="Response"` and `attr_type=True` (see the spec README):
//! a prolog with a space before `?>`, no whitespace between elements, a
//! `type` attribute on every element, `True`/`False`, `<k type="null"></k>`,
//! list items named `item`.

use super::pyfloat;
use crate::Value;

pub(crate) const PROLOG: &str = r#"<?xml version="1.0" encoding="UTF-8" ?>"#;

pub fn to_string(value: &Value) -> String {
    let mut out = String::from(PROLOG);
    out.push_str("<Response>");
    match value {
        Value::Dict(entries) => write_entries(&mut out, entries),
        Value::List(items) => write_items(&mut out, items),
        other => write_element(&mut out, "item", other),
    }
    out.push_str("</Response>");
    out
}

fn write_entries(out: &mut String, entries: &[(String, Value)]) {
    for (key, value) in entries {
        write_element(out, key, value);
    }
}

fn write_items(out: &mut String, items: &[Value]) {
    for item in items {
        write_element(out, "item", item);
    }
}

fn type_name(value: &Value) -> &'static str {
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

fn write_element(out: &mut String, key: &str, value: &Value) {
    let key = escape(key);
    out.push('<');
    out.push_str(&key);
    out.push_str(" type=\"");
    out.push_str(type_name(value));
    out.push_str("\">");
    match value {
        Value::Null => {}
        Value::Bool(flag) => out.push_str(if *flag { "True" } else { "False" }),
        Value::Int(n) => out.push_str(&n.to_string()),
        Value::Float(x) => out.push_str(&pyfloat::repr(*x)),
        Value::Str(text) => out.push_str(&escape(text)),
        Value::LocalDateTime(text) => out.push_str(&escape(&text.replacen(' ', "T", 1))),
        Value::Dict(entries) => write_entries(out, entries),
        Value::List(items) => write_items(out, items),
    }
    out.push_str("</");
    out.push_str(&key);
    out.push('>');
}

/// dicttoxml's `escape_xml`: `&` first, then `"`, `'`, `<`, `>`.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

/// [`escape`] appending to `out` (no allocation), for the streamed export.
pub(crate) fn escape_into(out: &mut String, text: &str) {
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
}

#[cfg(test)]
mod tests {
    use super::to_string;
    use crate::Value;

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
}
