//! Producing events: pick a partition, send to its leader, wait for the acknowledgement.
//!
//! The producer answers the lab page only after the partition leader acknowledged the write, so "200" means
//! the event is in Kafka, at the offset the response names. Connections are made once and reused: one
//! rskafka [`Client`] for the cluster and, per partition written to, one [`Batcher`]: a task that owns the
//! partition's connection and sends what arrives while a request is in flight together in the next one
//! (see [`batch`]). When the cluster cannot be reached, every cached connection is dropped and the next
//! request connects afresh, so the producer recovers by itself once the broker is back.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rskafka::client::partition::UnknownTopicHandling;
use rskafka::client::Client;
use rskafka::record::Record;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::kafka;
use crate::partitioner::{partition_for_key, RoundRobin};

pub mod batch;

use batch::Batcher;

/// How long a topic's partition count is trusted before Metadata is asked again.
const METADATA_MAX_AGE: Duration = Duration::from_secs(30);
/// An upper bound on one send, connection included.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Where an acknowledged event was written.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Delivery {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// Why an event was not written. Nothing was produced in either case.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("topic '{0}' does not exist; create it first (the workshop's topics have 2 partitions)")]
    UnknownTopic(String),
    #[error("Kafka is unavailable: {0}")]
    Unavailable(String),
}

/// A long-lived producer shared by all HTTP requests.
pub struct Producer {
    bootstrap_servers: Vec<String>,
    client: Mutex<Option<Arc<Client>>>,
    topics: Mutex<TopicCache>,
    partitions: Mutex<HashMap<(String, i32), Batcher>>,
}

/// Partition counts from the last Metadata request, and a round-robin counter per topic.
#[derive(Default)]
struct TopicCache {
    counts: BTreeMap<String, usize>,
    fetched_at: Option<Instant>,
    round_robin: HashMap<String, Arc<RoundRobin>>,
}

impl Producer {
    /// A producer for the given brokers. It connects on first use, so it can start while Kafka is down.
    pub fn new(bootstrap_servers: Vec<String>) -> Self {
        Self {
            bootstrap_servers,
            client: Mutex::new(None),
            topics: Mutex::new(TopicCache::default()),
            partitions: Mutex::new(HashMap::new()),
        }
    }

    /// Sends one event and waits for the leader's acknowledgement.
    pub async fn send(&self, topic: &str, key: Option<&str>, value: Vec<u8>) -> Result<Delivery, SendError> {
        let result = match tokio::time::timeout(SEND_TIMEOUT, self.try_send(topic, key, value)).await {
            Ok(result) => result,
            Err(_) => Err(SendError::Unavailable(format!(
                "no acknowledgement within {SEND_TIMEOUT:?}"
            ))),
        };
        if let Err(SendError::Unavailable(reason)) = &result {
            tracing::warn!(topic, "send failed, reconnecting on the next request: {reason}");
            self.forget_connections().await;
        }
        result
    }

    async fn try_send(&self, topic: &str, key: Option<&str>, value: Vec<u8>) -> Result<Delivery, SendError> {
        let client = self.client().await?;
        let (partitions, round_robin) = self.partition_count(&client, topic).await?;
        let partition = match key {
            Some(key) => partition_for_key(key.as_bytes(), partitions),
            None => round_robin.next_partition(partitions),
        } as i32;
        let batcher = self.batcher(&client, topic, partition).await?;
        let record = Record {
            key: key.map(|k| k.as_bytes().to_vec()),
            value: Some(value),
            headers: BTreeMap::new(),
            timestamp: rskafka::chrono::Utc::now(),
        };
        let offset = batcher.send(record).await.map_err(SendError::Unavailable)?;
        Ok(Delivery {
            topic: topic.to_string(),
            partition,
            offset,
        })
    }

    /// The cluster client, connecting if there is none.
    async fn client(&self) -> Result<Arc<Client>, SendError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(Arc::clone(client));
        }
        let client = Arc::new(kafka::connect(&self.bootstrap_servers).await.map_err(unavailable)?);
        tracing::info!(brokers = ?self.bootstrap_servers, "connected to Kafka");
        *slot = Some(Arc::clone(&client));
        Ok(client)
    }

    /// The topic's partition count (from cached Metadata, refreshed when stale or when the topic is unknown).
    async fn partition_count(&self, client: &Client, topic: &str) -> Result<(usize, Arc<RoundRobin>), SendError> {
        let mut cache = self.topics.lock().await;
        let fresh = cache.fetched_at.is_some_and(|at| at.elapsed() < METADATA_MAX_AGE);
        if !fresh || !cache.counts.contains_key(topic) {
            cache.counts = kafka::partition_counts(client).await.map_err(unavailable)?;
            cache.fetched_at = Some(Instant::now());
        }
        match cache.counts.get(topic).copied() {
            Some(count) if count > 0 => {
                let round_robin = cache.round_robin.entry(topic.to_string()).or_default();
                Ok((count, Arc::clone(round_robin)))
            }
            _ => Err(SendError::UnknownTopic(topic.to_string())),
        }
    }

    /// The batching sender of one partition, connecting to its leader if there is none.
    async fn batcher(&self, client: &Client, topic: &str, partition: i32) -> Result<Batcher, SendError> {
        let mut partitions = self.partitions.lock().await;
        let key = (topic.to_string(), partition);
        if let Some(existing) = partitions.get(&key) {
            return Ok(existing.clone());
        }
        let leader = client
            .partition_client(topic, partition, UnknownTopicHandling::Error)
            .await
            .map_err(unavailable)?;
        let created = Batcher::start(leader, SEND_TIMEOUT);
        partitions.insert(key, created.clone());
        Ok(created)
    }

    /// Drops every connection, so the next send bootstraps again.
    async fn forget_connections(&self) {
        *self.client.lock().await = None;
        self.partitions.lock().await.clear();
        self.topics.lock().await.fetched_at = None;
    }
}

fn unavailable(error: rskafka::client::error::Error) -> SendError {
    SendError::Unavailable(error.to_string())
}
