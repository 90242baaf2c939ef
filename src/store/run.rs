//! One run of the consumer (a process start), so that cursors from another run are recognised.

use std::time::{SystemTime, UNIX_EPOCH};

/// One run of the consumer: an id for the answers, and the sequence number its first event gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub id: String,
    pub first_seq: u64,
}

impl Run {
    /// A run starting now. Its sequence numbers start at the start time in milliseconds times 1000, so
    /// runs never share numbers unless one consumed over 1000 events per millisecond of its life; the
    /// numbers stay below 2^53, where JavaScript still counts exactly, until the year 2255.
    pub fn start() -> Self {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64);
        Self {
            id: format!("{millis:x}-{:x}", std::process::id()),
            first_seq: millis * 1000 + 1,
        }
    }
}
