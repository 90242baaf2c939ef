//! What one fetch brings back, as rskafka decodes a partition's **record batches**.
//!
//! Kafka stores a partition as a sequence of record batches. Producers write *data* batches (compressed as a
//! whole with the producer's codec: none, gzip, snappy, lz4 or zstd); the broker writes *control* batches
//! for transactions: one marker record, COMMIT or ABORT, after a transaction's records. A fetch returns
//! whole batches, starting with the one that holds the requested offset, and a consumer never shows control
//! records to the application: it only steps over their offsets.
//!
//! rskafka 0.6's `PartitionClient::fetch_records` decodes the whole answer at once (`src/client/partition.rs`,
//! `fetch_records` and `extract_records`) and returns the data records plus the partition's high watermark.
//! Three of its ways shape the fetch loop:
//!
//! - **Control batches cannot be decoded.** rskafka reads the marker's version and type from the first
//!   bytes of the batch's records, where Kafka writes a whole record with the marker in its key
//!   (`src/protocol/record.rs`, `ControlBatchRecord::read`), so every real marker fails the *whole* fetch
//!   with "Unknown control batch record version" (upstream: influxdata/rskafka pull request 297).
//! - **Codecs left out of the build fail the whole fetch** too ("Unimplemented compression: Lz4"): kafka-lab
//!   builds rskafka without a C compiler, with gzip and snappy only; lz4 and zstd need the `compression-c`
//!   feature (the `lz4` and `zstd` crates compile C).
//! - **Isolation:** every fetch asks for `read_committed`, so the broker returns records only up to the
//!   *last stable offset* (the first offset of a transaction still open). But rskafka ignores the aborted
//!   transactions the broker lists, so the records of an aborted transaction are returned like any others.
//!
//! So kafka-lab consumes like the Java consumer with its default `isolation.level=read_uncommitted`
//! (Kafka 4.4): aborted records are events too, control records never are. One difference remains: a
//! transaction's records arrive once it is committed or aborted, not while it is open.
//!
//! A fetch that failed on an unreadable batch is asked again for that one batch: a fetch limited to one byte
//! returns exactly the first whole batch at the offset (Kafka returns at least one batch, however small the
//! limit). Its answer tells what sits at the position: data (delivered, and the loop goes on), a marker (a
//! control batch holds one record, so the next offset is one further), or a batch this build cannot
//! decompress (the partition waits and `/status` says why; its other partitions go on).

use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::record::RecordAndOffset;

/// What a fetch at a position found.
#[derive(Debug)]
pub enum Fetched {
    /// The data records at or after the position (none when there is nothing new), and the high watermark.
    Records {
        records: Vec<RecordAndOffset>,
        high_watermark: i64,
    },
    /// A transaction marker (control batch) that rskafka cannot decode was in the answer.
    ControlBatch,
    /// A batch compressed with a codec this build cannot decompress was in the answer.
    Compressed(Codec),
    /// The position is outside the partition's offsets (deleted by retention, or never written).
    OutOfRange,
    /// Anything else: broker unreachable, leader moved, ...
    Failed(KafkaError),
}

impl Fetched {
    /// Sorts a failed fetch into what the fetch loop can act on.
    pub fn from_error(error: KafkaError) -> Self {
        if let KafkaError::ServerError {
            protocol_error: ProtocolError::OffsetOutOfRange,
            ..
        } = error
        {
            return Self::OutOfRange;
        }
        match unreadable_batch(&error.to_string()) {
            Some(Unreadable::ControlBatch) => Self::ControlBatch,
            Some(Unreadable::Codec(codec)) => Self::Compressed(codec),
            None => Self::Failed(error),
        }
    }

    /// Whether one batch in the answer could not be read, so that the batch at the position must be fetched
    /// alone to know which it was.
    pub fn hit_unreadable_batch(&self) -> bool {
        matches!(self, Self::ControlBatch | Self::Compressed(_))
    }
}

/// A compression codec, by the name Kafka's `compression.type` uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec(pub String);

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A batch rskafka failed to decode.
#[derive(Debug, PartialEq, Eq)]
enum Unreadable {
    ControlBatch,
    Codec(Codec),
}

/// Reads rskafka's error text: its decoding errors are not public types, only their messages are
/// ("... Malformed data: Unimplemented compression: Lz4", "... Unknown control batch record version: 8192",
/// "... Expected 1 control record but got 0" for a marker emptied by compaction).
fn unreadable_batch(error: &str) -> Option<Unreadable> {
    if let Some((_, codec)) = error.split_once("Unimplemented compression: ") {
        let name = codec.split_whitespace().next().unwrap_or(codec);
        return Some(Unreadable::Codec(Codec(name.to_lowercase())));
    }
    let control = error.contains("Unknown control batch record") || error.contains("control record but got");
    control.then_some(Unreadable::ControlBatch)
}

/// The position after a batch of delivered records: one past the last record at or after `position`, or
/// `position` itself when there was none.
pub fn position_after(records: &[RecordAndOffset], position: i64) -> i64 {
    records
        .iter()
        .map(|r| r.offset + 1)
        .filter(|&next| next > position)
        .max()
        .unwrap_or(position)
}

/// The offset of the first record when the fetch at `position` brought none at `position` itself but later
/// ones: a gap before them (see `fetch_loop::gaps` for what it can mean). `None` when the records start at
/// `position` or there are none at or after it.
pub fn gap_before(records: &[RecordAndOffset], position: i64) -> Option<i64> {
    let first = records
        .iter()
        .map(|r| r.offset)
        .filter(|&offset| offset >= position)
        .min()?;
    (first > position).then_some(first)
}

/// What a fetch that returned no record although the partition goes on (`high_watermark > position`) means,
/// given the partition's last stable offset read *after* that fetch.
#[derive(Debug, PartialEq, Eq)]
pub enum NoRecords {
    /// A transaction that is still open starts at or before `position`: nothing can be read until it ends.
    OpenTransaction,
    /// Everything before the last stable offset is decided, so a fetch at `position` now returns its batch:
    /// fetch it again, and if it still holds no record at `position`, the offset is empty (an emptied
    /// batch) and the next one is read.
    Readable,
}

/// Tells an open transaction from a batch with no records at `position`.
pub fn no_records(position: i64, last_stable_offset: i64) -> NoRecords {
    if last_stable_offset > position {
        NoRecords::Readable
    } else {
        NoRecords::OpenTransaction
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rskafka::chrono::{TimeZone, Utc};
    use rskafka::record::Record;

    use super::*;

    fn at(offset: i64) -> RecordAndOffset {
        RecordAndOffset {
            record: Record {
                key: None,
                value: Some(b"{}".to_vec()),
                headers: BTreeMap::new(),
                timestamp: Utc.timestamp_millis_opt(0).unwrap(),
            },
            offset,
        }
    }

    #[test]
    fn reads_rskafkas_decoding_errors() {
        // The exact texts rskafka 0.6 gave for batches written by Apache Kafka 4.4's Java producer.
        let lz4 =
            "Request error: Cannot read versioned data: Read error: Malformed data: Unimplemented compression: Lz4";
        assert_eq!(unreadable_batch(lz4), Some(Unreadable::Codec(Codec("lz4".into()))));
        let zstd = lz4.replace("Lz4", "Zstd");
        assert_eq!(unreadable_batch(&zstd), Some(Unreadable::Codec(Codec("zstd".into()))));
        let marker = "Request error: Cannot read versioned data: Read error: Malformed data: \
                      Unknown control batch record version: 8192";
        assert_eq!(unreadable_batch(marker), Some(Unreadable::ControlBatch));
        let emptied = "Request error: Cannot read versioned data: Read error: Malformed data: \
                       Expected 1 control record but got 0";
        assert_eq!(unreadable_batch(emptied), Some(Unreadable::ControlBatch));
        assert_eq!(unreadable_batch("Connection error: connection refused"), None);
        assert_eq!(
            unreadable_batch("Malformed data: CRC error, got 0x1, expected 0x2"),
            None
        );
    }

    #[test]
    fn only_batch_problems_call_for_a_second_look() {
        assert!(Fetched::ControlBatch.hit_unreadable_batch());
        assert!(Fetched::Compressed(Codec("zstd".into())).hit_unreadable_batch());
        assert!(!Fetched::OutOfRange.hit_unreadable_batch());
        let records = Fetched::Records {
            records: vec![],
            high_watermark: 3,
        };
        assert!(!records.hit_unreadable_batch());
    }

    #[test]
    fn position_moves_past_the_last_record() {
        assert_eq!(position_after(&[at(4), at(5), at(6)], 4), 7);
        // rskafka returns a batch's records from the requested offset on; a stray earlier one changes nothing.
        assert_eq!(position_after(&[at(2), at(3)], 3), 4);
        assert_eq!(position_after(&[at(2)], 3), 3);
        // A gap left by compaction: the next record decides.
        assert_eq!(position_after(&[at(9)], 5), 10);
    }

    #[test]
    fn a_gap_is_records_that_start_past_the_position() {
        assert_eq!(gap_before(&[at(4), at(5)], 4), None);
        assert_eq!(gap_before(&[at(7), at(8)], 4), Some(7));
        // A stray earlier record does not hide the gap; none at all is no gap.
        assert_eq!(gap_before(&[at(2), at(9)], 4), Some(9));
        assert_eq!(gap_before(&[at(2), at(3)], 4), None);
        assert_eq!(gap_before(&[], 4), None);
    }

    #[test]
    fn no_records_is_an_open_transaction_or_an_empty_offset() {
        // Data 0..=2 of an open transaction: the last stable offset stays at 0 until it ends.
        assert_eq!(no_records(0, 0), NoRecords::OpenTransaction);
        // Read up to 5; records 5..=7 belong to a transaction that is still open.
        assert_eq!(no_records(5, 5), NoRecords::OpenTransaction);
        // The transaction ended: everything below 9 is decided, offset 5 can be read.
        assert_eq!(no_records(5, 9), NoRecords::Readable);
    }
}
