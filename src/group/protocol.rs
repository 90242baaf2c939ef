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

/// Walks the bytes once before `kafka-protocol` decodes them.
///
/// Why: the generated decoder reserves memory for an array as soon as it reads the array's count. From
/// garbage bytes that count can be two billion, and reserving tens of gigabytes aborts the whole process
/// (an allocation failure is not a recoverable error in Rust). This walk reads every length and count and
/// stops at the first one that runs past the end, so the decoder only ever sees counts that fit.
fn check_lengths<'a>(
    what: &'static str,
    version: i16,
    total_len: usize,
    body: &'a [u8],
    walk: impl FnOnce(&mut LengthCheck<'a>) -> Option<()>,
) -> Result<(), ProtocolError> {
    let mut check = LengthCheck { rest: body };
    match walk(&mut check) {
        Some(()) => Ok(()),
        None => Err(ProtocolError::Truncated {
            what,
            version,
            offset: total_len - check.rest.len(),
            len: total_len,
        }),
    }
}

/// A cursor that skips over fields, only checking that each one fits; `None` means "ran past the end".
struct LengthCheck<'a> {
    rest: &'a [u8],
}

impl LengthCheck<'_> {
    fn skip(&mut self, len: usize) -> Option<()> {
        self.rest = self.rest.get(len..)?;
        Some(())
    }

    fn int32(&mut self) -> Option<i32> {
        let (value, rest) = self.rest.split_first_chunk::<4>()?;
        self.rest = rest;
        Some(i32::from_be_bytes(*value))
    }

    /// int16 length, then that many bytes (-1 means null).
    fn string(&mut self) -> Option<()> {
        let (len, rest) = self.rest.split_first_chunk::<2>()?;
        self.rest = rest;
        self.skip(usize::try_from(i16::from_be_bytes(*len)).unwrap_or(0))
    }

    /// int32 length, then that many bytes (-1 means null).
    fn bytes(&mut self) -> Option<()> {
        let len = self.int32()?;
        self.skip(usize::try_from(len).unwrap_or(0))
    }

    /// int32 count, then that many elements. Every element takes at least two bytes, so a huge count
    /// reaches the end of the input quickly.
    fn array(&mut self, mut element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        let count = self.int32()?;
        for _ in 0..count {
            element(self)?;
        }
        Some(())
    }

    /// `[topic string, [int32 partition]]`: the assigned partitions, or the owned ones in a subscription.
    fn topic_partitions(&mut self) -> Option<()> {
        self.array(|check| {
            check.string()?;
            check.array(|check| check.int32().map(drop))
        })
    }

    /// The same layout in every version so far.
    fn assignment(&mut self) -> Option<()> {
        self.topic_partitions()?;
        self.bytes()
    }

    fn subscription(&mut self, version: i16) -> Option<()> {
        self.array(Self::string)?;
        self.bytes()?;
        if version >= 1 {
            self.topic_partitions()?;
        }
        if version >= 2 {
            self.int32()?;
        }
        if version >= 3 {
            self.string()?;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Little helpers to write wire bytes by hand, big-endian like all of Kafka.
    fn int16(value: i16) -> Vec<u8> {
        value.to_be_bytes().to_vec()
    }
    fn int32(value: i32) -> Vec<u8> {
        value.to_be_bytes().to_vec()
    }
    fn string(value: &str) -> Vec<u8> {
        [int16(value.len() as i16), value.as_bytes().to_vec()].concat()
    }
    const NULL_BYTES: [u8; 4] = [0xff; 4];

    fn topics(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    fn subscribed_to(names: &[&str]) -> Subscription {
        Subscription {
            topics: topics(names),
            user_data: None,
        }
    }

    fn known_subscription_bytes() -> Vec<u8> {
        [
            &[0x00, 0x00][..],         // version 0
            &[0x00, 0x00, 0x00, 0x01], // 1 topic
            &[0x00, 0x0b],             // topic name is 11 bytes long
            b"first-topic",            // the name
            &[0xff, 0xff, 0xff, 0xff], // user data: null
        ]
        .concat()
    }

    fn known_assignment_bytes() -> Vec<u8> {
        [
            &[0x00, 0x00][..],         // version 0
            &[0x00, 0x00, 0x00, 0x01], // 1 topic
            &[0x00, 0x0b],             // topic name is 11 bytes long
            b"first-topic",            // the name
            &[0x00, 0x00, 0x00, 0x02], // 2 partitions
            &[0x00, 0x00, 0x00, 0x00], // partition 0
            &[0x00, 0x00, 0x00, 0x02], // partition 2
            &[0xff, 0xff, 0xff, 0xff], // user data: null
        ]
        .concat()
    }

    fn known_assignment() -> Assignment {
        Assignment::from([("first-topic".to_string(), vec![0, 2])])
    }

    #[test]
    fn known_subscription_encoding() {
        let encoded = encode_subscription(&topics(&["first-topic"])).unwrap();
        assert_eq!(encoded.as_ref(), known_subscription_bytes().as_slice());
        let decoded = decode_subscription(&known_subscription_bytes()).unwrap();
        assert_eq!(decoded, subscribed_to(&["first-topic"]));
    }

    #[test]
    fn known_assignment_encoding() {
        let encoded = encode_assignment(&known_assignment()).unwrap();
        assert_eq!(encoded.as_ref(), known_assignment_bytes().as_slice());
        assert_eq!(
            decode_assignment(&known_assignment_bytes()).unwrap(),
            known_assignment()
        );
    }

    #[test]
    fn nothing_assigned_is_an_empty_list_or_no_bytes_at_all() {
        let encoded = encode_assignment(&Assignment::new()).unwrap();
        assert_eq!(encoded.to_vec(), [int16(0), int32(0), NULL_BYTES.to_vec()].concat());
        assert_eq!(decode_assignment(&encoded).unwrap(), Assignment::new());
        assert_eq!(decode_assignment(&[]).unwrap(), Assignment::new());
    }

    #[test]
    fn round_trips() {
        for names in [&[][..], &["a"], &["orders", "payments", "émojis-🦀"]] {
            let encoded = encode_subscription(&topics(names)).unwrap();
            assert_eq!(decode_subscription(&encoded).unwrap(), subscribed_to(names));
        }
        let assignment = Assignment::from([
            ("orders".to_string(), vec![0, 1, 5]),
            ("payments".to_string(), vec![3]),
            ("zeta".to_string(), (0..100).collect()),
        ]);
        let encoded = encode_assignment(&assignment).unwrap();
        assert_eq!(decode_assignment(&encoded).unwrap(), assignment);
    }

    #[test]
    fn decoded_assignments_are_normalized() {
        let unsorted = [string("b"), int32(2), int32(7), int32(1)].concat();
        let nothing = [string("idle"), int32(0)].concat();
        let again = [string("b"), int32(2), int32(3), int32(1)].concat();
        let bytes = [int16(0), int32(3), unsorted, nothing, again, NULL_BYTES.to_vec()].concat();
        let expected = Assignment::from([("b".to_string(), vec![1, 3, 7])]);
        assert_eq!(decode_assignment(&bytes).unwrap(), expected);
    }

    #[test]
    fn decodes_subscription_user_data() {
        let bytes = [int16(0), int32(1), string("t"), int32(3), b"abc".to_vec()].concat();
        let decoded = decode_subscription(&bytes).unwrap();
        assert_eq!(decoded.user_data, Some(Bytes::from_static(b"abc")));
    }

    #[test]
    fn decodes_newer_subscriptions_as_java_sends_them() {
        // Fields added by each version: owned partitions (v1), generation id (v2), rack id (v3).
        let owned_partitions = [int32(1), string("orders"), int32(2), int32(0), int32(4)].concat();
        let v1 = owned_partitions.clone();
        let v2 = [owned_partitions.clone(), int32(17)].concat();
        let v3 = [owned_partitions.clone(), int32(17), string("rack-a")].concat();
        let v3_null_rack = [owned_partitions, int32(17), int16(-1)].concat();
        // Version 9 does not exist yet: we read what we know and ignore what a future version added.
        let v9 = [v3.clone(), b"field added in v9".to_vec()].concat();
        for (version, newer_fields) in [(1, v1), (2, v2), (3, v3), (3, v3_null_rack), (9, v9)] {
            let start = [
                int16(version),
                int32(2),
                string("orders"),
                string("audit"),
                NULL_BYTES.to_vec(),
            ];
            let bytes = [start.concat(), newer_fields].concat();
            let decoded = decode_subscription(&bytes).unwrap();
            assert_eq!(decoded, subscribed_to(&["orders", "audit"]), "version {version}");
        }
    }

    #[test]
    fn decodes_a_newer_assignment_version() {
        let mut bytes = known_assignment_bytes();
        bytes[..2].copy_from_slice(&int16(9));
        bytes.extend_from_slice(b"field added in v9");
        assert_eq!(decode_assignment(&bytes).unwrap(), known_assignment());
    }

    #[test]
    fn every_truncation_is_an_error() {
        let subscription = known_subscription_bytes();
        for len in 0..subscription.len() {
            assert!(decode_subscription(&subscription[..len]).is_err(), "cut at {len}");
        }
        let assignment = known_assignment_bytes();
        for len in 1..assignment.len() {
            assert!(decode_assignment(&assignment[..len]).is_err(), "cut at {len}");
        }
    }

    #[test]
    fn huge_counts_are_errors_not_aborts() {
        let huge_topic_count = [int16(0), int32(i32::MAX)].concat();
        let huge_partition_count = [int16(0), int32(1), string("t"), int32(i32::MAX), int32(0)].concat();
        let errors = [
            decode_subscription(&huge_topic_count).unwrap_err(),
            decode_assignment(&huge_topic_count).unwrap_err(),
            decode_assignment(&huge_partition_count).unwrap_err(),
        ];
        for error in errors {
            assert!(matches!(error, ProtocolError::Truncated { .. }), "{error}");
        }
    }

    #[test]
    fn malformed_headers_and_fields_are_errors() {
        let error = decode_subscription(&[]).unwrap_err();
        assert!(matches!(error, ProtocolError::MissingVersion { len: 0, .. }), "{error}");
        let error = decode_assignment(&[0]).unwrap_err();
        assert!(matches!(error, ProtocolError::MissingVersion { len: 1, .. }), "{error}");
        let error = decode_subscription(&[int16(-1), int32(0), NULL_BYTES.to_vec()].concat()).unwrap_err();
        assert!(
            matches!(error, ProtocolError::NegativeVersion { version: -1, .. }),
            "{error}"
        );
        let null_topic = [int16(0), int32(1), int16(-1), NULL_BYTES.to_vec()].concat();
        let bad_utf8 = [int16(0), int32(1), int16(1), vec![0xc3], NULL_BYTES.to_vec()].concat();
        let negative_count = [int16(0), int32(-2), NULL_BYTES.to_vec()].concat();
        for bytes in [null_topic, bad_utf8, negative_count] {
            let error = decode_subscription(&bytes).unwrap_err();
            assert!(matches!(error, ProtocolError::Undecodable { .. }), "{error}");
        }
    }

    #[test]
    fn a_topic_name_too_long_for_int16_cannot_be_encoded() {
        let too_long = "t".repeat(i16::MAX as usize + 1);
        let error = encode_subscription(std::slice::from_ref(&too_long)).unwrap_err();
        assert!(matches!(error, ProtocolError::Unencodable { .. }), "{error}");
        let error = encode_assignment(&Assignment::from([(too_long, vec![0])])).unwrap_err();
        assert!(matches!(error, ProtocolError::Unencodable { .. }), "{error}");
    }

    #[test]
    fn garbage_never_panics() {
        // A fixed pseudo-random sequence (a linear congruential generator) keeps the test deterministic.
        let mut state: u64 = 42;
        let mut next_byte = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 56) as u8
        };
        for round in 0..5_000 {
            let mut bytes: Vec<u8> = (0..next_byte() % 48).map(|_| next_byte()).collect();
            if round % 2 == 0 {
                // Corrupting one byte of a valid encoding reaches deeper into the decoder.
                bytes = known_assignment_bytes();
                let position = usize::from(next_byte()) % bytes.len();
                bytes[position] = next_byte();
            }
            let _ = decode_subscription(&bytes);
            let _ = decode_assignment(&bytes);
        }
    }
}
