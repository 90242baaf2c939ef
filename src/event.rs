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

use serde_json::{Map, Value};

/// The current local wall-clock time as `HH:MM:SS:mmm`.
pub fn wall_clock() -> String {
    chrono::Local::now().format("%H:%M:%S:%3f").to_string()
}

/// Adds `field` with the current wall-clock time to an event, replacing any earlier value.
pub fn stamp(event: &mut Map<String, Value>, field: &str) {
    event.insert(field.to_string(), Value::String(wall_clock()));
}

/// Turns a consumed message into the event the consumer shows, stamped `consumed`.
///
/// A JSON object is kept as it is. Anything else (other JSON, text, binary, an empty message) must not stop
/// the partition, so it is kept visibly as `{"raw": <text>, "error": "not a JSON object"}`. The flag says
/// which case it was.
pub fn consumed(payload: Option<&[u8]>) -> (Value, bool) {
    let payload = payload.unwrap_or_default();
    let (mut event, is_object) = match serde_json::from_slice::<Value>(payload) {
        Ok(Value::Object(object)) => (object, true),
        _ => {
            let mut wrapper = Map::new();
            wrapper.insert(
                "raw".into(),
                Value::String(String::from_utf8_lossy(payload).into_owned()),
            );
            wrapper.insert("error".into(), Value::String("not a JSON object".into()));
            (wrapper, false)
        }
    };
    stamp(&mut event, "consumed");
    (Value::Object(event), is_object)
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

    #[test]
    fn consumed_keeps_objects_and_wraps_anything_else() {
        let (event, ok) = consumed(Some(br#"{"id": 3}"#));
        assert!(ok);
        assert_eq!(event["id"], 3);
        assert!(event["consumed"].is_string());
        for payload in [&b"[1]"[..], b"hello", b"\xff\xfe", b""] {
            let (event, ok) = consumed(Some(payload));
            assert!(!ok);
            assert_eq!(event["error"], "not a JSON object");
            assert!(event["raw"].is_string() && event["consumed"].is_string());
        }
        assert!(!consumed(None).1);
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
