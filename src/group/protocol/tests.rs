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
