//! Consumer groups when the cluster changes under them: brokers that stop answering, topics created after
//! the group formed. Every scenario runs on Apache Kafka (`..._on_kafka`) and on Tansu (`..._on_tansu`).

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use support::group::{ids, post_ids, status, wait_for_assignment, wait_for_ids};
use support::lab::Lab;
use support::{eventually, Cluster, Flavor, Service};

const SETTLE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_broker_that_stops_answering_is_reported_and_does_not_hold_up_shutdown_on_kafka() {
    a_broker_that_stops_answering_is_reported_and_does_not_hold_up_shutdown(Flavor::Kafka).await;
}

#[tokio::test]
async fn a_broker_that_stops_answering_is_reported_and_does_not_hold_up_shutdown_on_tansu() {
    a_broker_that_stops_answering_is_reported_and_does_not_hold_up_shutdown(Flavor::Tansu).await;
}

/// Every broker is frozen (SIGSTOP), as a hung cluster would be; the cluster is this test's own.
async fn a_broker_that_stops_answering_is_reported_and_does_not_hold_up_shutdown(flavor: Flavor) {
    let lab = Lab::start_on(Cluster::of(flavor, true).await).await;
    let mut stopping = lab.consumer("first-group").await;
    let waiting = lab.consumer("second-group").await;
    wait_for_assignment(&[&stopping], &[2], SETTLE).await;
    wait_for_assignment(&[&waiting], &[2], SETTLE).await;

    lab.cluster.pause_brokers();
    // SIGINT while heartbeats go unanswered: the member does not wait on the broker to exit.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stopped = Instant::now();
    let exit = stopping.signal("INT");
    let stop_time = stopped.elapsed();
    assert_eq!(exit.code(), Some(0), "{}", stopping.logs());
    assert!(stop_time < Duration::from_secs(2), "shutdown took {stop_time:?}");
    // A heartbeat unanswered for a session timeout: the member says the broker is unavailable.
    let seen = eventually(SETTLE, "/status to say broker_unavailable", || async {
        let seen = status(&waiting).await;
        (seen["state"] == "broker_unavailable").then_some(seen)
    })
    .await;
    assert!(
        seen["last_error"].as_str().is_some_and(|e| e.contains("Heartbeat")),
        "{seen}"
    );
    assert_eq!(seen["partitions"], serde_json::json!([]), "stale partitions in {seen}");

    lab.cluster.resume_brokers();
    wait_for_assignment(&[&waiting], &[2], Duration::from_secs(60)).await;
    post_ids(&lab.producer, 1..=4).await;
    wait_for_ids(&waiting, &(1..=4).collect(), "events after the broker came back").await;
}

#[tokio::test]
async fn a_topic_created_after_the_group_formed_is_shared_out_on_kafka() {
    a_topic_created_after_the_group_formed_is_shared_out(Flavor::Kafka).await;
}

#[tokio::test]
async fn a_topic_created_after_the_group_formed_is_shared_out_on_tansu() {
    a_topic_created_after_the_group_formed_is_shared_out(Flavor::Tansu).await;
}

async fn a_topic_created_after_the_group_formed_is_shared_out(flavor: Flavor) {
    let cluster = Cluster::of(flavor, false).await;
    let (topic, group) = (cluster.name("late-topic"), cluster.name("late-group"));
    let mut env = cluster.fast_group().to_vec();
    env.push(("KAFKA_TOPIC", &topic));
    let first = Service::consumer(&cluster.bootstrap(), &group, &env).await;
    let second = Service::consumer(&cluster.bootstrap(), &group, &env).await;
    for member in [&first, &second] {
        eventually(SETTLE, "both members idle: no such topic yet", || async {
            let seen = status(member).await;
            let idle = seen["idle_reason"]
                .as_str()
                .is_some_and(|r| r.contains("does not exist"));
            (seen["state"] == "stable" && idle).then_some(())
        })
        .await;
    }

    // The leader notices the new topic's partitions and has the group assigned again.
    cluster.create_topic(&topic, 2).await;
    let owned = wait_for_assignment(&[&first, &second], &[1, 1], SETTLE).await;
    assert_ne!(owned[0], owned[1], "each member owns a different partition");
    let producer = Service::producer(&cluster.bootstrap(), &[("KAFKA_TOPIC", &topic)]).await;
    post_ids(&producer, 1..=6).await;
    eventually(SETTLE, "events 1..6 split between the two members", || async {
        let got: BTreeSet<i64> = ids(&first).await.into_iter().chain(ids(&second).await).collect();
        (got == (1..=6).collect()).then_some(())
    })
    .await;
    assert!(!ids(&first).await.is_empty() && !ids(&second).await.is_empty());
}
