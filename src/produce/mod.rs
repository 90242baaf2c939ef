//! Producing events: pick a partition, send to its leader, wait for the acknowledgement, and say honestly
//! what happened when none came.
//!
//! "200" means the partition leader acknowledged the write at the offset the answer names. Otherwise the
//! answer says whether the event may be in Kafka (see [`answer`]): **503, not sent** (nothing was written,
//! sending again is safe) or **504, sent but not acknowledged** (it may have been written, and sending it
//! again may write it twice). Every request is bounded by `REQUEST_TIMEOUT_MS`, connecting included, and
//! while Kafka is known to be unreachable the producer answers 503 at once (see [`health`]).
//!
//! Kafka's cure for the duplicate is the **idempotent producer**: InitProducerId gives the producer an id,
//! every batch carries a sequence number per partition, and a leader drops a batch it already has. rskafka
//! 0.6 writes every batch with producer id -1 and has no InitProducerId, so this producer is not idempotent.
//! It does make sure never to write twice by itself: its rskafka client does not retry (rskafka resends a
//! Produce whose connection broke, which is exactly how a duplicate is made), and only what comes before the
//! Produce request (connecting, finding the leader, a broker's "not the leader") is tried again.
//!
//! The producer never creates a topic. It writes only to topics the cluster's topic list (a Metadata request
//! for all topics, which never creates one) showed within the last second; a topic that disappears is
//! answered 404 from then on. The list is that fresh because a Tansu broker keeps accepting writes to a
//! deleted topic, as a ghost no list shows, and rskafka's per-partition Metadata requests allow the broker
//! to create a topic (Tansu then does, with 4 partitions; our Apache Kafka clusters set
//! `auto.create.topics.enable=false`): a partition client is only made for a topic that was just listed.
//!
//! Connections are made once and reused: one rskafka [`Client`] for the cluster and one `PartitionClient`
//! per partition written to, with its [`batch::Batcher`]: a task that keeps one Produce request in flight and
//! sends what arrives meanwhile together in the next one. A partition connection idle for over a second is
//! checked before an event goes out on it (see `leader.rs`).
//!
//! When the brokers limit SASL sessions (`connections.max.reauth.ms`, KIP-368), a broker closes a connection
//! at its first request after the session ended; rskafka's connections do not log in again, so a Produce
//! sent then would be lost ("maybe written") and Kafka would look unreachable. The producer learns the
//! lifetime when it connects and replaces each connection before 85 % of it has passed (see `leader.rs`).

pub mod answer;
pub mod batch;
pub mod health;
mod leader;
mod watch;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rskafka::client::partition::UnknownTopicHandling;
use rskafka::client::Client;
use rskafka::record::Record;
use serde::Serialize;
use tokio::sync::Mutex;
use tokio::time::timeout_at;
use tokio_util::sync::CancellationToken;

pub use answer::SendError;
pub use health::KafkaStatus;

use crate::kafka;
use crate::kafka::Renewal;
use crate::partitioner::{partition_for_key, RoundRobin};
use crate::security::Security;
use answer::Failure;
use health::Health;
use leader::Leader;

/// How long a topic list is trusted (see the module docs for why it is short).
const METADATA_MAX_AGE: Duration = Duration::from_secs(1);
/// Pause before trying again after a broker refused a write (e.g. a leader moving): nothing was written.
const REFUSED_RETRY: Duration = Duration::from_millis(100);
/// How long a Produce already sent may still wait for its acknowledgement once the producer is stopping
/// (the HTTP server gives the answers in flight a second in all).
const STOP_GRACE: Duration = Duration::from_millis(500);

/// Where an acknowledged event was written.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Delivery {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// A long-lived producer shared by all HTTP requests. The tokio mutexes are held across the requests that
/// fill them (connecting, listing topics), so concurrent requests share one attempt instead of each
/// making their own.
pub struct Producer {
    bootstrap_servers: Vec<String>,
    security: Arc<Security>,
    request_timeout: Duration,
    health: Health,
    /// The cluster client, when it connected, and when its connections are due for replacement.
    client: Mutex<Option<(Arc<Client>, Instant, Renewal)>>,
    topics: Mutex<TopicCache>,
    partitions: Mutex<HashMap<(String, i32), Arc<Leader>>>,
}

/// Partition counts from the last topic list, and what the producer has written to.
#[derive(Default)]
struct TopicCache {
    counts: BTreeMap<String, usize>,
    fetched_at: Option<Instant>,
    /// Topics written to: one of these that disappears was deleted, not misspelt.
    written: HashSet<String>,
    round_robin: HashMap<String, Arc<RoundRobin>>,
}

/// The partition an event goes to, and its leader.
struct Target {
    partition: i32,
    leader: Arc<Leader>,
}

impl Producer {
    /// A producer for the given brokers; [`start`](Self::start) connects.
    pub fn new(bootstrap_servers: Vec<String>, security: Arc<Security>, request_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            bootstrap_servers,
            security,
            request_timeout,
            health: Health::default(),
            client: Mutex::new(None),
            topics: Mutex::new(TopicCache::default()),
            partitions: Mutex::new(HashMap::new()),
        })
    }

    /// Connects in the background, then checks every 2 s that Kafka answers: `/status` knows
    /// Kafka's state before the first event, and a producer whose Kafka is down answers 503 at once.
    pub fn start(self: &Arc<Self>) {
        let producer = Arc::clone(self);
        // A task: the check runs on its own clock, and no request waits for it.
        tokio::spawn(async move { producer.watch().await });
    }

    /// Kafka's state as far as the producer knows.
    pub fn kafka_status(&self) -> KafkaStatus {
        self.health.status()
    }

    /// Sends one event and waits for the leader's acknowledgement, at most `REQUEST_TIMEOUT_MS`. Once
    /// `stopping` is cancelled, an event not sent yet is answered "not sent" at once, and one sent already
    /// gets its acknowledgement or, after a short grace, "not acknowledged".
    pub async fn send(
        self: &Arc<Self>,
        topic: &str,
        key: Option<&str>,
        value: &[u8],
        stopping: &CancellationToken,
    ) -> Result<Delivery, SendError> {
        let deadline = tokio::time::Instant::now() + self.request_timeout;
        let mut reconnected = false;
        loop {
            if let Some(outage) = self.health.outage() {
                return Err(SendError::NotSent(outage));
            }
            let failure = match self.attempt(topic, key, value, deadline, stopping).await {
                Ok(delivery) => return Ok(delivery),
                Err(failure) => failure,
            };
            if matches!(failure, Failure::Unreachable(_)) && !reconnected {
                // One broker gone is not Kafka gone: its partitions have a new leader on another broker. Nothing
                // was written, so connect afresh once (a new Metadata names the leaders) before saying so.
                tracing::debug!(
                    topic,
                    "a connection failed, nothing written; connecting afresh: {failure:?}"
                );
                reconnected = true;
                self.forget_connections().await;
                continue;
            }
            if matches!(failure, Failure::UnknownTopic) {
                // Listed, but the broker does not know it: list again (deleted, or only just created).
                self.topics.lock().await.fetched_at = None;
            }
            let retry = matches!(failure, Failure::Refused(_) | Failure::UnknownTopic);
            if !retry || tokio::time::Instant::now() + REFUSED_RETRY >= deadline {
                return Err(self.failed(failure).await);
            }
            tracing::debug!(topic, "refused, nothing written; trying again: {failure:?}");
            tokio::time::sleep(REFUSED_RETRY).await;
        }
    }

    /// One attempt: find the partition and its leader (nothing sent yet), then send the Produce request.
    async fn attempt(
        &self,
        topic: &str,
        key: Option<&str>,
        value: &[u8],
        deadline: tokio::time::Instant,
        stopping: &CancellationToken,
    ) -> Result<Delivery, Failure> {
        let found = tokio::select! {
            found = timeout_at(deadline, self.target(topic, key, deadline)) => found,
            () = stopping.cancelled() => return Err(Failure::Final(SendError::NotSent("the producer is stopping".into()))),
        };
        let target = found.map_err(|_| {
            Failure::Unreachable(format!(
                "no connection to the partition leader within {:?}",
                self.request_timeout
            ))
        })??;
        let record = Record {
            key: key.map(|k| k.as_bytes().to_vec()),
            value: Some(value.to_vec()),
            headers: BTreeMap::new(),
            timestamp: rskafka::chrono::Utc::now(),
        };
        let produce = target.leader.send(record);
        let stopped = async {
            stopping.cancelled().await;
            tokio::time::sleep(STOP_GRACE).await;
        };
        let offset = tokio::select! {
            produced = timeout_at(deadline, produce) => produced.map_err(|_| {
                Failure::Lost(format!("no acknowledgement within {:?}", self.request_timeout))
            })?.map_err(answer::from_batch)?,
            () = stopped => return Err(Failure::Final(SendError::Unconfirmed(
                "the producer is stopping and the acknowledgement did not come in time".into()
            ))),
        };
        self.health.reachable();
        self.topics.lock().await.written.insert(topic.to_string());
        Ok(Delivery {
            topic: topic.to_string(),
            partition: target.partition,
            offset,
        })
    }

    /// The partition for this event and a checked connection to its leader.
    async fn target(&self, topic: &str, key: Option<&str>, deadline: tokio::time::Instant) -> Result<Target, Failure> {
        let (client, renewal) = self.connected(deadline).await?;
        let (partitions, round_robin) = self.partition_count(&client, topic).await?;
        let partition = match key {
            Some(key) => partition_for_key(key.as_bytes(), partitions),
            None => round_robin.next_partition(partitions),
        } as i32;
        let leader = self.leader(&client, renewal, topic, partition).await?;
        Ok(Target { partition, leader })
    }

    /// The cluster client, connecting if there is none or its SASL sessions are about to end.
    async fn connected(&self, deadline: tokio::time::Instant) -> Result<(Arc<Client>, Renewal), Failure> {
        let mut slot = self.client.lock().await;
        match slot.as_ref() {
            Some((client, since, renewal)) if !renewal.due(*since) => return Ok((Arc::clone(client), *renewal)),
            Some(_) => {
                tracing::debug!("replacing the connections before their SASL sessions end (KIP-368)");
                self.partitions.lock().await.clear();
            }
            None => {}
        }
        let connect = async {
            let client = kafka::connect_with(&self.bootstrap_servers, &self.security, kafka::no_retries()).await?;
            let renewal = Renewal::learn(&self.bootstrap_servers, &self.security).await;
            Ok::<_, kafka::ConnectError>((Arc::new(client), renewal))
        };
        let (client, renewal) = match timeout_at(deadline, connect).await {
            Ok(connected) => connected.map_err(|e| Failure::Unreachable(e.to_string()))?,
            Err(_) => return Err(Failure::Unreachable("connecting timed out".into())),
        };
        tracing::info!(brokers = ?self.bootstrap_servers, ?renewal, "connected to Kafka");
        *slot = Some((Arc::clone(&client), Instant::now(), renewal));
        Ok((client, renewal))
    }

    /// The topic's partition count, from a topic list at most a second old.
    async fn partition_count(&self, client: &Client, topic: &str) -> Result<(usize, Arc<RoundRobin>), Failure> {
        let mut cache = self.topics.lock().await;
        let fresh = cache.fetched_at.is_some_and(|at| at.elapsed() < METADATA_MAX_AGE);
        if !fresh || !cache.counts.contains_key(topic) {
            let counts = kafka::partition_counts(client).await.map_err(answer::before_sending)?;
            self.forget_vanished(&cache, &counts).await;
            cache.counts = counts;
            cache.fetched_at = Some(Instant::now());
        }
        match cache.counts.get(topic).copied() {
            Some(count) if count > 0 => {
                let round_robin = cache.round_robin.entry(topic.to_string()).or_default();
                Ok((count, Arc::clone(round_robin)))
            }
            _ if cache.written.contains(topic) => Err(Failure::Final(SendError::DeletedTopic(topic.to_string()))),
            _ => Err(Failure::Final(SendError::UnknownTopic(topic.to_string()))),
        }
    }

    /// Drops the leader connections of every topic that was listed before and is not now (deleted), so no
    /// request for it can reach rskafka's per-partition Metadata, which would let Tansu create it again.
    async fn forget_vanished(&self, cache: &TopicCache, now: &BTreeMap<String, usize>) {
        let vanished: Vec<&String> = cache.counts.keys().filter(|t| !now.contains_key(*t)).collect();
        if vanished.is_empty() {
            return;
        }
        for topic in &vanished {
            if cache.written.contains(*topic) {
                tracing::warn!(
                    topic,
                    "the topic no longer exists (deleted?); it is not re-created, POSTs get 404"
                );
            }
        }
        self.partitions
            .lock()
            .await
            .retain(|(topic, _), _| !vanished.contains(&topic));
    }

    /// The connection to one partition's leader: cached, checked when it was idle, replaced before its SASL
    /// session ends.
    async fn leader(
        &self,
        client: &Client,
        renewal: Renewal,
        topic: &str,
        partition: i32,
    ) -> Result<Arc<Leader>, Failure> {
        let key = (topic.to_string(), partition);
        let cached = self.partitions.lock().await.get(&key).cloned();
        let cached = cached.filter(|leader| !leader.due_for_renewal());
        if let Some(leader) = cached {
            return match leader.check_if_idle().await {
                Ok(()) => Ok(leader),
                Err(e) => {
                    self.partitions.lock().await.remove(&key);
                    Err(answer::before_sending(e))
                }
            };
        }
        let created = client
            .partition_client(topic, partition, UnknownTopicHandling::Error)
            .await
            .map_err(answer::before_sending)?;
        let leader = Arc::new(Leader::new(created, self.request_timeout, renewal));
        self.partitions.lock().await.insert(key, Arc::clone(&leader));
        Ok(leader)
    }

    /// Turns a failed attempt into the answer, and, when a connection failed, counts Kafka as unreachable:
    /// connections are dropped and a background check starts (one at a time).
    async fn failed(self: &Arc<Self>, failure: Failure) -> SendError {
        let (reason, error) = match failure {
            Failure::Unreachable(reason) => (
                reason.clone(),
                SendError::NotSent(format!("Kafka is unreachable: {reason}")),
            ),
            Failure::Lost(reason) => (reason.clone(), SendError::Unconfirmed(reason)),
            Failure::Refused(reason) => return SendError::NotSent(format!("the broker refused the event: {reason}")),
            Failure::UnknownTopic => return SendError::NotSent("the broker does not know the topic yet".into()),
            Failure::Final(error) => return error,
        };
        tracing::warn!("Kafka unreachable: {reason}; answering 503 at once until it answers again");
        self.forget_connections().await;
        if self.health.unreachable(reason) {
            let producer = Arc::clone(self);
            // A task: one check at a time, in the background, so that no request waits for it.
            tokio::spawn(async move { producer.probe().await });
        }
        error
    }

    /// Drops every connection, so the next request connects afresh.
    async fn forget_connections(&self) {
        *self.client.lock().await = None;
        self.partitions.lock().await.clear();
        self.topics.lock().await.fetched_at = None;
    }
}
