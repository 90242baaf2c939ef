//! The fetch loop of one owned partition: find the leader, long-poll it, hand each message to the store.
//!
//! Before each fetch the loop waits while the store is full of events no reader has had (backpressure:
//! nothing is dropped, see [`crate::store`]), and asks for no more bytes than the store has room for.
//!
//! The loop looks for the partition's leader only right after the topic list showed the partition (see
//! [`crate::notices`]: a Metadata request naming a topic that was deleted would let the broker create it
//! again). When the broker says it does not know the topic, or the topic watch finds it gone, the loop drops
//! its leader connection and waits until a list shows the topic again.
//!
//! When its position is no longer in the log (the broker answers OFFSET_OUT_OF_RANGE, or, as Tansu does,
//! keeps answering an empty fetch whose end offset is below the position: the log was truncated or the
//! topic created again), the loop applies the reset policy, visibly (see [`crate::notices`]).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::PartitionClient;
use rskafka::record::RecordAndOffset;

use super::{listed_partition_client, lock, resolve_reset, FetchContext, Progress, StartError};
use super::{FETCH_MAX_BYTES, RETRY_PAUSE};
use crate::event;
use crate::notices::{Reset, TOPIC_CHECK};

/// How long fetches must keep showing an end offset below the position before the position counts as
/// past the end of the log (a new leader may briefly report a lower end while it catches up).
const PAST_END_GRACE: Duration = Duration::from_secs(2);

/// What an event weighs in the store beyond its message's bytes: the `consumed` stamp and bookkeeping.
const EVENT_OVERHEAD: usize = 64;

/// The fetch loop of one partition.
pub(super) struct FetchLoop {
    pub(super) context: FetchContext,
    pub(super) partition: i32,
    pub(super) progress: Arc<Mutex<BTreeMap<i32, Progress>>>,
}

impl FetchLoop {
    /// Runs until cancelled (the member stops the loops of a generation before it commits).
    ///
    /// A leader connection that failed once is dropped, never used again: rskafka would look the leader up
    /// again with a Metadata request naming the topic, which lets the broker create a topic that was just
    /// deleted. A new one is made only right after a topic list showed the partition.
    pub(super) async fn run(self, start: i64) {
        let mut position = start;
        self.report(position, None);
        loop {
            let client = self.partition_client().await;
            match self.fetch_from(&client, &mut position).await {
                Ok(()) => tracing::warn!(partition = self.partition, "the topic is gone; waiting for it"),
                Err(e) => tracing::warn!(partition = self.partition, "fetch failed, connecting again: {e}"),
            }
            drop(client);
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// Fetches from one leader connection until it fails (`Err`) or the topic is gone (`Ok`: the watch
    /// says so, or the broker no longer knows it).
    async fn fetch_from(&self, client: &PartitionClient, position: &mut i64) -> Result<(), KafkaError> {
        let mut past_end_since = None;
        loop {
            if self.context.notices.topic_missing() {
                return Ok(());
            }
            // Backpressure: no fetch while unread events fill the store.
            self.context.store.wait_for_room().await;
            let max_bytes = self.context.store.room_bytes().clamp(2, FETCH_MAX_BYTES as usize) as i32;
            let max_wait = self.context.max_wait.as_millis() as i32;
            let fetched = client.fetch_records(*position, 1..max_bytes, max_wait).await;
            match fetched {
                Ok((records, high_watermark)) if records.is_empty() && high_watermark < *position => {
                    let since = *past_end_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= PAST_END_GRACE {
                        let reason = format!(
                            "offset {position} is past the end of the log ({high_watermark}): the log was \
                             truncated or the topic created again"
                        );
                        *position = self.reset(client, *position, false, &reason).await?;
                        past_end_since = None;
                    }
                    self.report(*position, Some(high_watermark));
                }
                Ok((records, high_watermark)) => {
                    past_end_since = None;
                    *position = self.deliver(records, *position);
                    self.report(*position, Some(high_watermark));
                }
                Err(KafkaError::ServerError {
                    protocol_error: ProtocolError::OffsetOutOfRange,
                    ..
                }) => {
                    let reason = format!("offset {position} is out of range (no longer in the log, or past its end)");
                    *position = self.reset(client, *position, true, &reason).await?;
                    self.report(*position, None);
                }
                Err(KafkaError::ServerError {
                    protocol_error: ProtocolError::UnknownTopicOrPartition,
                    ..
                }) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Hands fetched messages to the store; returns the new position.
    fn deliver(&self, records: Vec<RecordAndOffset>, mut position: i64) -> i64 {
        let start = position;
        for record in records.into_iter().filter(|r| r.offset >= start) {
            let size = record.record.value.as_ref().map_or(0, Vec::len) + EVENT_OVERHEAD;
            let (event, is_json_object) = event::consumed(record.record.value.as_deref());
            if !is_json_object {
                self.context.invalid_events.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    partition = self.partition,
                    offset = record.offset,
                    "message is not a JSON object"
                );
            }
            self.context.store.push(self.partition, record.offset, event, size);
            position = record.offset + 1;
        }
        position
    }

    fn report(&self, position: i64, high_watermark: Option<i64>) {
        let mut progress = lock(&self.progress);
        let entry = progress.entry(self.partition).or_insert(Progress {
            position,
            high_watermark,
        });
        entry.position = position;
        entry.high_watermark = high_watermark.or(entry.high_watermark);
    }

    /// A client for this partition's leader, made only right after a topic list showed the partition, and
    /// retried until one can be made (or the loop is cancelled).
    async fn partition_client(&self) -> PartitionClient {
        loop {
            match listed_partition_client(&self.context, self.partition).await {
                Ok(client) => return client,
                Err(StartError::NotListed { .. }) => tokio::time::sleep(TOPIC_CHECK).await,
                Err(e) => {
                    tracing::warn!(
                        partition = self.partition,
                        "cannot reach the partition leader, retrying: {e}"
                    );
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
    }

    /// The reset policy's position for a partition whose position `from` is no longer in the log: a visible
    /// reset (logged, and listed in `/status`). `same_log`: whether `from` can belong to the log as it is.
    async fn reset(
        &self,
        client: &PartitionClient,
        from: i64,
        same_log: bool,
        reason: &str,
    ) -> Result<i64, KafkaError> {
        let (to, log_start) = resolve_reset(client, self.context.reset).await?;
        self.context.notices.reset(Reset {
            partition: self.partition,
            from,
            to,
            log_start,
            same_log,
            reason,
        });
        Ok(to)
    }
}
