//! The history from sequences of views, as the poller would take them (one every 500 ms).

use super::*;
use crate::cluster::view::{GroupPartition, Member, Partition};

/// A view at `at` ms of a topic with partitions 0 and 1.
fn view(at: u64, groups: Vec<Group>) -> ClusterView {
    let partition = |p| Partition {
        partition: p,
        leader: Some(1),
        replicas: vec![1],
        isr: vec![1],
        offline_replicas: vec![],
        end_offset: Some(10),
        problem: None,
    };
    ClusterView {
        topic: "first-topic".into(),
        observed_at: format!("t{at}"),
        observed_at_ms: at,
        topic_exists: Some(true),
        partitions: vec![partition(0), partition(1)],
        groups,
        ..ClusterView::default()
    }
}

/// A group in `state` whose members own the given partitions (lag 3 everywhere).
fn group(protocol: Protocol, state: &str, members: &[(&str, &[i32])]) -> Group {
    let owner = |p: i32| {
        members
            .iter()
            .find(|(_, ps)| ps.contains(&p))
            .map(|(m, _)| m.to_string())
    };
    Group {
        group: "first-group".into(),
        protocol,
        protocol_type: "consumer".into(),
        state: state.into(),
        assignor: None,
        generation: None,
        assignment_epoch: None,
        coordinator: Some(1),
        members: members
            .iter()
            .map(|(id, partitions)| Member {
                member_id: id.to_string(),
                client_id: "kafka-lab".into(),
                host: "/127.0.0.1".into(),
                instance_id: None,
                member_epoch: None,
                subscribed: None,
                partitions: partitions.to_vec(),
                assignment_from: Some("coordinator".into()),
                target_partitions: None,
                other_partitions: 0,
                kafka_lab: None,
                generation: None,
                problem: None,
            })
            .collect(),
        partitions: (0..2)
            .map(|p| GroupPartition {
                partition: p,
                committed: Some(7),
                lag: Some(3),
                owner: owner(p),
            })
            .collect(),
        problem: None,
    }
}

fn classic(state: &str, members: &[(&str, &[i32])]) -> Group {
    group(Protocol::Classic, state, members)
}

fn run(views: Vec<ClusterView>) -> Vec<Rebalance> {
    let mut history = History::default();
    for view in &views {
        history.observe(view);
    }
    history.entries().cloned().collect()
}

fn pause(entry: &Rebalance, partition: i32) -> &Pause {
    entry
        .partitions
        .iter()
        .find(|p| p.partition == partition)
        .unwrap_or_else(|| panic!("partition {partition} not in {entry:?}"))
}

#[test]
fn a_group_that_does_not_change_has_no_history() {
    let split = || classic("Stable", &[("a", &[0]), ("b", &[1])]);
    assert!(run(vec![
        view(0, vec![split()]),
        view(500, vec![split()]),
        view(1000, vec![split()])
    ])
    .is_empty());
}

#[test]
fn a_member_leaving_a_classic_group_pauses_every_partition() {
    let entries = run(vec![
        view(0, vec![classic("Stable", &[("a", &[0]), ("b", &[1])])]),
        view(500, vec![classic("PreparingRebalance", &[("a", &[])])]),
        view(1000, vec![classic("CompletingRebalance", &[("a", &[])])]),
        view(1500, vec![classic("Stable", &[("a", &[0, 1])])]),
    ]);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!((entry.seq, entry.at_ms, entry.before_ms), (1, 1500, Some(0)));
    assert_eq!(entry.left, ["b"]);
    assert!(entry.joined.is_empty());
    assert_eq!(entry.after[0].partitions, [0, 1]);
    let moved = pause(entry, 1);
    assert_eq!((moved.from.as_deref(), moved.to.as_deref()), (Some("b"), Some("a")));
    assert_eq!((moved.unread_at_least_ms, moved.unread_ms), (500, Some(1500)));
    assert_eq!(moved.backlog, Some(3));
    let stayed = pause(entry, 0);
    assert_eq!(stayed.from, stayed.to, "eager: the partition that stayed paused too");
    assert_eq!(stayed.unread_ms, Some(1500));
}

#[test]
fn a_rebalance_between_two_views_is_bounded_by_them() {
    let entries = run(vec![
        view(0, vec![classic("Stable", &[("a", &[0]), ("b", &[1])])]),
        view(500, vec![classic("Stable", &[("a", &[0, 1])])]),
    ]);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].partitions.len(), 1, "partition 0 was not seen paused");
    let moved = pause(&entries[0], 1);
    assert_eq!((moved.unread_at_least_ms, moved.unread_ms), (0, Some(500)));
}

#[test]
fn a_group_that_forms_while_watched_is_recorded_one_that_was_there_is_not() {
    let other = |name: &str| Group {
        group: name.into(),
        ..classic("Stable", &[("c", &[0, 1])])
    };
    let entries = run(vec![
        view(0, vec![other("already-there")]),
        view(500, vec![other("already-there"), other("second-group")]),
    ]);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].group, "second-group");
    assert_eq!(
        (entries[0].before_ms, entries[0].joined.clone()),
        (None, vec!["c".to_string()])
    );
    assert_eq!(pause(&entries[0], 0).unread_ms, None, "never seen read before");
}

#[test]
fn partitions_nobody_reads_are_still_unread_until_a_member_returns() {
    let entries = run(vec![
        view(0, vec![classic("Stable", &[("a", &[0, 1])])]),
        view(500, vec![classic("Empty", &[])]),
        view(1000, vec![classic("Empty", &[])]),
        view(9000, vec![classic("Empty", &[])]),
        view(9500, vec![classic("Stable", &[("b", &[0, 1])])]),
    ]);
    assert_eq!(entries.len(), 2, "{entries:?}");
    let emptied = pause(&entries[0], 0);
    assert!(emptied.still_unread && emptied.unread_ms.is_none(), "{emptied:?}");
    let back = pause(&entries[1], 0);
    assert_eq!((back.from.as_deref(), back.to.as_deref()), (None, Some("b")));
    assert_eq!((back.unread_at_least_ms, back.unread_ms), (8500, Some(9500)));
}

#[test]
fn kip_848_moves_only_the_partitions_that_change_owner() {
    let consumer = |state: &str, epoch, members: &[(&str, &[i32])]| Group {
        generation: Some(epoch),
        ..group(Protocol::Consumer, state, members)
    };
    let entries = run(vec![
        view(0, vec![consumer("Stable", 3, &[("a", &[0, 1])])]),
        view(500, vec![consumer("Reconciling", 4, &[("a", &[0]), ("b", &[])])]),
        view(1000, vec![consumer("Stable", 4, &[("a", &[0]), ("b", &[1])])]),
    ]);
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!((entry.generation_before, entry.generation_after), (Some(3), Some(4)));
    assert_eq!(entry.joined, ["b"]);
    assert_eq!(entry.partitions.len(), 1, "partition 0 kept being read: {entry:?}");
    assert_eq!(pause(entry, 1).unread_ms, Some(1000));
}

#[test]
fn the_history_is_bounded_and_skips_views_without_the_cluster() {
    let mut history = History::default();
    let mut unreachable = view(0, vec![]);
    unreachable.error = Some("no broker answered".into());
    history.observe(&unreachable);
    for i in 0..(MAX_ENTRIES as u64 + 20) {
        let owner = if i % 2 == 0 { "a" } else { "b" };
        history.observe(&view(i * 500, vec![classic("Stable", &[(owner, &[0, 1])])]));
    }
    let entries: Vec<&Rebalance> = history.entries().collect();
    assert_eq!(entries.len(), MAX_ENTRIES);
    assert_eq!(entries.last().unwrap().seq, MAX_ENTRIES as u64 + 19);
    assert!(entries.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
}

#[test]
fn a_view_that_does_not_know_the_owners_is_not_a_rebalance() {
    let unknown = || {
        let mut group = classic("Stable", &[("a", &[]), ("b", &[])]);
        group.members.iter_mut().for_each(|m| m.assignment_from = None);
        group
    };
    let entries = run(vec![
        view(0, vec![classic("Stable", &[("a", &[0]), ("b", &[1])])]),
        view(500, vec![unknown()]),
        view(1000, vec![classic("Stable", &[("a", &[0]), ("b", &[1])])]),
    ]);
    assert!(entries.is_empty(), "{entries:?}");
}
