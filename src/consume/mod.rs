//! Reading the partitions this member owns: one fetch loop per partition.
//!
//! Within a consumer group each partition has exactly one owner per generation. For every partition it
//! owns, the member starts a fetch loop that long-polls the partition's leader (rskafka `fetch_records`),
//! turns each message into an event stamped `consumed`, hands it to the [`Store`] and records its
//! **position**: the offset of the next message to fetch. What the member commits is not the position but
//! what readers have had ([`Fetchers::committable`], "committed = processed", see [`crate::store`]), so a
//! later owner of the partition (this process after a restart, or another member after a rebalance)
//! continues from the first event no reader got. When the store is full of events no reader has had, the
//! fetch loops pause until readers take some (backpressure) rather than drop them.
//!
//! Where a partition has no committed offset yet, the **reset policy** decides the start: `earliest` (the
//! oldest message kept) or `latest` (only messages produced from now on). "Latest" is read from the high
//! watermark that every fetch response carries, which is right on every broker. Applied to a partition
//! that had an offset (it vanished from the coordinator, or the log no longer holds it), the reset is
//! logged and shown in `/status` (see [`crate::notices`]).
//!
//! When the group rebalances, [`Fetchers::stop`] cancels every loop and waits until all are gone, so a
//! partition that was taken away is never fetched again by this member. Under the consumer protocol only
//! the partitions that move are stopped ([`Fetchers::remove`]), the same way, one by one.
//!
//! The group member sees all of this through the [`DataPath`] trait (partition counts, where to start, the
//! fetch loops), which [`FetchContext`] implements with rskafka; the member's unit tests script it.
//!
//! The data path never lets a broker create the topic: a partition's leader is looked up only right after
//! the list of all topics showed the partition (see [`crate::notices`] for why; `start.rs` does it).
//!
//! Other clients write what kafka-lab's producer never does: compressed batches, and transactions whose
//! commit or abort markers (control records) sit in the log between the events. [`batches`] says what
//! rskafka returns for them and how the position moves past a marker, so that it reaches the high watermark
//! (lag 0) even when a marker ends the partition. A batch this build cannot decompress holds its partition
//! at that offset, named in the log and in `/status`, while the other partitions go on. On a compacted topic
//! the log cleaner leaves offsets without a record, which are stepped over ([`compaction`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rskafka::client::Client;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::OffsetReset;
use crate::group::error::GroupError;
use crate::kafka;
use crate::notices::Notices;
use crate::store::Store;

pub mod batches;
pub mod compaction;
mod fetch_loop;
mod start;

use fetch_loop::FetchLoop;
pub use start::{starting_offsets, StartError};

/// A fetch of at least and at most one byte returns exactly one whole batch: the one holding the requested offset.
const ONE_BATCH: std::ops::Range<i32> = 1..1;
/// Pause after a failed fetch before trying again.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// How far a fetch loop has read one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The offset of the next message to fetch (what gets committed once readers had everything before it).
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
    /// A fetch is answered once this much data is there (or `max_wait` passed): `FETCH_MIN_BYTES`.
    pub min_bytes: i32,
    /// The most one fetch returns (`FETCH_MAX_BYTES`), less when the store has less room.
    pub max_bytes: i32,
    pub reset: OffsetReset,
    pub store: Arc<Store>,
    /// Messages that were not JSON objects, over the life of the process.
    pub invalid_events: Arc<AtomicU64>,
    /// What the data path tells `/status`: the topic gone missing, resets.
    pub notices: Arc<Notices>,
    /// When a fetch loop replaces its leader connection: before the brokers end its SASL session.
    pub renewal: kafka::Renewal,
    /// Whether the topic is compacted (asked when a fetch loop first meets offsets without a record).
    pub compaction: Arc<compaction::Compaction>,
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
        starting_offsets(self, committed).await.map_err(|e| match e.denied() {
            true => GroupError::Fatal {
                context: "starting offsets",
                error: kafka_protocol::ResponseError::TopicAuthorizationFailed,
            },
            false => GroupError::Retry {
                context: "starting offsets",
                reason: e.to_string(),
            },
        })
    }

    fn start_fetching(&self, starts: &BTreeMap<i32, i64>) -> Fetchers {
        Fetchers::start(self, starts)
    }

    fn invalid_events(&self) -> u64 {
        self.invalid_events.load(Ordering::Relaxed)
    }
}

/// The fetch loops of one generation (classic) or of one member's current assignment (consumer protocol).
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
    store: Arc<Store>,
    notices: Arc<Notices>,
    /// The topic's log these loops read ([`Notices::topic_epoch`]): once it is gone, nothing is committed.
    topic_epoch: u32,
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
            store: Arc::clone(&context.store),
            notices: Arc::clone(&context.notices),
            topic_epoch: context.notices.topic_epoch(),
        };
        fetchers.add(starts);
        fetchers
    }

    /// Fetchers whose progress and store someone else fills: a test's scripted data path.
    #[cfg(test)]
    pub fn scripted(progress: Arc<Mutex<BTreeMap<i32, Progress>>>, store: Arc<Store>) -> Self {
        Self {
            loops: BTreeMap::new(),
            progress,
            context: None,
            store,
            notices: Arc::new(Notices::default()),
            topic_epoch: 0,
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
            let fetch = FetchLoop::new(context.clone(), partition, Arc::clone(&self.progress));
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
    /// revoke, shutdown) takes its offsets from. **Committed = processed**: it is the offset of the oldest
    /// event no reader has had yet, or the fetch position when readers had everything fetched.
    ///
    /// Nothing, once the topic was deleted under these loops: their offsets belong to a log that is gone, and
    /// committed they would be taken for offsets in the topic created again, skipping its first events.
    pub fn committable(&self) -> BTreeMap<i32, i64> {
        self.committable_with(self.store.first_unread())
    }

    /// Stops fetching `partitions` and waits until their loops are gone, leaving the others running;
    /// returns what may be committed for the stopped ones. (Their unread events stay in the store for
    /// readers; they are not committed, so the next owner delivers them again: at-least-once.)
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

    /// Stops every fetch loop and waits until they are gone, then gives the partitions back to the store
    /// (their unread events go: the next owner delivers them); returns what may be committed at the end.
    pub async fn stop(mut self) -> BTreeMap<i32, i64> {
        let loops = std::mem::take(&mut self.loops);
        for task in loops.values() {
            task.cancel.cancel();
        }
        for task in loops.into_values() {
            let _ = task.handle.await;
        }
        let unread = self.store.release();
        self.committable_with(unread)
    }

    fn committable_with(&self, first_unread: BTreeMap<i32, i64>) -> BTreeMap<i32, i64> {
        if self.notices.log_gone_since(self.topic_epoch) {
            tracing::debug!("not committing: the topic's log these offsets belong to is gone");
            return BTreeMap::new();
        }
        let offsets: BTreeMap<i32, i64> = lock(&self.progress)
            .iter()
            .map(|(&p, progress)| {
                let unread = first_unread.get(&p).copied();
                (p, unread.map_or(progress.position, |o| o.min(progress.position)))
            })
            .collect();
        self.notices.offsets_known(offsets.clone());
        offsets
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

/// Locks a mutex, recovering the data if a holder panicked (progress stays usable).
pub fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
