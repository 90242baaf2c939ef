//! One look at the cluster for one topic: which brokers are up, who leads each partition and where it
//! ends, and every consumer group reading the topic.
//!
//! The order follows where each fact lives: Metadata from any broker that answers (the one that answered
//! last time first), then end offsets from each partition's leader, then the groups from each broker
//! (`groups`). A broker that Metadata named before but not now is shown as down: that is how a client
//! learns a broker stopped (the controller removes it from the cluster's metadata and moves its partitions'
//! leadership to another in-sync replica).

mod groups;
mod members;

use std::collections::{BTreeMap, BTreeSet};

use super::admin::partitions::{self, Metadata, PartitionInfo};
use super::admin::{Admin, AdminError, BrokerAddress};
use super::consumers::{self, ConsumerUrl};
use super::view::{Broker, ClusterView, Partition};

/// What a view is asked about: a topic, the groups to describe whatever they read (the ones the history
/// follows, which a rebalance may catch without assignments), and the kafka-lab consumers to ask.
pub struct Question<'a> {
    pub topic: &'a str,
    pub keep: &'a BTreeSet<String>,
    pub kafka_lab: &'a [ConsumerUrl],
}

/// Looks at the cluster for `question.topic`.
pub async fn observe(admin: &mut Admin, question: Question<'_>) -> ClusterView {
    let Question { topic, keep, kafka_lab } = question;
    // Our consumers are asked while Kafka is: they answer from memory, in parallel with the brokers.
    let reported = tokio::spawn(consumers::ask_all(kafka_lab.to_vec()));
    let mut view = ClusterView {
        topic: topic.to_string(),
        observed_at: crate::event::wall_clock(),
        observed_at_ms: now_ms(),
        ..ClusterView::default()
    };
    let metadata = match ask_metadata(admin, topic).await {
        Ok(metadata) => metadata,
        Err(error) => return unreachable(admin, topic, format!("no broker answered Metadata: {error}")),
    };
    for broker in &metadata.brokers {
        admin.seen.insert(broker.id, broker.clone());
    }
    let mut brokers = broker_list(admin, &metadata);
    view.topic_exists = Some(metadata.partitions.is_some());
    let infos = metadata.partitions.unwrap_or_default();
    view.partitions = with_end_offsets(admin, topic, &infos, &metadata.brokers).await;
    let observed = groups::observe(admin, topic, &view.partitions, &metadata.brokers, keep).await;
    for (id, problem) in observed.unreachable {
        if let Some(broker) = brokers.get_mut(&id) {
            broker.up = false;
            broker.problem = Some(problem);
        }
    }
    view.groups = observed.groups;
    view.groups_truncated = observed.truncated;
    let reported = reported.await.unwrap_or_default();
    consumers::merge(&mut view.groups, topic, &reported);
    view.brokers = brokers.into_values().collect();
    view
}

/// Metadata from the first broker that answers.
async fn ask_metadata(admin: &mut Admin, topic: &str) -> Result<Metadata, AdminError> {
    let mut last_error = None;
    for address in admin.metadata_candidates() {
        match partitions::metadata(admin, &address, topic).await {
            Ok(metadata) => return Ok(metadata),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or(AdminError::Refused {
        request: "Metadata",
        reason: "no bootstrap servers".into(),
    }))
}

/// Every broker seen: up when the latest Metadata names it, down otherwise; plus replicas of the topic on
/// brokers never seen (their address unknown).
fn broker_list(admin: &Admin, metadata: &Metadata) -> BTreeMap<i32, Broker> {
    let live: BTreeSet<i32> = metadata.brokers.iter().map(|b| b.id).collect();
    let mut brokers: BTreeMap<i32, Broker> = admin
        .seen
        .values()
        .map(|b| {
            let up = live.contains(&b.id);
            let problem = (!up).then(|| "not in the cluster's metadata: stopped, or fenced by the controller".into());
            (b.id, described(b, up, problem))
        })
        .collect();
    let replicas = metadata.partitions.iter().flatten().flat_map(|p| &p.replicas);
    for &id in replicas {
        brokers.entry(id).or_insert_with(|| Broker {
            id,
            host: None,
            port: None,
            rack: None,
            up: false,
            problem: Some("holds a replica, but is not in the cluster's metadata".into()),
        });
    }
    brokers
}

/// A view of a cluster that could not be read: `error` says why, and every broker seen before is down.
pub fn unreachable(admin: &Admin, topic: &str, error: String) -> ClusterView {
    ClusterView {
        topic: topic.to_string(),
        observed_at: crate::event::wall_clock(),
        observed_at_ms: now_ms(),
        error: Some(error),
        brokers: admin
            .seen
            .values()
            .map(|b| described(b, false, Some("not answering".into())))
            .collect(),
        ..ClusterView::default()
    }
}

fn described(broker: &BrokerAddress, up: bool, problem: Option<String>) -> Broker {
    Broker {
        id: broker.id,
        host: Some(broker.host.clone()),
        port: Some(broker.port),
        rack: broker.rack.clone(),
        up,
        problem,
    }
}

/// The partitions with their end offsets, asked of each leader (two requests per leader).
async fn with_end_offsets(
    admin: &mut Admin,
    topic: &str,
    infos: &[PartitionInfo],
    live: &[BrokerAddress],
) -> Vec<Partition> {
    let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for info in infos {
        if let Some(leader) = info.leader {
            by_leader.entry(leader).or_default().push(info.partition);
        }
    }
    let mut ends: BTreeMap<i32, Result<i64, String>> = BTreeMap::new();
    for (leader, asked) in by_leader {
        let Some(address) = live.iter().find(|b| b.id == leader).map(BrokerAddress::address) else {
            ends.extend(
                asked
                    .iter()
                    .map(|&p| (p, Err(format!("leader {leader} is not in the metadata")))),
            );
            continue;
        };
        ends.extend(partitions::end_offsets(admin, &address, topic, &asked).await);
    }
    infos
        .iter()
        .map(|info| {
            let end = ends.remove(&info.partition);
            let problem = match (&info.problem, &end, info.leader) {
                (Some(problem), _, _) => Some(problem.clone()),
                (None, _, None) => Some("no leader: no in-sync replica is available".into()),
                (None, Some(Err(problem)), _) => Some(problem.clone()),
                _ => None,
            };
            Partition {
                partition: info.partition,
                leader: info.leader,
                replicas: info.replicas.clone(),
                isr: info.isr.clone(),
                offline_replicas: info.offline.clone(),
                end_offset: end.and_then(Result::ok),
                problem,
            }
        })
        .collect()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}
