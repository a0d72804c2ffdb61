//! The one data model every response body is built from, rendered by
//! `format::json` or `format::xml`. Keys keep their insertion order, because
//! the page's examples have a fixed key order.

/// A response value, shaped like the Python values the original service
/// serialised (dict, list, str, int, float, bool, None).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A local date and time stored as `YYYY-mm-dd HH:MM:SS`. JSON writes it
    /// as is; XML writes it with a `T` separator, as the page's `/user`,
    /// `/data` and `/interval` XML examples do. Account bodies (`/session`)
    /// use [`Value::Str`] instead, whose XML keeps the space.
    LocalDateTime(String),
    Dict(Vec<(String, Value)>),
    List(Vec<Value>),
}

impl Value {
    /// An empty dict: `{}` in JSON, `<Response></Response>` in XML.
    pub fn empty_dict() -> Self {
        Value::Dict(Vec::new())
    }

    /// A dict from `(key, value)` pairs, keeping their order.
    pub fn dict<K: Into<String>>(entries: impl IntoIterator<Item = (K, Value)>) -> Self {
        Value::Dict(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn str(text: impl Into<String>) -> Self {
        Value::Str(text.into())
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::Str(text.to_owned())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::Str(text)
    }
}

impl From<i64> for Value {
    fn from(number: i64) -> Self {
        Value::Int(number)
    }
}

impl From<bool> for Value {
    fn from(flag: bool) -> Self {
        Value::Bool(flag)
    }
}

impl From<f64> for Value {
    fn from(number: f64) -> Self {
        Value::Float(number)
    }
}
