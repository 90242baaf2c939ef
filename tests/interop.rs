//! Interoperability: kafka-lab consumers share one consumer group with the clients people actually run:
//! aiokafka (on both brokers), the Java KafkaConsumer and librdkafka (on Apache Kafka).
//!
//! Every member speaks Kafka's classic group protocol to the same coordinator; whichever joins first leads
//! and computes the assignment for all, with an assignor every member supports (each client's default).
//! Each member must then receive exactly the events of its own partitions, and when one stops, the other
//! takes its partitions over: each client leads once and hands over in each direction.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::group::{ids, owned, post_ids, status, wait_for_assignment};
use support::lab::Lab;
use support::peer::{Client, Peer};
use support::{eventually, Flavor, Service};

const SETTLE: Duration = Duration::from_secs(40);

#[tokio::test]
async fn aiokafka_leads_and_kafka_lab_follows_on_kafka() {
    peer_leads_and_kafka_lab_follows(Flavor::Kafka, Client::Aiokafka).await;
}

#[tokio::test]
async fn aiokafka_leads_and_kafka_lab_follows_on_tansu() {
    peer_leads_and_kafka_lab_follows(Flavor::Tansu, Client::Aiokafka).await;
}

#[tokio::test]
async fn kafka_lab_leads_and_aiokafka_follows_on_kafka() {
    kafka_lab_leads_and_peer_follows(Flavor::Kafka, Client::Aiokafka).await;
}

#[tokio::test]
async fn kafka_lab_leads_and_aiokafka_follows_on_tansu() {
    kafka_lab_leads_and_peer_follows(Flavor::Tansu, Client::Aiokafka).await;
}

#[tokio::test]
async fn java_leads_and_kafka_lab_follows_on_kafka() {
    peer_leads_and_kafka_lab_follows(Flavor::Kafka, Client::Java).await;
}

#[tokio::test]
async fn kafka_lab_leads_and_java_follows_on_kafka() {
    kafka_lab_leads_and_peer_follows(Flavor::Kafka, Client::Java).await;
}

#[tokio::test]
async fn librdkafka_leads_and_kafka_lab_follows_on_kafka() {
    peer_leads_and_kafka_lab_follows(Flavor::Kafka, Client::Librdkafka).await;
}

#[tokio::test]
async fn kafka_lab_leads_and_librdkafka_follows_on_kafka() {
    kafka_lab_leads_and_peer_follows(Flavor::Kafka, Client::Librdkafka).await;
}

/// The peer forms the group and leads; kafka-lab joins and gets one partition; then kafka-lab stops
/// (Ctrl+C) and the peer takes its partition back.
async fn peer_leads_and_kafka_lab_follows(flavor: Flavor, client: Client) {
    let lab = Lab::start(flavor).await;
    let group = lab.group("mixed-group");
    let mut theirs = start_peer(&lab, client, &group);
    eventually(SETTLE, "the peer to own both partitions", || async {
        (theirs.assignment()?.len() == 2).then_some(())
    })
    .await;
    let mut ours = kafka_lab_member(&lab, &group).await;
    let our_partition = wait_for_split(&ours, &theirs).await;
    let seen = status(&ours).await;
    assert_eq!(seen["leader"], false, "{client:?} leads: {seen}");
    check_each_gets_its_partition(&lab, &ours, &theirs, our_partition, 1..=20).await;

    ours.signal("INT");
    eventually(SETTLE, "the peer to take both partitions back", || async {
        (theirs.assignment()?.len() == 2).then_some(())
    })
    .await;
    post_ids(&lab.producer, 21..=30).await;
    eventually(SETTLE, "the peer to receive events 21..30", || async {
        let got: BTreeSet<i64> = theirs.received().into_iter().map(|(_, id)| id).collect();
        (21..=30).all(|id| got.contains(&id)).then_some(())
    })
    .await;
    theirs.stop();
}

/// kafka-lab forms the group and leads; the peer joins and gets one partition; then the peer stops and
/// kafka-lab takes its partition back.
async fn kafka_lab_leads_and_peer_follows(flavor: Flavor, client: Client) {
    let lab = Lab::start(flavor).await;
    let group = lab.group("mixed-group");
    let ours = kafka_lab_member(&lab, &group).await;
    wait_for_assignment(&[&ours], &[2], SETTLE).await;
    let mut theirs = start_peer(&lab, client, &group);
    let our_partition = wait_for_split(&ours, &theirs).await;
    let seen = status(&ours).await;
    assert_eq!(seen["leader"], true, "kafka-lab leads: {seen}");
    println!(
        "{flavor:?}: kafka-lab leads {client:?} with the {} assignor",
        seen["assignor"]
    );
    check_each_gets_its_partition(&lab, &ours, &theirs, our_partition, 1..=20).await;

    theirs.stop();
    wait_for_assignment(&[&ours], &[2], SETTLE).await;
    post_ids(&lab.producer, 21..=30).await;
    eventually(SETTLE, "kafka-lab to receive events 21..30", || async {
        let got: BTreeSet<i64> = ids(&ours).await.into_iter().collect();
        (21..=30).all(|id| got.contains(&id)).then_some(())
    })
    .await;
}

fn start_peer(lab: &Lab, client: Client, group: &str) -> Peer {
    let session = lab.cluster.fast_group()[0].1;
    Peer::start(client, &lab.cluster.bootstrap(), &lab.topic, group, session)
}

async fn kafka_lab_member(lab: &Lab, group: &str) -> Service {
    lab.consumer_with(group, &[("AUTO_OFFSET_RESET", "earliest")]).await
}

/// Waits until both members own one partition each, different ones; returns kafka-lab's partition.
async fn wait_for_split(ours: &Service, theirs: &Peer) -> i64 {
    eventually(SETTLE, "kafka-lab and the peer to split the partitions", || async {
        let our_partitions = owned(ours).await?;
        let their_partitions = theirs.assignment()?;
        let split = our_partitions.len() == 1 && their_partitions.len() == 1 && our_partitions != their_partitions;
        split.then(|| *our_partitions.first().unwrap())
    })
    .await
}

/// Posts events `ids` and checks that each member received exactly the events of its partition.
async fn check_each_gets_its_partition(
    lab: &Lab,
    ours: &Service,
    theirs: &Peer,
    our_partition: i64,
    sent: std::ops::RangeInclusive<i64>,
) {
    post_ids(&lab.producer, sent.clone()).await;
    let their_partition = 1 - our_partition;
    let on = |partition: i64| async move {
        let records = lab.cluster.read_all(&lab.topic, partition as i32).await;
        records
            .iter()
            .filter_map(|(_, _, v)| v["id"].as_i64())
            .collect::<BTreeSet<i64>>()
    };
    let (ours_expected, theirs_expected) = (on(our_partition).await, on(their_partition).await);
    assert_eq!(ours_expected.len() + theirs_expected.len(), sent.count());
    eventually(SETTLE, "both members to receive their partition's events", || async {
        let got_ours: BTreeSet<i64> = ids(ours).await.into_iter().collect();
        let got_theirs: BTreeSet<i64> = theirs.received().into_iter().map(|(_, id)| id).collect();
        (got_ours == ours_expected && got_theirs == theirs_expected).then_some(())
    })
    .await;
    assert!(theirs.received().iter().all(|(p, _)| *p == their_partition));
    assert_eq!(
        ids(ours).await.len(),
        ours_expected.len(),
        "kafka-lab received no duplicates"
    );
}
