//! The fetch loop of one owned partition: find the leader, long-poll it, hand each message to the store.
//!
//! The loop looks for the partition's leader only right after the topic list showed the partition (see
//! [`crate::notices`]: a Metadata request naming a topic that was deleted would let the broker create it
//! again). When the broker says it does not know the topic, or the topic watch finds it gone, the loop drops
//! its leader connection and waits until a list shows the topic again.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::PartitionClient;
use rskafka::record::RecordAndOffset;

use super::{listed_partition_client, lock, resolve_reset, FetchContext, Progress, StartError};
use super::{FETCH_MAX_BYTES, RETRY_PAUSE};
use crate::event;
use crate::notices::TOPIC_CHECK;

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
    pub(super) async fn run(self, start: i64) {
        let mut position = start;
        self.report(position, None);
        loop {
            let client = self.partition_client().await;
            self.fetch_from(&client, &mut position).await;
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// Fetches from one leader connection until the topic is gone (or the broker no longer knows it): the
    /// connection is then given up, and the loop waits for a list that shows the topic.
    async fn fetch_from(&self, client: &PartitionClient, position: &mut i64) {
        loop {
            if self.context.notices.topic_missing() {
                return;
            }
            let max_wait = self.context.max_wait.as_millis() as i32;
            match client.fetch_records(*position, 1..FETCH_MAX_BYTES, max_wait).await {
                Ok((records, high_watermark)) => {
                    *position = self.deliver(records, *position);
                    self.report(*position, Some(high_watermark));
                }
                Err(KafkaError::ServerError {
                    protocol_error: ProtocolError::OffsetOutOfRange,
                    ..
                }) => {
                    tracing::warn!(
                        partition = self.partition,
                        position,
                        "offset out of range; applying the reset policy"
                    );
                    *position = self.reset_position(client).await;
                    self.report(*position, None);
                }
                Err(KafkaError::ServerError {
                    protocol_error: ProtocolError::UnknownTopicOrPartition,
                    ..
                }) => {
                    tracing::warn!(
                        partition = self.partition,
                        "the broker does not know the topic (deleted?)"
                    );
                    return;
                }
                Err(e) => {
                    tracing::warn!(partition = self.partition, "fetch failed, retrying: {e}");
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
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

    /// The start position when the group has no usable committed offset: the reset policy.
    async fn reset_position(&self, client: &PartitionClient) -> i64 {
        loop {
            match resolve_reset(client, self.context.reset).await {
                Ok(position) => {
                    tracing::info!(partition = self.partition, position, policy = ?self.context.reset, "starting position");
                    return position;
                }
                Err(e) => {
                    tracing::warn!(
                        partition = self.partition,
                        "cannot resolve the start offset, retrying: {e}"
                    );
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
    }
}
