//! The consumer group protocol of KIP-848 (`GROUP_PROTOCOL=consumer`) against Apache Kafka 4.4: the
//! workshop's steps (split, fan-out, hand-over after Ctrl+C and after `kill -9`, downtime, a topic that grows
//! partitions), the Java KafkaConsumer with `group.protocol=consumer` in the same group, a classic member in
//! a group of consumer-protocol members, and the difference the protocol makes: during a rebalance that
//! moves one partition, the member that keeps the other goes on receiving it. Tansu has no
//! ConsumerGroupHeartbeat and must be refused in one line.
//!
//! The test cluster sets the consumer protocol's session timeout to 6 s and its heartbeat interval to
//! 500 ms (the broker's settings now, see `support::kafka`), as the classic tests set theirs.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::group::{events, ids, owned, post_ids, status, wait_for_ids, PacedProducer};
use support::kafka::run_tool;
use support::lab::Lab;
use support::peer::{Client, Peer};
use support::{eventually, Cluster, Flavor, Service};

const SETTLE: Duration = Duration::from_secs(40);

/// A kafka-lab consumer of the lab's topic in `group`, speaking the consumer protocol.
async fn member(lab: &Lab, group: &str, extra: &[(&str, &str)]) -> Service {
    let mut env = vec![("KAFKA_TOPIC", lab.topic.as_str()), ("GROUP_PROTOCOL", "consumer")];
    env.extend_from_slice(extra);
    Service::consumer(&lab.cluster.bootstrap(), group, &env).await
}

/// Waits until every consumer is stable owning `sizes[i]` partitions, no partition twice; returns them.
async fn wait_for_owned(consumers: &[&Service], sizes: &[usize]) -> Vec<BTreeSet<i64>> {
    eventually(SETTLE, &format!("the group to settle at {sizes:?}"), || async {
        let mut all = Vec::new();
        for consumer in consumers {
            all.push(owned(consumer).await?);
        }
        let counts: Vec<usize> = all.iter().map(BTreeSet::len).collect();
        let distinct: BTreeSet<i64> = all.iter().flatten().copied().collect();
        let total: usize = counts.iter().sum();
        (counts == sizes && distinct.len() == total).then_some(all)
    })
    .await
}

#[tokio::test]
async fn one_group_splits_partitions_and_a_second_group_gets_everything() {
    let lab = Lab::start(Flavor::Kafka).await;
    let (group, other) = (lab.group("first-group"), lab.group("second-group"));
    let first = member(&lab, &group, &[]).await;
    let second = member(&lab, &group, &[]).await;
    let fan_out = member(&lab, &other, &[]).await;
    let owned = wait_for_owned(&[&first, &second], &[1, 1]).await;
    wait_for_owned(&[&fan_out], &[2]).await;
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
    let survivor = member(&lab, &group, &[]).await;
    let mut leaving = member(&lab, &group, &[]).await;
    wait_for_owned(&[&survivor, &leaving], &[1, 1]).await;

    let stopped = Instant::now();
    let exit = leaving.signal("INT");
    let stop_time = stopped.elapsed();
    assert_eq!(exit.code(), Some(0), "{}", leaving.logs());
    assert!(stop_time < Duration::from_secs(2), "shutdown took {stop_time:?}");
    assert!(leaving.logs().contains("left the group"), "{}", leaving.logs());

    wait_for_owned(&[&survivor], &[2]).await;
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
    let survivor = member(&lab, &group, &[]).await;
    let mut killed = member(&lab, &group, &[]).await;
    wait_for_owned(&[&survivor, &killed], &[1, 1]).await;

    post_ids(&lab.producer, 1..=20).await;
    eventually(SETTLE, "both members to consume", || async {
        (ids(&survivor).await.len() + ids(&killed).await.len() >= 20).then_some(())
    })
    .await;
    let seen_by_killed = ids(&killed).await;
    let killed_at = Instant::now();
    killed.signal("KILL");
    post_ids(&lab.producer, 21..=40).await;

    wait_for_owned(&[&survivor], &[2]).await;
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
    let mut first_run = member(&lab, &group, &[]).await;
    wait_for_owned(&[&first_run], &[2]).await;
    post_ids(&lab.producer, 1..=10).await;
    wait_for_ids(&first_run, &(1..=10).collect(), "the first run to consume").await;
    first_run.signal("INT");

    post_ids(&lab.producer, 11..=20).await;
    let second_run = member(&lab, &group, &[]).await;
    wait_for_ids(&second_run, &(11..=20).collect(), "events sent during the downtime").await;
    let got = ids(&second_run).await;
    assert!(
        got.iter().all(|id| *id > 10),
        "already-committed events came again: {got:?}"
    );
}

#[tokio::test]
async fn partitions_added_to_the_topic_are_assigned_by_the_broker() {
    let lab = Lab::start(Flavor::Kafka).await;
    let group = lab.group("growing-group");
    let first = member(&lab, &group, &[]).await;
    let second = member(&lab, &group, &[]).await;
    wait_for_owned(&[&first, &second], &[1, 1]).await;

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

// --- with other clients ---

#[tokio::test]
async fn the_java_consumer_with_group_protocol_consumer_shares_the_group() {
    let lab = Lab::start(Flavor::Kafka).await;
    let group = lab.group("java-group");
    let ours = member(&lab, &group, &[("AUTO_OFFSET_RESET", "earliest")]).await;
    wait_for_owned(&[&ours], &[2]).await;
    let session = lab.cluster.fast_group()[0].1;
    let consumer_protocol = [("GROUP_PROTOCOL", "consumer")];
    let mut java = Peer::start_with(
        Client::Java,
        &lab.cluster.bootstrap(),
        &lab.topic,
        &group,
        session,
        &consumer_protocol,
    );
    let our_partition = wait_for_split_with(&ours, &java).await;
    check_each_gets_its_partition(&lab, &ours, &java, our_partition, 1..=20).await;

    java.stop();
    wait_for_owned(&[&ours], &[2]).await;
    post_ids(&lab.producer, 21..=30).await;
    wait_for_ids(&ours, &(21..=30).collect(), "kafka-lab to receive events 21..30").await;
}

#[tokio::test]
async fn a_classic_member_of_ours_and_a_consumer_protocol_member_share_one_group() {
    let lab = Lab::start(Flavor::Kafka).await;
    let group = lab.group("mixed-group");
    let modern = member(&lab, &group, &[]).await;
    wait_for_owned(&[&modern], &[2]).await;
    let mut classic = lab.consumer(&group).await;
    wait_for_owned(&[&modern, &classic], &[1, 1]).await;
    let seen = status(&classic).await;
    assert_eq!(seen["protocol"], "classic", "{seen}");

    post_ids(&lab.producer, 1..=20).await;
    let union = eventually(SETTLE, "the group to get all 20 events", || async {
        let mut union = ids(&modern).await;
        union.extend(ids(&classic).await);
        (union.len() >= 20).then_some(union)
    })
    .await;
    assert_eq!(union.len(), 20, "no duplicates: {union:?}");
    assert!(!ids(&modern).await.is_empty() && !ids(&classic).await.is_empty());

    classic.signal("INT");
    wait_for_owned(&[&modern], &[2]).await;
    post_ids(&lab.producer, 21..=30).await;
    wait_for_ids(
        &modern,
        &(21..=30).collect(),
        "the consumer-protocol member to take over",
    )
    .await;
}

#[tokio::test]
async fn aiokafka_as_a_classic_member_joins_a_consumer_protocol_group() {
    let lab = Lab::start(Flavor::Kafka).await;
    let group = lab.group("aiokafka-group");
    let ours = member(&lab, &group, &[("AUTO_OFFSET_RESET", "earliest")]).await;
    wait_for_owned(&[&ours], &[2]).await;
    let session = lab.cluster.fast_group()[0].1;
    let mut aiokafka = Peer::start(Client::Aiokafka, &lab.cluster.bootstrap(), &lab.topic, &group, session);
    let our_partition = wait_for_split_with(&ours, &aiokafka).await;
    check_each_gets_its_partition(&lab, &ours, &aiokafka, our_partition, 1..=20).await;
    aiokafka.stop();
    wait_for_owned(&[&ours], &[2]).await;
}

/// Waits until kafka-lab and the peer own one partition each; returns kafka-lab's.
async fn wait_for_split_with(ours: &Service, theirs: &Peer) -> i64 {
    eventually(SETTLE, "kafka-lab and the peer to split the partitions", || async {
        let our_partitions = owned(ours).await?;
        let their_partitions = theirs.assignment()?;
        let split = our_partitions.len() == 1 && their_partitions.len() == 1 && our_partitions != their_partitions;
        split.then(|| *our_partitions.first().unwrap())
    })
    .await
}

/// Posts events `sent` and checks that each member received exactly the events of its partition.
async fn check_each_gets_its_partition(
    lab: &Lab,
    ours: &Service,
    theirs: &Peer,
    our_partition: i64,
    sent: std::ops::RangeInclusive<i64>,
) {
    post_ids(&lab.producer, sent.clone()).await;
    let on = |partition: i64| async move {
        let records = lab.cluster.read_all(&lab.topic, partition as i32).await;
        let ids = records.iter().filter_map(|(_, _, v)| v["id"].as_i64());
        ids.collect::<BTreeSet<i64>>()
    };
    let (ours_expected, theirs_expected) = (on(our_partition).await, on(1 - our_partition).await);
    assert_eq!(ours_expected.len() + theirs_expected.len(), sent.count());
    eventually(SETTLE, "both members to receive their partition's events", || async {
        let got_ours: BTreeSet<i64> = ids(ours).await.into_iter().collect();
        let got_theirs: BTreeSet<i64> = theirs.received().into_iter().map(|(_, id)| id).collect();
        (got_ours == ours_expected && got_theirs == theirs_expected).then_some(())
    })
    .await;
    assert!(theirs.received().iter().all(|(p, _)| *p == 1 - our_partition));
    assert_eq!(
        ids(ours).await.len(),
        ours_expected.len(),
        "kafka-lab received no duplicates"
    );
}

// --- incremental ---

/// What the first member did while a second one joined and took one partition from it, under `protocol`.
struct Handover {
    /// The partition the first member kept.
    kept: i64,
    /// The longest an event of the kept partition waited (produced → consumed) meanwhile.
    longest_wait: Duration,
    /// The same in the 2 s before the second member started: what the machine's load costs anyway.
    before: Duration,
    /// The first member's log, without colours.
    log: String,
}

/// A member owns both partitions while events flow to both; a second member joins and takes one.
async fn second_member_joins(protocol: &'static str) -> Handover {
    let _turn = support::one_at_a_time().await;
    let lab = Lab::start(Flavor::Kafka).await;
    let group = lab.group(&format!("{protocol}-group"));
    let env = [("GROUP_PROTOCOL", protocol)];
    let first = lab.consumer_with(&group, &env).await;
    wait_for_owned(&[&first], &[2]).await;
    let producer = PacedProducer::start(&lab.producer);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let joining = stamp_ms(&chrono::Local::now().format("%H:%M:%S:%3f").to_string()).unwrap();
    let second = lab.consumer_with(&group, &env).await;
    let owned = wait_for_owned(&[&first, &second], &[1, 1]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent = producer.stop();
    eventually(SETTLE, "every acknowledged event to be consumed", || async {
        let union: BTreeSet<i64> = ids(&first).await.into_iter().chain(ids(&second).await).collect();
        sent.is_subset(&union).then_some(())
    })
    .await;
    let kept = *owned[0].first().unwrap();
    let waits: Vec<(f64, f64)> = events(&first)
        .await
        .iter()
        .filter(|e| e["partition"] == kept)
        .filter_map(|e| waited(&e["event"]))
        .collect();
    let longest = |during: bool| {
        let waits = waits.iter().filter(|(produced, _)| (*produced >= joining) == during);
        let longest = waits.map(|(_, wait)| *wait).fold(0.0, f64::max);
        Duration::from_secs_f64(longest.max(0.0) / 1000.0)
    };
    let during = waits.iter().filter(|(produced, _)| *produced >= joining).count();
    assert!(
        during > 20,
        "events of the kept partition while the member joined: {during}"
    );
    println!(
        "{protocol} protocol: a second member joined; the first kept P{kept}: {during} events meanwhile, the \
         longest waited {:?} ({:?} in the 2 s before)",
        longest(true),
        longest(false)
    );
    Handover {
        kept,
        longest_wait: longest(true),
        before: longest(false),
        log: without_colours(&first.logs()),
    }
}

/// (produced, consumed − produced) of an event, in ms of the day.
fn waited(event: &Value) -> Option<(f64, f64)> {
    let produced = stamp_ms(event["produced"].as_str()?)?;
    let consumed = stamp_ms(event["consumed"].as_str()?)?;
    Some((produced, consumed - produced))
}

/// `HH:MM:SS:mmm` as milliseconds of the day.
fn stamp_ms(stamp: &str) -> Option<f64> {
    let parts: Vec<f64> = stamp.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [h, m, s, ms] = parts[..] else { return None };
    Some(((h * 60.0 + m) * 60.0 + s) * 1000.0 + ms)
}

/// A log without its ANSI colour codes.
fn without_colours(log: &str) -> String {
    let mut plain = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            plain.push(c);
        }
    }
    plain
}

/// The consumer protocol gives up the partition that moves and leaves the other alone: its fetch loop is
/// never stopped, and its events arrive as quickly as before. The classic protocol stops both (eager
/// rebalance) and starts the kept one again after SyncGroup: a pause that is short on Apache Kafka when
/// every member rejoins at once, and as long as the slowest member's rejoin otherwise.
#[tokio::test]
async fn a_rebalance_does_not_pause_the_partition_that_stays() {
    let consumer = second_member_joins("consumer").await;
    let moved = 1 - consumer.kept;
    let reconciled = format!(
        "reconciling towards the target kept=[{}] give_up=[{moved}] take_on=[]",
        consumer.kept
    );
    assert!(consumer.log.contains(&reconciled), "{}", consumer.log);
    assert!(
        consumer.longest_wait < Duration::from_millis(500),
        "{:?}",
        consumer.longest_wait
    );

    let classic = second_member_joins("classic").await;
    assert!(
        classic.log.contains("partitions revoked"),
        "the classic member stops everything: {}",
        classic.log
    );
    println!(
        "the kept partition's longest wait: consumer protocol {:?} (never stopped; {:?} before), classic {:?} \
         (stopped and started again; {:?} before)",
        consumer.longest_wait, consumer.before, classic.longest_wait, classic.before
    );
}

// --- the lab page ---

/// The page shows each consumer's protocol and member epoch, and after a rebalance which partitions were
/// kept fetching throughout.
#[tokio::test]
async fn the_lab_page_shows_the_protocol_the_epoch_and_the_partitions_kept_fetching() {
    use support::browser::{is_online_in, owned as page_owned, panel, Browser};

    let _turn = support::one_at_a_time().await;
    let lab = Lab::start(Flavor::Kafka).await;
    let group = lab.group("page-group");
    let staying = member(&lab, &group, &[]).await;
    let mut leaving = member(&lab, &group, &[]).await;
    let mut browser = Browser::start();
    browser.screenshot_prefix = "consumer-protocol-".into();
    let page = format!(
        "http://127.0.0.1:{}/?consumers={},{}",
        lab.producer.port, staying.port, leaving.port
    );
    browser.open(&page, 1280, 800);
    let (staying_url, leaving_url) = (
        format!("http://127.0.0.1:{}", staying.port),
        format!("http://127.0.0.1:{}", leaving.port),
    );
    browser
        .wait_until(
            "both consumers in the consumer protocol with an epoch and a partition each",
            |s| {
                [&staying_url, &leaving_url].iter().all(|url| {
                    let p = panel(s, url);
                    let facts = p["generation"].as_str().unwrap_or_default();
                    is_online_in(p, &group)
                        && page_owned(p).len() == 1
                        && facts.starts_with("consumer protocol · epoch ")
                })
            },
        )
        .await;
    leaving.signal("INT");
    let state = browser
        .wait_until(
            "the staying consumer owning both, having kept its partition fetching",
            |s| {
                let p = panel(s, &staying_url);
                page_owned(p).len() == 2 && p["markers"].to_string().contains("kept fetching throughout")
            },
        )
        .await;
    let markers = panel(&state, &staying_url)["markers"].to_string();
    assert!(markers.contains("Rebalance: epoch "), "{markers}");
    browser.screenshot("hand-over", false);
}

// --- a broker without it ---

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
