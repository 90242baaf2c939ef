//! What the group leader does between JoinGroup and SyncGroup: compute everyone's assignment.
//!
//! Kafka's coordinator does not decide who reads which partition. It picks one member as **leader** and
//! sends it every member's subscription; the leader runs the assignor the group agreed on and returns one
//! assignment per member in its SyncGroup. Keeping this on the client side is what lets clients bring their
//! own assignors (range, round-robin, sticky, ...) without upgrading brokers — and it is why every member
//! must be able to lead: whoever joined first usually does.
//!
//! The leader also watches the partition counts it assigned from. Kafka does not tell a group that a topic
//! grew partitions (or was created after the group formed): as in the Java client, the leader notices by
//! itself and gets the group rebalanced. Java's leader simply rejoins (Apache Kafka rebalances when the
//! leader sends JoinGroup); not every coordinator does that (Tansu hands back the old assignment), so our
//! leader leaves and joins as a new member, which any coordinator answers with a rebalance.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::assign::{self, MemberSubscription};
use super::client::{JoinedMember, Membership};
use super::error::GroupError;
use super::protocol::{decode_subscription, encode_assignment};

/// The leader's work: the encoded assignment of every member, and the partition counts to watch.
pub struct LeaderPlan {
    pub assignments: Vec<(String, Bytes)>,
    /// The partition count of every topic a member subscribes to (0: no such topic), to watch for changes.
    pub watched: BTreeMap<String, i32>,
}

/// Decodes the members' subscriptions, runs the agreed assignor on `partition_counts` and encodes the
/// result for SyncGroup. A static leader told to skip the assignment (KIP-814) sends none, but still
/// watches the partition counts.
pub fn plan_assignment(
    membership: &Membership,
    partition_counts: &BTreeMap<String, i32>,
) -> Result<LeaderPlan, GroupError> {
    let subscriptions = decode_subscriptions(&membership.members);
    let watched = subscribed_counts(&subscriptions, partition_counts);
    if membership.skip_assignment {
        tracing::info!("the coordinator keeps the current assignment (static leader rejoined)");
        return Ok(LeaderPlan {
            assignments: Vec::new(),
            watched,
        });
    }
    let plan =
        assign::assign(&membership.assignor, &subscriptions, partition_counts).ok_or_else(|| GroupError::Retry {
            context: "assign",
            reason: format!("unknown assignor '{}'", membership.assignor),
        })?;
    let mut assignments = Vec::with_capacity(plan.len());
    for (member_id, assignment) in plan {
        tracing::info!(member = %member_id, ?assignment, "leader assigns");
        let bytes = encode_assignment(&assignment).map_err(|e| GroupError::Retry {
            context: "assign",
            reason: e.to_string(),
        })?;
        assignments.push((member_id, bytes));
    }
    Ok(LeaderPlan { assignments, watched })
}

/// The partition count of every topic some member subscribes to; 0 for a topic that does not exist.
fn subscribed_counts(subscriptions: &[MemberSubscription], counts: &BTreeMap<String, i32>) -> BTreeMap<String, i32> {
    subscriptions
        .iter()
        .flat_map(|member| &member.topics)
        .map(|topic| (topic.clone(), counts.get(topic).copied().unwrap_or(0)))
        .collect()
}

/// How the watched partition counts changed (`now` is a fresh read), in words; `None` while they did not.
pub fn partition_change(watched: &BTreeMap<String, i32>, now: &BTreeMap<String, i32>) -> Option<String> {
    watched.iter().find_map(|(topic, &before)| {
        let after = now.get(topic).copied().unwrap_or(0);
        (after != before).then(|| format!("{topic} now has {after} partition{} (had {before})", plural(after)))
    })
}

/// Every member's subscription; a member whose bytes cannot be decoded is treated as subscribing to
/// nothing (it then gets no partitions) rather than failing the whole group.
fn decode_subscriptions(members: &[JoinedMember]) -> Vec<MemberSubscription> {
    members
        .iter()
        .map(|member| {
            let topics = match decode_subscription(&member.metadata) {
                Ok(subscription) => subscription.topics,
                Err(e) => {
                    tracing::warn!(member = %member.member_id, "undecodable subscription, assigning nothing: {e}");
                    Vec::new()
                }
            };
            MemberSubscription {
                member_id: member.member_id.clone(),
                instance_id: member.instance_id.clone(),
                topics,
            }
        })
        .collect()
}

/// The workshop's troubleshooting case in words: why this member owns no partitions.
pub fn idle_reason(topic: &str, group: &str, partitions: Option<i32>, members: Option<usize>) -> String {
    match (partitions, members) {
        (Some(0) | None, _) => format!("{topic} does not exist or has no partitions; this consumer owns none"),
        (Some(p), Some(m)) => format!(
            "{topic} has {p} partition{} for {m} members of {group}; this consumer owns none \
             (a group uses at most one consumer per partition)",
            plural(p)
        ),
        (Some(p), None) => format!(
            "{topic} has {p} partition{}, all owned by other members of {group}; this consumer owns none \
             (a group uses at most one consumer per partition)",
            plural(p)
        ),
    }
}

fn plural(count: i32) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leader_watches_every_subscribed_topic_even_a_missing_one() {
        let member = |id: &str, topics: &[&str]| MemberSubscription {
            member_id: id.into(),
            instance_id: None,
            topics: topics.iter().map(|t| t.to_string()).collect(),
        };
        let subscriptions = [member("a", &["first-topic"]), member("b", &["first-topic", "dlq"])];
        let counts = BTreeMap::from([("first-topic".to_string(), 2), ("other".to_string(), 5)]);
        let watched = subscribed_counts(&subscriptions, &counts);
        assert_eq!(
            watched,
            BTreeMap::from([("dlq".to_string(), 0), ("first-topic".to_string(), 2)])
        );
    }

    #[test]
    fn a_changed_partition_count_is_named() {
        let watched = BTreeMap::from([("t".to_string(), 1)]);
        assert_eq!(partition_change(&watched, &watched), None);
        let grown = BTreeMap::from([("t".to_string(), 2)]);
        assert_eq!(
            partition_change(&watched, &grown).unwrap(),
            "t now has 2 partitions (had 1)"
        );
        assert_eq!(
            partition_change(&watched, &BTreeMap::new()).unwrap(),
            "t now has 0 partitions (had 1)"
        );
    }

    #[test]
    fn idle_reason_names_partitions_and_members() {
        let text = idle_reason("first-topic", "first-group", Some(2), Some(3));
        assert!(text.starts_with("first-topic has 2 partitions for 3 members of first-group; this consumer owns none"));
        let text = idle_reason("first-topic", "g", Some(1), None);
        assert!(text.contains("1 partition,") && text.contains("owns none"), "{text}");
        assert!(idle_reason("t", "g", None, None).contains("does not exist"));
    }
}
