//! Records written by other clients, on Apache Kafka: the Java producer with keys, headers and each
//! compression codec, and in transactions (committed and aborted, so transaction markers — control
//! batches — sit in the log). kafka-lab's consumer must read what it can decompress with keys and headers,
//! say clearly which codec it cannot read (the default build has no lz4 or zstd: they need C), and step
//! over markers so that a partition ending in one is not left with a lag of 1. And a compacted topic, whose
//! log has gaps where the cleaner removed records: they are stepped over at once.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rskafka::client::partition::{Compression, UnknownTopicHandling};
use rskafka::record::Record;
use serde_json::{json, Value};
use support::group::{events, status};
use support::kafka::run_tool;
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

/// A compacted topic: every round writes one record with a key of its own (it stays) and three with a shared
/// key (the cleaner keeps only the last), in a segment of its own (`segment.ms`), so that the compacted log has
/// a gap after each round. A new group reads it from the start, one batch per fetch (`FETCH_MAX_BYTES=1024`,
/// records of 1 KB), so that every fetch but the first starts at a gap: every record the log holds, each once,
/// and without waiting at the gaps (a gap on a topic that is not compacted is waited for: see
/// `consume::fetch_loop::gaps`).
#[tokio::test]
async fn a_compacted_topic_is_read_across_its_gaps_without_waiting_on_kafka() {
    let cluster = Cluster::of(Flavor::Kafka, false).await;
    let topic = cluster.name("compacted");
    let (bootstrap, name) = (cluster.bootstrap(), topic.clone());
    tokio::task::spawn_blocking(move || {
        let mut args = vec!["--bootstrap-server", &bootstrap, "--create", "--topic", &name];
        args.extend(["--partitions", "1", "--replication-factor", "2"]);
        for config in [
            "cleanup.policy=compact",
            "segment.ms=100",
            "min.cleanable.dirty.ratio=0.01",
            "min.compaction.lag.ms=0",
        ] {
            args.extend(["--config", config]);
        }
        run_tool("org.apache.kafka.tools.TopicCommand", &args)
    })
    .await
    .expect("TopicCommand --create");
    let client = cluster.client().await;
    let writer = eventually(SETTLE, "the topic's leader", || async {
        client
            .partition_client(&topic, 0, UnknownTopicHandling::Retry)
            .await
            .ok()
    })
    .await;
    let record = |key: String, id: i64| Record {
        key: Some(key.into_bytes()),
        value: Some(
            json!({ "id": id, "padding": "x".repeat(1000) })
                .to_string()
                .into_bytes(),
        ),
        headers: Default::default(),
        timestamp: rskafka::chrono::Utc::now(),
    };
    const ROUNDS: i64 = 15;
    for round in 0..ROUNDS {
        let mut records = vec![record(format!("own-{round}"), round * 10)];
        records.extend((1..=3).map(|n| record("shared".into(), round * 10 + n)));
        writer
            .produce(records, Compression::NoCompression)
            .await
            .expect("produce");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let gaps_of = |offsets: &[i64]| offsets.windows(2).filter(|w| w[1] > w[0] + 1).count();
    let kept = eventually(Duration::from_secs(60), "the cleaner to compact the log", || async {
        let log = cluster.read_all(&topic, 0).await;
        let offsets: Vec<i64> = log.iter().map(|(offset, _, _)| *offset).collect();
        (gaps_of(&offsets) >= 10).then_some(log)
    })
    .await;
    let offsets: Vec<i64> = kept.iter().map(|(offset, _, _)| *offset).collect();
    let gaps = gaps_of(&offsets);

    let group = cluster.name("compacted-group");
    let mut env = cluster.fast_group().to_vec();
    env.extend([("KAFKA_TOPIC", topic.as_str()), ("AUTO_OFFSET_RESET", "earliest")]);
    env.push(("FETCH_MAX_BYTES", "1024"));
    let consumer = Service::consumer(&cluster.bootstrap(), &group, &env).await;
    let started = Instant::now();
    let (partition, events) = caught_up(&consumer).await;
    let took = started.elapsed();
    let written: BTreeSet<i64> = (0..ROUNDS)
        .flat_map(|round| (0..4).map(move |n| round * 10 + n))
        .collect();
    let still_kept: Vec<i64> = cluster
        .read_all(&topic, 0)
        .await
        .iter()
        .filter_map(|(_, _, v)| v["id"].as_i64())
        .collect();
    let read = ids(&events);
    println!("compacted: read {read:?} in {took:?}; the log held {offsets:?} ({gaps} gaps) and now {still_kept:?}");
    // The cleaner may go on while the consumer reads, so the records read lie between what the log holds now and
    // what was written: each once, in order.
    assert!(read.windows(2).all(|w| w[0] < w[1]), "each once, in order: {read:?}");
    assert!(read.iter().all(|id| written.contains(id)), "{read:?}");
    assert!(
        still_kept.iter().all(|id| read.contains(id)),
        "all the log holds: {still_kept:?}, read {read:?}"
    );
    assert_eq!(partition["high_watermark"], ROUNDS * 4, "{partition}");
    // Waiting the 2 s grace at each gap would take 20 s or more.
    assert!(
        took < Duration::from_secs(10),
        "{gaps} gaps took {took:?} to read across: {}",
        consumer.logs()
    );
    println!(
        "compacted: {} records kept of {}, {gaps} gaps, read in {took:?}",
        kept.len(),
        ROUNDS * 4
    );
}
