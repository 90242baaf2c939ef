//! Reading the partitions this member owns: one fetch loop per partition.
//!
//! Within a consumer group each partition has exactly one owner per generation. For every partition it
//! owns, the member starts a fetch loop that long-polls the partition's leader (rskafka `fetch_records`),
//! turns each message into an event stamped `consumed`, and records its **position**: the offset of the
//! next message to read. The member commits those positions to the group (auto-commit), so a later owner
//! of the partition — this process after a restart, or another member after a rebalance — continues
//! from there.
//!
//! Where a partition has no committed offset yet, the **reset policy** decides the start: `earliest` (the
//! oldest message kept) or `latest` (only messages produced from now on). "Latest" is read from the high
//! watermark that every fetch response carries, which is right on every broker.
//!
//! When the group rebalances, [`Fetchers::stop`] cancels every loop and waits until all are gone, so a
//! partition that was taken away is never fetched again by this member.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::Client;
use rskafka::record::RecordAndOffset;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::OffsetReset;
use crate::event;
use crate::store::Store;

/// Pause after a failed fetch before trying again.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// How far a fetch loop has read one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The offset of the next message to read: what gets committed.
    pub position: i64,
    /// The partition's end offset as of the last fetch.
    pub high_watermark: Option<i64>,
}

/// What every fetch loop shares: settings, where events go, and where progress is reported.
#[derive(Clone)]
pub struct FetchContext {
    pub client: Arc<Client>,
    pub topic: String,
    pub max_wait: Duration,
    /// A fetch is answered once this much data is there (or `max_wait` passed) and returns at most
    /// `max_bytes`: `min_bytes..max_bytes`.
    pub bytes: std::ops::Range<i32>,
    pub reset: OffsetReset,
    pub store: Arc<Store>,
    /// Messages that were not JSON objects, over the life of the process.
    pub invalid_events: Arc<AtomicU64>,
}

/// The fetch loops of one generation.
pub struct Fetchers {
    tasks: JoinSet<()>,
    cancel: CancellationToken,
    progress: Arc<Mutex<BTreeMap<i32, Progress>>>,
}

impl Fetchers {
    /// Starts one fetch loop per partition, reading from the given offsets.
    pub fn start(context: &FetchContext, starts: &BTreeMap<i32, i64>) -> Self {
        let cancel = CancellationToken::new();
        let progress = Arc::new(Mutex::new(BTreeMap::new()));
        let mut tasks = JoinSet::new();
        for (&partition, &start) in starts {
            let fetch = FetchLoop {
                context: context.clone(),
                partition,
                progress: Arc::clone(&progress),
            };
            let cancel = cancel.clone();
            tasks.spawn(async move {
                tokio::select! {
                    () = fetch.run(start) => {}
                    () = cancel.cancelled() => {}
                }
            });
        }
        Self {
            tasks,
            cancel,
            progress,
        }
    }

    /// The current progress of every partition that has a known position.
    pub fn progress(&self) -> BTreeMap<i32, Progress> {
        lock(&self.progress).clone()
    }

    /// Stops every fetch loop and waits until they are gone; returns their final progress.
    pub async fn stop(mut self) -> BTreeMap<i32, Progress> {
        self.cancel.cancel();
        while self.tasks.join_next().await.is_some() {}
        self.progress()
    }
}

/// The fetch loop of one partition.
struct FetchLoop {
    context: FetchContext,
    partition: i32,
    progress: Arc<Mutex<BTreeMap<i32, Progress>>>,
}

impl FetchLoop {
    async fn run(self, start: i64) {
        let client = self.partition_client().await;
        let mut position = start;
        self.report(position, None);
        loop {
            let max_wait = self.context.max_wait.as_millis() as i32;
            let bytes = self.context.bytes.clone();
            match client.fetch_records(position, bytes, max_wait).await {
                Ok((records, high_watermark)) => {
                    position = self.deliver(records, position);
                    self.report(position, Some(high_watermark));
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
                    position = self.reset_position(&client).await;
                    self.report(position, None);
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
            let (event, is_json_object) = event::consumed(record.record.value.as_deref());
            if !is_json_object {
                self.context.invalid_events.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    partition = self.partition,
                    offset = record.offset,
                    "message is not a JSON object"
                );
            }
            self.context.store.push(self.partition, record.offset, event);
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

    /// A client for this partition's leader, retrying until one can be made (or the loop is cancelled).
    async fn partition_client(&self) -> PartitionClient {
        loop {
            let topic = self.context.topic.clone();
            match self
                .context
                .client
                .partition_client(topic, self.partition, UnknownTopicHandling::Retry)
                .await
            {
                Ok(client) => return client,
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

/// Where to start reading each partition: its committed offset, or where the reset policy says for a
/// partition the group has never committed.
pub async fn starting_offsets(
    context: &FetchContext,
    committed: &BTreeMap<i32, Option<i64>>,
) -> Result<BTreeMap<i32, i64>, KafkaError> {
    let mut starts = BTreeMap::new();
    for (&partition, &offset) in committed {
        let start = match offset {
            Some(offset) => offset,
            None => {
                let topic = context.topic.clone();
                let client = context
                    .client
                    .partition_client(topic, partition, UnknownTopicHandling::Retry)
                    .await?;
                let start = resolve_reset(&client, context.reset).await?;
                tracing::info!(partition, start, policy = ?context.reset, "no committed offset; starting position");
                start
            }
        };
        starts.insert(partition, start);
    }
    Ok(starts)
}

/// `earliest`: the oldest offset kept. `latest`: the high watermark of a one-byte fetch from the earliest
/// offset (ListOffsets "latest" is not right on every broker; the fetch's high watermark is).
async fn resolve_reset(client: &PartitionClient, reset: OffsetReset) -> Result<i64, KafkaError> {
    let earliest = client.get_offset(OffsetAt::Earliest).await?;
    match reset {
        OffsetReset::Earliest => Ok(earliest),
        OffsetReset::Latest => {
            let (_, high_watermark) = client.fetch_records(earliest, 1..2, 1).await?;
            Ok(high_watermark)
        }
    }
}

/// Locks a mutex, recovering the data if a holder panicked (progress stays usable).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
