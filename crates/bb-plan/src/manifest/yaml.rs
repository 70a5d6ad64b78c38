//! The one place that parses YAML (front matter of bottle and agent files).
//!
//! It yields a small tree of [`Node`]s that remember their line, so that validation can name
//! the line and key path of every mistake. The parser is serde-saphyr (pure Rust, no unsafe,
//! input budgets); swapping it only touches this file.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A YAML value and the 1-based line it starts on (0 when unknown).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub line: usize,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in file order; keys are nodes so that non-string keys can be reported.
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// The YAML type name, for "expected a map, found a list" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "nothing",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
        }
    }
}

/// A YAML syntax error: the message and the line, relative to the parsed text.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub line: usize,
    pub message: String,
}

/// Parses one YAML document. An empty document is `Null`.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    if text.trim().is_empty() {
        return Ok(Node {
            line: 1,
            value: Value::Null,
        });
    }
    match serde_saphyr::from_str::<Spanned<RawValue>>(text) {
        Ok(spanned) => Ok(node(spanned)),
        Err(err) => Err(yaml_error(&err)),
    }
}

fn yaml_error(err: &serde_saphyr::Error) -> YamlError {
    let line = err.location().map(|loc| loc.line() as usize).unwrap_or(0);
    let message = err
        .to_string()
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid YAML")
        .trim()
        .to_string();
    YamlError { line, message }
}

struct RawValue(Value);

fn node(spanned: Spanned<RawValue>) -> Node {
    Node {
        line: spanned.referenced.line() as usize,
        value: spanned.value.0,
    }
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor).map(RawValue)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Int)
            .map_err(|_| E::custom("integer too large"))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(RawVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<RawValue>>()? {
            items.push(node(item));
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<RawValue>>()? {
            let value = map.next_value::<Spanned<RawValue>>()?;
            entries.push((node(key), node(value)));
        }
        Ok(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_lines(node: &Node) -> Vec<(String, usize)> {
        match &node.value {
            Value::Map(entries) => entries
                .iter()
                .map(|(k, _)| match &k.value {
                    Value::Str(s) => (s.clone(), k.line),
                    other => panic!("non-string key {other:?}"),
                })
                .collect(),
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn keys_and_values_keep_their_lines() {
        let doc = parse("a: 1\nb:\n  - x\n  - {c: true}\nd: \"s\"\n").unwrap();
        assert_eq!(
            key_lines(&doc),
            vec![("a".into(), 1), ("b".into(), 2), ("d".into(), 5)]
        );
        let Value::Map(entries) = &doc.value else {
            unreachable!()
        };
        let Value::Seq(items) = &entries[1].1.value else {
            panic!()
        };
        assert_eq!(
            items[0],
            Node {
                line: 3,
                value: Value::Str("x".into())
            }
        );
        assert_eq!(items[1].line, 4);
    }

    #[test]
    fn scalars_are_typed() {
        let doc = parse("i: 3\nf: 1.5\nb: false\nn: null\ns: '3'\n").unwrap();
        let Value::Map(entries) = doc.value else {
            panic!()
        };
        let kinds: Vec<_> = entries.iter().map(|(_, v)| v.value.clone()).collect();
        assert_eq!(
            kinds,
            vec![
                Value::Int(3),
                Value::Float(1.5),
                Value::Bool(false),
                Value::Null,
                Value::Str("3".into())
            ]
        );
    }

    #[test]
    fn empty_document_is_null() {
        assert_eq!(parse("  \n").unwrap().value, Value::Null);
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let err = parse("a: 1\nb: [unclosed\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
        assert!(!err.message.contains('\n'));
    }
}
