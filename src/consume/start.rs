//! Where each owned partition starts, and the reset policy.
//!
//! A partition starts at its committed offset; where it has none, the reset policy (`AUTO_OFFSET_RESET`)
//! chooses. When this process knew an offset for the partition, the committed one vanished: the reset is
//! visible (see [`crate::notices`]). A partition's leader is looked up only right after the list of all
//! topics showed the partition, so no request of ours lets a broker create the topic.

use std::collections::BTreeMap;
use std::time::Duration;

use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};

use super::batches::Fetched;
use super::{fetch_loop::fetch_records, FetchContext, ONE_BATCH};
use crate::config::OffsetReset;
use crate::kafka;
use crate::notices::Reset;

/// Why the starting offsets could not be resolved (the member tries again).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Kafka(#[from] KafkaError),
    #[error("topic {topic} has no partition {partition} (the topic list does not show it)")]
    NotListed { topic: String, partition: i32 },
}

impl StartError {
    /// An ACL refuses this client the topic (TOPIC_AUTHORIZATION_FAILED): trying again will not help.
    pub fn denied(&self) -> bool {
        matches!(
            self,
            Self::Kafka(KafkaError::ServerError {
                protocol_error: ProtocolError::TopicAuthorizationFailed,
                ..
            })
        )
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
            Err(e) if e.denied() || tokio::time::Instant::now() >= deadline => return Err(e),
            Err(e) => tracing::debug!("starting offsets: {e}; trying again"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A client for one partition's leader, made only when the topic list shows the partition (never a Metadata
/// request naming a topic that may not exist: the broker could create it).
pub(super) async fn listed_partition_client(
    context: &FetchContext,
    partition: i32,
) -> Result<PartitionClient, StartError> {
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
/// the high watermark of a one-batch fetch from the earliest offset (ListOffsets "latest" is not right on
/// every broker; the fetch's high watermark is).
pub(super) async fn resolve_reset(client: &PartitionClient, reset: OffsetReset) -> Result<(i64, i64), KafkaError> {
    let earliest = client.get_offset(OffsetAt::Earliest).await?;
    if reset == OffsetReset::Earliest {
        return Ok((earliest, earliest));
    }
    let latest = match fetch_records(client, earliest, ONE_BATCH, 1).await {
        Fetched::Records { high_watermark, .. } => high_watermark,
        Fetched::Failed(e) => return Err(e),
        // The first batch cannot be decoded (or was just deleted), so the answer's high watermark is lost:
        // ListOffsets "latest" instead, the last stable offset (the high watermark unless a transaction is open).
        _ => client.get_offset(OffsetAt::Latest).await?,
    };
    Ok((latest, earliest))
}
