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
//!
//! Other clients write what kafka-lab's producer never does: compressed batches, and transactions whose
//! commit or abort markers (control records) sit in the log between the events. [`batches`] says what
//! rskafka returns for them and how the position moves past a marker, so that it reaches the high watermark
//! (lag 0) even when a marker ends the partition. A batch this build cannot decompress holds its partition
//! at that offset, named in the log and in `/status`, while the other partitions go on.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rskafka::client::error::Error as KafkaError;
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::Client;
use rskafka::record::RecordAndOffset;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::OffsetReset;
use crate::event;
use crate::group::error::GroupError;
use crate::kafka;
use crate::store::{RecordMeta, Store};

pub mod batches;

use batches::{Codec, Fetched, NoRecords};

/// The most bytes one fetch may return.
const FETCH_MAX_BYTES: i32 = 1024 * 1024;
/// A fetch limited to one byte returns exactly one whole batch: the one holding the requested offset.
const ONE_BATCH: i32 = 1;
/// Pause after a failed fetch before trying again.
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// Pause before trying again a batch this build cannot decompress (it stays unreadable until the position
/// changes, e.g. retention deletes it), so the loop neither spins nor floods the log.
const UNREADABLE_PAUSE: Duration = Duration::from_secs(5);
/// Pause while an open transaction holds the partition, before asking again whether it ended.
const OPEN_TRANSACTION_PAUSE: Duration = Duration::from_millis(100);

/// How far a fetch loop has read one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The offset of the next message to read: what gets committed.
    pub position: i64,
    /// The partition's end offset as of the last fetch.
    pub high_watermark: Option<i64>,
    /// Why the partition is not being read, while it is not (e.g. a batch compressed with a codec this
    /// build lacks); `None` once a fetch succeeds.
    pub error: Option<String>,
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
                    error: None,
                };
                lock(&self.progress).insert(partition, progress);
                continue;
            };
            let fetch = FetchLoop {
                context: context.clone(),
                partition,
                progress: Arc::clone(&self.progress),
                stalled_at: None,
                batch_by_batch: false,
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
    /// The offset of an unreadable batch already reported, so that retries are not logged again.
    stalled_at: Option<i64>,
    /// Fetch one batch at a time: from an unreadable batch (most often a transaction marker) until caught up,
    /// so that a log dense with markers is not fetched a megabyte at a time only to fail at the next marker.
    batch_by_batch: bool,
}

impl FetchLoop {
    async fn run(mut self, start: i64) {
        let client = self.partition_client().await;
        let mut position = start;
        self.report(position, None, None);
        loop {
            position = self.step(&client, position).await;
        }
    }

    /// One round: fetch at `position`, hand over what was read, report, and return the next position.
    async fn step(&mut self, client: &PartitionClient, position: i64) -> i64 {
        match self.fetch(client, position).await {
            Fetched::Records {
                records,
                high_watermark,
            } => {
                self.stalled_at = None;
                let mut next = self.deliver(records, position);
                if next == position && high_watermark > position {
                    next = self.past_no_records(client, position).await;
                }
                if next >= high_watermark {
                    self.batch_by_batch = false;
                }
                self.report(next, Some(high_watermark), None);
                next
            }
            Fetched::ControlBatch => {
                // A control batch holds one record, the marker, at `position` (the fetched batch holds it).
                tracing::debug!(
                    partition = self.partition,
                    offset = position,
                    "stepping over a transaction marker"
                );
                self.report(position + 1, None, None);
                position + 1
            }
            Fetched::Compressed(codec) => {
                self.stall(client, position, &codec).await;
                position
            }
            Fetched::OutOfRange => {
                tracing::warn!(
                    partition = self.partition,
                    position,
                    "offset out of range; applying the reset policy"
                );
                let position = self.reset_position(client).await;
                self.report(position, None, None);
                position
            }
            Fetched::Failed(e) => {
                tracing::warn!(partition = self.partition, "fetch failed, retrying: {e}");
                self.report(position, None, Some(format!("fetch failed: {e}")));
                tokio::time::sleep(RETRY_PAUSE).await;
                position
            }
        }
    }

    /// Fetches up to [`FETCH_MAX_BYTES`] at `position`. When a batch in the answer cannot be read, fetches
    /// the batch at `position` alone: the batches before the unreadable one are still delivered, and the
    /// answer says what sits at `position`. From then on, until caught up, one batch at a time.
    async fn fetch(&mut self, client: &PartitionClient, position: i64) -> Fetched {
        let max_wait = self.context.max_wait.as_millis() as i32;
        if !self.batch_by_batch {
            let fetched = fetch_records(client, position, FETCH_MAX_BYTES, max_wait).await;
            if !fetched.hit_unreadable_batch() {
                return fetched;
            }
            self.batch_by_batch = true;
        }
        fetch_records(client, position, ONE_BATCH, max_wait).await
    }

    /// The fetch read no record at or after `position`, though the partition goes on. Either an open
    /// transaction holds it there (rskafka reads up to the last stable offset), or the offset holds no
    /// record (a batch emptied by compaction). The last stable offset tells which; ListOffsets "latest" is
    /// it, since rskafka asks `read_committed` (Tansu answers the start of its last batch + 1).
    async fn past_no_records(&self, client: &PartitionClient, position: i64) -> i64 {
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
                tracing::debug!(
                    partition = self.partition,
                    offset = position,
                    "stepping over an offset without a record"
                );
                position + 1
            }
            Fetched::Records { records, .. } => self.deliver(records, position),
            Fetched::ControlBatch => position + 1,
            // The next round meets the problem again and reports it.
            _ => position,
        }
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

    /// Hands fetched messages to the store; returns the new position.
    fn deliver(&self, records: Vec<RecordAndOffset>, position: i64) -> i64 {
        let next = batches::position_after(&records, position);
        for RecordAndOffset { record, offset } in records.into_iter().filter(|r| r.offset >= position) {
            let (event, is_json_object) = event::consumed(record.value.as_deref());
            if !is_json_object {
                self.context.invalid_events.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(partition = self.partition, offset, "message is not a JSON object");
            }
            let meta = RecordMeta::of(record.key.as_deref(), &record.headers);
            self.context.store.push_record(self.partition, offset, meta, event);
        }
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

/// One fetch of at most `max_bytes` at `position`, sorted into what the fetch loop acts on.
async fn fetch_records(client: &PartitionClient, position: i64, max_bytes: i32, max_wait_ms: i32) -> Fetched {
    // rskafka takes the byte limits as a range: at least 1 byte (or wait up to max_wait), below the end.
    match client.fetch_records(position, 1..max_bytes + 1, max_wait_ms).await {
        Ok((records, high_watermark)) => Fetched::Records {
            records,
            high_watermark,
        },
        Err(e) => Fetched::from_error(e),
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

/// `earliest`: the oldest offset kept. `latest`: the high watermark of a one-batch fetch from the earliest
/// offset (ListOffsets "latest" is not right on every broker; the fetch's high watermark is).
async fn resolve_reset(client: &PartitionClient, reset: OffsetReset) -> Result<i64, KafkaError> {
    let earliest = client.get_offset(OffsetAt::Earliest).await?;
    if reset == OffsetReset::Earliest {
        return Ok(earliest);
    }
    match fetch_records(client, earliest, ONE_BATCH, 1).await {
        Fetched::Records { high_watermark, .. } => Ok(high_watermark),
        Fetched::Failed(e) => Err(e),
        // The first batch cannot be decoded (or was just deleted), so the answer's high watermark is lost:
        // ListOffsets "latest" instead, the last stable offset (the high watermark unless a transaction is open).
        _ => client.get_offset(OffsetAt::Latest).await,
    }
}

/// Locks a mutex, recovering the data if a holder panicked (progress stays usable).
pub fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
