//! Offsets that answer no record though the partition goes on: what the fetch loop makes of them.
//!
//! A fetch at `position` returns the first batch that ends at or after it. When that holds no record at
//! `position`, one of three things is true: a transaction that is still open starts there (nothing can be read
//! until it ends), compaction emptied those offsets, or the broker shows a later batch before an earlier one is
//! readable. Apache Kafka never does the last; Tansu does when a partition gets two Produce requests at once.
//! On a compacted topic (see [`crate::consume::compaction`]) such offsets are the cleaner's and are stepped
//! over at once. On any other, stepping over at once would lose that earlier batch, so an offset is stepped
//! over only once it answered no record for [`EMPTY_OFFSET_GRACE`].

use std::time::{Duration, Instant};

use rskafka::client::partition::{OffsetAt, PartitionClient};
use rskafka::record::RecordAndOffset;

use super::super::batches::{self, Fetched, NoRecords};
use super::super::{ONE_BATCH, RETRY_PAUSE};
use super::{fetch_records, FetchLoop};

/// Pause while an open transaction holds the partition, before asking again whether it ended.
const OPEN_TRANSACTION_PAUSE: Duration = Duration::from_millis(100);
/// How long an offset of a topic that is not compacted must keep answering no record, though the partition
/// goes on and nothing holds it, before the loop steps over it as empty. A broker may announce a new end
/// offset a moment before the batch can be read (Tansu under load does): stepping over at once skipped
/// acknowledged events. (On a compacted topic such an offset is the log cleaner's and is stepped over at once.)
pub(super) const EMPTY_OFFSET_GRACE: Duration = Duration::from_secs(2);
/// How soon a position that answered later records but none of its own is fetched again (see
/// [`FetchLoop::gap_ahead`]): the batch hidden there is being written and shows within milliseconds.
pub(super) const GAP_RECHECK: Duration = Duration::from_millis(20);

impl FetchLoop {
    /// The fetch read no record at or after `position`, though the partition goes on. Either an open
    /// transaction holds it there (rskafka reads up to the last stable offset), or the offset holds no
    /// record (a batch emptied by compaction). The last stable offset tells which; ListOffsets "latest" is
    /// it, since rskafka asks `read_committed` (Tansu answers the start of its last batch + 1). An empty offset
    /// is stepped over at once on a compacted topic, elsewhere only once it stayed empty for
    /// [`EMPTY_OFFSET_GRACE`].
    pub(super) async fn past_no_records(&mut self, client: &PartitionClient, position: i64) -> i64 {
        let last_stable = match client.get_offset(OffsetAt::Latest).await {
            Ok(offset) => offset,
            Err(e) => {
                tracing::warn!(partition = self.partition, "cannot read the last stable offset: {e}");
                tokio::time::sleep(RETRY_PAUSE).await;
                return position;
            }
        };
        if batches::no_records(position, last_stable) == NoRecords::OpenTransaction {
            tokio::time::sleep(OPEN_TRANSACTION_PAUSE).await;
            return position;
        }
        // Read after the last stable offset, so a transaction that ended meanwhile is read now.
        match fetch_records(client, position, ONE_BATCH, 1).await {
            Fetched::Records { records, .. } if records.is_empty() => {
                if !self.context.compaction.is_compacted().await && !self.empty_for_the_grace(position) {
                    tokio::time::sleep(OPEN_TRANSACTION_PAUSE).await;
                    return position;
                }
                tracing::debug!(
                    partition = self.partition,
                    offset = position,
                    "stepping over an offset without a record"
                );
                position + 1
            }
            Fetched::Records { records, .. } if self.gap_ahead(&records, position).await => position,
            Fetched::Records { records, .. } => self.deliver(records, position),
            Fetched::ControlBatch => position + 1,
            // The next round meets the problem again and reports it.
            _ => position,
        }
    }

    /// Whether the fetch at `position` brought later records but none at `position`, on a topic that is not
    /// compacted, and that has not lasted [`EMPTY_OFFSET_GRACE`] yet: the records are then held back and the
    /// position fetched again.
    ///
    /// Apache Kafka makes a partition's batches readable in offset order, so a gap there is the log cleaner's,
    /// on a compacted topic, and is stepped over at once. Tansu, given two Produce requests for one partition
    /// at once (a producer's old and new connection, after an outage), can show the later batch while the
    /// earlier is still being written: stepping over at once lost the earlier batch's events (found by the
    /// fault suite, "brokers frozen").
    pub(super) async fn gap_ahead(&mut self, records: &[RecordAndOffset], position: i64) -> bool {
        let Some(first) = batches::gap_before(records, position) else {
            return false;
        };
        if self.context.compaction.is_compacted().await || self.empty_for_the_grace(position) {
            tracing::debug!(
                partition = self.partition,
                position,
                first,
                "stepping over offsets without a record"
            );
            return false;
        }
        tracing::debug!(
            partition = self.partition,
            position,
            first,
            "a later batch shows before the one at the position; fetching again"
        );
        true
    }

    /// Whether `position` has answered no record for [`EMPTY_OFFSET_GRACE`] now (counted from the first time it
    /// did); once it has, the count starts over.
    fn empty_for_the_grace(&mut self, position: i64) -> bool {
        let since = match self.empty_since {
            Some((at, since)) if at == position => since,
            _ => self.empty_since.insert((position, Instant::now())).1,
        };
        let long_enough = since.elapsed() >= EMPTY_OFFSET_GRACE;
        if long_enough {
            self.empty_since = None;
        }
        long_enough
    }
}
