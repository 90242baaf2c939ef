//! The bytes consumers exchange through the group coordinator: Kafka's standard *ConsumerProtocol*.
//!
//! In the classic group protocol the broker does not understand what the members of a group agree on. A
//! consumer joins with protocol type `"consumer"` and puts its **subscription** (the topics it wants) into
//! the opaque metadata of its JoinGroup request. The broker hands all subscriptions to one member, the
//! leader, which computes who reads which partitions and sends the **assignments** back, again as opaque
//! bytes, in its SyncGroup request. Every member then receives its own assignment.
//!
//! Because the broker never looks inside, every client library must agree on the byte layout. Both blobs
//! are an int16 version followed by a struct whose fields depend on that version:
//!
//! ```text
//! subscription v0: version | topics: [string]          | user_data: bytes (null = ff ff ff ff)
//!              v1: ...     | owned_partitions: [topic string, [int32]]
//!              v2: ...     | generation_id: int32
//!              v3: ...     | rack_id: nullable string
//! assignment   v0: version | partitions: [topic string, [int32]] | user_data: bytes
//! ```
//!
//! We write version 0 of both, which every client can read (newer clients only ever *add* fields at the
//! end). We read any version: a version newer than we know is decoded as the newest version we know,
//! ignoring the fields added after it, which is exactly what the Java client does.
//!
//! The structs themselves come from the `kafka-protocol` crate, generated from Kafka's own schemas. They
//! do not include the leading version, so we write and read it here.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedPartitions;
use kafka_protocol::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, Message, StrBytes};

mod length_check;
use length_check::{check_lengths, LengthCheck};

/// The protocol type a consumer announces in JoinGroup.
pub const PROTOCOL_TYPE: &str = "consumer";

/// The version we write for both subscriptions and assignments.
const WRITE_VERSION: i16 = 0;

/// What one member asks for when it joins the group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscription {
    /// The topics the member wants to read.
    pub topics: Vec<String>,
    /// Opaque bytes some assignors use (for example the sticky assignor); we never write any.
    pub user_data: Option<Bytes>,
}

/// What one member was given: topic -> sorted partitions.
pub type Assignment = BTreeMap<String, Vec<i32>>;

/// Why a subscription or an assignment could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("{what} is only {len} byte(s) long, too short for its int16 version")]
    MissingVersion { what: &'static str, len: usize },
    #[error("{what} has the negative version {version}")]
    NegativeVersion { what: &'static str, version: i16 },
    #[error("{what} v{version} is truncated: a field at byte {offset} runs past the end of its {len} bytes")]
    Truncated {
        what: &'static str,
        version: i16,
        offset: usize,
        len: usize,
    },
    #[error("cannot decode {what} v{version}: {reason}")]
    Undecodable {
        what: &'static str,
        version: i16,
        reason: String,
    },
    #[error("cannot encode {what}: {reason}")]
    Unencodable { what: &'static str, reason: String },
}

const SUBSCRIPTION: &str = "subscription";
const ASSIGNMENT: &str = "assignment";

/// Encodes the subscription a member sends in JoinGroup (version 0, no user data).
pub fn encode_subscription(topics: &[String]) -> Result<Bytes, ProtocolError> {
    let topics = topics
        .iter()
        .map(|topic| StrBytes::from_string(topic.clone()))
        .collect();
    let subscription = ConsumerProtocolSubscription::default().with_topics(topics);
    encode_with_version(SUBSCRIPTION, &subscription)
}

/// Decodes a subscription of any version; fields we do not use (owned partitions, rack, ...) are dropped.
pub fn decode_subscription(bytes: &[u8]) -> Result<Subscription, ProtocolError> {
    let (version, body) = split_version(SUBSCRIPTION, bytes)?;
    let version = version.min(ConsumerProtocolSubscription::VERSIONS.max);
    check_lengths(SUBSCRIPTION, version, bytes.len(), body, |check| {
        check.subscription(version)
    })?;
    let decoded: ConsumerProtocolSubscription = decode_body(SUBSCRIPTION, version, body)?;
    Ok(Subscription {
        topics: decoded.topics.iter().map(|topic| topic.to_string()).collect(),
        user_data: decoded.user_data,
    })
}

/// Encodes the assignment the leader sends for one member in SyncGroup (version 0, no user data).
pub fn encode_assignment(assignment: &Assignment) -> Result<Bytes, ProtocolError> {
    let assigned_partitions = assignment
        .iter()
        .map(|(topic, partitions)| {
            AssignedPartitions::default()
                .with_topic(TopicName(StrBytes::from_string(topic.clone())))
                .with_partitions(partitions.clone())
        })
        .collect();
    let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(assigned_partitions);
    encode_with_version(ASSIGNMENT, &assignment)
}

/// Decodes an assignment of any version. Empty bytes mean "nothing assigned", as some leaders send that.
///
/// The result is normalized: partitions sorted without duplicates, a topic listed twice is merged, and a
/// topic with no partitions is left out, so "nothing assigned" is always the empty map.
pub fn decode_assignment(bytes: &[u8]) -> Result<Assignment, ProtocolError> {
    if bytes.is_empty() {
        return Ok(Assignment::new());
    }
    let (version, body) = split_version(ASSIGNMENT, bytes)?;
    let version = version.min(ConsumerProtocolAssignment::VERSIONS.max);
    check_lengths(ASSIGNMENT, version, bytes.len(), body, LengthCheck::assignment)?;
    let decoded: ConsumerProtocolAssignment = decode_body(ASSIGNMENT, version, body)?;
    let mut assignment = Assignment::new();
    for assigned in decoded.assigned_partitions {
        let partitions: &mut Vec<i32> = assignment.entry(assigned.topic.to_string()).or_default();
        partitions.extend(assigned.partitions);
    }
    assignment.retain(|_, partitions| {
        partitions.sort_unstable();
        partitions.dedup();
        !partitions.is_empty()
    });
    Ok(assignment)
}

/// Writes the version, then the struct in that version.
fn encode_with_version(what: &'static str, message: &impl Encodable) -> Result<Bytes, ProtocolError> {
    let mut buf = BytesMut::new();
    buf.put_i16(WRITE_VERSION);
    message
        .encode(&mut buf, WRITE_VERSION)
        .map_err(|error| ProtocolError::Unencodable {
            what,
            reason: format!("{error:#}"),
        })?;
    Ok(buf.freeze())
}

/// Splits the leading int16 version from the struct that follows it.
fn split_version<'a>(what: &'static str, bytes: &'a [u8]) -> Result<(i16, &'a [u8]), ProtocolError> {
    let Some((version, body)) = bytes.split_first_chunk::<2>() else {
        return Err(ProtocolError::MissingVersion { what, len: bytes.len() });
    };
    let version = i16::from_be_bytes(*version);
    if version < 0 {
        return Err(ProtocolError::NegativeVersion { what, version });
    }
    Ok((version, body))
}

/// Decodes the struct after the version. Bytes left over belong to fields of newer versions and are ignored.
fn decode_body<T: Decodable>(what: &'static str, version: i16, mut body: &[u8]) -> Result<T, ProtocolError> {
    T::decode(&mut body, version).map_err(|error| ProtocolError::Undecodable {
        what,
        version,
        reason: format!("{error:#}"),
    })
}

#[cfg(test)]
mod tests;
