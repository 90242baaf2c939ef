//! The consumer group protocol of KIP-848 (`GROUP_PROTOCOL=consumer`) against Apache Kafka 4.4: the
//! workshop's steps (split, fan-out, hand-over after Ctrl+C and after `kill -9`, downtime, a topic that grows
//! partitions). Tansu has no ConsumerGroupHeartbeat and must be refused in one line. Other clients and the
//! classic protocol in the same group: `consumer_protocol_mixed.rs`.
//!
//! The test cluster sets the consumer protocol's session timeout to 6 s and its heartbeat interval to
//! 500 ms (the broker's settings now, see `support::kafka`), as the classic tests set theirs.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafka_lab::group::client::find_coordinator;
use support::group::{events, ids, owned, post_ids, status, wait_for_ids, wait_for_owned, PacedProducer};
use support::kafka::run_tool;
use support::lab::Lab;
use support::{eventually, Cluster, Flavor, Service};

const SETTLE: Duration = Duration::from_secs(40);

#[tokio::test]
async fn one_group_splits_partitions_and_a_second_group_gets_everything() {
    let lab = Lab::start(Flavor::Kafka).await;
    let (group, other) = (lab.group("first-group"), lab.group("second-group"));
    let first = lab.consumer_protocol_member(&group, &[]).await;
    let second = lab.consumer_protocol_member(&group, &[]).await;
    let fan_out = lab.consumer_protocol_member(&other, &[]).await;
    let owned = wait_for_owned(&[&first, &second], &[1, 1], SETTLE).await;
    wait_for_owned(&[&fan_out], &[2], SETTLE).await;
    let seen = status(&first).await;
    assert_eq!(seen["protocol"], "consumer", "{seen}");
    assert!(
        seen["epoch"].as_i64().is_some_and(|e| e > 0) && seen["generation"].is_null(),
        "{seen}"
    );
    assert!(seen["leader"] == false && seen["target"].is_null(), "{seen}");

    post_ids(&lab.producer, 1..=100).await;
    let all: BTreeSet<i64> = (1..=100).collect();
    wait_for_ids(&fan_out, &all, "the second group to get all 100 events (fan-out)").await;
    let union = eventually(SETTLE, "first-group to get all 100 events", || async {
        let mut union = ids(&first).await;
        union.extend(ids(&second).await);
        (union.len() >= 100).then_some(union)
    })
    .await;
    assert_eq!(union.len(), 100, "no duplicates within the group");
    assert_eq!(union.iter().copied().collect::<BTreeSet<i64>>(), all);
    for (consumer, partitions) in [(&first, &owned[0]), (&second, &owned[1])] {
        let events = events(consumer).await;
        assert!((40..=60).contains(&events.len()), "an even split, got {}", events.len());
        assert!(events
            .iter()
            .all(|e| partitions.contains(&e["partition"].as_i64().unwrap())));
    }
    assert_eq!(ids(&fan_out).await.len(), 100, "the other group got each event once");
}

#[tokio::test]
async fn sigint_hands_partitions_over_to_the_survivor() {
    let lab = Lab::start(Flavor::Kafka).await;
    let group = lab.group("first-group");
    let survivor = lab.consumer_protocol_member(&group, &[]).await;
    let mut leaving = lab.consumer_protocol_member(&group, &[]).await;
    wait_for_owned(&[&survivor, &leaving], &[1, 1], SETTLE).await;

    let stopped = Instant::now();
    let exit = leaving.signal("INT");
    let stop_time = stopped.elapsed();
    assert_eq!(exit.code(), Some(0), "{}", leaving.logs());
    assert!(stop_time < Duration::from_secs(2), "shutdown took {stop_time:?}");
    assert!(leaving.logs().contains("left the group"), "{}", leaving.logs());

    wait_for_owned(&[&survivor], &[2], SETTLE).await;
    println!(
        "consumer protocol: hand-over after SIGINT: the survivor owns both partitions {:?} after the signal",
        stopped.elapsed()
    );
    post_ids(&lab.producer, 1..=10).await;
    wait_for_ids(&survivor, &(1..=10).collect(), "the survivor to get new events").await;
}

#[tokio::test]
async fn sigkill_survivor_takes_over_after_the_session_timeout_and_nothing_is_lost() {
    let lab = Lab::start(Flavor::Kafka).await;
    let group = lab.group("first-group");
    let survivor = lab.consumer_protocol_member(&group, &[]).await;
    let mut killed = lab.consumer_protocol_member(&group, &[]).await;
    wait_for_owned(&[&survivor, &killed], &[1, 1], SETTLE).await;

    post_ids(&lab.producer, 1..=20).await;
    eventually(SETTLE, "both members to consume", || async {
        (ids(&survivor).await.len() + ids(&killed).await.len() >= 20).then_some(())
    })
    .await;
    let seen_by_killed = ids(&killed).await;
    let killed_at = Instant::now();
    killed.signal("KILL");
    post_ids(&lab.producer, 21..=40).await;

    wait_for_owned(&[&survivor], &[2], SETTLE).await;
    println!(
        "consumer protocol: hand-over after SIGKILL (broker session 6 s): {:?}",
        killed_at.elapsed()
    );
    let mut expected: BTreeSet<i64> = (1..=40).collect();
    for id in &seen_by_killed {
        expected.remove(id);
    }
    wait_for_ids(&survivor, &expected, "every event the killed member did not show").await;
}

#[tokio::test]
async fn a_restarted_consumer_picks_up_events_sent_while_it_was_down() {
    let lab = Lab::start(Flavor::Kafka).await;
    let group = lab.group("first-group");
    let mut first_run = lab.consumer_protocol_member(&group, &[]).await;
    wait_for_owned(&[&first_run], &[2], SETTLE).await;
    post_ids(&lab.producer, 1..=10).await;
    wait_for_ids(&first_run, &(1..=10).collect(), "the first run to consume").await;
    first_run.signal("INT");

    post_ids(&lab.producer, 11..=20).await;
    let second_run = lab.consumer_protocol_member(&group, &[]).await;
    wait_for_ids(&second_run, &(11..=20).collect(), "events sent during the downtime").await;
    let got = ids(&second_run).await;
    assert!(
        got.iter().all(|id| *id > 10),
        "already-committed events came again: {got:?}"
    );
}

/// A static member (`GROUP_INSTANCE_ID`) leaves with epoch -2, "back soon": the coordinator keeps its
/// partition for it, and a restart within the session timeout gets it back without the other member's
/// assignment or epoch changing.
#[tokio::test]
async fn a_static_member_restarted_within_the_session_gets_its_partition_back_without_a_rebalance() {
    let lab = Lab::start(Flavor::Kafka).await;
    let group = lab.group("static-group");
    let instance = [("GROUP_INSTANCE_ID", "lab-static-1")];
    let other = lab.consumer_protocol_member(&group, &[]).await;
    let mut restarted = lab.consumer_protocol_member(&group, &instance).await;
    let owned = wait_for_owned(&[&other, &restarted], &[1, 1], SETTLE).await;
    let epoch = status(&other).await["epoch"].clone();

    restarted.signal("INT");
    let log = restarted.plain_logs();
    assert!(
        log.contains("left the group") && log.contains("leave_epoch=-2"),
        "{log}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let restarted = lab.consumer_protocol_member(&group, &instance).await;
    let again = wait_for_owned(&[&other, &restarted], &[1, 1], SETTLE).await;
    assert_eq!(again, owned, "the same partitions");
    let seen = status(&other).await;
    assert_eq!(seen["epoch"], epoch, "the other member was not rebalanced: {seen}");
}

#[tokio::test]
async fn partitions_added_to_the_topic_are_assigned_by_the_broker() {
    let lab = Lab::start(Flavor::Kafka).await;
    let group = lab.group("growing-group");
    let first = lab.consumer_protocol_member(&group, &[]).await;
    let second = lab.consumer_protocol_member(&group, &[]).await;
    wait_for_owned(&[&first, &second], &[1, 1], SETTLE).await;

    let (bootstrap, topic) = (lab.cluster.bootstrap(), lab.topic.clone());
    tokio::task::spawn_blocking(move || {
        let args = [
            "--bootstrap-server",
            &bootstrap,
            "--alter",
            "--topic",
            &topic,
            "--partitions",
            "3",
        ];
        run_tool("org.apache.kafka.tools.TopicCommand", &args)
    })
    .await
    .expect("TopicCommand --alter");
    let grown = Instant::now();
    let owned = eventually(SETTLE, "partition 2 to be assigned", || async {
        let sets = [owned(&first).await?, owned(&second).await?];
        let all: BTreeSet<i64> = sets.iter().flatten().copied().collect();
        (all == BTreeSet::from([0, 1, 2])).then_some(sets)
    })
    .await;
    println!(
        "consumer protocol: a new partition assigned {:?} after it was added",
        grown.elapsed()
    );
    let owner = if owned[0].contains(&2) { &first } else { &second };
    produce_to(&lab, 2, r#"{"id": 1000}"#).await;
    wait_for_ids(owner, &BTreeSet::from([1000]), "the event on the new partition").await;
}

/// Writes one record straight to `partition` of the lab's topic.
async fn produce_to(lab: &Lab, partition: i32, value: &str) {
    let client = lab.cluster.client().await;
    let partition_client = eventually(SETTLE, "the new partition's leader", || async {
        let unknown = rskafka::client::partition::UnknownTopicHandling::Retry;
        client
            .partition_client(lab.topic.as_str(), partition, unknown)
            .await
            .ok()
    })
    .await;
    let record = rskafka::record::Record {
        key: None,
        value: Some(value.as_bytes().to_vec()),
        headers: Default::default(),
        timestamp: rskafka::chrono::Utc::now(),
    };
    partition_client
        .produce(vec![record], Default::default())
        .await
        .expect("produce");
}

// --- a broker without it ---

/// The coordinator's broker is shut down while events flow, then started again: the coordinator moves to
/// the other broker, the members find it and heartbeat on, keeping their partitions and epochs (the
/// cluster is the test's own).
#[tokio::test]
async fn the_coordinator_moves_and_the_members_keep_their_partitions_and_epochs() {
    let lab = Lab::start_on(Cluster::of(Flavor::Kafka, true).await).await;
    let group = "moving-group";
    let first = lab.consumer_protocol_member(group, &[]).await;
    let second = lab.consumer_protocol_member(group, &[]).await;
    let owned_before = wait_for_owned(&[&first, &second], &[1, 1], SETTLE).await;
    let epochs_before = (
        status(&first).await["epoch"].clone(),
        status(&second).await["epoch"].clone(),
    );

    let brokers: Vec<String> = lab.cluster.bootstrap().split(',').map(str::to_string).collect();
    let plaintext = std::sync::Arc::new(kafka_lab::security::Security::plaintext());
    let coordinator = find_coordinator(&brokers, &plaintext, group)
        .await
        .expect("the coordinator");
    let index = brokers
        .iter()
        .position(|b| *b == coordinator)
        .expect("a broker of ours");
    let paced = PacedProducer::start(&lab.producer);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let kafka = lab.cluster.own_kafka();
    kafka.stop_broker(index);
    let moved = eventually(SETTLE, "the coordinator to move", || async {
        let found = find_coordinator(&brokers, &plaintext, group).await.ok();
        found.filter(|c| *c != coordinator)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    kafka.restart_broker(index);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let acked = paced.stop();

    let received = eventually(SETTLE, "every acknowledged event to be consumed", || async {
        let received: Vec<i64> = ids(&first).await.into_iter().chain(ids(&second).await).collect();
        let distinct: BTreeSet<i64> = received.iter().copied().collect();
        acked.is_subset(&distinct).then_some(received)
    })
    .await;
    let duplicates = received.len() - received.iter().collect::<BTreeSet<_>>().len();
    println!(
        "consumer protocol: coordinator moved {coordinator} → {moved}: {} events acknowledged, all consumed, \
         {duplicates} duplicates",
        acked.len()
    );
    let owned_after = wait_for_owned(&[&first, &second], &[1, 1], SETTLE).await;
    assert_eq!(owned_before, owned_after, "each member kept its partition");
    let epochs_after = (
        status(&first).await["epoch"].clone(),
        status(&second).await["epoch"].clone(),
    );
    assert_eq!(epochs_before, epochs_after, "no new assignment");
    assert_eq!(duplicates, 0, "nothing moved, so nothing is read twice");
}

#[tokio::test]
async fn tansu_refuses_group_protocol_consumer_in_one_line_and_the_consumer_exits_non_zero() {
    let cluster = Cluster::tansu().await;
    cluster.create_topic("first-topic", 2).await;
    let env = [("GROUP_PROTOCOL", "consumer")];
    let mut consumer = Service::consumer(&cluster.bootstrap(), "first-group", &env).await;
    let seen = eventually(SETTLE, "/status to say failed", || async {
        let seen = status(&consumer).await;
        (seen["state"] == "failed").then_some(seen)
    })
    .await;
    let reason = seen["last_error"].as_str().unwrap_or_default().to_string();
    assert!(
        reason.contains("does not support GROUP_PROTOCOL=consumer") && reason.contains("use GROUP_PROTOCOL=classic"),
        "{reason}"
    );
    let exit = consumer.wait_exit(Duration::from_secs(10)).expect("the consumer exits");
    assert_eq!(exit.code(), Some(1), "{}", consumer.logs());
    let lines = consumer
        .logs()
        .lines()
        .filter(|l| l.contains("does not support GROUP_PROTOCOL"))
        .count();
    assert!(
        lines <= 2,
        "one line in the log (and the exit message): {}",
        consumer.logs()
    );
}

#[tokio::test]
async fn help_lists_the_protocol_settings_and_a_wrong_value_is_named() {
    let binary = support::process::consumer_binary();
    let (exit, help) = support::process::run_to_exit(binary, &["--help"], &[]);
    assert_eq!(exit.code(), Some(0));
    for needle in [
        "GROUP_PROTOCOL",
        "classic or consumer",
        "GROUP_REMOTE_ASSIGNOR",
        "uniform or range",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}: {help}");
    }
    let env = [
        ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"),
        ("CONSUMER_GROUP", "g"),
        ("GROUP_PROTOCOL", "eager"),
    ];
    let (exit, output) = support::process::run_to_exit(binary, &[], &env);
    assert_eq!(exit.code(), Some(2), "{output}");
    assert!(
        output.contains("GROUP_PROTOCOL is 'eager'; expected classic or consumer"),
        "{output}"
    );
}
