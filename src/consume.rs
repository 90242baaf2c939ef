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
//! partition that was taken away is never fetched again by this member. Under the consumer protocol only
//! the partitions that move are stopped ([`Fetchers::remove`]), the same way, one by one.
//!
//! The group member sees all of this through the [`DataPath`] trait (partition counts, where to start, the
//! fetch loops), which [`FetchContext`] implements with rskafka; the member's unit tests script it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::Client;
use rskafka::record::RecordAndOffset;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::OffsetReset;
use crate::event;
use crate::group::error::GroupError;
use crate::kafka;
use crate::store::Store;

/// The most bytes one fetch may return.
const FETCH_MAX_BYTES: i32 = 1024 * 1024;
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
    pub reset: OffsetReset,
    pub store: Arc<Store>,
    /// Messages that were not JSON objects, over the life of the process.
    pub invalid_events: Arc<AtomicU64>,
}

/// What a group member needs of the data path: the topic, partition counts (the leader assigns from them),
/// where each owned partition starts, and the fetch loops.
pub trait DataPath: Send + Sync + 'static {
    /// The subscribed topic.
    fn topic(&self) -> &str;

    /// Every topic's partition count, from one Metadata request.
    fn partition_counts(&self) -> impl Future<Output = Result<BTreeMap<String, i32>, GroupError>> + Send;

    /// Where to start each partition: its committed offset, or the reset policy's choice where it has none.
    fn starting_offsets(
        &self,
        committed: &BTreeMap<i32, Option<i64>>,
    ) -> impl Future<Output = Result<BTreeMap<i32, i64>, GroupError>> + Send;

    /// Starts one fetch loop per partition, from `starts`.
    fn start_fetching(&self, starts: &BTreeMap<i32, i64>) -> Fetchers;

    /// Messages that were not JSON objects, over the life of the process.
    fn invalid_events(&self) -> u64;
}

impl DataPath for FetchContext {
    fn topic(&self) -> &str {
        &self.topic
    }

    async fn partition_counts(&self) -> Result<BTreeMap<String, i32>, GroupError> {
        let counts = kafka::partition_counts(&self.client)
            .await
            .map_err(|e| GroupError::Retry {
                context: "Metadata",
                reason: e.to_string(),
            })?;
        Ok(counts.into_iter().map(|(topic, count)| (topic, count as i32)).collect())
    }

    async fn starting_offsets(&self, committed: &BTreeMap<i32, Option<i64>>) -> Result<BTreeMap<i32, i64>, GroupError> {
        starting_offsets(self, committed).await.map_err(|e| GroupError::Retry {
            context: "starting offsets",
            reason: e.to_string(),
        })
    }

    fn start_fetching(&self, starts: &BTreeMap<i32, i64>) -> Fetchers {
        Fetchers::start(self, starts)
    }

    fn invalid_events(&self) -> u64 {
        self.invalid_events.load(Ordering::Relaxed)
    }
}

/// The fetch loops of one generation (classic protocol) or of one membership (consumer protocol).
///
/// The classic member starts them all at once and stops them all at once ([`Fetchers::stop`]). The consumer
/// protocol's member gives up and takes on single partitions while the others go on being fetched
/// ([`Fetchers::add`], [`Fetchers::remove`]): each loop has its own cancellation, so stopping one leaves the
/// others untouched.
pub struct Fetchers {
    loops: BTreeMap<i32, FetchTask>,
    progress: Arc<Mutex<BTreeMap<i32, Progress>>>,
    /// What new loops need; `None` for a test's scripted fetchers, whose progress the test moves.
    context: Option<FetchContext>,
}

/// One running fetch loop: cancelled through its token, awaited through its handle.
struct FetchTask {
    cancel: CancellationToken,
    handle: JoinHandle<()>,
}

impl Fetchers {
    /// Starts one fetch loop per partition, reading from the given offsets.
    pub fn start(context: &FetchContext, starts: &BTreeMap<i32, i64>) -> Self {
        let mut fetchers = Self {
            loops: BTreeMap::new(),
            progress: Arc::new(Mutex::new(BTreeMap::new())),
            context: Some(context.clone()),
        };
        fetchers.add(starts);
        fetchers
    }

    /// Fetchers whose progress someone else moves: a test's scripted data path.
    #[cfg(test)]
    pub fn scripted(progress: Arc<Mutex<BTreeMap<i32, Progress>>>) -> Self {
        Self {
            loops: BTreeMap::new(),
            progress,
            context: None,
        }
    }

    /// Starts fetching more partitions, from the given offsets (partitions already fetched are left alone).
    pub fn add(&mut self, starts: &BTreeMap<i32, i64>) {
        for (&partition, &start) in starts {
            if self.owns(partition) {
                continue;
            }
            let Some(context) = &self.context else {
                let progress = Progress {
                    position: start,
                    high_watermark: None,
                };
                lock(&self.progress).insert(partition, progress);
                continue;
            };
            let fetch = FetchLoop {
                context: context.clone(),
                partition,
                progress: Arc::clone(&self.progress),
            };
            let cancel = CancellationToken::new();
            let stopped = cancel.clone();
            let handle = tokio::spawn(async move {
                tokio::select! {
                    () = fetch.run(start) => {}
                    () = stopped.cancelled() => {}
                }
            });
            self.loops.insert(partition, FetchTask { cancel, handle });
        }
    }

    /// Whether `partition` is being fetched.
    pub fn owns(&self, partition: i32) -> bool {
        self.loops.contains_key(&partition) || (self.context.is_none() && lock(&self.progress).contains_key(&partition))
    }

    /// The partitions being fetched.
    pub fn partitions(&self) -> Vec<i32> {
        match self.context {
            Some(_) => self.loops.keys().copied().collect(),
            None => lock(&self.progress).keys().copied().collect(),
        }
    }

    /// The current progress of every partition that has a known position.
    pub fn progress(&self) -> BTreeMap<i32, Progress> {
        lock(&self.progress).clone()
    }

    /// The offset this member may commit for each partition: the **one** place every commit (auto-commit,
    /// revoke, shutdown) takes its offsets from. Today everything fetched has been put in the store, so it
    /// is the fetch position; committing only what readers were handed would change this function alone.
    pub fn committable(&self) -> BTreeMap<i32, i64> {
        lock(&self.progress)
            .iter()
            .map(|(&p, progress)| (p, progress.position))
            .collect()
    }

    /// Stops fetching `partitions` and waits until their loops are gone, leaving the others running;
    /// returns what may be committed for the stopped ones.
    pub async fn remove(&mut self, partitions: &[i32]) -> BTreeMap<i32, i64> {
        let stopping: Vec<FetchTask> = partitions.iter().filter_map(|p| self.loops.remove(p)).collect();
        for task in &stopping {
            task.cancel.cancel();
        }
        for task in stopping {
            let _ = task.handle.await;
        }
        let mut committable = self.committable();
        committable.retain(|p, _| partitions.contains(p));
        lock(&self.progress).retain(|p, _| !partitions.contains(p));
        committable
    }

    /// Stops every fetch loop and waits until they are gone; returns what may be committed at the end.
    pub async fn stop(mut self) -> BTreeMap<i32, i64> {
        let loops = std::mem::take(&mut self.loops);
        for task in loops.values() {
            task.cancel.cancel();
        }
        for task in loops.into_values() {
            let _ = task.handle.await;
        }
        self.committable()
    }
}

impl Drop for Fetchers {
    /// Fetchers dropped without [`Fetchers::stop`] (a task aborted mid-way) stop their loops all the same.
    fn drop(&mut self) {
        for task in self.loops.values() {
            task.cancel.cancel();
        }
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
            match client.fetch_records(position, 1..FETCH_MAX_BYTES, max_wait).await {
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
            match partition_client(&self.context, self.partition).await {
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
                let client = partition_client(context, partition).await?;
                let start = resolve_reset(&client, context.reset).await?;
                tracing::info!(partition, start, policy = ?context.reset, "no committed offset; starting position");
                start
            }
        };
        starts.insert(partition, start);
    }
    Ok(starts)
}

/// A client for `partition` of the topic. rskafka finds leaders in metadata it caches; a partition the cache
/// does not know yet (the topic just grew, and the broker already assigned the new partition) is looked up
/// again after a full metadata read, which refreshes the cache.
async fn partition_client(context: &FetchContext, partition: i32) -> Result<PartitionClient, KafkaError> {
    let topic = context.topic.as_str();
    let retry = UnknownTopicHandling::Retry;
    match context.client.partition_client(topic, partition, retry).await {
        Ok(client) => Ok(client),
        Err(_) => {
            context.client.list_topics().await?;
            context.client.partition_client(topic, partition, retry).await
        }
    }
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
pub fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
