//! The consumer group protocol of KIP-848 next to other clients and to the classic protocol, on Apache Kafka
//! 4.4: the Java KafkaConsumer with `group.protocol=consumer` in our group, classic members (ours, aiokafka)
//! in a group of consumer-protocol members, the difference the protocol makes (during a rebalance that moves
//! one partition, the member that keeps the other goes on reading it), and the lab page showing it.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use support::group::{events, ids, owned, post_ids, status, wait_for_ids, wait_for_owned, PacedProducer};
use support::lab::Lab;
use support::peer::{Client, Peer};
use support::{eventually, Flavor, Service};

const SETTLE: Duration = Duration::from_secs(40);

#[tokio::test]
async fn the_java_consumer_with_group_protocol_consumer_shares_the_group() {
    let lab = Lab::start(Flavor::Kafka).await;
    let group = lab.group("java-group");
    let ours = lab
        .consumer_protocol_member(&group, &[("AUTO_OFFSET_RESET", "earliest")])
        .await;
    wait_for_owned(&[&ours], &[2], SETTLE).await;
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
    wait_for_owned(&[&ours], &[2], SETTLE).await;
    post_ids(&lab.producer, 21..=30).await;
    wait_for_ids(&ours, &(21..=30).collect(), "kafka-lab to receive events 21..30").await;
}

#[tokio::test]
async fn a_classic_member_of_ours_and_a_consumer_protocol_member_share_one_group() {
    let lab = Lab::start(Flavor::Kafka).await;
    let group = lab.group("mixed-group");
    let modern = lab.consumer_protocol_member(&group, &[]).await;
    wait_for_owned(&[&modern], &[2], SETTLE).await;
    let mut classic = lab.consumer(&group).await;
    wait_for_owned(&[&modern, &classic], &[1, 1], SETTLE).await;
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
    wait_for_owned(&[&modern], &[2], SETTLE).await;
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
    let ours = lab
        .consumer_protocol_member(&group, &[("AUTO_OFFSET_RESET", "earliest")])
        .await;
    wait_for_owned(&[&ours], &[2], SETTLE).await;
    let session = lab.cluster.fast_group()[0].1;
    let mut aiokafka = Peer::start(Client::Aiokafka, &lab.cluster.bootstrap(), &lab.topic, &group, session);
    let our_partition = wait_for_split_with(&ours, &aiokafka).await;
    check_each_gets_its_partition(&lab, &ours, &aiokafka, our_partition, 1..=20).await;
    aiokafka.stop();
    wait_for_owned(&[&ours], &[2], SETTLE).await;
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
    wait_for_owned(&[&first], &[2], SETTLE).await;
    let producer = PacedProducer::start(&lab.producer);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let joining = stamp_ms(&chrono::Local::now().format("%H:%M:%S:%3f").to_string()).unwrap();
    let second = lab.consumer_with(&group, &env).await;
    let owned = wait_for_owned(&[&first, &second], &[1, 1], SETTLE).await;
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
        log: first.plain_logs(),
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
    let staying = lab.consumer_protocol_member(&group, &[]).await;
    let mut leaving = lab.consumer_protocol_member(&group, &[]).await;
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
