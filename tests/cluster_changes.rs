//! Consumer groups when the cluster changes under them: brokers that stop answering, topics created after
//! the group formed. Every scenario runs on Apache Kafka (`..._on_kafka`) and on Tansu (`..._on_tansu`).

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use support::group::{ids, post_ids, status, wait_for_assignment, wait_for_ids};
use support::http;
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
    let mut stopping_later = lab.consumer("third-group").await;
    wait_for_assignment(&[&stopping], &[2], SETTLE).await;
    wait_for_assignment(&[&waiting], &[2], SETTLE).await;
    wait_for_assignment(&[&stopping_later], &[2], SETTLE).await;

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
    // SIGINT once the coordinator counts as unreachable (the member fetches on and looks for it): the
    // final commit and LeaveGroup are bounded, so this is quick too.
    eventually(SETTLE, "the third consumer to say broker_unavailable", || async {
        (status(&stopping_later).await["state"] == "broker_unavailable").then_some(())
    })
    .await;
    let stopped = Instant::now();
    let exit = stopping_later.signal("INT");
    let unreachable_stop_time = stopped.elapsed();
    println!("{flavor:?}: SIGINT took {stop_time:?}; SIGINT while unreachable took {unreachable_stop_time:?}");
    assert_eq!(exit.code(), Some(0), "{}", stopping_later.logs());
    assert!(
        unreachable_stop_time < Duration::from_secs(2),
        "shutdown while unreachable took {unreachable_stop_time:?}"
    );
    // The member still owns its partitions while the coordinator is unreachable (it fetches on in the same
    // generation, as Java does), so `/status` lists them: they are not stale.

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

#[tokio::test]
async fn a_topic_deleted_while_clients_run_is_reported_and_not_created_again_on_kafka() {
    a_topic_deleted_while_clients_run_is_reported_and_not_created_again(Flavor::Kafka).await;
}

#[tokio::test]
async fn a_topic_deleted_while_clients_run_is_reported_and_not_created_again_on_tansu() {
    a_topic_deleted_while_clients_run_is_reported_and_not_created_again(Flavor::Tansu).await;
}

/// The topic is deleted under a running producer and consumer. Tansu lets any Metadata request that names a
/// missing topic create it (with 4 partitions), so this shows that none of our requests does.
async fn a_topic_deleted_while_clients_run_is_reported_and_not_created_again(flavor: Flavor) {
    let lab = Lab::start(flavor).await;
    let consumer = lab.consumer(&lab.group("first-group")).await;
    wait_for_assignment(&[&consumer], &[2], SETTLE).await;
    post_ids(&lab.producer, 1..=4).await;
    wait_for_ids(&consumer, &(1..=4).collect(), "events before the deletion").await;

    lab.cluster.delete_topic(&lab.topic).await;
    let reply = eventually(SETTLE, "the producer to answer 404", || async {
        let reply = http::post_json(lab.producer.port, "/", r#"{"id": 5}"#).await.ok()?;
        (reply.status != 200).then_some(reply)
    })
    .await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert!(reply.body.contains("no longer exists"), "{}", reply.body);
    let seen = eventually(SETTLE, "the consumer's /status to say the topic is gone", || async {
        let seen = status(&consumer).await;
        seen["topic_missing"]
            .as_str()?
            .contains("no longer exists")
            .then_some(seen)
    })
    .await;
    println!("{flavor:?}: /status after the deletion: {seen}");
    // Time for every client to try what could create it: fetch loops, the topic watch, the leader's check of
    // the partition counts and the rebalance that follows, the producer's next requests.
    for id in 6..=10 {
        let reply = http::post_json(lab.producer.port, "/", &format!(r#"{{"id": {id}}}"#))
            .await
            .unwrap();
        assert_eq!(reply.status, 404, "{}", reply.body);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let topics = lab.cluster.topic_names().await;
    assert!(
        !topics.contains(&lab.topic),
        "{} was created again: {topics:?}",
        lab.topic
    );
    assert!(consumer.logs().contains("no longer exists"), "{}", consumer.logs());

    // Created again, by hand: both go on by themselves.
    lab.cluster.create_topic(&lab.topic, 2).await;
    wait_for_assignment(&[&consumer], &[2], SETTLE).await;
    let mut id = 100;
    eventually(
        Duration::from_secs(60),
        "the consumer to read the topic created again",
        || {
            id += 1;
            let (producer, consumer) = (&lab.producer, &consumer);
            async move {
                http::post_json(producer.port, "/", &format!(r#"{{"id": {id}}}"#))
                    .await
                    .ok()?;
                tokio::time::sleep(Duration::from_millis(200)).await;
                ids(consumer).await.iter().any(|&got| got > 100).then_some(())
            }
        },
    )
    .await;
    assert!(status(&consumer).await["topic_missing"].is_null());
}
