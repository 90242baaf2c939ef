use super::*;

fn member(member_id: &str, topics: &[&str]) -> MemberSubscription {
    let topics = topics.iter().map(|topic| topic.to_string()).collect();
    MemberSubscription {
        member_id: member_id.to_string(),
        instance_id: None,
        topics,
    }
}

/// A static member: `instance` is its `group.instance.id`.
fn static_member(member_id: &str, instance: &str, topics: &[&str]) -> MemberSubscription {
    MemberSubscription {
        instance_id: Some(instance.to_string()),
        ..member(member_id, topics)
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
fn static_members_come_first_sorted_by_instance_id_as_in_java() {
    // Member ids sort z, y, a; Java's MemberInfo order is instance ids "i1" < "i2", then the dynamic "a".
    let members = [
        member("a", &["t"]),
        static_member("z", "i2", &["t"]),
        static_member("y", "i1", &["t"]),
    ];
    let result = assign("range", &members, &counts(&[("t", 3)]));
    let want = expected(&[("y", &[("t", &[0])]), ("z", &[("t", &[1])]), ("a", &[("t", &[2])])]);
    assert_eq!(result, Some(want));
    let result = assign("roundrobin", &members, &counts(&[("t", 4)]));
    let want = expected(&[("y", &[("t", &[0, 3])]), ("z", &[("t", &[1])]), ("a", &[("t", &[2])])]);
    assert_eq!(result, Some(want));
}

#[test]
fn a_restarted_static_member_gets_the_same_partitions_under_a_new_member_id() {
    let before = [static_member("m-1", "b", &["t"]), static_member("m-2", "a", &["t"])];
    let after = [static_member("m-9", "b", &["t"]), static_member("m-2", "a", &["t"])];
    for assignor in ASSIGNORS {
        let first = assign(assignor, &before, &counts(&[("t", 2)])).unwrap();
        let second = assign(assignor, &after, &counts(&[("t", 2)])).unwrap();
        assert_eq!(first["m-1"], second["m-9"], "{assignor}");
        assert_eq!(first["m-2"], second["m-2"], "{assignor}");
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
        instance_id: None,
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
