//! Visible resets, against real brokers: when the reset policy replaces an offset the group had, the
//! consumer says so in its log and in `/status` (partition, from where to where, what it skips), and every
//! event is either read or accounted for there. Apache Kafka: records deleted under a paused consumer
//! (DeleteRecords; Tansu does not implement it). Tansu: a broker restarted with memory storage, which loses
//! the group's committed offsets.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use rskafka::client::partition::UnknownTopicHandling;
use serde_json::Value;
use support::group::{post_ids, status, wait_for_assignment, Reader};
use support::lab::Lab;
use support::{eventually, Cluster, Flavor};

const SETTLE: Duration = Duration::from_secs(30);
const PAUSE: Duration = Duration::from_millis(200);

/// The resets listed in a consumer's `/status`.
fn resets(status: &Value) -> Vec<Value> {
    status["resets"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn records_deleted_before_they_were_read_are_a_visible_reset_on_kafka() {
    let lab = Lab::start(Flavor::Kafka).await;
    // A store of 3 events and no reader: the consumer pauses, its positions stay behind the log's end.
    let env = [("MAX_RETAINED_EVENTS", "3"), ("AUTO_OFFSET_RESET", "earliest")];
    let consumer = lab.consumer_with(&lab.group("first-group"), &env).await;
    wait_for_assignment(&[&consumer], &[2], SETTLE).await;
    post_ids(&lab.producer, 1..=10).await;
    eventually(SETTLE, "the consumer to pause", || async {
        status(&consumer).await["paused"].is_string().then_some(())
    })
    .await;

    // Everything is deleted from the log (as retention would), then a reader comes.
    let client = lab.cluster.client().await;
    for partition in 0..2 {
        let end = lab.cluster.end_offset(&lab.topic, partition).await;
        let leader = client
            .partition_client(lab.topic.as_str(), partition, UnknownTopicHandling::Error)
            .await
            .unwrap();
        leader.delete_records(end, 5_000).await.expect("DeleteRecords");
    }
    let mut reader = Reader::new(consumer.port);
    let started = std::time::Instant::now();
    let seen = loop {
        let _ = reader.read().await;
        let seen = status(&consumer).await;
        if resets(&seen).len() == 2 {
            break seen;
        }
        assert!(
            started.elapsed() < SETTLE,
            "no reset for each partition in /status: {seen}"
        );
        tokio::time::sleep(PAUSE).await;
    };
    println!("resets: {}", seen["resets"]);
    let mut gone = 0;
    for reset in resets(&seen) {
        assert!(reset["reason"].as_str().unwrap().contains("out of range"), "{reset}");
        assert_eq!(reset["skipped"], 0, "earliest skips nothing still in the log: {reset}");
        assert_eq!(reset["to"], reset["log_start"], "{reset}");
        gone += reset["gone"].as_i64().expect("known: the log says where it starts now");
    }
    reader
        .read_until(SETTLE, PAUSE, "the events still held", |r| {
            r.ids().len() + gone as usize >= 10
        })
        .await;
    let read: BTreeSet<i64> = reader.ids().into_iter().collect();
    assert_eq!(
        read.len() as i64 + gone,
        10,
        "each event read or reported gone: read {read:?}, gone {gone}"
    );
    assert!(
        consumer.logs().contains("the reset policy moves partition"),
        "{}",
        consumer.logs()
    );

    post_ids(&lab.producer, 11..=12).await;
    reader
        .read_until(SETTLE, PAUSE, "events after the reset", |r| r.ids().contains(&12))
        .await;
}

/// Tansu keeps everything in memory: restarted, it has lost the topic and the group's committed offsets.
/// The topic is created again; the consumer (latest) starts where the reset policy says, and says so.
#[tokio::test]
async fn committed_offsets_lost_by_the_broker_are_a_visible_reset_on_tansu() {
    let mut lab = Lab::start_on(Cluster::tansu().await).await;
    let consumer = lab.consumer(&lab.group("first-group")).await;
    wait_for_assignment(&[&consumer], &[2], SETTLE).await;
    post_ids(&lab.producer, 1..=6).await;
    let mut reader = Reader::new(consumer.port);
    reader
        .read_until(SETTLE, PAUSE, "events 1..6", |r| r.ids().len() == 6)
        .await;
    eventually(SETTLE, "what the reader had to be committed", || async {
        let seen = status(&consumer).await;
        let partitions = seen["partitions"].as_array()?.clone();
        partitions
            .iter()
            .all(|p| p["committed"] == p["high_watermark"])
            .then_some(())
    })
    .await;

    lab.cluster.stop_brokers();
    lab.cluster.start_brokers().await;
    eventually(SETTLE, "the consumer to see the topic gone", || async {
        status(&consumer).await["topic_missing"].is_string().then_some(())
    })
    .await;
    lab.cluster.create_topic(&lab.topic, 2).await;
    // Events sent while the consumer finds its way back: read, or counted as skipped by the reset.
    let mut sent = Vec::new();
    for id in 7..=16 {
        let reply = eventually(SETTLE, "the producer to write to the topic again", || async {
            let reply = support::http::post_json(lab.producer.port, "/", &format!(r#"{{"id": {id}}}"#))
                .await
                .ok()?;
            (reply.status == 200).then_some(reply)
        })
        .await;
        sent.push(reply.json());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let seen = eventually(SETTLE, "a reset for each partition in /status", || async {
        let seen = status(&consumer).await;
        (resets(&seen).len() == 2 && seen["state"] == "stable").then_some(seen)
    })
    .await;
    println!("resets: {}", seen["resets"]);
    let mut skipped = 0;
    for reset in resets(&seen) {
        assert!(reset["reason"].as_str().unwrap().contains("vanished"), "{reset}");
        assert_eq!(reset["from"], 3, "the offset committed before the restart: {reset}");
        skipped += reset["skipped"].as_i64().unwrap();
    }
    let what = "every event sent after the restart read or counted as skipped";
    reader
        .read_until(SETTLE, PAUSE, what, |r| {
            r.ids().iter().filter(|&&id| id > 6).count() as i64 + skipped >= 10
        })
        .await;
    let read_after: Vec<i64> = reader.ids().into_iter().filter(|&id| id > 6).collect();
    println!("read after the restart: {read_after:?}; skipped by the resets: {skipped}");
    assert_eq!(
        read_after.len() as i64 + skipped,
        10,
        "each event read or counted as skipped"
    );
}
