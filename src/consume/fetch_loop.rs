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
//! What a fetch brings is sorted by [`super::batches`]: data records are delivered, a transaction marker is
//! stepped over, a batch this build cannot decompress holds the partition (said in the log and in
//! `/status`), and after an unreadable batch the loop fetches one batch at a time until it caught up. An offset
//! that answers no record though later ones do is not stepped over at once ([`gaps`]).
//!
//! When its position is no longer in the log (the broker answers OFFSET_OUT_OF_RANGE, or, as Tansu does,
//! keeps answering an empty fetch whose end offset is below the position: the log was truncated or the
//! topic created again), the loop applies the reset policy, visibly (see [`crate::notices`]).

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{OffsetAt, PartitionClient};
use rskafka::record::RecordAndOffset;

use super::batches::{self, Codec, Fetched};
use super::start::{listed_partition_client, resolve_reset};
use super::{lock, FetchContext, Progress, StartError, ONE_BATCH, RETRY_PAUSE};
use crate::event;
use crate::notices::{Reset, TOPIC_CHECK};
use crate::store::{NewEvent, RecordMeta};
use gaps::GAP_RECHECK;

mod gaps;

/// How long fetches must keep showing an end offset below the position before the position counts as
/// past the end of the log (a new leader may briefly report a lower end while it catches up).
const PAST_END_GRACE: Duration = Duration::from_secs(2);
/// What an event weighs in the store beyond its message's bytes: the `consumed` stamp and bookkeeping.
const EVENT_OVERHEAD: usize = 64;
/// Pause before trying again a batch this build cannot decompress (it stays unreadable until the position
/// changes, e.g. retention deletes it), so the loop neither spins nor floods the log.
const UNREADABLE_PAUSE: Duration = Duration::from_secs(5);
/// The fetch loop of one partition.
pub(super) struct FetchLoop {
    context: FetchContext,
    partition: i32,
    progress: Arc<Mutex<BTreeMap<i32, Progress>>>,
    /// The offset of an unreadable batch already reported, so that retries are not logged again.
    stalled_at: Option<i64>,
    /// Fetch one batch at a time: from an unreadable batch (most often a transaction marker) until caught up,
    /// so that a log dense with markers is not fetched a megabyte at a time only to fail at the next marker.
    batch_by_batch: bool,
    /// Since when fetches have shown an end offset below the position.
    past_end_since: Option<Instant>,
    /// The offset that answered no record, and since when (see [`gaps::EMPTY_OFFSET_GRACE`]).
    empty_since: Option<(i64, Instant)>,
}

/// Why a fetch loop let go of its leader connection, other than an error.
enum Released {
    TopicGone,
    Renewal,
}

impl FetchLoop {
    pub(super) fn new(context: FetchContext, partition: i32, progress: Arc<Mutex<BTreeMap<i32, Progress>>>) -> Self {
        Self {
            context,
            partition,
            progress,
            stalled_at: None,
            batch_by_batch: false,
            past_end_since: None,
            empty_since: None,
        }
    }

    /// Runs until cancelled (the member stops the loops of a generation before it commits).
    ///
    /// A leader connection that failed once is dropped, never used again: rskafka would look the leader up
    /// again with a Metadata request naming the topic, which lets the broker create a topic that was just
    /// deleted. A new one is made only right after a topic list showed the partition.
    pub(super) async fn run(mut self, start: i64) {
        let mut position = start;
        self.report(position, None, None);
        loop {
            let client = self.partition_client().await;
            match self.fetch_from(&client, &mut position).await {
                Ok(Released::TopicGone) => {
                    tracing::warn!(partition = self.partition, "the topic is gone; waiting for it")
                }
                Ok(Released::Renewal) => {
                    tracing::debug!(
                        partition = self.partition,
                        "a new leader connection before the SASL session ends"
                    );
                    continue;
                }
                Err(e) => tracing::warn!(partition = self.partition, "fetch failed, connecting again: {e}"),
            }
            drop(client);
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// Fetches from one leader connection until it fails (`Err`), the topic is gone (the watch says so, or
    /// the broker no longer knows it), or the connection is due for renewal (KIP-368, see [`crate::kafka::Renewal`]).
    async fn fetch_from(&mut self, client: &PartitionClient, position: &mut i64) -> Result<Released, KafkaError> {
        self.past_end_since = None;
        let connected = Instant::now();
        loop {
            if self.context.notices.topic_missing() {
                return Ok(Released::TopicGone);
            }
            // Backpressure: no fetch while unread events fill the store.
            self.context.store.wait_for_room().await;
            if self.context.renewal.due(connected) {
                return Ok(Released::Renewal);
            }
            match self.fetch(client, *position).await {
                Fetched::Records {
                    records,
                    high_watermark,
                } if records.is_empty() && high_watermark < *position => {
                    *position = self.past_end(client, *position, high_watermark).await?;
                }
                Fetched::Records {
                    records,
                    high_watermark,
                } => {
                    self.past_end_since = None;
                    self.stalled_at = None;
                    if self.gap_ahead(&records, *position).await {
                        tokio::time::sleep(GAP_RECHECK).await;
                        continue;
                    }
                    let mut next = self.deliver(records, *position);
                    if next == *position && high_watermark > *position {
                        next = self.past_no_records(client, *position).await;
                    }
                    if next >= high_watermark {
                        self.batch_by_batch = false;
                    }
                    *position = next;
                    self.report(next, Some(high_watermark), None);
                }
                Fetched::ControlBatch => {
                    // A control batch holds one record, the marker, at `position` (the fetched batch holds it).
                    tracing::debug!(
                        partition = self.partition,
                        offset = *position,
                        "stepping over a transaction marker"
                    );
                    *position += 1;
                    self.report(*position, None, None);
                }
                Fetched::Compressed(codec) => self.stall(client, *position, &codec).await,
                Fetched::OutOfRange => {
                    let reason = format!("offset {position} is out of range (no longer in the log, or past its end)");
                    *position = self.reset(client, *position, true, &reason).await?;
                    self.report(*position, None, None);
                }
                Fetched::Failed(KafkaError::ServerError {
                    protocol_error: ProtocolError::UnknownTopicOrPartition,
                    ..
                }) => return Ok(Released::TopicGone),
                Fetched::Failed(e) => {
                    self.report(*position, None, Some(format!("fetch failed: {e}")));
                    return Err(e);
                }
            }
        }
    }

    /// Fetches at `position`, at most `max_bytes` and no more than the store has room for. When a
    /// batch in the answer cannot be read, fetches the batch at `position` alone: the batches before the
    /// unreadable one are still delivered, and the answer says what sits at `position`. From then on, until
    /// caught up, one batch at a time.
    async fn fetch(&mut self, client: &PartitionClient, position: i64) -> Fetched {
        let max_wait = self.context.max_wait.as_millis() as i32;
        if !self.batch_by_batch {
            let room = self
                .context
                .store
                .room_bytes()
                .clamp(1, self.context.max_bytes as usize) as i32;
            let bytes = self.context.min_bytes.min(room)..room;
            let fetched = fetch_records(client, position, bytes, max_wait).await;
            if !fetched.hit_unreadable_batch() {
                return fetched;
            }
            self.batch_by_batch = true;
        }
        fetch_records(client, position, ONE_BATCH, max_wait).await
    }

    /// An empty fetch whose end offset is below `position`: once that lasted [`PAST_END_GRACE`], the log was
    /// truncated or the topic created again, and the reset policy applies. Returns the position to go on from.
    async fn past_end(
        &mut self,
        client: &PartitionClient,
        position: i64,
        high_watermark: i64,
    ) -> Result<i64, KafkaError> {
        let since = *self.past_end_since.get_or_insert_with(Instant::now);
        let mut next = position;
        if since.elapsed() >= PAST_END_GRACE {
            let reason = format!(
                "offset {position} is past the end of the log ({high_watermark}): the log was truncated or the \
                 topic created again"
            );
            next = self.reset(client, position, false, &reason).await?;
            self.past_end_since = None;
        }
        self.report(next, Some(high_watermark), None);
        Ok(next)
    }

    /// The batch at `position` is compressed with a codec this build cannot decompress: say so (in the
    /// log once, in `/status` until it is read) and wait before trying again. Skipping it would lose its
    /// records without a trace; the other partitions go on meanwhile.
    async fn stall(&mut self, client: &PartitionClient, position: i64, codec: &Codec) {
        let problem = format!(
            "topic {}, partition {}, offset {position}: the record batch there is compressed with {codec}, \
             which this build cannot decompress (the default build reads gzip and snappy; build with \
             `--features compression-c` for lz4 and zstd); retrying every {} s",
            self.context.topic,
            self.partition,
            UNREADABLE_PAUSE.as_secs()
        );
        if self.stalled_at != Some(position) {
            tracing::error!("{problem}");
            self.stalled_at = Some(position);
        }
        // The failed fetch's high watermark is lost; the end offset from ListOffsets shows the lag instead.
        let end = client.get_offset(OffsetAt::Latest).await.ok();
        self.report(position, end, Some(problem));
        tokio::time::sleep(UNREADABLE_PAUSE).await;
    }

    /// Hands fetched messages to the store, all stamped with the same `consumed` time (they arrived
    /// together); returns the new position.
    fn deliver(&self, records: Vec<RecordAndOffset>, position: i64) -> i64 {
        let next = batches::position_after(&records, position);
        let at = event::wall_clock();
        let mut events = Vec::with_capacity(records.len());
        for RecordAndOffset { record, offset } in records.into_iter().filter(|r| r.offset >= position) {
            let meta = RecordMeta::of(record.key.as_deref(), &record.headers);
            let bytes = record.value.as_ref().map_or(0, Vec::len)
                + record.key.as_ref().map_or(0, Vec::len)
                + record.headers.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
                + EVENT_OVERHEAD;
            let (event, is_json_object) = event::consumed(record.value.as_deref(), &at);
            if !is_json_object {
                self.context.invalid_events.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(partition = self.partition, offset, "message is not a JSON object");
            }
            events.push(NewEvent {
                offset,
                meta,
                event,
                bytes,
            });
        }
        self.context.store.push_events(self.partition, events);
        next
    }

    /// Publishes this partition's progress; a `None` high watermark keeps the last one known.
    fn report(&self, position: i64, high_watermark: Option<i64>, error: Option<String>) {
        let mut progress = lock(&self.progress);
        let entry = progress.entry(self.partition).or_insert(Progress {
            position,
            high_watermark,
            error: None,
        });
        entry.position = position;
        entry.high_watermark = high_watermark.or(entry.high_watermark);
        entry.error = error;
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

/// One fetch at `position` that waits for `bytes.start` bytes (or `max_wait_ms`) and returns at most
/// `bytes.end`, sorted into what the fetch loop acts on.
pub(super) async fn fetch_records(
    client: &PartitionClient,
    position: i64,
    bytes: Range<i32>,
    max_wait_ms: i32,
) -> Fetched {
    // rskafka's range excludes its end; ours includes it.
    match client
        .fetch_records(position, bytes.start..bytes.end + 1, max_wait_ms)
        .await
    {
        Ok((records, high_watermark)) => Fetched::Records {
            records,
            high_watermark,
        },
        Err(e) => Fetched::from_error(e),
    }
}
