//! Partition assignors: who in the group reads which partitions.
//!
//! In Kafka's classic group protocol the broker does not decide this. It picks one member as the
//! *leader*, hands it every member's subscription, and the leader computes the assignment on the client
//! side and sends it back through SyncGroup. That is why any member must be able to lead, and why all
//! members must offer a common assignor in JoinGroup: the broker picks one they all support, and the
//! result must not depend on which member happens to compute it.
//!
//! We implement Java's two classic assignors, with identical results, so a group may mix our consumers
//! with Java ones:
//!
//! - **roundrobin** (`RoundRobinAssignor`): list every partition of every subscribed topic, sorted by
//!   (topic, partition), sort the members by id, and deal the partitions out like cards, skipping a
//!   member when it does not read the partition's topic.
//! - **range** (`RangeAssignor`): topic by topic, sort the members that read it; with `n` partitions and
//!   `m` members each gets `n / m` consecutive partitions, and the first `n % m` members one extra.
//!
//! Both are pure functions of their input: the same members and topics give the same assignment, in
//! whatever order the members are listed. Java compares strings by UTF-16 unit and Rust by byte; the two
//! orders agree on ASCII, which topic names always are.
//!
//! Members are sorted as Java's `MemberInfo` sorts them: **static members** (KIP-345, with a
//! `group.instance.id`) first, by instance id, then the others by member id. A static member's instance id
//! stays the same across restarts while its member id changes, so sorting by it gives a restarted static
//! member the same partitions again.
//!
//! Every member appears in the result. A member that gets nothing has an empty [`Assignment`]: an idle
//! member must still be told "nothing", or it would go on reading what it owned before. A topic appears
//! in a member's assignment only if the member got at least one of its partitions.

use std::collections::{BTreeMap, BTreeSet};

use super::protocol::Assignment;

/// One member's subscription, as the leader reads it from JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSubscription {
    pub member_id: String,
    /// The static member's `group.instance.id`, if it has one.
    pub instance_id: Option<String>,
    pub topics: Vec<String>,
}

/// member id -> its Assignment (every member present, possibly with no partitions)
pub type GroupAssignment = BTreeMap<String, Assignment>;

/// The assignors we offer in JoinGroup, in order of preference: roundrobin first.
pub const ASSIGNORS: [&str; 2] = ["roundrobin", "range"];

/// Computes the assignment with the named assignor; `None` if we do not know that assignor.
///
/// `partition_counts` maps topic -> number of partitions; a subscribed topic missing from it (no
/// metadata yet) is skipped, as Java does. Member ids are expected to be unique; a member listed twice
/// is treated as one member subscribed to all the topics of both entries.
pub fn assign(
    assignor: &str,
    members: &[MemberSubscription],
    partition_counts: &BTreeMap<String, i32>,
) -> Option<GroupAssignment> {
    let subscriptions = subscriptions_by_member(members);
    match assignor {
        "roundrobin" => Some(round_robin(&subscriptions, partition_counts)),
        "range" => Some(range(&subscriptions, partition_counts)),
        _ => None,
    }
}

/// A member in Java's order: static members (by instance id) before dynamic ones (by member id). The
/// derived order compares the fields top to bottom, and `false < true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct MemberKey<'a> {
    is_dynamic: bool,
    instance_id: Option<&'a str>,
    member_id: &'a str,
}

/// member -> subscribed topics. Both are sorted, which is the order both assignors need.
type Subscriptions<'a> = BTreeMap<MemberKey<'a>, BTreeSet<&'a str>>;

fn subscriptions_by_member(members: &[MemberSubscription]) -> Subscriptions<'_> {
    let mut subscriptions = Subscriptions::new();
    for member in members {
        let key = MemberKey {
            is_dynamic: member.instance_id.is_none(),
            instance_id: member.instance_id.as_deref(),
            member_id: &member.member_id,
        };
        let topics = subscriptions.entry(key).or_default();
        topics.extend(member.topics.iter().map(String::as_str));
    }
    subscriptions
}

/// Every member, with nothing assigned yet.
fn nothing_assigned(subscriptions: &Subscriptions) -> GroupAssignment {
    subscriptions
        .keys()
        .map(|member| (member.member_id.to_string(), Assignment::new()))
        .collect()
}

fn give(group: &mut GroupAssignment, member: &str, topic: &str, partition: i32) {
    let assignment = group.entry(member.to_string()).or_default();
    assignment.entry(topic.to_string()).or_default().push(partition);
}

/// How many partitions `topic` has; `None` if we have no metadata for it. A negative count counts as 0.
fn partition_count(partition_counts: &BTreeMap<String, i32>, topic: &str) -> Option<i32> {
    partition_counts.get(topic).map(|count| (*count).max(0))
}

/// Every partition of every subscribed topic we have metadata for, sorted by (topic, partition).
fn all_partitions_sorted<'a>(
    subscriptions: &Subscriptions<'a>,
    partition_counts: &BTreeMap<String, i32>,
) -> Vec<(&'a str, i32)> {
    let subscribed_topics: BTreeSet<&str> = subscriptions.values().flatten().copied().collect();
    let mut partitions = Vec::new();
    for topic in subscribed_topics {
        let count = partition_count(partition_counts, topic).unwrap_or(0);
        partitions.extend((0..count).map(|partition| (topic, partition)));
    }
    partitions
}

/// Java's `RoundRobinAssignor`.
fn round_robin(subscriptions: &Subscriptions, partition_counts: &BTreeMap<String, i32>) -> GroupAssignment {
    let mut group = nothing_assigned(subscriptions);
    let members: Vec<(&str, &BTreeSet<&str>)> = subscriptions
        .iter()
        .map(|(member, topics)| (member.member_id, topics))
        .collect();
    let mut next = 0; // index of the member whose turn it is
    for (topic, partition) in all_partitions_sorted(subscriptions, partition_counts) {
        // Someone reads `topic` (it comes from a subscription), so this loop ends within one round.
        while !members[next].1.contains(topic) {
            next = (next + 1) % members.len();
        }
        give(&mut group, members[next].0, topic, partition);
        next = (next + 1) % members.len();
    }
    group
}

/// Java's `RangeAssignor`.
fn range(subscriptions: &Subscriptions, partition_counts: &BTreeMap<String, i32>) -> GroupAssignment {
    let mut group = nothing_assigned(subscriptions);
    for topic in partition_counts.keys() {
        let readers: Vec<&str> = subscriptions
            .iter()
            .filter(|(_, topics)| topics.contains(topic.as_str()))
            .map(|(member, _)| member.member_id)
            .collect();
        let count = partition_count(partition_counts, topic).unwrap_or(0);
        for (index, member) in (0..).zip(&readers) {
            for partition in range_share(index, readers.len(), count) {
                give(&mut group, member, topic, partition);
            }
        }
    }
    group
}

/// The consecutive partitions the `index`-th of `readers` members gets out of `count` partitions.
fn range_share(index: i32, readers: usize, count: i32) -> std::ops::Range<i32> {
    // More members than i32::MAX cannot fit in memory; saturating keeps this total anyway.
    let readers = i32::try_from(readers).unwrap_or(i32::MAX);
    let per_member = count / readers;
    let with_extra = count % readers;
    let start = per_member * index + index.min(with_extra);
    let len = if index < with_extra { per_member + 1 } else { per_member };
    start..start + len
}

#[cfg(test)]
mod tests;
