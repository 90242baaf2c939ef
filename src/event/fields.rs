//! Reading an event's top-level fields without building the event, and stamping its text.
//!
//! Every event crosses kafka-lab twice: the producer stamps `produced` on each POSTed body and the consumer
//! `consumed` on each message. Parsing the object into a map and writing it out again costs a dozen
//! allocations per event and most of the time spent on it, while all either side needs is to know that the
//! text is a JSON object, whether the stamp's field is already there, and (the producer) the `topic` and
//! `key` fields. [`peek`] parses the whole text for those and builds nothing else; [`append_stamp`] then adds
//! the field by replacing the object's closing brace.

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

/// What [`peek`] read of an object.
#[derive(Debug, Default, PartialEq)]
pub struct Peeked {
    /// Whether the object already has the stamp's field.
    pub stamped: bool,
    /// The `topic` and `key` fields, when asked for and present.
    pub topic: Option<Value>,
    pub key: Option<Value>,
}

/// Parses all of `text`, which must be a JSON object: whether it has the field `stamp_field`, and with
/// `routing` its `topic` and `key` fields. An error when `text` is not valid JSON or not an object.
pub fn peek(text: &str, stamp_field: &str, routing: bool) -> Result<Peeked, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let peeked = ObjectSeed { stamp_field, routing }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(peeked)
}

/// `object`, the text of a JSON object without the field `name`, with `"name": at` appended: its closing
/// brace is replaced by the field and a brace. `None` if `object` does not end in a brace after all.
pub fn append_stamp(object: &str, name: &str, at: &str) -> Option<String> {
    let body = object.trim().strip_suffix('}')?.trim_end();
    // Only an empty object ends in `{` once its closing brace is gone: a member always ends in a value.
    let separator = if body.ends_with('{') { "" } else { "," };
    let (name, at) = (serde_json::to_string(name).ok()?, serde_json::to_string(at).ok()?);
    let mut stamped = String::with_capacity(body.len() + separator.len() + name.len() + at.len() + 2);
    for part in [body, separator, &name, ":", &at, "}"] {
        stamped.push_str(part);
    }
    Some(stamped)
}

/// The object's fields of interest, by name (no copy of the name is made).
enum Field {
    Stamp,
    Topic,
    Key,
    Other,
}

/// Reads an object into [`Peeked`].
struct ObjectSeed<'a> {
    stamp_field: &'a str,
    routing: bool,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_> {
    type Value = Peeked;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Peeked, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed<'_> {
    type Value = Peeked;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut fields: A) -> Result<Peeked, A::Error> {
        let mut peeked = Peeked::default();
        let names = FieldSeed {
            stamp_field: self.stamp_field,
            routing: self.routing,
        };
        // A name given twice counts with its last value, as when the object is parsed into a map.
        while let Some(field) = fields.next_key_seed(names)? {
            match field {
                Field::Stamp => peeked.stamped = fields.next_value::<IgnoredAny>().map(|_| true)?,
                Field::Topic => peeked.topic = Some(fields.next_value()?),
                Field::Key => peeked.key = Some(fields.next_value()?),
                Field::Other => {
                    fields.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(peeked)
    }
}

/// Sorts a field name into [`Field`].
#[derive(Clone, Copy)]
struct FieldSeed<'a> {
    stamp_field: &'a str,
    routing: bool,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Field;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Field, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for FieldSeed<'_> {
    type Value = Field;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Field, E> {
        Ok(match name {
            _ if name == self.stamp_field => Field::Stamp,
            "topic" if self.routing => Field::Topic,
            "key" if self.routing => Field::Key,
            _ => Field::Other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn peek_reads_the_stamp_and_the_routing_fields() {
        let text = r#"{"topic": "t", "key": null, "id": [1, {"topic": "inner"}], "produced": 3}"#;
        let peeked = peek(text, "produced", true).unwrap();
        let expected = Peeked {
            stamped: true,
            topic: Some(json!("t")),
            key: Some(Value::Null),
        };
        assert_eq!(peeked, expected);
        assert_eq!(peek(text, "consumed", false).unwrap(), Peeked::default());
        // The last of a repeated name counts; an escaped name is read unescaped.
        let repeated = r#"{"topic": "a", "top\u0069c": "b"}"#;
        assert_eq!(peek(repeated, "produced", true).unwrap().topic, Some(json!("b")));
    }

    #[test]
    fn peek_refuses_what_is_not_one_json_object() {
        for text in ["[1]", "3", "\"x\"", "", "{", "{\"a\":1} {}", "{\"a\":}", "null"] {
            assert!(peek(text, "produced", true).is_err(), "{text}");
        }
    }

    #[test]
    fn append_stamp_adds_the_field_before_the_closing_brace() {
        let cases = [
            ("{}", r#"{"at":"1"}"#),
            ("  { }\n", r#"{"at":"1"}"#),
            ("{\"a\":{\"b\":[1,{}]}}\r\n", r#"{"a":{"b":[1,{}]},"at":"1"}"#),
            ("{\"s\":\"}\" }", r#"{"s":"}","at":"1"}"#),
        ];
        for (object, expected) in cases {
            assert_eq!(append_stamp(object, "at", "1").as_deref(), Some(expected), "{object}");
            let stamped: Value = serde_json::from_str(expected).unwrap();
            assert_eq!(stamped["at"], "1");
        }
        assert_eq!(append_stamp("[1]", "at", "1"), None);
    }
}
