//! Records written by other clients, on Apache Kafka: the Java producer with keys, headers and each
//! compression codec, and in transactions (committed and aborted, so transaction markers — control
//! batches — sit in the log). kafka-lab's consumer must read what it can decompress with keys and headers,
//! say clearly which codec it cannot read (the default build has no lz4 or zstd: they need C), and step
//! over markers so that a partition ending in one is not left with a lag of 1.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use support::group::{events, status};
use support::peer::java_producer;
use support::{eventually, Cluster, Flavor, Service};

const SETTLE: Duration = Duration::from_secs(40);

/// A topic of one partition, written by `write`, and a new consumer group reading it from the start.
async fn written_by_java(cluster: &Cluster, base: &str, write: impl FnOnce(&str, &str)) -> Service {
    let topic = cluster.name(base);
    cluster.create_topic(&topic, 1).await;
    write(&cluster.bootstrap(), &topic);
    let group = cluster.name("records-group");
    let mut env = cluster.fast_group().to_vec();
    env.extend([("KAFKA_TOPIC", topic.as_str()), ("AUTO_OFFSET_RESET", "earliest")]);
    Service::consumer(&cluster.bootstrap(), &group, &env).await
}

/// The one partition's entry in `/status` once its lag is 0 and everything is committed, and the events
/// held then. Committed = processed: offsets are committed once a reader had the events, so this reader
/// takes them (`/events`) while it waits.
async fn caught_up(consumer: &Service) -> (Value, Vec<Value>) {
    let partition = eventually(SETTLE, "the partition read to its end (lag 0)", || async {
        events(consumer).await;
        let seen = status(consumer).await;
        let partition = seen["partitions"].as_array()?.first()?.clone();
        (partition["lag"] == 0 && partition["committed"] == partition["high_watermark"]).then_some(partition)
    })
    .await;
    (partition, events(consumer).await)
}

fn ids(events: &[Value]) -> Vec<i64> {
    events.iter().filter_map(|e| e["event"]["id"].as_i64()).collect()
}

#[tokio::test]
async fn java_records_with_keys_headers_and_each_readable_codec_on_kafka() {
    let cluster = Cluster::of(Flavor::Kafka, false).await;
    for codec in ["none", "gzip", "snappy"] {
        let consumer = written_by_java(&cluster, codec, |bootstrap, topic| {
            java_producer(bootstrap, topic, 1, 5, codec, "plain");
        })
        .await;
        let (partition, events) = caught_up(&consumer).await;
        assert_eq!(ids(&events), [1, 2, 3, 4, 5], "{codec}: {events:?}");
        for event in &events {
            let id = event["event"]["id"].as_i64().unwrap();
            assert_eq!(event["key"], format!("k{id}"), "{codec}: {event}");
            assert_eq!(event["headers"]["source"], "java", "{codec}: {event}");
        }
        assert_eq!(partition["committed"], 5, "{codec}: {partition}");
        println!("{codec}: 5 records read with keys and headers, lag 0");
    }
}

#[tokio::test]
async fn a_codec_this_build_cannot_read_is_named_not_skipped_on_kafka() {
    let cluster = Cluster::of(Flavor::Kafka, false).await;
    for codec in ["lz4", "zstd"] {
        let consumer = written_by_java(&cluster, codec, |bootstrap, topic| {
            java_producer(bootstrap, topic, 1, 5, codec, "plain");
        })
        .await;
        let partition = eventually(SETTLE, "/status to name the codec", || async {
            let seen = status(&consumer).await;
            let partition = seen["partitions"].as_array()?.first()?.clone();
            let error = partition["error"].as_str()?.to_string();
            let named = error.contains(codec) && error.contains("partition 0");
            (named && seen["last_error"].as_str()? == error).then_some(partition)
        })
        .await;
        let error = partition["error"].as_str().unwrap();
        assert!(
            error.contains(&format!("topic {}", cluster_topic(&consumer))),
            "{error}"
        );
        assert_eq!(partition["position"], 0, "the batch is held, not skipped: {partition}");
        assert_eq!(partition["lag"], 5, "{partition}");
        assert!(events(&consumer).await.is_empty());
        // Told once in the log, not once per retry.
        tokio::time::sleep(Duration::from_secs(6)).await;
        let told = consumer.logs().matches(&format!("compressed with {codec}")).count();
        assert_eq!(told, 1, "{}", consumer.logs());
        println!("{codec}: held at offset 0 and named: {error}");
    }
}

/// The topic a consumer reads, from its `/status`... read from its log's first line instead, so it does not
/// need the broker.
fn cluster_topic(consumer: &Service) -> String {
    let logs = consumer.logs();
    let line = logs.lines().find(|l| l.contains("Starting consumer on topic")).unwrap();
    let after = line.split("Starting consumer on topic ").nth(1).unwrap();
    after.split(',').next().unwrap().to_string()
}

#[tokio::test]
async fn transactions_committed_and_aborted_are_read_and_markers_stepped_over_on_kafka() {
    let cluster = Cluster::of(Flavor::Kafka, false).await;
    let consumer = written_by_java(&cluster, "transactions", |bootstrap, topic| {
        java_producer(bootstrap, topic, 1, 3, "none", "plain");
        java_producer(bootstrap, topic, 4, 3, "gzip", "transactional-commit");
        java_producer(bootstrap, topic, 7, 3, "none", "transactional-abort");
        java_producer(bootstrap, topic, 10, 3, "snappy", "plain");
        // The log ends with a marker: the position must still reach the end.
        java_producer(bootstrap, topic, 13, 3, "none", "transactional-commit");
    })
    .await;
    let (partition, events) = caught_up(&consumer).await;
    // 15 records and 3 markers: offsets 0..=17.
    assert_eq!(partition["high_watermark"], 18, "{partition}");
    // As Java's consumer with its default isolation (read_uncommitted), aborted records are shown too.
    let got: BTreeSet<i64> = ids(&events).into_iter().collect();
    assert_eq!(got, (1..=15).collect(), "{events:?}");
    assert_eq!(events.len(), 15, "each record once, no marker as an event: {events:?}");
    println!(
        "transactions: 15 records and 3 markers read, committed {}",
        partition["committed"]
    );
}
