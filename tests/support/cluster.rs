//! The brokers every integration test runs against, behind one face: **Apache Kafka**, the reference (a
//! controller and two brokers, shared by the tests of one test binary, see [`super::kafka`]), and
//! **Tansu**, the embedded broker of `make demo` (a fresh one per test, see [`super::tansu`]). A scenario is
//! written once against [`Cluster`] and run as two tests, `..._on_kafka` and `..._on_tansu`, with the same
//! assertions; where the brokers' documented behaviour differs (Apache Kafka refuses sessions under 6 s),
//! the cluster says so ([`Cluster::fast_group`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rskafka::client::partition::{OffsetAt, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};

use super::kafka::KafkaCluster;
use super::tansu::Tansu;

/// Which broker a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Kafka,
    Tansu,
}

enum Brokers {
    SharedKafka(&'static KafkaCluster),
    OwnKafka(KafkaCluster),
    Tansu(Tansu),
}

/// A running cluster a test uses: its address, topics, and (for fault tests) its brokers.
pub struct Cluster {
    pub flavor: Flavor,
    brokers: Brokers,
}

impl Cluster {
    /// Apache Kafka, shared with the other tests of this binary: use [`name`](Self::name) for topics and
    /// groups, and don't stop its brokers.
    pub async fn kafka() -> Self {
        let cluster = tokio::task::spawn_blocking(KafkaCluster::shared)
            .await
            .expect("starting the shared Kafka cluster");
        Self {
            flavor: Flavor::Kafka,
            brokers: Brokers::SharedKafka(cluster),
        }
    }

    /// An Apache Kafka cluster of this test's own, for tests that stop or pause brokers.
    pub async fn kafka_of_its_own() -> Self {
        let cluster = tokio::task::spawn_blocking(KafkaCluster::start)
            .await
            .expect("starting a Kafka cluster");
        Self {
            flavor: Flavor::Kafka,
            brokers: Brokers::OwnKafka(cluster),
        }
    }

    /// A fresh Tansu broker.
    pub async fn tansu() -> Self {
        Self {
            flavor: Flavor::Tansu,
            brokers: Brokers::Tansu(Tansu::start().await),
        }
    }

    /// The cluster named by `flavor`, of this test's own when `own` (Tansu always is).
    pub async fn of(flavor: Flavor, own: bool) -> Self {
        match (flavor, own) {
            (Flavor::Tansu, _) => Self::tansu().await,
            (Flavor::Kafka, false) => Self::kafka().await,
            (Flavor::Kafka, true) => Self::kafka_of_its_own().await,
        }
    }

    /// For KAFKA_BOOTSTRAP_SERVERS.
    pub fn bootstrap(&self) -> String {
        match &self.brokers {
            Brokers::SharedKafka(kafka) => kafka.bootstrap(),
            Brokers::OwnKafka(kafka) => kafka.bootstrap(),
            Brokers::Tansu(tansu) => tansu.address(),
        }
    }

    /// A topic or group name no other test on this cluster uses: `base` on a cluster of the test's own,
    /// `base-N` on the shared one.
    pub fn name(&self, base: &str) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        match self.brokers {
            Brokers::SharedKafka(_) => format!("{base}-{}", NEXT.fetch_add(1, Ordering::Relaxed)),
            _ => base.to_string(),
        }
    }

    /// Consumer settings for quick rebalances: the shortest session each broker accepts comfortably
    /// (Apache Kafka refuses less than `group.min.session.timeout.ms`, 6 s; Tansu holds a JoinGroup for half
    /// a session, so a short one keeps its rebalances quick).
    pub fn fast_group(&self) -> &'static [(&'static str, &'static str)] {
        match self.flavor {
            Flavor::Kafka => &[("SESSION_TIMEOUT_MS", "6000"), ("HEARTBEAT_INTERVAL_MS", "500")],
            Flavor::Tansu => &[("SESSION_TIMEOUT_MS", "3000"), ("HEARTBEAT_INTERVAL_MS", "300")],
        }
    }

    /// Creates a topic (replicated on both brokers of a Kafka cluster), retrying while the cluster is
    /// still starting.
    pub async fn create_topic(&self, name: &str, partitions: i32) {
        let replication = match self.flavor {
            Flavor::Kafka => 2,
            Flavor::Tansu => 1,
        };
        self.create_topic_replicated(name, partitions, replication).await;
    }

    /// Creates a topic with `replication` copies of each partition, retrying while the cluster is still
    /// starting.
    pub async fn create_topic_replicated(&self, name: &str, partitions: i32, replication: i16) {
        let create = async {
            loop {
                let attempt = async {
                    let client = self.try_client().await?;
                    let controller = client.controller_client()?;
                    controller.create_topic(name, partitions, replication, 5_000).await
                };
                match tokio::time::timeout(Duration::from_secs(10), attempt).await {
                    Ok(Ok(())) => return,
                    Ok(Err(e)) => eprintln!("creating topic {name}: {e}; retrying"),
                    Err(_) => eprintln!("creating topic {name}: no answer; retrying"),
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(90), create)
            .await
            .unwrap_or_else(|_| panic!("could not create topic {name} on {}", self.bootstrap()));
        self.wait_for_leaders(name, partitions).await;
    }

    /// Deletes a topic (DeleteTopics, as `kafka-topics --delete` or `tansu topic delete` send it) and waits
    /// until the topic list no longer shows it.
    pub async fn delete_topic(&self, name: &str) {
        let client = self.client().await;
        let controller = client.controller_client().expect("controller client");
        controller.delete_topic(name, 5_000).await.expect("DeleteTopics");
        super::eventually(Duration::from_secs(30), "the topic gone from the list", || async {
            (!self.topic_names().await.iter().any(|t| t == name)).then_some(())
        })
        .await;
    }

    /// The names in the cluster's topic list (a Metadata request for all topics: it never creates one).
    pub async fn topic_names(&self) -> Vec<String> {
        let topics = self.client().await.list_topics().await.expect("listing topics");
        topics.into_iter().map(|t| t.name).collect()
    }

    /// Waits until every partition of a new topic has a leader that answers (Kafka elects them a moment
    /// after CreateTopics returns).
    async fn wait_for_leaders(&self, topic: &str, partitions: i32) {
        super::eventually(Duration::from_secs(30), "the new topic's partition leaders", || async {
            for partition in 0..partitions {
                let client = self.try_client().await.ok()?;
                let partition_client = client
                    .partition_client(topic, partition, UnknownTopicHandling::Error)
                    .await
                    .ok()?;
                partition_client.get_offset(OffsetAt::Earliest).await.ok()?;
            }
            Some(())
        })
        .await
    }

    async fn try_client(&self) -> Result<Client, rskafka::client::error::Error> {
        let brokers = self.bootstrap().split(',').map(str::to_string).collect();
        ClientBuilder::new(brokers).build().await
    }

    /// An rskafka client, for reading back what the binaries wrote.
    pub async fn client(&self) -> Client {
        self.try_client().await.expect("rskafka client")
    }

    /// The end offset (high watermark) of one partition, read from a fetch (Tansu's ListOffsets "latest"
    /// is off; a fetch's high watermark is right on both).
    pub async fn end_offset(&self, topic: &str, partition: i32) -> i64 {
        let client = self.client().await;
        let partition = client
            .partition_client(topic, partition, UnknownTopicHandling::Error)
            .await
            .expect("partition client");
        let start = partition.get_offset(OffsetAt::Earliest).await.expect("earliest offset");
        let (_, high_watermark) = partition.fetch_records(start, 1..1_000_000, 1).await.expect("fetch");
        high_watermark
    }

    /// Every record of one partition, from the start: (offset, key, value as JSON).
    pub async fn read_all(&self, topic: &str, partition: i32) -> Vec<(i64, Option<String>, serde_json::Value)> {
        let client = self.client().await;
        let partition_client = client
            .partition_client(topic, partition, UnknownTopicHandling::Error)
            .await
            .expect("partition client");
        let end = self.end_offset(topic, partition).await;
        let mut offset = partition_client.get_offset(OffsetAt::Earliest).await.expect("earliest");
        let mut out = Vec::new();
        while offset < end {
            let (records, _) = partition_client
                .fetch_records(offset, 1..10_000_000, 100)
                .await
                .expect("fetch");
            for record in records {
                offset = record.offset + 1;
                let key = record.record.key.map(|k| String::from_utf8_lossy(&k).into_owned());
                let value = record.record.value.unwrap_or_default();
                let json = serde_json::from_slice(&value).unwrap_or(serde_json::Value::Null);
                out.push((record.offset, key, json));
            }
        }
        out
    }

    /// Stops every broker (not Kafka's controller). Kafka keeps its data for [`start_brokers`]; Tansu keeps
    /// nothing.
    ///
    /// [`start_brokers`]: Self::start_brokers
    pub fn stop_brokers(&mut self) {
        match &mut self.brokers {
            Brokers::OwnKafka(kafka) => (0..2).for_each(|i| kafka.kill_broker(i)),
            Brokers::Tansu(tansu) => tansu.stop(),
            Brokers::SharedKafka(_) => panic!("a test must not stop the shared cluster's brokers"),
        }
    }

    /// Stops one broker of a Kafka cluster of the test's own, in order (SIGTERM), waits for it to exit (a
    /// few seconds, blocking), and returns its node id.
    pub fn stop_one_broker(&mut self, i: usize) -> i32 {
        match &self.brokers {
            Brokers::OwnKafka(kafka) => {
                kafka.stop_broker(i);
                kafka.broker_id(i)
            }
            _ => panic!("only a Kafka cluster of the test's own has brokers to stop one of"),
        }
    }

    /// Starts the stopped brokers again on the same ports.
    pub async fn start_brokers(&mut self) {
        match &mut self.brokers {
            Brokers::OwnKafka(kafka) => (0..2).for_each(|i| kafka.restart_broker(i)),
            Brokers::Tansu(tansu) => *tansu = Tansu::start_on(tansu.port).await,
            Brokers::SharedKafka(_) => panic!("a test must not stop the shared cluster's brokers"),
        }
    }

    /// The Kafka cluster of this test's own (for faults of one broker); panics on any other.
    pub fn own_kafka(&self) -> &KafkaCluster {
        match &self.brokers {
            Brokers::OwnKafka(kafka) => kafka,
            _ => panic!("this test needs an Apache Kafka cluster of its own"),
        }
    }

    /// Freezes every broker (SIGSTOP): connections stay open, nothing is answered.
    pub fn pause_brokers(&self) {
        self.signal_brokers("STOP");
    }

    /// Lets paused brokers go on (SIGCONT).
    pub fn resume_brokers(&self) {
        self.signal_brokers("CONT");
    }

    fn signal_brokers(&self, signal: &str) {
        match &self.brokers {
            Brokers::OwnKafka(kafka) => (0..2).for_each(|i| kafka.signal_broker(i, signal)),
            Brokers::Tansu(tansu) => tansu.signal(signal),
            Brokers::SharedKafka(_) => panic!("a test must not pause the shared cluster's brokers"),
        }
    }
}
