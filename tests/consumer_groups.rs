//! Consumer groups against a real broker, following the workshop's section 3 (and section 2's downtime).

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use support::group::{events, ids, owned, post_ids, status, wait_for_assignment, FAST_GROUP};
use support::{eventually, Broker, Service};

const SETTLE: Duration = Duration::from_secs(30);

async fn lab() -> (Broker, Service) {
    let broker = Broker::start().await;
    broker.create_topic("first-topic", 2);
    let producer = Service::producer(&broker.address(), &[]).await;
    (broker, producer)
}

async fn consumer(broker: &Broker, group: &str) -> Service {
    Service::consumer(&broker.address(), group, FAST_GROUP).await
}

/// Waits until `consumer` holds events with all of `wanted` ids.
async fn wait_for_ids(consumer: &Service, wanted: &BTreeSet<i64>, what: &str) {
    eventually(SETTLE, what, || async {
        let got: BTreeSet<i64> = ids(consumer).await.into_iter().collect();
        wanted.is_subset(&got).then_some(())
    })
    .await
}

#[tokio::test]
async fn one_group_splits_partitions_and_a_second_group_gets_everything() {
    let (broker, producer) = lab().await;
    let first = consumer(&broker, "first-group").await;
    let second = consumer(&broker, "first-group").await;
    let other_group = consumer(&broker, "second-group").await;
    let owned = wait_for_assignment(&[&first, &second], &[1, 1], SETTLE).await;
    assert_ne!(owned[0], owned[1], "each member owns a different partition");
    wait_for_assignment(&[&other_group], &[2], SETTLE).await;

    post_ids(&producer, 1..=100).await;
    let all: BTreeSet<i64> = (1..=100).collect();
    wait_for_ids(&other_group, &all, "the second group to get all 100 events (fan-out)").await;
    let union = eventually(SETTLE, "first-group to get all 100 events", || async {
        let mut union = ids(&first).await;
        union.extend(ids(&second).await);
        (union.len() >= 100).then_some(union)
    })
    .await;
    let distinct: BTreeSet<i64> = union.iter().copied().collect();
    assert_eq!(union.len(), 100, "no duplicates within the group");
    assert_eq!(distinct, all);
    for (member, partitions) in [(&first, &owned[0]), (&second, &owned[1])] {
        let events = events(member).await;
        assert!(
            (40..=60).contains(&events.len()),
            "round-robin split, got {}",
            events.len()
        );
        assert!(events
            .iter()
            .all(|e| partitions.contains(&e["partition"].as_i64().unwrap())));
    }
    assert_eq!(
        ids(&other_group).await.len(),
        100,
        "the other group got each event once"
    );
}

#[tokio::test]
async fn sigint_hands_partitions_over_to_the_survivor() {
    let (broker, producer) = lab().await;
    let survivor = consumer(&broker, "first-group").await;
    let mut leaving = consumer(&broker, "first-group").await;
    wait_for_assignment(&[&survivor, &leaving], &[1, 1], SETTLE).await;

    let stopped = Instant::now();
    let exit = leaving.signal("INT");
    let stop_time = stopped.elapsed();
    assert_eq!(exit.code(), Some(0), "{}", leaving.logs());
    assert!(stop_time < Duration::from_secs(2), "shutdown took {stop_time:?}");
    assert!(leaving.logs().contains("left the group"), "{}", leaving.logs());

    wait_for_assignment(&[&survivor], &[2], SETTLE).await;
    println!(
        "hand-over after SIGINT: survivor owns both partitions {:?} after the signal",
        stopped.elapsed()
    );
    post_ids(&producer, 1..=10).await;
    wait_for_ids(&survivor, &(1..=10).collect(), "the survivor to get new events").await;
    let partitions: BTreeSet<i64> = events(&survivor)
        .await
        .iter()
        .filter_map(|e| e["partition"].as_i64())
        .collect();
    assert_eq!(partitions, BTreeSet::from([0, 1]));
}

#[tokio::test]
async fn sigkill_survivor_takes_over_after_the_session_timeout_and_nothing_is_lost() {
    let (broker, producer) = lab().await;
    let survivor = consumer(&broker, "first-group").await;
    let mut killed = consumer(&broker, "first-group").await;
    wait_for_assignment(&[&survivor, &killed], &[1, 1], SETTLE).await;

    post_ids(&producer, 1..=20).await;
    eventually(SETTLE, "both members to consume", || async {
        (ids(&survivor).await.len() + ids(&killed).await.len() >= 20).then_some(())
    })
    .await;
    let seen_by_killed = ids(&killed).await;
    let killed_at = Instant::now();
    killed.signal("KILL");
    post_ids(&producer, 21..=40).await;

    wait_for_assignment(&[&survivor], &[2], Duration::from_secs(40)).await;
    println!(
        "hand-over after SIGKILL (session timeout 3 s): {:?}",
        killed_at.elapsed()
    );
    let mut expected: BTreeSet<i64> = (1..=40).collect();
    for id in &seen_by_killed {
        expected.remove(id);
    }
    let what = format!(
        "every event the killed member did not show ({seen_by_killed:?} were shown; survivor log {})",
        survivor.log.display()
    );
    wait_for_ids(&survivor, &expected, &what).await;
}

#[tokio::test]
async fn a_restarted_consumer_picks_up_events_sent_while_it_was_down() {
    let (broker, producer) = lab().await;
    let mut first_run = consumer(&broker, "first-group").await;
    wait_for_assignment(&[&first_run], &[2], SETTLE).await;
    post_ids(&producer, 1..=10).await;
    wait_for_ids(&first_run, &(1..=10).collect(), "the first run to consume").await;
    first_run.signal("INT");

    post_ids(&producer, 11..=20).await;
    let second_run = consumer(&broker, "first-group").await;
    wait_for_ids(&second_run, &(11..=20).collect(), "events sent during the downtime").await;
    let got = ids(&second_run).await;
    assert!(
        got.iter().all(|id| *id > 10),
        "already-committed events came again: {got:?}"
    );
}

#[tokio::test]
async fn a_new_group_starts_at_latest_or_earliest_as_configured() {
    let (broker, producer) = lab().await;
    post_ids(&producer, 1..=10).await;
    let mut earliest_env = FAST_GROUP.to_vec();
    earliest_env.push(("AUTO_OFFSET_RESET", "earliest"));
    let earliest = Service::consumer(&broker.address(), "from-the-start", &earliest_env).await;
    let latest = consumer(&broker, "from-now-on").await;
    wait_for_ids(&earliest, &(1..=10).collect(), "earliest to read the backlog").await;
    wait_for_assignment(&[&latest], &[2], SETTLE).await;
    post_ids(&producer, 11..=12).await;
    wait_for_ids(&latest, &BTreeSet::from([11, 12]), "latest to read new events").await;
    // The two events go to different partitions, so they may arrive in either order.
    let mut got = ids(&latest).await;
    got.sort_unstable();
    assert_eq!(got, [11, 12], "latest skipped the backlog");
}

#[tokio::test]
async fn a_message_that_is_not_json_is_kept_and_the_partition_goes_on() {
    let (broker, producer) = lab().await;
    let consumer = consumer(&broker, "first-group").await;
    wait_for_assignment(&[&consumer], &[2], SETTLE).await;
    let client = broker.client().await;
    for partition in [0, 1] {
        let partition_client = client
            .partition_client(
                "first-topic",
                partition,
                rskafka::client::partition::UnknownTopicHandling::Error,
            )
            .await
            .unwrap();
        let record = rskafka::record::Record {
            key: None,
            value: Some(b"hello, not json".to_vec()),
            headers: Default::default(),
            timestamp: rskafka::chrono::Utc::now(),
        };
        partition_client
            .produce(vec![record], Default::default())
            .await
            .unwrap();
    }
    post_ids(&producer, 1..=4).await;
    wait_for_ids(&consumer, &(1..=4).collect(), "JSON events after the bad ones").await;
    let raw: Vec<_> = events(&consumer)
        .await
        .into_iter()
        .filter(|e| e["event"]["raw"].is_string())
        .collect();
    assert_eq!(raw.len(), 2, "both bad messages are shown");
    assert_eq!(raw[0]["event"]["raw"], "hello, not json");
    assert_eq!(raw[0]["event"]["error"], "not a JSON object");
    eventually(SETTLE, "the count in /status", || async {
        (status(&consumer).await["invalid_events"] == 2).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_third_member_on_two_partitions_says_it_is_idle() {
    let (broker, _producer) = lab().await;
    let members = [
        consumer(&broker, "first-group").await,
        consumer(&broker, "first-group").await,
        consumer(&broker, "first-group").await,
    ];
    let refs: Vec<&Service> = members.iter().collect();
    let owned = eventually(SETTLE, "2 partitions over 3 members", || async {
        let mut sizes = Vec::new();
        for member in &refs {
            sizes.push(owned(member).await?.len());
        }
        let mut sorted = sizes.clone();
        sorted.sort();
        (sorted == [0, 1, 1]).then_some(sizes)
    })
    .await;
    let idle = &members[owned.iter().position(|&n| n == 0).unwrap()];
    let reason = status(idle).await["idle_reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.contains("first-topic has 2 partitions") && reason.contains("owns none"),
        "{reason}"
    );
    assert!(idle.logs().contains("owns none"), "{}", idle.logs());
}

#[tokio::test]
async fn consumer_interface_matches_the_workshop() {
    let (broker, producer) = lab().await;
    let consumer = consumer(&broker, "first-group").await;
    let ping = support::http::get(consumer.port, "/ping").await.unwrap();
    assert_eq!((ping.status, ping.body.as_str()), (200, "pong:first-group"));
    assert_eq!(ping.header("access-control-allow-origin"), Some("*"));
    assert!(consumer
        .logs()
        .contains("Starting consumer on topic first-topic, in group first-group"));

    wait_for_assignment(&[&consumer], &[2], SETTLE).await;
    post_ids(&producer, 1..=3).await;
    wait_for_ids(&consumer, &(1..=3).collect(), "three events").await;
    let drained = support::http::get(consumer.port, "/").await.unwrap().json();
    let drained = drained.as_array().unwrap();
    assert_eq!(drained.len(), 3);
    assert!(drained
        .iter()
        .all(|e| e["consumed"].is_string() && e["produced"].is_string()));
    let again = support::http::get(consumer.port, "/").await.unwrap().json();
    assert_eq!(again, serde_json::json!([]), "GET / drains");
    assert_eq!(ids(&consumer).await.len(), 3, "/events is not drained by GET /");
}

#[tokio::test]
async fn a_broker_that_stops_answering_is_reported_and_does_not_hold_up_shutdown() {
    let (broker, producer) = lab().await;
    let mut stopping = consumer(&broker, "first-group").await;
    let waiting = consumer(&broker, "second-group").await;
    wait_for_assignment(&[&stopping], &[2], SETTLE).await;
    wait_for_assignment(&[&waiting], &[2], SETTLE).await;

    broker.pause();
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

    broker.resume();
    wait_for_assignment(&[&waiting], &[2], SETTLE).await;
    post_ids(&producer, 1..=4).await;
    wait_for_ids(&waiting, &(1..=4).collect(), "events after the broker came back").await;
}

#[tokio::test]
async fn a_topic_created_after_the_group_formed_is_shared_out() {
    let broker = Broker::start().await;
    let mut env = FAST_GROUP.to_vec();
    env.push(("KAFKA_TOPIC", "late-topic"));
    let first = Service::consumer(&broker.address(), "late-group", &env).await;
    let second = Service::consumer(&broker.address(), "late-group", &env).await;
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
    broker.create_topic("late-topic", 2);
    let owned = wait_for_assignment(&[&first, &second], &[1, 1], SETTLE).await;
    assert_ne!(owned[0], owned[1], "each member owns a different partition");
    let producer = Service::producer(&broker.address(), &[("KAFKA_TOPIC", "late-topic")]).await;
    post_ids(&producer, 1..=6).await;
    eventually(SETTLE, "events 1..6 split between the two members", || async {
        let got: BTreeSet<i64> = ids(&first).await.into_iter().chain(ids(&second).await).collect();
        (got == (1..=6).collect()).then_some(())
    })
    .await;
    assert!(!ids(&first).await.is_empty() && !ids(&second).await.is_empty());
}

#[tokio::test]
async fn consumer_config_errors_name_the_variable() {
    let binary = support::process::consumer_binary();
    let (status, output) = support::process::run_to_exit(binary, &[], &[("KAFKA_BOOTSTRAP_SERVERS", "a:1")]);
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(output.contains("CONSUMER_GROUP"), "{output}");
    let (status, help) = support::process::run_to_exit(binary, &["--help"], &[]);
    assert_eq!(status.code(), Some(0));
    for var in [
        "CONSUMER_GROUP",
        "AUTO_OFFSET_RESET",
        "SESSION_TIMEOUT_MS",
        "MAX_POLL_INTERVAL_MS",
        "GROUP_INSTANCE_ID",
        "FETCH_MAX_WAIT_MS",
        "8000",
    ] {
        assert!(help.contains(var), "--help lacks {var}");
    }
}
