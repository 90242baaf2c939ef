//! A group's description, as its coordinator sent it, turned into the view's [`Group`] and [`Member`]s.
//!
//! Classic groups: the coordinator only relays the members' ConsumerProtocol bytes (their subscription and
//! the assignment their leader computed), decoded here with [`crate::group::protocol`]; empty assignment bytes
//! mean the coordinator does not say. KIP-848 groups: the broker computed the assignment itself and sends it
//! decoded, with each member's epoch.

use kafka_protocol::messages::consumer_group_describe_response::DescribedGroup as ConsumerDescribed;
use kafka_protocol::messages::describe_groups_response::DescribedGroup as ClassicDescribed;

use crate::cluster::view::{Group, Member, Protocol};
use crate::group::protocol::{decode_assignment, decode_subscription};

/// A classic group: members' subscriptions and assignments decoded from the ConsumerProtocol bytes.
pub fn classic_group(group: ClassicDescribed, topic: &str) -> Group {
    let members = group
        .members
        .iter()
        .map(|m| {
            let mut member = new_member(
                m.member_id.to_string(),
                m.client_id.to_string(),
                m.client_host.to_string(),
            );
            member.instance_id = m.group_instance_id.as_ref().map(|i| i.to_string());
            if !m.member_metadata.is_empty() {
                match decode_subscription(&m.member_metadata) {
                    Ok(subscription) => member.subscribed = Some(subscription.topics),
                    Err(error) => member.problem = Some(format!("subscription: {error}")),
                }
            }
            match decode_assignment(&m.member_assignment) {
                // Empty bytes: the coordinator does not say (mid-rebalance, or a broker that keeps them).
                Ok(_) if m.member_assignment.is_empty() => {}
                Ok(assignment) => {
                    member.assignment_from = Some("coordinator".into());
                    member.partitions = assignment.get(topic).cloned().unwrap_or_default();
                    member.other_partitions = assignment
                        .iter()
                        .filter(|(t, _)| *t != topic)
                        .map(|(_, p)| p.len())
                        .sum();
                }
                Err(error) => member.problem = Some(format!("assignment: {error}")),
            }
            member
        })
        .collect();
    Group {
        protocol: Protocol::Classic,
        protocol_type: group.protocol_type.to_string(),
        state: group.group_state.to_string(),
        assignor: Some(group.protocol_data.to_string()).filter(|a| !a.is_empty()),
        members,
        ..unknown(&group.group_id.0, Protocol::Classic)
    }
}

/// A KIP-848 group: the broker has already decoded every assignment.
pub fn consumer_group(group: ConsumerDescribed, topic: &str) -> Group {
    let members = group
        .members
        .iter()
        .map(|m| {
            let mut member = new_member(
                m.member_id.to_string(),
                m.client_id.to_string(),
                m.client_host.to_string(),
            );
            member.instance_id = m.instance_id.as_ref().map(|i| i.to_string());
            member.member_epoch = Some(m.member_epoch);
            let mut subscribed: Vec<String> = m.subscribed_topic_names.iter().map(|t| t.0.to_string()).collect();
            let regex = m.subscribed_topic_regex.as_ref().filter(|r| !r.is_empty());
            subscribed.extend(regex.map(|r| format!("/{r}/")));
            member.subscribed = Some(subscribed);
            let (mine, others) = split_topic(&m.assignment.topic_partitions, topic);
            let (target, _) = split_topic(&m.target_assignment.topic_partitions, topic);
            member.partitions = mine;
            member.other_partitions = others;
            member.assignment_from = Some("coordinator".into());
            member.target_partitions = (target != member.partitions).then_some(target);
            member
        })
        .collect();
    Group {
        protocol: Protocol::Consumer,
        state: group.group_state.to_string(),
        assignor: Some(group.assignor_name.to_string()).filter(|a| !a.is_empty()),
        generation: Some(group.group_epoch),
        assignment_epoch: Some(group.assignment_epoch),
        members,
        ..unknown(&group.group_id.0, Protocol::Consumer)
    }
}

type TopicPartitions = kafka_protocol::messages::consumer_group_describe_response::TopicPartitions;

/// The sorted partitions of `topic`, and how many partitions of other topics.
fn split_topic(assigned: &[TopicPartitions], topic: &str) -> (Vec<i32>, usize) {
    let mut mine = Vec::new();
    let mut others = 0;
    for t in assigned {
        if t.topic_name.0.as_str() == topic {
            mine.extend(&t.partitions);
        } else {
            others += t.partitions.len();
        }
    }
    mine.sort_unstable();
    (mine, others)
}

fn new_member(member_id: String, client_id: String, host: String) -> Member {
    Member {
        member_id,
        client_id,
        host,
        instance_id: None,
        member_epoch: None,
        subscribed: None,
        partitions: Vec::new(),
        assignment_from: None,
        target_partitions: None,
        other_partitions: 0,
        kafka_lab: None,
        generation: None,
        problem: None,
    }
}

/// A group known only by name (its description failed).
pub fn unknown(name: &str, protocol: Protocol) -> Group {
    Group {
        group: name.to_string(),
        protocol,
        protocol_type: "consumer".into(),
        state: "Unknown".into(),
        assignor: None,
        generation: None,
        assignment_epoch: None,
        coordinator: None,
        members: Vec::new(),
        partitions: Vec::new(),
        problem: None,
    }
}
