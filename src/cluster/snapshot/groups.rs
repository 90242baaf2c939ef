//! The consumer groups reading a topic, from their coordinators.
//!
//! Every broker lists the groups it coordinates (ListGroups); each group is then described by its
//! coordinator with the request for its protocol: ConsumerGroupDescribe for KIP-848 groups where the
//! broker has it (ApiVersions says so; Apache Kafka 4 does), DescribeGroups for classic groups, and the
//! other one when the first says "not that kind of group" (a broker whose ListGroups does not give the
//! group's type). Classic members' partitions are decoded from the standard ConsumerProtocol assignment
//! bytes ([`crate::group::protocol`]). OffsetFetch then gives every group's committed offsets at once.
//!
//! A group is kept when it has committed offsets on the topic or a member subscribed to it or owning some
//! of it. At most [`MAX_GROUPS`] groups are described per view, so a cluster with thousands of groups costs
//! the same as a lab's.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::ConsumerGroupDescribeRequest;

use super::members::{classic_group, consumer_group, unknown};
use crate::cluster::admin::groups::{self, Committed, Listed};
use crate::cluster::admin::{error_text, Admin, AdminError, BrokerAddress};
use crate::cluster::view::{Group, GroupPartition, Partition, Protocol};

/// The most groups one view describes.
pub const MAX_GROUPS: usize = 50;

/// The groups of the topic, and the brokers that could not be asked.
pub struct Observed {
    pub groups: Vec<Group>,
    pub truncated: bool,
    /// Broker id → why ListGroups failed.
    pub unreachable: Vec<(i32, String)>,
}

pub async fn observe(
    admin: &mut Admin,
    topic: &str,
    partitions: &[Partition],
    live: &[BrokerAddress],
    keep: &BTreeSet<String>,
) -> Observed {
    let (listed, unreachable) = list_everywhere(admin, live).await;
    let (chosen, truncated) = choose(listed, keep);
    let mut groups = Vec::new();
    for (coordinator, listed) in by_coordinator(chosen) {
        let described = describe_at(admin, &coordinator, &listed, topic, partitions).await;
        groups.extend(
            described
                .into_iter()
                .filter(|g| keep.contains(&g.group) || reads(g, topic)),
        );
    }
    groups.sort_by(|a, b| a.group.cmp(&b.group));
    Observed {
        groups,
        truncated,
        unreachable,
    }
}

/// ListGroups on every live broker: (coordinator, group) pairs, and the brokers that did not answer.
async fn list_everywhere(
    admin: &mut Admin,
    live: &[BrokerAddress],
) -> (Vec<(BrokerAddress, Listed)>, Vec<(i32, String)>) {
    let mut listed = Vec::new();
    let mut unreachable = Vec::new();
    for broker in live {
        match groups::list_groups(admin, &broker.address()).await {
            Ok(found) => listed.extend(found.into_iter().map(|g| (broker.clone(), g))),
            Err(AdminError::Connection(error)) => unreachable.push((broker.id, format!("not answering: {error}"))),
            Err(error) => tracing::debug!(broker = broker.id, "ListGroups: {error}"),
        }
    }
    (listed, unreachable)
}

/// Consumer groups only (not share or streams groups), each once, those in `keep` first, at most
/// [`MAX_GROUPS`].
fn choose(listed: Vec<(BrokerAddress, Listed)>, keep: &BTreeSet<String>) -> (Vec<(BrokerAddress, Listed)>, bool) {
    let mut seen = BTreeSet::new();
    let mut chosen: Vec<(BrokerAddress, Listed)> = listed
        .into_iter()
        .filter(|(_, g)| g.protocol_type == "consumer" || g.protocol_type.is_empty())
        .filter(|(_, g)| seen.insert(g.group.clone()))
        .collect();
    chosen.sort_by(|(_, a), (_, b)| (!keep.contains(&a.group), &a.group).cmp(&(!keep.contains(&b.group), &b.group)));
    let truncated = chosen.len() > MAX_GROUPS;
    chosen.truncate(MAX_GROUPS);
    (chosen, truncated)
}

fn by_coordinator(chosen: Vec<(BrokerAddress, Listed)>) -> Vec<(BrokerAddress, Vec<Listed>)> {
    let mut by_id: BTreeMap<i32, (BrokerAddress, Vec<Listed>)> = BTreeMap::new();
    for (broker, group) in chosen {
        by_id
            .entry(broker.id)
            .or_insert_with(|| (broker, Vec::new()))
            .1
            .push(group);
    }
    by_id.into_values().collect()
}

/// Describes the groups one coordinator holds, with their committed offsets on the topic.
async fn describe_at(
    admin: &mut Admin,
    coordinator: &BrokerAddress,
    listed: &[Listed],
    topic: &str,
    partitions: &[Partition],
) -> Vec<Group> {
    let address = coordinator.address();
    let kip848 = admin
        .supports::<ConsumerGroupDescribeRequest>(&address)
        .await
        .unwrap_or(false);
    let (as_consumer, as_classic): (Vec<&Listed>, Vec<&Listed>) = listed
        .iter()
        .partition(|g| kip848 && g.group_type.as_deref() == Some("consumer"));
    let mut found = BTreeMap::new();
    let mut problems = BTreeMap::new();
    let tried = names(&as_consumer);
    let retry = describe_consumer(admin, &address, &tried, topic, &mut found, &mut problems).await;
    let mut classic = names(&as_classic);
    classic.extend(retry);
    let not_classic = describe_classic(admin, &address, &classic, topic, &mut found, &mut problems).await;
    if kip848 {
        let untried: Vec<String> = not_classic.into_iter().filter(|g| !tried.contains(g)).collect();
        describe_consumer(admin, &address, &untried, topic, &mut found, &mut problems).await;
    }
    let ids: Vec<i32> = partitions.iter().map(|p| p.partition).collect();
    let all = names(&listed.iter().collect::<Vec<_>>());
    let mut offsets = groups::committed_offsets(admin, &address, &all, topic, &ids).await;
    all.into_iter()
        .map(|name| {
            let committed = offsets.remove(&name).unwrap_or_else(|| Err("no answer".into()));
            let group = found
                .remove(&name)
                .unwrap_or_else(|| unknown(&name, listed_protocol(listed, &name)));
            let problem = problems.remove(&name);
            finish(group, coordinator.id, partitions, committed, problem)
        })
        .collect()
}

fn names(listed: &[&Listed]) -> Vec<String> {
    listed.iter().map(|g| g.group.clone()).collect()
}

/// The protocol ListGroups says a group speaks (classic when it does not say).
fn listed_protocol(listed: &[Listed], name: &str) -> Protocol {
    match listed
        .iter()
        .find(|g| g.group == name)
        .and_then(|g| g.group_type.as_deref())
    {
        Some("consumer") => Protocol::Consumer,
        _ => Protocol::Classic,
    }
}

/// ConsumerGroupDescribe; returns the groups the broker says are not KIP-848 groups.
async fn describe_consumer(
    admin: &mut Admin,
    address: &str,
    names: &[String],
    topic: &str,
    found: &mut BTreeMap<String, Group>,
    problems: &mut BTreeMap<String, String>,
) -> Vec<String> {
    match groups::describe_consumer(admin, address, names).await {
        Ok(described) => {
            let answers = described.into_iter().map(|group| {
                let name = group.group_id.0.to_string();
                match error_text(group.error_code, group.error_message.as_deref()) {
                    Some(problem) => (name, Err(problem)),
                    None => (name, Ok(consumer_group(group, topic))),
                }
            });
            sort_answers("ConsumerGroupDescribe", answers, found, problems)
        }
        Err(error) => {
            tracing::debug!("ConsumerGroupDescribe at {address}: {error}");
            names.to_vec()
        }
    }
}

/// DescribeGroups; returns the groups it refused (perhaps KIP-848 groups).
async fn describe_classic(
    admin: &mut Admin,
    address: &str,
    names: &[String],
    topic: &str,
    found: &mut BTreeMap<String, Group>,
    problems: &mut BTreeMap<String, String>,
) -> Vec<String> {
    match groups::describe_classic(admin, address, names).await {
        Ok(described) => {
            let answers = described.into_iter().map(|group| {
                let name = group.group_id.0.to_string();
                match error_text(group.error_code, group.error_message.as_deref()) {
                    Some(problem) => (name, Err(problem)),
                    None => (name, Ok(classic_group(group, topic))),
                }
            });
            sort_answers("DescribeGroups", answers, found, problems)
        }
        Err(error) => {
            for name in names {
                problems.insert(name.clone(), format!("DescribeGroups: {error}"));
            }
            names.to_vec()
        }
    }
}

/// Sorts one describe request's answers: a described group goes to `found`, a refused one to `problems`
/// (with the request's name, `api`); returns the refused names, for the other request to try.
fn sort_answers(
    api: &str,
    answers: impl Iterator<Item = (String, Result<Group, String>)>,
    found: &mut BTreeMap<String, Group>,
    problems: &mut BTreeMap<String, String>,
) -> Vec<String> {
    let mut refused = Vec::new();
    for (name, answer) in answers {
        match answer {
            Ok(group) => {
                problems.remove(&name);
                found.insert(name, group);
            }
            Err(problem) => {
                problems.insert(name.clone(), format!("{api}: {problem}"));
                refused.push(name);
            }
        }
    }
    refused
}

/// Adds the coordinator, and per partition the committed offset, the lag and the owner.
fn finish(
    mut group: Group,
    coordinator: i32,
    partitions: &[Partition],
    committed: Committed,
    problem: Option<String>,
) -> Group {
    group.coordinator = Some(coordinator);
    group.problem = problem.or_else(|| committed.as_ref().err().cloned());
    let committed = committed.unwrap_or_default();
    group.partitions = partitions
        .iter()
        .map(|p| {
            let offset = committed.get(&p.partition).copied().flatten();
            let owner = group.members.iter().find(|m| m.partitions.contains(&p.partition));
            GroupPartition {
                partition: p.partition,
                committed: offset,
                lag: offset.zip(p.end_offset).map(|(c, end)| (end - c).max(0)),
                owner: owner.map(|m| m.member_id.clone()),
            }
        })
        .collect();
    group
}

/// Whether the group reads `topic`: offsets committed on it, or a member subscribed to it or owning some.
fn reads(group: &Group, topic: &str) -> bool {
    group.partitions.iter().any(|p| p.committed.is_some())
        || group
            .members
            .iter()
            .any(|m| !m.partitions.is_empty() || m.subscribed.as_ref().is_some_and(|s| s.iter().any(|t| t == topic)))
}
