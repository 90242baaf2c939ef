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
use crate::notices::{Notices, Reset};
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
    /// What the data path tells `/status`: the topic gone missing, resets.
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
    store: Arc<Store>,
    notices: Arc<Notices>,
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
            store: Arc::clone(&context.store),
            notices: Arc::clone(&context.notices),
        }
    }

    /// The current progress of every partition that has a known position.
    pub fn progress(&self) -> BTreeMap<i32, Progress> {
        lock(&self.progress).clone()
    }

    /// The offset this member may commit for each partition: the **one** place every commit (auto-commit,
    /// revoke, shutdown) takes its offsets from. **Committed = processed**: it is the offset of the oldest
    /// event no reader has had yet, or the fetch position when readers had everything fetched.
    pub fn committable(&self) -> BTreeMap<i32, i64> {
        self.committable_with(self.store.first_unread())
    }

    /// Stops every fetch loop and waits until they are gone, then gives the partitions back to the store
    /// (their unread events go: the next owner delivers them); returns what may be committed at the end.
    pub async fn stop(mut self) -> BTreeMap<i32, i64> {
        self.cancel.cancel();
        while self.tasks.join_next().await.is_some() {}
        let unread = self.store.release();
        self.committable_with(unread)
    }

    fn committable_with(&self, first_unread: BTreeMap<i32, i64>) -> BTreeMap<i32, i64> {
        let offsets: BTreeMap<i32, i64> = lock(&self.progress)
            .iter()
            .map(|(&p, progress)| {
                (
                    p,
                    first_unread
                        .get(&p)
                        .map_or(progress.position, |&o| o.min(progress.position)),
                )
            })
            .collect();
        self.notices.offsets_known(offsets.clone());
        offsets
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
            None => reset_start(context, partition).await?,
        };
        starts.insert(partition, start);
    }
    context.notices.offsets_known(starts.clone());
    Ok(starts)
}

/// The reset policy's start for a partition the coordinator has no committed offset for. When this process
/// knew an offset for it (committed, or read up to), the committed offset vanished: a visible reset.
async fn reset_start(context: &FetchContext, partition: i32) -> Result<i64, StartError> {
    let (start, earliest) = retried(|| async {
        let client = listed_partition_client(context, partition).await?;
        Ok(resolve_reset(&client, context.reset).await?)
    })
    .await?;
    match context.notices.known_offset(partition) {
        Some((known, same_log)) => context.notices.reset(Reset {
            partition,
            from: known,
            to: start,
            log_start: earliest,
            same_log,
            reason: "the committed offset vanished from the group coordinator",
        }),
        None => tracing::info!(partition, start, policy = ?context.reset, "no committed offset; starting position"),
    }
    Ok(start)
}

/// Tries `attempt` again for up to [`kafka::RETRY_DEADLINE`] (a leader being elected just after the topic
/// was created, a connection that broke): each attempt lists the topics anew, so rskafka's own retries,
/// which would not, stay off.
async fn retried<T, F, Fut>(mut attempt: F) -> Result<T, StartError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StartError>>,
{
    let deadline = tokio::time::Instant::now() + kafka::RETRY_DEADLINE;
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
            Err(e) => tracing::debug!("starting offsets: {e}; trying again"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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

/// Where the reset policy starts, and the earliest offset kept. `earliest`: the oldest offset kept. `latest`:
/// the high watermark of a one-byte fetch from the earliest offset (ListOffsets "latest" is not right on
/// every broker; the fetch's high watermark is).
async fn resolve_reset(client: &PartitionClient, reset: OffsetReset) -> Result<(i64, i64), KafkaError> {
    let earliest = client.get_offset(OffsetAt::Earliest).await?;
    match reset {
        OffsetReset::Earliest => Ok((earliest, earliest)),
        OffsetReset::Latest => {
            let (_, high_watermark) = client.fetch_records(earliest, 1..2, 1).await?;
            Ok((high_watermark, earliest))
        }
    }
}

/// Locks a mutex, recovering the data if a holder panicked (progress stays usable).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
