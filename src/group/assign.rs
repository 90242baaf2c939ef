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
//! orders agree on ASCII, which topic names always are. Like Java without static membership (we have
//! none), members are sorted by member id.
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

/// member id -> subscribed topics. Both are sorted, which is the order both assignors need.
type Subscriptions<'a> = BTreeMap<&'a str, BTreeSet<&'a str>>;

fn subscriptions_by_member(members: &[MemberSubscription]) -> Subscriptions<'_> {
    let mut subscriptions = Subscriptions::new();
    for member in members {
        let topics = subscriptions.entry(member.member_id.as_str()).or_default();
        topics.extend(member.topics.iter().map(String::as_str));
    }
    subscriptions
}

/// Every member, with nothing assigned yet.
fn nothing_assigned(subscriptions: &Subscriptions) -> GroupAssignment {
    subscriptions
        .keys()
        .map(|member| (member.to_string(), Assignment::new()))
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
    let members: Vec<(&str, &BTreeSet<&str>)> = subscriptions.iter().map(|(id, topics)| (*id, topics)).collect();
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
            .map(|(member, _)| *member)
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
mod tests {
    use super::*;

    fn member(member_id: &str, topics: &[&str]) -> MemberSubscription {
        let topics = topics.iter().map(|topic| topic.to_string()).collect();
        MemberSubscription {
            member_id: member_id.to_string(),
            topics,
        }
    }

    fn counts(topics: &[(&str, i32)]) -> BTreeMap<String, i32> {
        topics
            .iter()
            .map(|(topic, count)| (topic.to_string(), *count))
            .collect()
    }

    /// Topic names with their partitions, as in `&[("t0", &[0, 1])]`.
    type Partitions<'a> = &'a [(&'a str, &'a [i32])];

    /// `expected(&[("C0", &[("t0", &[0, 1])])])` reads as "C0 gets partitions 0 and 1 of t0".
    fn expected(members: &[(&str, Partitions)]) -> GroupAssignment {
        let assignment = |topics: Partitions| -> Assignment {
            topics
                .iter()
                .map(|(topic, partitions)| (topic.to_string(), partitions.to_vec()))
                .collect()
        };
        members
            .iter()
            .map(|(id, topics)| (id.to_string(), assignment(topics)))
            .collect()
    }

    #[test]
    fn range_matches_the_java_javadoc_example() {
        let members = [member("C0", &["t0", "t1"]), member("C1", &["t0", "t1"])];
        let result = assign("range", &members, &counts(&[("t0", 3), ("t1", 3)]));
        let want = expected(&[
            ("C0", &[("t0", &[0, 1]), ("t1", &[0, 1])]),
            ("C1", &[("t0", &[2]), ("t1", &[2])]),
        ]);
        assert_eq!(result, Some(want));
    }

    #[test]
    fn roundrobin_matches_the_java_javadoc_examples() {
        let members = [member("C0", &["t0", "t1"]), member("C1", &["t0", "t1"])];
        let result = assign("roundrobin", &members, &counts(&[("t0", 3), ("t1", 3)]));
        let want = expected(&[
            ("C0", &[("t0", &[0, 2]), ("t1", &[1])]),
            ("C1", &[("t0", &[1]), ("t1", &[0, 2])]),
        ]);
        assert_eq!(result, Some(want));

        // Unequal subscriptions: members that do not read a topic are skipped.
        let members = [
            member("C0", &["t0"]),
            member("C1", &["t0", "t1"]),
            member("C2", &["t0", "t1", "t2"]),
        ];
        let result = assign("roundrobin", &members, &counts(&[("t0", 1), ("t1", 2), ("t2", 3)]));
        let want = expected(&[
            ("C0", &[("t0", &[0])]),
            ("C1", &[("t1", &[0])]),
            ("C2", &[("t1", &[1]), ("t2", &[0, 1, 2])]),
        ]);
        assert_eq!(result, Some(want));
    }

    #[test]
    fn three_members_on_two_partitions_leave_one_idle() {
        let members = [member("c", &["t"]), member("a", &["t"]), member("b", &["t"])];
        for assignor in ASSIGNORS {
            let result = assign(assignor, &members, &counts(&[("t", 2)]));
            let want = expected(&[("a", &[("t", &[0])]), ("b", &[("t", &[1])]), ("c", &[])]);
            assert_eq!(result, Some(want), "{assignor}");
        }
    }

    #[test]
    fn topics_without_metadata_or_partitions_are_skipped() {
        let members = [member("a", &["ghost", "empty", "t"]), member("b", &["ghost"])];
        for assignor in ASSIGNORS {
            let result = assign(assignor, &members, &counts(&[("empty", 0), ("negative", -3), ("t", 1)]));
            assert_eq!(
                result,
                Some(expected(&[("a", &[("t", &[0])]), ("b", &[])])),
                "{assignor}"
            );
        }
    }

    #[test]
    fn no_members_no_assignment() {
        for assignor in ASSIGNORS {
            assert_eq!(
                assign(assignor, &[], &counts(&[("t", 4)])),
                Some(GroupAssignment::new())
            );
        }
    }

    #[test]
    fn a_member_listed_twice_is_one_member_with_both_subscriptions() {
        let members = [member("a", &["t0"]), member("a", &["t1"])];
        let want = expected(&[("a", &[("t0", &[0]), ("t1", &[0])])]);
        for assignor in ASSIGNORS {
            assert_eq!(
                assign(assignor, &members, &counts(&[("t0", 1), ("t1", 1)])),
                Some(want.clone())
            );
        }
    }

    #[test]
    fn unknown_assignor_is_none() {
        assert_eq!(assign("sticky", &[member("a", &["t"])], &counts(&[("t", 1)])), None);
    }

    /// A member id per index, deliberately not in sorted order: m0, m7, m4, m1, m8, m5.
    fn member_id(index: usize) -> String {
        format!("m{}", index * 7 % 10)
    }

    /// Topics t0, t1, ... with different partition counts derived from `partitions` (all in 0..=8).
    fn topics_with_counts(topic_count: i32, partitions: i32) -> BTreeMap<String, i32> {
        (0..topic_count)
            .map(|topic| (format!("t{topic}"), (partitions + 3 * topic) % 9))
            .collect()
    }

    /// Everybody reads every topic (`equal`), or member i reads every other topic starting with the
    /// (i % 2)-th, plus a topic that has no metadata.
    fn subscriptions(member_count: usize, topics: &[String], equal: bool) -> Vec<MemberSubscription> {
        let topics_of = |index: usize| -> Vec<String> {
            if equal {
                return topics.to_vec();
            }
            let mut some: Vec<String> = topics.iter().skip(index % 2).step_by(2).cloned().collect();
            some.push("ghost".to_string());
            some
        };
        let member = |index| MemberSubscription {
            member_id: member_id(index),
            topics: topics_of(index),
        };
        (0..member_count).map(member).collect()
    }

    fn readers<'a>(members: &'a [MemberSubscription], topic: &str) -> BTreeSet<&'a str> {
        let reads = |member: &&MemberSubscription| member.topics.iter().any(|subscribed| subscribed == topic);
        members
            .iter()
            .filter(reads)
            .map(|member| member.member_id.as_str())
            .collect()
    }

    fn partitions_of<'a>(result: &'a GroupAssignment, member: &str, topic: &str) -> &'a [i32] {
        result
            .get(member)
            .and_then(|assignment| assignment.get(topic))
            .map_or(&[], Vec::as_slice)
    }

    /// Every member is present; every partition of a topic someone reads goes to exactly one of its
    /// readers; nothing else is assigned; lists are sorted and never empty.
    fn check_complete(result: &GroupAssignment, members: &[MemberSubscription], counts: &BTreeMap<String, i32>) {
        let ids: BTreeSet<String> = members.iter().map(|member| member.member_id.clone()).collect();
        assert_eq!(result.keys().cloned().collect::<BTreeSet<_>>(), ids);
        for assignment in result.values() {
            for (topic, partitions) in assignment {
                assert!(counts.contains_key(topic), "{topic} has no metadata");
                assert!(
                    !partitions.is_empty() && partitions.windows(2).all(|pair| pair[0] < pair[1]),
                    "{topic}: {partitions:?}"
                );
            }
        }
        for (topic, count) in counts {
            let readers = readers(members, topic);
            for partition in 0..*count {
                let owners: Vec<&String> = result
                    .keys()
                    .filter(|id| partitions_of(result, id, topic).contains(&partition))
                    .collect();
                let expected_owners = if readers.is_empty() { 0 } else { 1 };
                assert_eq!(owners.len(), expected_owners, "{topic}-{partition} owned by {owners:?}");
                assert!(owners.iter().all(|owner| readers.contains(owner.as_str())));
            }
        }
    }

    /// Range, exactly: per topic, the readers in id order hold consecutive runs covering 0..count, each
    /// run as long as or one longer than the next.
    fn check_range(result: &GroupAssignment, members: &[MemberSubscription], counts: &BTreeMap<String, i32>) {
        for (topic, count) in counts {
            let runs: Vec<&[i32]> = readers(members, topic)
                .iter()
                .map(|id| partitions_of(result, id, topic))
                .collect();
            if runs.is_empty() {
                continue;
            }
            assert_eq!(runs.concat(), (0..*count).collect::<Vec<_>>(), "{topic}");
            assert!(runs
                .windows(2)
                .all(|pair| pair[0].len() == pair[1].len() || pair[0].len() == pair[1].len() + 1));
        }
    }

    /// Round robin with equal subscriptions, exactly: the k-th partition in (topic, partition) order goes to
    /// the (k % members)-th member in id order, so partition counts differ by at most one.
    fn check_equal_round_robin(result: &GroupAssignment, counts: &BTreeMap<String, i32>) {
        let ids: Vec<&String> = result.keys().collect();
        let all = counts
            .iter()
            .flat_map(|(topic, count)| (0..*count).map(move |partition| (topic, partition)));
        for (k, (topic, partition)) in all.enumerate() {
            assert!(partitions_of(result, ids[k % ids.len()], topic).contains(&partition));
        }
        let sizes: Vec<usize> = result
            .values()
            .map(|assignment| assignment.values().map(Vec::len).sum())
            .collect();
        assert!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
            "{sizes:?}"
        );
    }

    #[test]
    fn every_group_shape_is_assigned_completely_fairly_and_in_any_member_order() {
        let mut cases = 0;
        for (member_count, partitions, topic_count) in
            (1..=6).flat_map(|m| (0..=8).flat_map(move |p| (1..=3).map(move |t| (m, p, t))))
        {
            let counts = topics_with_counts(topic_count, partitions);
            let topics: Vec<String> = counts.keys().cloned().collect();
            for equal in [true, false] {
                let members = subscriptions(member_count, &topics, equal);
                for assignor in ASSIGNORS {
                    let result = assign(assignor, &members, &counts).unwrap();
                    check_complete(&result, &members, &counts);
                    match assignor {
                        "range" => check_range(&result, &members, &counts),
                        _ if equal => check_equal_round_robin(&result, &counts),
                        _ => {}
                    }
                    let mut reordered = members.clone();
                    reordered.reverse();
                    assert_eq!(assign(assignor, &reordered, &counts).unwrap(), result);
                    reordered.rotate_left(member_count / 2);
                    assert_eq!(assign(assignor, &reordered, &counts).unwrap(), result);
                    cases += 1;
                }
            }
        }
        assert_eq!(cases, 6 * 9 * 3 * 2 * 2);
    }
}
