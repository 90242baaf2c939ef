//! `GET /cluster` on the producer, against real brokers (Apache Kafka and Tansu, one run each) and the real
//! binaries: the view of brokers, partitions, groups and lag, and the rebalance history. Nothing is mocked.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use support::group::{events, post_ids, status, wait_for_assignment};
use support::lab::Lab;
use support::peer::{Client, Peer};
use support::{eventually, http, Cluster, Flavor, Service};

const SETTLE: Duration = Duration::from_secs(40);

#[tokio::test]
async fn a_groups_members_partitions_lag_and_hand_over_appear_on_kafka() {
    a_groups_members_partitions_lag_and_hand_over_appear(Flavor::Kafka).await;
}

#[tokio::test]
async fn a_groups_members_partitions_lag_and_hand_over_appear_on_tansu() {
    a_groups_members_partitions_lag_and_hand_over_appear(Flavor::Tansu).await;
}

async fn a_groups_members_partitions_lag_and_hand_over_appear(flavor: Flavor) {
    let lab = Lab::start(flavor).await;
    let group = lab.group("first-group");
    let first = lab.consumer(&group).await;
    let mut second = lab.consumer(&group).await;
    wait_for_assignment(&[&first, &second], &[1, 1], SETTLE).await;
    post_ids(&lab.producer, 1..=6).await;

    // Both members, one partition each, named by their /status, and everything read: lag 0. Committed =
    // processed: a group's offsets move once a reader had the events, so read them, as the page does.
    let view = eventually(SETTLE, "both members with one partition each and no lag", || async {
        events(&first).await;
        events(&second).await;
        let view = cluster_view(&lab, &[&first, &second]).await;
        let g = group_in(&view, &group)?;
        let split = members(g)
            .iter()
            .all(|m| m["partitions"].as_array().map(Vec::len) == Some(1));
        let caught_up = g["partitions"].as_array()?.iter().all(|p| p["lag"] == 0);
        (members(g).len() == 2 && split && caught_up).then_some(view)
    })
    .await;
    assert!(
        view["brokers"].as_array().unwrap().iter().all(|b| b["up"] == true),
        "{view}"
    );
    assert_eq!(view["topic_exists"], true);
    for p in view["partitions"].as_array().unwrap() {
        let partition = p["partition"].as_i64().unwrap() as i32;
        assert!(p["leader"].is_i64(), "{p}");
        let end = lab.cluster.end_offset(&lab.topic, partition).await;
        assert_eq!(
            p["end_offset"], end,
            "the end offset is the high watermark on both brokers: {p}"
        );
    }
    let g = group_in(&view, &group).unwrap();
    assert_eq!(
        (g["protocol"].as_str(), g["state"].as_str()),
        (Some("classic"), Some("Stable"))
    );
    for (consumer, member) in [
        (&first, member_of(g, &first).await),
        (&second, member_of(g, &second).await),
    ] {
        assert_eq!(member["kafka_lab"], format!("http://127.0.0.1:{}", consumer.port));
        assert_eq!(member["generation"], status(consumer).await["generation"], "{member}");
    }
    let owned: BTreeSet<i64> = members(g)
        .iter()
        .flat_map(|m| m["partitions"].as_array().unwrap().iter().filter_map(Value::as_i64))
        .collect();
    assert_eq!(owned, BTreeSet::from([0, 1]));

    // The page always names every consumer it shows (a stopped one just does not answer).
    let ours = [&first, &second];
    a_group_whose_members_stopped_shows_its_lag(&lab, &ours).await;

    // Ctrl+C: the history records the hand-over, with how long the partition went unread.
    let leaving = status(&second).await["member_id"].as_str().unwrap().to_string();
    let staying = status(&first).await["member_id"].as_str().unwrap().to_string();
    let second_port = second.port;
    second.signal("INT");
    let view = eventually(SETTLE, "the hand-over in the history", || async {
        let view = cluster_view_of(&lab, &[first.port, second_port]).await;
        let found = view["history"].as_array()?.iter().any(|e| {
            e["group"] == group.as_str()
                && e["left"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|m| m == leaving.as_str()))
                && e["partitions"].as_array().is_some_and(|ps| {
                    ps.iter().any(|p| {
                        p["from"] == leaving.as_str() && p["to"] == staying.as_str() && p["unread_ms"].is_u64()
                    })
                })
        });
        found.then_some(view)
    })
    .await;
    let entry = view["history"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|e| e["group"] == group.as_str())
        .unwrap();
    let pause = entry["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["from"] == leaving.as_str())
        .unwrap();
    assert!(pause["unread_ms"].as_u64().unwrap() < 30_000, "{entry}");
    assert!(pause["unread_at_least_ms"].as_u64().unwrap() <= pause["unread_ms"].as_u64().unwrap());
    assert_eq!(entry["after"].as_array().unwrap().len(), 1, "{entry}");
}

/// A group whose only member stopped keeps its committed offsets: events sent since are its lag.
async fn a_group_whose_members_stopped_shows_its_lag(lab: &Lab, ours: &[&Service]) {
    let lagging = lab.group("lagging-group");
    let mut member = lab.consumer(&lagging).await;
    wait_for_assignment(&[&member], &[2], SETTLE).await;
    member.signal("INT");
    post_ids(&lab.producer, 101..=104).await;
    eventually(SETTLE, "lagging-group with no members and 4 events of lag", || async {
        let view = cluster_view(lab, ours).await;
        let g = group_in(&view, &lagging)?;
        let lag: i64 = g["partitions"]
            .as_array()?
            .iter()
            .filter_map(|p| p["lag"].as_i64())
            .sum();
        let every_partition_unread = g["partitions"].as_array()?.iter().all(|p| p["owner"].is_null());
        (members(g).is_empty() && lag == 4 && every_partition_unread).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_unknown_topic_is_reported_and_never_created_on_kafka() {
    an_unknown_topic_is_reported_and_never_created(Flavor::Kafka).await;
}

#[tokio::test]
async fn an_unknown_topic_is_reported_and_never_created_on_tansu() {
    an_unknown_topic_is_reported_and_never_created(Flavor::Tansu).await;
}

async fn an_unknown_topic_is_reported_and_never_created(flavor: Flavor) {
    let cluster = Cluster::of(flavor, false).await;
    let producer = Service::producer(&cluster.bootstrap(), &[]).await;
    let missing = cluster.name("no-such-topic");
    for _ in 0..2 {
        let reply = http::get(producer.port, &format!("/cluster?topic={missing}"))
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
        assert_eq!(reply.json()["topic_exists"], false, "{}", reply.body);
    }
    let topics = cluster.client().await.list_topics().await.unwrap();
    assert!(
        !topics.iter().any(|t| t.name == missing),
        "asking about a topic must not create it"
    );
    let bad = http::get(producer.port, "/cluster?topic=a%20b").await.unwrap();
    assert_eq!(bad.status, 400, "{}", bad.body);
    let post = http::post_json(producer.port, "/cluster", "{}").await.unwrap();
    assert_eq!(post.status, 405, "{}", post.body);
}

#[tokio::test]
async fn ten_pages_asking_at_once_share_one_view_on_tansu() {
    let lab = Lab::start(Flavor::Tansu).await;
    let asks: Vec<_> = (0..10)
        .map(|_| tokio::spawn(ask(lab.producer.port, lab.topic.clone())))
        .collect();
    let mut observed = BTreeSet::new();
    for ask in asks {
        observed.insert(ask.await.unwrap()["observed_at_ms"].as_u64().unwrap());
    }
    assert!(observed.len() <= 2, "ten requests made {} views", observed.len());
}

async fn ask(port: u16, topic: String) -> Value {
    http::get(port, &format!("/cluster?topic={topic}"))
        .await
        .unwrap()
        .json()
}

#[tokio::test]
async fn a_stopped_broker_is_down_and_its_partitions_leaders_move_on_kafka() {
    let mut lab = Lab::start_on(Cluster::of(Flavor::Kafka, true).await).await;
    let view = eventually(SETTLE, "two brokers up", || async {
        let view = cluster_view(&lab, &[]).await;
        (view["brokers"].as_array()?.iter().filter(|b| b["up"] == true).count() == 2).then_some(view)
    })
    .await;
    let led_by = |view: &Value, id: i64| -> Vec<i64> {
        let partitions = view["partitions"].as_array().unwrap().iter();
        partitions
            .filter(|p| p["leader"] == id)
            .map(|p| p["partition"].as_i64().unwrap())
            .collect()
    };
    let stopped = lab.cluster.stop_one_broker(0) as i64;
    let other = if stopped == 2 { 3 } else { 2 };
    let before = led_by(&view, stopped);
    let view = eventually(
        SETTLE,
        "the stopped broker down and every leader on the other",
        || async {
            let view = cluster_view(&lab, &[]).await;
            let brokers = view["brokers"].as_array()?;
            let down = brokers.iter().any(|b| b["id"] == stopped && b["up"] == false);
            let all_on_other = led_by(&view, other).len() == view["partitions"].as_array()?.len();
            (down && all_on_other).then_some(view)
        },
    )
    .await;
    for p in view["partitions"].as_array().unwrap() {
        assert!(!p["isr"].as_array().unwrap().contains(&Value::from(stopped)), "{p}");
    }
    eprintln!("partitions {before:?} were led by broker {stopped}; now every leader is broker {other}");
}

#[tokio::test]
async fn a_kip_848_group_is_described_with_its_epoch_on_kafka() {
    let lab = Lab::start(Flavor::Kafka).await;
    let group = lab.group("kip848-group");
    let bootstrap = lab.cluster.bootstrap();
    let _member = Peer::start_with(
        Client::Java,
        &bootstrap,
        &lab.topic,
        &group,
        "6000",
        &[("GROUP_PROTOCOL", "consumer")],
    );
    let g = eventually(
        Duration::from_secs(60),
        "the KIP-848 group with its member owning both partitions",
        || async {
            let view = cluster_view(&lab, &[]).await;
            let g = group_in(&view, &group)?.clone();
            let owns_all = members(&g).first()?["partitions"].as_array()?.len() == 2;
            owns_all.then_some(g)
        },
    )
    .await;
    assert_eq!(g["protocol"], "consumer", "{g}");
    assert!(g["generation"].as_i64().unwrap() >= 1, "the group epoch: {g}");
    let member = &members(&g)[0];
    assert!(member["member_epoch"].as_i64().unwrap() >= 1, "{member}");
    assert!(
        member["kafka_lab"].is_null() && !member["client_id"].as_str().unwrap().is_empty(),
        "{member}"
    );
}

/// `GET /cluster` for the lab's topic, naming `consumers` as the page would.
async fn cluster_view(lab: &Lab, consumers: &[&Service]) -> Value {
    let ports: Vec<u16> = consumers.iter().map(|c| c.port).collect();
    cluster_view_of(lab, &ports).await
}

/// `GET /cluster` naming the consumers on `ports` (running or not).
async fn cluster_view_of(lab: &Lab, ports: &[u16]) -> Value {
    let list: Vec<String> = ports.iter().map(|port| format!("http://127.0.0.1:{port}")).collect();
    let path = format!("/cluster?topic={}&consumers={}", lab.topic, list.join(","));
    let reply = http::get(lab.producer.port, &path).await.expect("GET /cluster");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    reply.json()
}

fn group_in<'a>(view: &'a Value, name: &str) -> Option<&'a Value> {
    view["groups"].as_array()?.iter().find(|g| g["group"] == name)
}

fn members(group: &Value) -> &[Value] {
    group["members"].as_array().map(Vec::as_slice).unwrap_or_default()
}

/// The member that is `consumer`, by the member id its /status reports.
async fn member_of(group: &Value, consumer: &Service) -> Value {
    let id = status(consumer).await["member_id"].clone();
    members(group)
        .iter()
        .find(|m| m["member_id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no member {id} in {group}"))
}
