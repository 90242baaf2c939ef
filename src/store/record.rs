//! What a Kafka message carries besides its value, as `/events` shows it.

use std::collections::BTreeMap;

use serde::Serialize;

/// A message's key and headers, as text (bytes that are not UTF-8 are shown lossily).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecordMeta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

impl RecordMeta {
    /// The key and headers of a consumed message.
    pub fn of(key: Option<&[u8]>, headers: &BTreeMap<String, Vec<u8>>) -> Self {
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        Self {
            key: key.map(text),
            headers: headers
                .iter()
                .map(|(name, value)| (name.clone(), text(value)))
                .collect(),
        }
    }
}
