//! The group layer under faults, against real brokers (Apache Kafka and Tansu): brokers that stall
//! (SIGSTOP) for less and for more than a session timeout while events flow, the coordinator's broker
//! stopped and restarted, or killed (Apache Kafka: the coordinator moves), a static member restarted, and an
//! error that stops a consumer. Each test counts what the consumers received against what the producer
//! acknowledged: nothing may be lost; duplicates are counted and printed with their explanation.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kafka_lab::group::client::{find_coordinator, GroupClient, Identity, Joined};
use kafka_lab::group::protocol::encode_subscription;
use support::group::{ids, owned, status, wait_for_assignment, PacedProducer};
use support::lab::Lab;
use support::{eventually, Cluster, Flavor, Service};

/// The test cluster speaks PLAINTEXT.
fn plaintext() -> std::sync::Arc<kafka_lab::security::Security> {
    std::sync::Arc::new(kafka_lab::security::Security::plaintext())
}

const SETTLE: Duration = Duration::from_secs(40);

/// Waits until the consumers together hold every id of `acked`; returns how often each id arrived.
async fn received_by(consumers: &[&Service], acked: &BTreeSet<i64>) -> BTreeMap<i64, usize> {
    eventually(SETTLE, "every acknowledged event to be consumed", || async {
        let mut seen = BTreeMap::new();
        for consumer in consumers {
            for id in ids(consumer).await {
                *seen.entry(id).or_insert(0) += 1;
            }
        }
        acked.iter().all(|id| seen.contains_key(id)).then_some(seen)
    })
    .await
}

fn duplicates(seen: &BTreeMap<i64, usize>) -> usize {
    seen.values().map(|n| n - 1).sum()
}

async fn generation(consumer: &Service) -> Option<i64> {
    status(consumer).await["generation"].as_i64()
}

#[tokio::test]
async fn a_broker_stalled_for_half_a_session_keeps_the_generation_and_loses_nothing_on_kafka() {
    a_broker_stalled_for_half_a_session_keeps_the_generation_and_loses_nothing(Flavor::Kafka).await;
}

#[tokio::test]
async fn a_broker_stalled_for_half_a_session_keeps_the_generation_and_loses_nothing_on_tansu() {
    a_broker_stalled_for_half_a_session_keeps_the_generation_and_loses_nothing(Flavor::Tansu).await;
}

async fn a_broker_stalled_for_half_a_session_keeps_the_generation_and_loses_nothing(flavor: Flavor) {
    let lab = Lab::start_on(Cluster::of(flavor, true).await).await;
    let env = [("SESSION_TIMEOUT_MS", "8000"), ("HEARTBEAT_INTERVAL_MS", "800")];
    let first = lab.consumer_with("first-group", &env).await;
    let second = lab.consumer_with("first-group", &env).await;
    wait_for_assignment(&[&first, &second], &[1, 1], SETTLE).await;
    let before = (generation(&first).await, generation(&second).await);

    let paced = PacedProducer::start(&lab.producer);
    tokio::time::sleep(Duration::from_secs(2)).await;
    lab.cluster.pause_brokers();
    tokio::time::sleep(Duration::from_secs(3)).await;
    lab.cluster.resume_brokers();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let acked = paced.stop();

    let seen = received_by(&[&first, &second], &acked).await;
    println!(
        "{flavor:?}: stall of 3 s (session 8 s): {} events acknowledged, all consumed, {} duplicates",
        acked.len(),
        duplicates(&seen)
    );
    assert_eq!(duplicates(&seen), 0, "no rebalance, so nothing is read twice");
    let after = (generation(&first).await, generation(&second).await);
    assert_eq!(before, after, "the group kept its generation");
    assert!(owned(&first).await.is_some() && owned(&second).await.is_some());
}

#[tokio::test]
async fn a_broker_stalled_past_the_session_timeout_is_reported_and_loses_nothing_on_kafka() {
    a_broker_stalled_past_the_session_timeout_is_reported_and_loses_nothing(Flavor::Kafka).await;
}

#[tokio::test]
async fn a_broker_stalled_past_the_session_timeout_is_reported_and_loses_nothing_on_tansu() {
    a_broker_stalled_past_the_session_timeout_is_reported_and_loses_nothing(Flavor::Tansu).await;
}

/// The stall lasts the session timeout plus 2 s (the shortest session each broker accepts: 6 s on Apache
/// Kafka, whose controller fences a broker silent for 9 s, so the stall stays under that).
async fn a_broker_stalled_past_the_session_timeout_is_reported_and_loses_nothing(flavor: Flavor) {
    let lab = Lab::start_on(Cluster::of(flavor, true).await).await;
    let first = lab.consumer("first-group").await;
    let second = lab.consumer("first-group").await;
    wait_for_assignment(&[&first, &second], &[1, 1], SETTLE).await;
    let before = (generation(&first).await, generation(&second).await);
    let session_ms: u64 = lab.cluster.fast_group()[0].1.parse().unwrap();
    let stall = Duration::from_millis(session_ms + 2000);

    let paced = PacedProducer::start(&lab.producer);
    tokio::time::sleep(Duration::from_secs(2)).await;
    lab.cluster.pause_brokers();
    let paused = Instant::now();
    let seen_unavailable = eventually(SETTLE, "/status to say broker_unavailable", || async {
        let seen = status(&first).await;
        (seen["state"] == "broker_unavailable").then_some(seen)
    })
    .await;
    println!("broker_unavailable {:?} after the stall began", paused.elapsed());
    assert!(
        seen_unavailable["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("Heartbeat")),
        "{seen_unavailable}"
    );
    tokio::time::sleep(stall.saturating_sub(paused.elapsed())).await;
    lab.cluster.resume_brokers();
    wait_for_assignment(&[&first, &second], &[1, 1], SETTLE).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let acked = paced.stop();

    let seen = received_by(&[&first, &second], &acked).await;
    let after = (generation(&first).await, generation(&second).await);
    // The members' silence is no verdict: they heartbeat on in their generation once the broker answers. If
    // the coordinator expired their sessions during the stall, it answers with a verdict instead and the
    // group rebalances: events read after the last commit before the stall are then read again by their
    // next owner (at-least-once), at most about one commit interval's worth.
    println!(
        "{flavor:?}: stall of {stall:?} (session {session_ms} ms): generations {before:?} → {after:?}, {} events \
         acknowledged, all consumed, {} duplicates",
        acked.len(),
        duplicates(&seen)
    );
}

#[tokio::test]
async fn a_static_member_restarted_within_its_session_gets_its_partitions_back_without_a_rebalance_on_kafka() {
    a_static_member_restarted_within_its_session_gets_its_partitions_back_without_a_rebalance(Flavor::Kafka).await;
}

#[tokio::test]
async fn a_static_member_restarted_within_its_session_gets_its_partitions_back_without_a_rebalance_on_tansu() {
    a_static_member_restarted_within_its_session_gets_its_partitions_back_without_a_rebalance(Flavor::Tansu).await;
}

async fn a_static_member_restarted_within_its_session_gets_its_partitions_back_without_a_rebalance(flavor: Flavor) {
    let lab = Lab::start(flavor).await;
    let group = lab.group("static-group");
    let env = |id| [("SESSION_TIMEOUT_MS", "10000"), ("GROUP_INSTANCE_ID", id)];
    let stays = lab.consumer_with(&group, &env("consumer-a")).await;
    let mut restarted = lab.consumer_with(&group, &env("consumer-b")).await;
    let owned_before = wait_for_assignment(&[&stays, &restarted], &[1, 1], SETTLE).await;
    let generation_before = generation(&stays).await;

    let exit = restarted.signal("INT");
    assert_eq!(exit.code(), Some(0), "{}", restarted.logs());
    assert!(
        !restarted.logs().contains("left the group"),
        "a static member does not leave"
    );
    support::group::post_ids(&lab.producer, 1..=20).await;
    let again = Instant::now();
    let back = lab.consumer_with(&group, &env("consumer-b")).await;
    let owned_after = wait_for_assignment(&[&stays, &back], &[1, 1], SETTLE).await;
    println!(
        "{flavor:?}: static member back with its partitions {:?} after its restart",
        again.elapsed()
    );
    assert_eq!(owned_before, owned_after, "each member owns what it owned before");
    assert_eq!(
        generation(&stays).await,
        generation_before,
        "the other member was not rebalanced"
    );
    let seen = received_by(&[&stays, &back], &(1..=20).collect()).await;
    assert_eq!(duplicates(&seen), 0);
}

/// A member of another kind holding the group: it offers only an assignor we do not know, so our consumer
/// cannot join (INCONSISTENT_GROUP_PROTOCOL). It heartbeats to keep its place.
async fn foreign_member(lab: &Lab, group: &str) -> tokio::task::JoinHandle<()> {
    let session = Duration::from_secs(6);
    let (mut client, me, generation) = eventually(SETTLE, "the foreign member to join", || async {
        match join_as_foreign_member(lab, group, session).await {
            Ok(joined) => Some(joined),
            Err(e) => {
                eprintln!("the foreign member could not join yet: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                None
            }
        }
    })
    .await;
    tokio::spawn(async move {
        loop {
            let _ = client.heartbeat(&me, generation, session).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

/// Finds the group's coordinator and joins it offering only `sticky-only` (a new group's coordinator may
/// still be loading on Apache Kafka: the caller retries).
async fn join_as_foreign_member(
    lab: &Lab,
    group: &str,
    session: Duration,
) -> Result<(GroupClient, Identity, i32), kafka_lab::group::error::GroupError> {
    let brokers: Vec<String> = lab.cluster.bootstrap().split(',').map(str::to_string).collect();
    let address = find_coordinator(&brokers, &plaintext(), group).await?;
    let mut client = GroupClient::connect(&address, &plaintext(), group).await?;
    let subscription = encode_subscription(std::slice::from_ref(&lab.topic)).unwrap();
    let mut me = Identity::default();
    loop {
        match client
            .join(&me, session, session, &[("sticky-only", subscription.clone())])
            .await?
        {
            Joined::MemberIdRequired(id) => me.member_id = id,
            Joined::Member(membership) => {
                me.member_id = membership.member_id.clone();
                return Ok((client, me, membership.generation));
            }
        }
    }
}

#[tokio::test]
async fn a_fatal_error_is_shown_in_status_then_the_consumer_exits_with_an_error_on_kafka() {
    a_fatal_error_is_shown_in_status_then_the_consumer_exits_with_an_error(Flavor::Kafka).await;
}

#[tokio::test]
async fn a_fatal_error_is_shown_in_status_then_the_consumer_exits_with_an_error_on_tansu() {
    a_fatal_error_is_shown_in_status_then_the_consumer_exits_with_an_error(Flavor::Tansu).await;
}

async fn a_fatal_error_is_shown_in_status_then_the_consumer_exits_with_an_error(flavor: Flavor) {
    let lab = Lab::start(flavor).await;
    let group = lab.group("taken-group");
    let holder = foreign_member(&lab, &group).await;
    let mut consumer = lab.consumer(&group).await;
    let failed = eventually(SETTLE, "/status to say failed", || async {
        let seen = status(&consumer).await;
        (seen["state"] == "failed").then_some(seen)
    })
    .await;
    let failed_at = Instant::now();
    let reason = failed["last_error"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("INCONSISTENT_GROUP_PROTOCOL"), "{failed}");
    assert!(reason.contains("CONSUMER_GROUP"), "says what to change: {reason}");
    let exit = consumer.wait_exit(Duration::from_secs(10)).expect("the consumer exits");
    let shown_for = failed_at.elapsed();
    println!("{flavor:?}: fatal error shown in /status for {shown_for:?} before the exit ({exit})");
    assert!(!exit.success(), "{}", consumer.logs());
    assert!(shown_for >= Duration::from_millis(1500), "{shown_for:?}");
    assert!(
        consumer.logs().contains(&reason),
        "the reason is logged: {}",
        consumer.logs()
    );
    holder.abort();
}

/// Apache Kafka only (Tansu is a single broker): the broker that coordinates the group is shut down while
/// events flow, then started again. The coordinator moves to the other broker; the members find it, keep
/// their partitions and keep consuming in the same generation (as the Java client does), and nothing is
/// lost.
#[tokio::test]
async fn the_coordinators_broker_stopped_and_restarted_moves_the_coordinator_without_a_rebalance_on_kafka() {
    let lab = Lab::start_on(Cluster::of(Flavor::Kafka, true).await).await;
    // A session longer than the controller's broker timeout (9 s), so the members' heartbeats outlast the
    // moment no broker coordinates the group.
    let env = [("SESSION_TIMEOUT_MS", "15000"), ("HEARTBEAT_INTERVAL_MS", "1000")];
    let first = lab.consumer_with("moving-group", &env).await;
    let second = lab.consumer_with("moving-group", &env).await;
    let owned_before = wait_for_assignment(&[&first, &second], &[1, 1], SETTLE).await;
    let before = (generation(&first).await, generation(&second).await);

    let brokers: Vec<String> = lab.cluster.bootstrap().split(',').map(str::to_string).collect();
    let coordinator = find_coordinator(&brokers, &plaintext(), "moving-group")
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
        find_coordinator(&brokers, &plaintext(), "moving-group")
            .await
            .ok()
            .filter(|c| *c != coordinator)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    kafka.restart_broker(index);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let acked = paced.stop();

    let seen = received_by(&[&first, &second], &acked).await;
    println!(
        "coordinator moved {coordinator} → {moved}: {} events acknowledged, all consumed, {} duplicates",
        acked.len(),
        duplicates(&seen)
    );
    let after = (generation(&first).await, generation(&second).await);
    assert_eq!(before, after, "the group kept its generation");
    let owned_after = wait_for_assignment(&[&first, &second], &[1, 1], SETTLE).await;
    assert_eq!(owned_before, owned_after, "each member kept its partition");
    assert_eq!(duplicates(&seen), 0, "no rebalance, so nothing is read twice");
}

/// Apache Kafka only (Tansu is a single broker): the broker that coordinates the group is killed (SIGKILL)
/// while events flow, with the shortest session Kafka accepts (6 s). Kafka moves the coordinator only once
/// the controller has fenced the dead broker (`broker.session.timeout.ms`, 9 s), so the members' heartbeats
/// go unanswered for longer than their session. That is no verdict: the members say `broker_unavailable`,
/// keep fetching, find the new coordinator (which loaded the group from `__consumer_offsets`) and go on in
/// the same generation, as the Java client does. Nothing is lost and, with no rebalance, nothing is read
/// twice.
#[tokio::test]
async fn the_coordinators_broker_killed_keeps_the_generation_and_loses_nothing_on_kafka() {
    let lab = Lab::start_on(Cluster::of(Flavor::Kafka, true).await).await;
    let session_ms = lab.cluster.fast_group()[0].1;
    assert_eq!(session_ms, "6000");
    let first = lab.consumer("killed-group").await;
    let second = lab.consumer("killed-group").await;
    let owned_before = wait_for_assignment(&[&first, &second], &[1, 1], SETTLE).await;
    let before = (generation(&first).await, generation(&second).await);

    let brokers: Vec<String> = lab.cluster.bootstrap().split(',').map(str::to_string).collect();
    let coordinator = find_coordinator(&brokers, &plaintext(), "killed-group")
        .await
        .expect("the coordinator");
    let index = brokers
        .iter()
        .position(|b| *b == coordinator)
        .expect("a broker of ours");
    let paced = PacedProducer::start(&lab.producer);
    tokio::time::sleep(Duration::from_secs(2)).await;
    lab.cluster.own_kafka().kill_broker(index);
    let killed = Instant::now();

    let unavailable = eventually(SETTLE, "/status to say broker_unavailable", || async {
        let seen = status(&first).await;
        (seen["state"] == "broker_unavailable").then_some(seen)
    })
    .await;
    let unavailable_after = killed.elapsed();
    let reason = unavailable["last_error"].as_str().unwrap_or_default().to_string();
    assert!(
        reason.contains("Heartbeat") && reason.contains("session timeout"),
        "{unavailable}"
    );
    assert_eq!(
        unavailable["generation"].as_i64(),
        before.0,
        "unreachable, still in its generation"
    );
    assert!(
        !unavailable["partitions"].as_array().is_none_or(Vec::is_empty),
        "it keeps its partition meanwhile: {unavailable}"
    );
    let moved = eventually(SETTLE, "the coordinator to move", || async {
        find_coordinator(&brokers, &plaintext(), "killed-group")
            .await
            .ok()
            .filter(|c| *c != coordinator)
    })
    .await;
    let moved_after = killed.elapsed();
    let owned_after = wait_for_assignment(&[&first, &second], &[1, 1], SETTLE).await;
    let stable_after = killed.elapsed();
    for consumer in [&first, &second] {
        let now = status(consumer).await;
        assert!(now["last_error"].is_null(), "cleared once answered again: {now}");
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let acked = paced.stop();

    let seen = received_by(&[&first, &second], &acked).await;
    println!(
        "coordinator's broker {coordinator} killed (session {session_ms} ms): broker_unavailable after \
         {unavailable_after:?}, coordinator moved to {moved} after {moved_after:?}, both stable again after \
         {stable_after:?}; {} events acknowledged, all consumed, {} duplicates",
        acked.len(),
        duplicates(&seen)
    );
    let after = (generation(&first).await, generation(&second).await);
    assert_eq!(before, after, "the group kept its generation");
    assert_eq!(owned_before, owned_after, "each member kept its partition");
    assert_eq!(duplicates(&seen), 0, "no rebalance, so nothing is read twice");
}
