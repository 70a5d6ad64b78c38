//! JSON as the harness reads it: objects keep their keys in file order (a case's headers go on
//! the wire in that order), and values print the way the case corpus's tooling (Python) prints
//! them: `str()` and `repr()` in messages, `json.dumps()` for a body that is not a string.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    /// Keys in file order; a repeated key keeps its first place and its last value.
    Object(Vec<(String, Json)>),
}

impl Json {
    pub fn parse(bytes: &[u8]) -> serde_json::Result<Json> {
        serde_json::from_slice(bytes)
    }

    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// The string at `key`, if there is one.
    pub fn str_at(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Json::as_str)
    }

    /// The value at `key` as Python's `str()`, `None` when absent.
    pub fn text_at(&self, key: &str) -> String {
        self.get(key)
            .map_or_else(|| "None".to_owned(), Json::py_str)
    }

    /// The value at `key` when Python would call it true (`d.get(key) or …`).
    pub fn truthy_at(&self, key: &str) -> Option<&Json> {
        self.get(key).filter(|v| v.truthy())
    }

    /// The string elements of the array at `key` (a tag list); nothing for anything else.
    pub fn strings_at(&self, key: &str) -> Vec<&str> {
        match self.get(key) {
            Some(Json::Array(items)) => items.iter().filter_map(Json::as_str).collect(),
            _ => Vec::new(),
        }
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Json::Object(_))
    }

    /// Python's truth value of the decoded value.
    pub fn truthy(&self) -> bool {
        match self {
            Json::Null => false,
            Json::Bool(b) => *b,
            Json::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
            Json::String(s) => !s.is_empty(),
            Json::Array(items) => !items.is_empty(),
            Json::Object(entries) => !entries.is_empty(),
        }
    }

    /// Python's `str()`: a string as it is, anything else as its `repr()`.
    pub fn py_str(&self) -> String {
        match self {
            Json::String(s) => s.clone(),
            other => other.py_repr(),
        }
    }

    /// Python's `repr()` of the decoded value (`None`, `True`, `'text'`, `[1, 'a']`, `{'k': 1}`).
    pub fn py_repr(&self) -> String {
        match self {
            Json::Null => "None".to_owned(),
            Json::Bool(true) => "True".to_owned(),
            Json::Bool(false) => "False".to_owned(),
            Json::Number(n) => n.to_string(),
            Json::String(s) => py_repr_str(s),
            Json::Array(items) => {
                let inner: Vec<String> = items.iter().map(Json::py_repr).collect();
                format!("[{}]", inner.join(", "))
            }
            Json::Object(entries) => {
                let inner: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| format!("{}: {}", py_repr_str(k), v.py_repr()))
                    .collect();
                format!("{{{}}}", inner.join(", "))
            }
        }
    }

    /// Python's `json.dumps()` with its defaults: `", "` and `": "` between items, every
    /// character outside printable ASCII escaped.
    pub fn dumps(&self) -> String {
        let mut out = String::new();
        self.dump_into(&mut out);
        out
    }

    fn dump_into(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(&n.to_string()),
            Json::String(s) => dump_str(s, out),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.dump_into(out);
                }
                out.push(']');
            }
            Json::Object(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    dump_str(k, out);
                    out.push_str(": ");
                    v.dump_into(out);
                }
                out.push('}');
            }
        }
    }
}

/// Python's `repr()` of a string: single quotes unless only double quotes avoid escaping.
pub fn py_repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c < ' ' || ('\x7f'..='\u{9f}').contains(&c) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr()` of bytes: `b'…'`, printable ASCII as it is, the rest escaped.
pub fn py_repr_bytes(bytes: &[u8]) -> String {
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut out = format!("b{}", quote as char);
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b if b == quote => {
                out.push('\\');
                out.push(b as char);
            }
            b' '..=b'~' => out.push(b as char),
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push(quote as char);
    out
}

fn dump_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Json, E> {
        Ok(serde_json::Number::from_f64(n).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(Json::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Json, E> {
        Ok(Json::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries: Vec<(String, Json)> = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Json>()? {
            match entries.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = value,
                None => entries.push((key, value)),
            }
        }
        Ok(Json::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Json {
        Json::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn objects_keep_file_order_and_the_last_value_of_a_repeated_key() {
        let value = parse(r#"{"b": 1, "a": 2, "b": 3}"#);
        let Json::Object(entries) = &value else {
            panic!("not an object")
        };
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a"]);
        assert_eq!(value.get("b"), Some(&parse("3")));
    }

    #[test]
    fn dumps_writes_what_python_json_dumps_writes() {
        let value = parse(r#"{"k": [1, true, null], "é": "a\"b\n\u0001😀"}"#);
        assert_eq!(
            value.dumps(),
            r#"{"k": [1, true, null], "\u00e9": "a\"b\n\u0001\ud83d\ude00"}"#
        );
        assert_eq!(parse("[]").dumps(), "[]");
    }

    #[test]
    fn str_and_repr_are_pythons() {
        assert_eq!(parse("null").py_str(), "None");
        assert_eq!(parse("\"x\"").py_str(), "x");
        assert_eq!(parse("\"x\"").py_repr(), "'x'");
        assert_eq!(parse(r#""it's""#).py_repr(), r#""it's""#);
        assert_eq!(
            parse(r#"{"a": [false, 1.5]}"#).py_repr(),
            "{'a': [False, 1.5]}"
        );
        assert_eq!(py_repr_bytes(b"a\r\n\x00'"), r#"b"a\r\n\x00'""#);
        assert_eq!(py_repr_bytes(b"X-A"), "b'X-A'");
    }

    #[test]
    fn truthiness_is_pythons() {
        for falsy in ["null", "false", "0", "\"\"", "[]", "{}"] {
            assert!(!parse(falsy).truthy(), "{falsy}");
        }
        for truthy in ["true", "0.5", "\"0\"", "[0]", "{\"a\": null}"] {
            assert!(parse(truthy).truthy(), "{truthy}");
        }
    }

    #[test]
    fn strings_at_keeps_only_string_elements() {
        let value = parse(r#"{"tags": ["a", 1, "b"], "one": "a"}"#);
        assert_eq!(value.strings_at("tags"), ["a", "b"]);
        assert!(value.strings_at("one").is_empty());
        assert_eq!(value.text_at("missing"), "None");
    }
}
