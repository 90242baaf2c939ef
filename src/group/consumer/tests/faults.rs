//! Scenarios where the coordinator ends or disturbs a membership: fenced epochs, forgotten members, lost
//! answers, a coordinator that moves, refused commits, fatal errors.

use super::*;

/// The position in the log of the `n`th heartbeat (0-based) with epoch 0: a join.
fn join_at(script: &Script, n: usize) -> Option<usize> {
    let log = script.log();
    let mut joins = log
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, Sent::Heartbeat { beat, .. } if beat.epoch == 0));
    joins.nth(n).map(|(i, _)| i)
}

// --- stale epochs and forgotten members ---

#[tokio::test(start_paused = true)]
async fn fenced_member_epoch_stops_fetching_commits_nothing_and_joins_again_with_epoch_0_and_the_same_id() {
    for (code, same_id) in [(FencedMemberEpoch, true), (UnknownMemberId, false)] {
        let t = Test::new(None);
        let (script, data, status) = (t.script.clone(), t.data.clone(), t.status.clone());
        t.run(async {
            stable_in(&status, 1, &[0, 1]).await;
            data.read(0, 3);
            script.reply([Reply::Error(code)]);
            until("joining again", || join_at(&script, 1).is_some()).await;
            stable_in(&status, 1, &[0, 1]).await;
        })
        .await;
        let log = script.log();
        let rejoin = join_at(&script, 1).unwrap();
        let fenced = log[..rejoin]
            .iter()
            .rposition(|s| matches!(s, Sent::Heartbeat { .. }))
            .unwrap();
        let committed_meanwhile = log[fenced..rejoin].iter().any(|s| matches!(s, Sent::Commit { .. }));
        assert!(!committed_meanwhile, "{code:?}: no commit once fenced: {log:?}");
        let beats = script.beats();
        let first_join = &beats[0];
        let Sent::Heartbeat { beat: again, .. } = &log[rejoin] else {
            unreachable!()
        };
        assert_eq!(again.member_id == first_join.member_id, same_id, "{code:?}");
        assert_eq!(again.owned, Some(ByTopicId::new()), "{code:?}: joins owning nothing");
        assert_eq!(again.subscription, first_join.subscription);
        let refetched = log[rejoin..]
            .iter()
            .any(|s| matches!(s, Sent::OffsetFetch { partitions } if partitions == &vec![0, 1]));
        assert!(refetched, "{code:?}: starts again from the committed offsets");
    }
}

#[tokio::test(start_paused = true)]
async fn a_fence_heard_while_taking_a_partition_on_abandons_it() {
    let t = Test::new(None);
    t.script.reply([Reply::Assign {
        epoch: 1,
        partitions: vec![0],
    }]);
    let (script, status) = (t.script.clone(), t.status.clone());
    t.run(async {
        stable_in(&status, 1, &[0]).await;
        script.slow_offset_fetches(INTERVAL * 5);
        script.reply([
            Reply::Assign {
                epoch: 2,
                partitions: vec![0, 1],
            },
            Reply::Error(FencedMemberEpoch),
        ]);
        until("joining again", || join_at(&script, 1).is_some()).await;
        script.slow_offset_fetches(Duration::ZERO);
        stable_in(&status, 2, &[0, 1]).await;
    })
    .await;
    let acknowledged_1 = script.beats().iter().position(|b| {
        b.owned
            .as_ref()
            .and_then(|o| o.get(&TOPIC_ID))
            .is_some_and(|p| p.contains(&1))
    });
    let rejoin_beat = script.beats().iter().skip(1).position(|b| b.epoch == 0).unwrap() + 1;
    assert!(
        acknowledged_1.unwrap() > rejoin_beat,
        "partition 1 acknowledged only after joining again"
    );
}

// --- lost answers ---

#[tokio::test(start_paused = true)]
async fn a_lost_answer_to_an_acknowledgement_is_followed_by_a_full_heartbeat_of_what_is_owned_now() {
    let t = Test::new(None);
    let (script, status) = (t.script.clone(), t.status.clone());
    t.run(async {
        stable_in(&status, 1, &[0, 1]).await;
        // The acknowledgement of [0] reaches the coordinator, which moves the member to epoch 2; the answer
        // saying so is lost.
        script.reply([
            Reply::Assign {
                epoch: 1,
                partitions: vec![0],
            },
            Reply::AssignLost {
                epoch: 2,
                partitions: vec![0],
            },
        ]);
        stable_in(&status, 2, &[0]).await;
    })
    .await;
    let beats = script.beats();
    let ack = beats.iter().position(|b| b.owned == owns(&[0])).unwrap();
    let retry = &beats[ack + 1];
    assert_eq!(retry.epoch, 1, "the member never heard epoch 2");
    assert_eq!(retry.owned, owns(&[0]), "what it owns now");
    assert!(
        retry.subscription.is_some() && retry.rebalance_timeout.is_some(),
        "a full heartbeat"
    );
    assert_ne!(retry, &beats[ack], "not the lost request sent again");
    assert!(
        beats[ack..].iter().all(|b| b.owned != owns(&[0, 1])),
        "never the stale acknowledgement"
    );
}

// --- the coordinator moves ---

#[tokio::test(start_paused = true)]
async fn a_coordinator_that_moves_is_found_again_and_the_partitions_keep_fetching() {
    let t = Test::new(None);
    let (script, data, status) = (t.script.clone(), t.data.clone(), t.status.clone());
    t.run(async {
        stable_in(&status, 1, &[0, 1]).await;
        script.move_coordinator_to(2);
        data.read(0, 2);
        until("heartbeats to broker 2", || {
            script
                .log()
                .iter()
                .any(|s| matches!(s, Sent::Heartbeat { broker: 2, .. }))
        })
        .await;
        until("the commit on broker 2", || script.committed().get(&0) == Some(&2)).await;
        stable_in(&status, 1, &[0, 1]).await;
    })
    .await;
    let log = script.log();
    let on_2 = log.iter().find_map(|s| match s {
        Sent::Heartbeat { beat, broker: 2 } => Some(beat.clone()),
        _ => None,
    });
    let on_2 = on_2.unwrap();
    assert_eq!((on_2.epoch, on_2.owned.clone()), (1, owns(&[0, 1])), "full, same epoch");
    assert!(on_2.subscription.is_some());
    assert_eq!(join_at(&script, 1), None, "no rejoin");
    let fetches = log.iter().filter(|s| matches!(s, Sent::OffsetFetch { .. })).count();
    assert_eq!(fetches, 1, "the fetch loops were never restarted");
}

// --- commits ---

#[tokio::test(start_paused = true)]
async fn a_commit_refused_as_stale_is_retried_in_the_same_membership() {
    let t = Test::new(None);
    let (script, data, status) = (t.script.clone(), t.data.clone(), t.status.clone());
    t.run(async {
        stable_in(&status, 1, &[0, 1]).await;
        script.fail_commits([StaleMemberEpoch]);
        data.read(0, 1);
        until("the retried commit", || script.committed().get(&0) == Some(&1)).await;
    })
    .await;
    assert_eq!(join_at(&script, 1), None, "no rejoin");
}

#[tokio::test(start_paused = true)]
async fn a_commit_answered_unknown_member_id_ends_the_membership() {
    let t = Test::new(None);
    let (script, data, status) = (t.script.clone(), t.data.clone(), t.status.clone());
    t.run(async {
        stable_in(&status, 1, &[0, 1]).await;
        script.fail_commits([UnknownMemberId]);
        data.read(0, 1);
        until("joining again", || join_at(&script, 1).is_some()).await;
        stable_in(&status, 1, &[0, 1]).await;
    })
    .await;
    let beats = script.beats();
    let joins: Vec<&Beat> = beats.iter().filter(|b| b.epoch == 0).collect();
    assert_ne!(joins[0].member_id, joins[1].member_id, "a new member id");
}

// --- fatal errors and leaving ---

#[tokio::test(start_paused = true)]
async fn fatal_codes_stop_the_member_with_what_to_change() {
    let cases = [
        (UnreleasedInstanceId, "GROUP_INSTANCE_ID=me"),
        (UnsupportedAssignor, "GROUP_REMOTE_ASSIGNOR"),
        (GroupMaxSizeReached, "group.max.size"),
        (GroupAuthorizationFailed, "READ on the group"),
    ];
    for (code, advice) in cases {
        let t = Test::new(Some("me"));
        t.script.reply([Reply::Error(code)]);
        let script = t.script.clone();
        let outcome = t.run_to_end().await;
        let message = outcome.result.expect_err("fatal");
        assert!(message.contains(&crate::group::error::name(code)), "{message}");
        assert!(message.contains(advice), "{code:?}: {message}");
        assert_eq!(outcome.status.state, MemberState::Failed);
        assert_eq!(outcome.status.last_error, Some(message));
        assert!(
            script.beats().iter().all(|b| b.epoch >= 0),
            "never joined: nothing to leave"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_broker_without_the_consumer_protocol_is_refused_in_one_line() {
    let t = Test::new(None);
    t.script.reply([Reply::Unsupported]);
    let message = t.run_to_end().await.result.expect_err("fatal");
    assert!(
        message.contains("does not support GROUP_PROTOCOL=consumer") && message.contains("use GROUP_PROTOCOL=classic"),
        "{message}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_static_member_joins_with_its_instance_id_and_leaves_with_epoch_minus_2() {
    let t = Test::new(Some("me"));
    let (script, data, status) = (t.script.clone(), t.data.clone(), t.status.clone());
    t.run(async {
        stable_in(&status, 1, &[0, 1]).await;
        data.read(1, 4);
    })
    .await;
    let beats = script.beats();
    assert_eq!(beats[0].instance_id.as_deref(), Some("me"));
    let leave = beats.last().unwrap();
    assert_eq!((leave.epoch, leave.instance_id.as_deref()), (-2, Some("me")));
    assert_eq!(script.committed().get(&1), Some(&4), "committed before leaving");
    let log = script.log();
    let final_commit = log.iter().rposition(|s| matches!(s, Sent::Commit { .. })).unwrap();
    let leaving = log.iter().rposition(|s| matches!(s, Sent::Heartbeat { .. })).unwrap();
    assert!(final_commit < leaving);
}
