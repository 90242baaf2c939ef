//! Events as the workshop sees them: JSON objects stamped with wall-clock times.
//!
//! The lab page asks "which step takes the longest?", so each hop writes down when it handled the event:
//! the page sets `clicked`, the producer adds `produced`, a consumer adds `consumed`. All three use the
//! original workshop's format, `HH:MM:SS:mmm` in local 24-hour time (Python's `%H:%M:%S:%f` cut to
//! milliseconds).
//!
//! Why chrono and not the `time` crate: `time` refuses to read the local UTC offset on Linux once a
//! process has a second thread (`IndeterminateOffset`; reading it calls libc's `localtime_r`, which races
//! with `setenv`), and both binaries are multi-threaded tokio programs. With `time`, the offset would
//! have to be read once before the runtime starts and kept: after a daylight-saving change the stamps
//! would be an hour off the page's `clicked` (the browser follows the change) until a restart. chrono
//! reads the zone (`TZ`, `/etc/localtime`) itself, in Rust, re-checking it every second, and is in the
//! binary anyway (rskafka's record timestamps are chrono types), so `time` would add about six crates
//! (with its `local-offset` feature) and remove one (`iana-time-zone`). In a `FROM scratch` image there
//! is no zone file and both give UTC.

use chrono::Timelike;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

pub mod fields;

/// The current local wall-clock time as `HH:MM:SS:mmm`.
///
/// Written field by field rather than with a `strftime` pattern, which chrono parses again on every call:
/// the producer stamps every POST and the consumer every fetch.
pub fn wall_clock() -> String {
    let now = chrono::Local::now();
    // A leap second shows as second 59 with more than 999 ms in chrono: kept at 999.
    let millis = (now.nanosecond() / 1_000_000).min(999);
    format!("{:02}:{:02}:{:02}:{millis:03}", now.hour(), now.minute(), now.second())
}

/// Adds `field` with the current wall-clock time to an event, replacing any earlier value.
pub fn stamp(event: &mut Map<String, Value>, field: &str) {
    event.insert(field.to_string(), Value::String(wall_clock()));
}

/// A consumed event as the consumer keeps and serves it: JSON text, written out as it is.
///
/// Text, not a parsed [`Value`]: a parsed object is a map of separately allocated keys and values, several
/// times the message's size in memory and a dozen allocations to build, copy and free per event. The text
/// is one allocation, and an answer to `GET /` copies it verbatim.
pub type EventJson = Box<RawValue>;

/// Turns a consumed message into the event the consumer shows, stamped `consumed` with `at`.
///
/// A JSON object is kept as it is, with `"consumed": at` added at its end (replacing an earlier `consumed`,
/// where it was). Anything else (other JSON, text, binary, an empty message) must not stop the partition, so
/// it is kept visibly as `{"raw": <text>, "error": "not a JSON object"}`. The flag says which case it was.
///
/// The message is parsed in full either way; an object without `consumed` (every event the producer writes)
/// is stamped without being rebuilt (see [`fields`]).
pub fn consumed(payload: Option<&[u8]>, at: &str) -> (EventJson, bool) {
    let payload = payload.unwrap_or_default();
    let Ok(text) = std::str::from_utf8(payload) else {
        return (not_an_object(payload, at), false);
    };
    let stamped = match fields::peek(text, "consumed", false) {
        Ok(peeked) if !peeked.stamped => {
            fields::append_stamp(text, "consumed", at).and_then(|s| RawValue::from_string(s).ok())
        }
        Ok(_) => restamped(text, "consumed", at).map(|event| to_json(&Value::Object(event))),
        Err(_) => None,
    };
    match stamped {
        Some(event) => (event, true),
        None => (not_an_object(payload, at), false),
    }
}

/// `text`, a JSON object that already has the field `name`, parsed with the field's value replaced by `at`
/// (in its place): the rare case [`fields::append_stamp`] cannot handle.
fn restamped(text: &str, name: &str, at: &str) -> Option<Map<String, Value>> {
    let mut event: Map<String, Value> = serde_json::from_str(text).ok()?;
    event.insert(name.to_string(), Value::String(at.to_string()));
    Some(event)
}

/// `{"raw": <text>, "error": "not a JSON object", "consumed": at}`: a message that is not a JSON object.
fn not_an_object(payload: &[u8], at: &str) -> EventJson {
    let mut wrapper = Map::new();
    wrapper.insert(
        "raw".into(),
        Value::String(String::from_utf8_lossy(payload).into_owned()),
    );
    wrapper.insert("error".into(), Value::String("not a JSON object".into()));
    wrapper.insert("consumed".into(), Value::String(at.to_string()));
    to_json(&Value::Object(wrapper))
}

/// A value as [`EventJson`] (a JSON value always serializes).
pub fn to_json(value: &Value) -> EventJson {
    serde_json::value::to_raw_value(value).expect("a serde_json::Value serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_clock_has_the_workshop_format() {
        let time = wall_clock();
        let parts: Vec<&str> = time.split(':').collect();
        assert_eq!(parts.len(), 4, "{time}");
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [2, 2, 2, 3],
            "{time}"
        );
        assert!(parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())), "{time}");
        assert!(parts[0].parse::<u8>().unwrap() < 24);
    }

    fn parsed(event: &EventJson) -> Value {
        serde_json::from_str(event.get()).unwrap()
    }

    #[test]
    fn consumed_keeps_objects_and_wraps_anything_else() {
        let (event, ok) = consumed(Some(br#"{"id": 3}"#), "01:02:03:004");
        assert!(ok);
        assert_eq!(event.get(), r#"{"id": 3,"consumed":"01:02:03:004"}"#);
        for payload in [
            &b"[1]"[..],
            b"hello",
            b"\xff\xfe",
            b"",
            b"{\"id\": 1",
            b"{} {}",
            b"\"x\"",
        ] {
            let (event, ok) = consumed(Some(payload), "01:02:03:004");
            assert!(!ok, "{payload:?}");
            let event = parsed(&event);
            assert_eq!(event["error"], "not a JSON object");
            assert!(event["raw"].is_string());
            assert_eq!(event["consumed"], "01:02:03:004");
        }
        assert!(!consumed(None, "01:02:03:004").1);
    }

    #[test]
    fn consumed_stamps_every_shape_of_object() {
        let at = "23:59:59:999";
        let cases = [
            (&b"{}"[..], r#"{"consumed":"23:59:59:999"}"#),
            (b"  { }\n", r#"{"consumed":"23:59:59:999"}"#),
            (
                b"{\"a\":{\"b\":[1,{}]}}\r\n",
                r#"{"a":{"b":[1,{}]},"consumed":"23:59:59:999"}"#,
            ),
            (b"{\"s\":\"}\" }", r#"{"s":"}","consumed":"23:59:59:999"}"#),
        ];
        for (payload, expected) in cases {
            let (event, ok) = consumed(Some(payload), at);
            assert!(ok);
            assert_eq!(event.get(), expected);
        }
        // An earlier `consumed` (also spelled with an escape) is replaced, in its place.
        for payload in [
            &br#"{"consumed":"old","id":1}"#[..],
            br#"{"consum\u0065d":"old","id":1}"#,
        ] {
            let (event, ok) = consumed(Some(payload), at);
            assert!(ok);
            assert_eq!(event.get(), r#"{"consumed":"23:59:59:999","id":1}"#);
        }
    }

    #[test]
    fn stamp_adds_the_field() {
        let mut event = Map::new();
        event.insert("id".into(), 1.into());
        stamp(&mut event, "produced");
        assert!(event["produced"].is_string());
        assert_eq!(event["id"], 1);
    }
}
