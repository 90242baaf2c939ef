//! Scenario 1, click→consumed latency: one click at a time. The bench POSTs an event, then polls the consumer
//! that owns its partition (`GET /events`, 1 ms apart) until it shows it; the next click follows at once.
//!
//! On Apache Kafka the clicks run twice, because `acks=all` means different work on different topics:
//! - on the workshop's shape, replication factor 2: the leader answers the Produce, and hands the record to
//!   the consumer's parked fetch, only once the follower has fetched it (a second broker in the path);
//! - on a topic with one replica: the record is committed as soon as the leader wrote it, so what is left is
//!   our two programs and one broker.
//!
//! Kafka's own `EndToEndLatency` (the Java producer and consumer) runs after each, on the same shape of topic.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::probe::{partition_of, partition_owners, produced_to_consumed, rss_mib, wait_assigned, wait_seen};
use crate::report::{millis, quantile, Target};
use crate::support::{http, Flavor, Service};
use crate::Bench;
use kafka_lab::event::wall_clock;
use Target::{AtMost, Info};

/// Clicks measured in each run: as many as Kafka's `EndToEndLatency` sends, so that each p99 is the tenth
/// slowest, not a single unlucky click.
const LATENCY_EVENTS: u64 = 1_000;
/// Clicks before the measured ones: they prove both fetch loops and the producer's connection, and warm the
/// brokers' request paths (a JVM broker just started runs its first requests in the interpreter).
const WARM_UP_EVENTS: u64 = 1_000;
/// The targets on Apache Kafka, which answers a parked fetch as soon as data arrives (p50, p99 in ms).
const KAFKA_TARGETS: (f64, f64) = (2.0, 5.0);
/// Tansu re-checks parked fetches instead, so its targets are looser.
const TANSU_TARGETS: (f64, f64) = (10.0, 30.0);

/// What a run of clicks measured.
#[derive(Default)]
struct Clicks {
    /// Click → seen by the probe, for each measured click that was seen.
    seen: Vec<Duration>,
    /// The `POST /` alone, for each measured click.
    posts: Vec<Duration>,
    /// `consumed` − `produced`, from the events' own stamps (millisecond resolution).
    in_kafka: Vec<Duration>,
    /// Measured clicks no consumer showed within 5 s.
    missing: usize,
}

impl Clicks {
    fn sort(&mut self) {
        self.seen.sort();
        self.posts.sort();
        self.in_kafka.sort();
    }
}

impl Bench {
    /// The scenario: clicks on the workshop's topic; on Apache Kafka also on a topic with one replica, and
    /// Kafka's own end-to-end tool after each.
    pub async fn latency(&mut self) {
        let pair = self.latency_consumers("first-topic", "bench-latency").await;
        self.idle_consumer_rss = rss_mib(&pair[0]);
        let idle = ("consumer RSS, idle (joined, no events)", self.idle_consumer_rss);
        self.report
            .add("footprint", &[(idle.0, idle.1, "MiB", AtMost(8.0), "50 MiB")]);
        let clicks = self.clicks(&pair, "first-topic").await;
        drop(pair);
        let big_posts = self.big_posts().await;
        self.workshop_rows(&clicks, &big_posts);
        if self.broker.flavor == Flavor::Kafka {
            let ours = quantile(&clicks.seen, 0.5);
            self.java_end_to_end("click→consumed", ("end-to-end", 2), ours).await;
            self.latency_with_one_replica().await;
        }
    }

    /// Two consumers of one group on `topic`, once each owns a partition.
    async fn latency_consumers(&mut self, topic: &str, group: &str) -> [Service; 2] {
        let first = self.consumer(topic, group, &[]).await;
        let second = self.consumer(topic, group, &[]).await;
        if !wait_assigned(&[first.port, second.port], 2, Duration::from_secs(30)).await {
            self.report.note(format!(
                "latency ({topic}): the two consumers did not own a partition each within 30 s"
            ));
        }
        [first, second]
    }

    /// Clicks one at a time on `topic`, each followed by polling (only) the consumer that owns its partition,
    /// which keeps the probe's own load off the machine.
    async fn clicks(&self, pair: &[Service; 2], topic: &str) -> Clicks {
        let ports = [pair[0].port, pair[1].port];
        let owners = partition_owners(&ports).await;
        let (mut cursors, mut clicks) = ([0, 0], Clicks::default());
        for id in 0..WARM_UP_EVENTS + LATENCY_EVENTS {
            let start = Instant::now();
            let body = json!({ "topic": topic, "id": id, "clicked": wall_clock() }).to_string();
            let posted = http::post_json(self.producer.port, "/", &body).await;
            let post_time = start.elapsed();
            let found = match posted {
                Ok(reply) if reply.status == 200 => {
                    let owner = partition_of(&reply.body).and_then(|p| owners.get(&p).copied());
                    wait_seen(&ports, owner, &mut cursors, id, start).await
                }
                _ => None,
            };
            if id < WARM_UP_EVENTS {
                continue;
            }
            clicks.posts.push(post_time);
            match found {
                Some(event) => {
                    clicks.seen.push(start.elapsed());
                    clicks.in_kafka.extend(produced_to_consumed(&event));
                }
                None => clicks.missing += 1,
            }
        }
        clicks.sort();
        clicks
    }

    /// The rows of the workshop's topic, with the targets.
    fn workshop_rows(&mut self, clicks: &Clicks, big_posts: &[Duration]) {
        let (p50_target, p99_target) = match self.broker.flavor {
            Flavor::Kafka => KAFKA_TARGETS,
            Flavor::Tansu => TANSU_TARGETS,
        };
        let (seen, posts, in_kafka) = (&clicks.seen, &clicks.posts, &clicks.in_kafka);
        let (max, missing) = (seen.last().map(|d| millis(*d)), Some(clicks.missing as f64));
        let stamps_p50 = "produced → consumed p50 (the events' stamps, 1 ms steps)";
        self.report.add(
            "click→consumed",
            &[
                ("p50", quantile(seen, 0.5), "ms", AtMost(p50_target), "244 ms"),
                ("p90", quantile(seen, 0.9), "ms", Info("—"), ""),
                ("p99", quantile(seen, 0.99), "ms", AtMost(p99_target), "263 ms"),
                ("max", max, "ms", Info("—"), ""),
                ("not seen within 5 s", missing, "events", AtMost(0.0), ""),
                (stamps_p50, quantile(in_kafka, 0.5), "ms", Info("—"), ""),
                (
                    "produced → consumed p99 (the events' stamps)",
                    quantile(in_kafka, 0.99),
                    "ms",
                    Info("—"),
                    "",
                ),
                ("POST / p50", quantile(posts, 0.5), "ms", Info("—"), ""),
                ("POST / p99", quantile(posts, 0.99), "ms", Info("—"), ""),
                (
                    "POST / p50, 32 KB events",
                    quantile(big_posts, 0.5),
                    "ms",
                    Info("—"),
                    "",
                ),
            ],
        );
    }

    /// The same clicks on a topic with one replica (Apache Kafka only), and the Java client beside them.
    async fn latency_with_one_replica(&mut self) {
        let topic = "latency-one-replica";
        self.broker.create_topic_replicated(topic, 2, 1).await;
        let pair = self.latency_consumers(topic, "bench-latency-one-replica").await;
        let clicks = self.clicks(&pair, topic).await;
        drop(pair);
        let (seen, posts) = (&clicks.seen, &clicks.posts);
        let (p50_target, p99_target) = KAFKA_TARGETS;
        let missing = Some(clicks.missing as f64);
        let scenario = "click→consumed, one replica";
        self.report.add(
            scenario,
            &[
                ("p50", quantile(seen, 0.5), "ms", AtMost(p50_target), "244 ms"),
                ("p99", quantile(seen, 0.99), "ms", AtMost(p99_target), "263 ms"),
                ("not seen within 5 s", missing, "events", AtMost(0.0), ""),
                ("POST / p50", quantile(posts, 0.5), "ms", Info("—"), ""),
                ("POST / p99", quantile(posts, 0.99), "ms", Info("—"), ""),
            ],
        );
        let ours = quantile(seen, 0.5);
        self.java_end_to_end(scenario, ("end-to-end-one-replica", 1), ours)
            .await;
        self.report.note(
            "click→consumed, one replica: the same clicks on a topic with replication factor 1, where acks=all \
             waits for the leader alone: no follower fetch between the write and the consumer's answer. The \
             workshop's topics (and the rows above them) have two replicas.",
        );
    }

    /// Twenty POSTs of a 32 KB event: the size range where a Kafka request waits for a delayed ACK.
    async fn big_posts(&self) -> Vec<Duration> {
        let mut times = Vec::new();
        for id in 0..20 {
            let body = json!({ "id": id, "padding": "x".repeat(32 * 1024) }).to_string();
            let start = Instant::now();
            let _ = http::post_json(self.producer.port, "/", &body).await;
            times.push(start.elapsed());
        }
        times.sort();
        times
    }
}
