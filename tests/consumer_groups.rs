//! Consumer groups against real brokers, following the workshop's section 3 (and section 2's downtime).
//! Every scenario runs on Apache Kafka (`..._on_kafka`) and on Tansu (`..._on_tansu`) with the same
//! assertions.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use support::group::{events, ids, owned, post_ids, status, wait_for_assignment, wait_for_ids};
use support::lab::Lab;
use support::{eventually, Flavor, Service};

const SETTLE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn one_group_splits_partitions_and_a_second_group_gets_everything_on_kafka() {
    one_group_splits_partitions_and_a_second_group_gets_everything(Flavor::Kafka).await;
}

#[tokio::test]
async fn one_group_splits_partitions_and_a_second_group_gets_everything_on_tansu() {
    one_group_splits_partitions_and_a_second_group_gets_everything(Flavor::Tansu).await;
}

async fn one_group_splits_partitions_and_a_second_group_gets_everything(flavor: Flavor) {
    let lab = Lab::start(flavor).await;
    let (first_group, second_group) = (lab.group("first-group"), lab.group("second-group"));
    let first = lab.consumer(&first_group).await;
    let second = lab.consumer(&first_group).await;
    let other_group = lab.consumer(&second_group).await;
    let owned = wait_for_assignment(&[&first, &second], &[1, 1], SETTLE).await;
    assert_ne!(owned[0], owned[1], "each member owns a different partition");
    wait_for_assignment(&[&other_group], &[2], SETTLE).await;

    post_ids(&lab.producer, 1..=100).await;
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
async fn sigint_hands_partitions_over_to_the_survivor_on_kafka() {
    sigint_hands_partitions_over_to_the_survivor(Flavor::Kafka).await;
}

#[tokio::test]
async fn sigint_hands_partitions_over_to_the_survivor_on_tansu() {
    sigint_hands_partitions_over_to_the_survivor(Flavor::Tansu).await;
}

async fn sigint_hands_partitions_over_to_the_survivor(flavor: Flavor) {
    let lab = Lab::start(flavor).await;
    let group = lab.group("first-group");
    let survivor = lab.consumer(&group).await;
    let mut leaving = lab.consumer(&group).await;
    wait_for_assignment(&[&survivor, &leaving], &[1, 1], SETTLE).await;

    let stopped = Instant::now();
    let exit = leaving.signal("INT");
    let stop_time = stopped.elapsed();
    assert_eq!(exit.code(), Some(0), "{}", leaving.logs());
    assert!(stop_time < Duration::from_secs(2), "shutdown took {stop_time:?}");
    assert!(leaving.logs().contains("left the group"), "{}", leaving.logs());

    wait_for_assignment(&[&survivor], &[2], SETTLE).await;
    println!(
        "{flavor:?}: hand-over after SIGINT: survivor owns both partitions {:?} after the signal",
        stopped.elapsed()
    );
    post_ids(&lab.producer, 1..=10).await;
    wait_for_ids(&survivor, &(1..=10).collect(), "the survivor to get new events").await;
    let partitions: BTreeSet<i64> = events(&survivor)
        .await
        .iter()
        .filter_map(|e| e["partition"].as_i64())
        .collect();
    assert_eq!(partitions, BTreeSet::from([0, 1]));
}

#[tokio::test]
async fn sigkill_survivor_takes_over_after_the_session_timeout_and_nothing_is_lost_on_kafka() {
    sigkill_survivor_takes_over_after_the_session_timeout_and_nothing_is_lost(Flavor::Kafka).await;
}

#[tokio::test]
async fn sigkill_survivor_takes_over_after_the_session_timeout_and_nothing_is_lost_on_tansu() {
    sigkill_survivor_takes_over_after_the_session_timeout_and_nothing_is_lost(Flavor::Tansu).await;
}

async fn sigkill_survivor_takes_over_after_the_session_timeout_and_nothing_is_lost(flavor: Flavor) {
    let lab = Lab::start(flavor).await;
    let group = lab.group("first-group");
    let survivor = lab.consumer(&group).await;
    let mut killed = lab.consumer(&group).await;
    wait_for_assignment(&[&survivor, &killed], &[1, 1], SETTLE).await;

    post_ids(&lab.producer, 1..=20).await;
    eventually(SETTLE, "both members to consume", || async {
        (ids(&survivor).await.len() + ids(&killed).await.len() >= 20).then_some(())
    })
    .await;
    let seen_by_killed = ids(&killed).await;
    let killed_at = Instant::now();
    killed.signal("KILL");
    post_ids(&lab.producer, 21..=40).await;

    wait_for_assignment(&[&survivor], &[2], Duration::from_secs(40)).await;
    println!(
        "{flavor:?}: hand-over after SIGKILL ({:?}): {:?}",
        lab.cluster.fast_group()[0],
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
async fn a_restarted_consumer_picks_up_events_sent_while_it_was_down_on_kafka() {
    a_restarted_consumer_picks_up_events_sent_while_it_was_down(Flavor::Kafka).await;
}

#[tokio::test]
async fn a_restarted_consumer_picks_up_events_sent_while_it_was_down_on_tansu() {
    a_restarted_consumer_picks_up_events_sent_while_it_was_down(Flavor::Tansu).await;
}

async fn a_restarted_consumer_picks_up_events_sent_while_it_was_down(flavor: Flavor) {
    let lab = Lab::start(flavor).await;
    let group = lab.group("first-group");
    let mut first_run = lab.consumer(&group).await;
    wait_for_assignment(&[&first_run], &[2], SETTLE).await;
    post_ids(&lab.producer, 1..=10).await;
    wait_for_ids(&first_run, &(1..=10).collect(), "the first run to consume").await;
    first_run.signal("INT");

    post_ids(&lab.producer, 11..=20).await;
    let second_run = lab.consumer(&group).await;
    wait_for_ids(&second_run, &(11..=20).collect(), "events sent during the downtime").await;
    let got = ids(&second_run).await;
    assert!(
        got.iter().all(|id| *id > 10),
        "already-committed events came again: {got:?}"
    );
}

#[tokio::test]
async fn a_new_group_starts_at_latest_or_earliest_as_configured_on_kafka() {
    a_new_group_starts_at_latest_or_earliest_as_configured(Flavor::Kafka).await;
}

#[tokio::test]
async fn a_new_group_starts_at_latest_or_earliest_as_configured_on_tansu() {
    a_new_group_starts_at_latest_or_earliest_as_configured(Flavor::Tansu).await;
}

async fn a_new_group_starts_at_latest_or_earliest_as_configured(flavor: Flavor) {
    let lab = Lab::start(flavor).await;
    post_ids(&lab.producer, 1..=10).await;
    let earliest = lab
        .consumer_with(&lab.group("from-the-start"), &[("AUTO_OFFSET_RESET", "earliest")])
        .await;
    let latest = lab.consumer(&lab.group("from-now-on")).await;
    wait_for_ids(&earliest, &(1..=10).collect(), "earliest to read the backlog").await;
    wait_for_assignment(&[&latest], &[2], SETTLE).await;
    post_ids(&lab.producer, 11..=12).await;
    wait_for_ids(&latest, &BTreeSet::from([11, 12]), "latest to read new events").await;
    // The two events go to different partitions, so they may arrive in either order.
    let mut got = ids(&latest).await;
    got.sort_unstable();
    assert_eq!(got, [11, 12], "latest skipped the backlog");
}

#[tokio::test]
async fn a_message_that_is_not_json_is_kept_and_the_partition_goes_on_on_kafka() {
    a_message_that_is_not_json_is_kept_and_the_partition_goes_on(Flavor::Kafka).await;
}

#[tokio::test]
async fn a_message_that_is_not_json_is_kept_and_the_partition_goes_on_on_tansu() {
    a_message_that_is_not_json_is_kept_and_the_partition_goes_on(Flavor::Tansu).await;
}

async fn a_message_that_is_not_json_is_kept_and_the_partition_goes_on(flavor: Flavor) {
    let lab = Lab::start(flavor).await;
    let consumer = lab.consumer(&lab.group("first-group")).await;
    wait_for_assignment(&[&consumer], &[2], SETTLE).await;
    let client = lab.cluster.client().await;
    for partition in [0, 1] {
        let partition_client = client
            .partition_client(
                lab.topic.as_str(),
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
    post_ids(&lab.producer, 1..=4).await;
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
async fn a_third_member_on_two_partitions_says_it_is_idle_on_kafka() {
    a_third_member_on_two_partitions_says_it_is_idle(Flavor::Kafka).await;
}

#[tokio::test]
async fn a_third_member_on_two_partitions_says_it_is_idle_on_tansu() {
    a_third_member_on_two_partitions_says_it_is_idle(Flavor::Tansu).await;
}

async fn a_third_member_on_two_partitions_says_it_is_idle(flavor: Flavor) {
    let lab = Lab::start(flavor).await;
    let group = lab.group("first-group");
    let members = [
        lab.consumer(&group).await,
        lab.consumer(&group).await,
        lab.consumer(&group).await,
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
    let expected = format!("{} has 2 partitions", lab.topic);
    assert!(reason.contains(&expected) && reason.contains("owns none"), "{reason}");
    assert!(idle.logs().contains("owns none"), "{}", idle.logs());
}

#[tokio::test]
async fn consumer_interface_matches_the_workshop_on_kafka() {
    consumer_interface_matches_the_workshop(Flavor::Kafka).await;
}

#[tokio::test]
async fn consumer_interface_matches_the_workshop_on_tansu() {
    consumer_interface_matches_the_workshop(Flavor::Tansu).await;
}

async fn consumer_interface_matches_the_workshop(flavor: Flavor) {
    let lab = Lab::start(flavor).await;
    let group = lab.group("first-group");
    let consumer = lab.consumer(&group).await;
    let ping = support::http::get(consumer.port, "/ping").await.unwrap();
    assert_eq!((ping.status, ping.body.clone()), (200, format!("pong:{group}")));
    assert_eq!(ping.header("access-control-allow-origin"), Some("*"));
    let started = format!("Starting consumer on topic {}, in group {group}", lab.topic);
    assert!(consumer.logs().contains(&started), "{}", consumer.logs());

    wait_for_assignment(&[&consumer], &[2], SETTLE).await;
    post_ids(&lab.producer, 1..=3).await;
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
