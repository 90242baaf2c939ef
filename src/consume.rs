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
//!
//! The data path never lets a broker create the topic: a partition's leader is looked up only right after
//! the list of all topics showed the partition (see [`crate::notices`] for why).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rskafka::client::error::Error as KafkaError;
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::Client;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

mod fetch_loop;

use crate::config::OffsetReset;
use crate::kafka;
use crate::notices::Notices;
use crate::store::Store;
use fetch_loop::FetchLoop;

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
    /// What the data path tells `/status`: the topic gone missing.
    pub notices: Arc<Notices>,
}

/// Why the starting offsets could not be resolved (the member tries again).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Kafka(#[from] KafkaError),
    #[error("topic {topic} has no partition {partition} (the topic list does not show it)")]
    NotListed { topic: String, partition: i32 },
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

/// Where to start reading each partition: its committed offset, or where the reset policy says for a
/// partition the group has never committed.
pub async fn starting_offsets(
    context: &FetchContext,
    committed: &BTreeMap<i32, Option<i64>>,
) -> Result<BTreeMap<i32, i64>, StartError> {
    let mut starts = BTreeMap::new();
    for (&partition, &offset) in committed {
        let start = match offset {
            Some(offset) => offset,
            None => {
                let client = listed_partition_client(context, partition).await?;
                let start = resolve_reset(&client, context.reset).await?;
                tracing::info!(partition, start, policy = ?context.reset, "no committed offset; starting position");
                start
            }
        };
        starts.insert(partition, start);
    }
    Ok(starts)
}

/// A client for one partition's leader, made only when the topic list shows the partition (never a Metadata
/// request naming a topic that may not exist: the broker could create it).
async fn listed_partition_client(context: &FetchContext, partition: i32) -> Result<PartitionClient, StartError> {
    let topic = &context.topic;
    let partitions = kafka::partition_counts(&context.client).await?.get(topic).copied();
    context.notices.topic_listed(topic, partitions);
    if partitions.unwrap_or(0) <= partition as usize {
        return Err(StartError::NotListed {
            topic: topic.clone(),
            partition,
        });
    }
    let client = context
        .client
        .partition_client(topic.as_str(), partition, UnknownTopicHandling::Error)
        .await?;
    Ok(client)
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
