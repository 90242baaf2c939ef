//! Scenarios of the stable phase: heartbeat verdicts, a coordinator that moves, static membership (commits:
//! [`commits`](super::commits)).

use super::*;

// --- heartbeats ---

#[tokio::test(start_paused = true)]
async fn a_rebalance_gives_back_the_partitions_with_a_final_commit_and_rejoins_with_the_same_id() {
    let t = Test::dynamic();
    let (script, data, status) = (t.script.clone(), t.data.clone(), t.status.clone());
    t.run(async {
        stable_in(&status, 1).await;
        data.read(0, 3);
        script.answer(Api::Heartbeat, [Answer::Error(RebalanceInProgress)]);
        stable_in(&status, 2).await;
    })
    .await;
    let final_commit = script
        .requests(Api::OffsetCommit)
        .into_iter()
        .find(|c| c.offsets.get(&0) == Some(&3));
    assert_eq!(final_commit.expect("a commit of what was read").generation, 1);
    assert_eq!(member_ids(&script, Api::JoinGroup), ["", "member-1"]);
}

#[tokio::test(start_paused = true)]
async fn illegal_generation_keeps_the_member_id_unknown_member_id_drops_it_and_neither_commits() {
    for (code, rejoined_as) in [(IllegalGeneration, "member-1"), (UnknownMemberId, "")] {
        let t = Test::dynamic();
        let (script, data, status) = (t.script.clone(), t.data.clone(), t.status.clone());
        t.run(async {
            stable_in(&status, 1).await;
            script.answer(Api::Heartbeat, [Answer::Error(code)]);
            let verdict = count(&script, Api::Heartbeat) + 1;
            until("the verdict", || count(&script, Api::Heartbeat) >= verdict).await;
            data.read(0, 3);
            stable_in(&status, 2).await;
        })
        .await;
        assert_eq!(member_ids(&script, Api::JoinGroup), ["", rejoined_as], "{code:?}");
        let gen1_commits: Vec<_> = script
            .requests(Api::OffsetCommit)
            .into_iter()
            .filter(|c| c.generation == 1)
            .collect();
        assert_eq!(
            gen1_commits.len(),
            1,
            "{code:?}: only the starting points; the coordinator refuses the rest"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_heartbeat_that_finds_the_coordinator_moved_keeps_the_generation() {
    let t = Test::dynamic();
    let (script, status) = (t.script.clone(), t.status.clone());
    t.run(async {
        stable_in(&status, 1).await;
        script.move_coordinator_to(2);
        script.answer(Api::Heartbeat, [Answer::Error(NotCoordinator), Answer::Broken]);
        until("heartbeats to broker 2", || {
            script.requests(Api::Heartbeat).iter().any(|b| b.broker == 2)
        })
        .await;
        until("a few more", || {
            script.requests(Api::Heartbeat).iter().filter(|b| b.broker == 2).count() >= 3
        })
        .await;
    })
    .await;
    assert_eq!(count(&script, Api::JoinGroup), 1);
}

/// Waits until the heartbeat task has found the coordinator and had a heartbeat answered (it starts an
/// interval after JoinGroup), so that a scripted silence begins after an answer.
async fn heartbeating(script: &Script) {
    until("an answered heartbeat", || count(script, Api::Heartbeat) >= 1).await;
}

/// Waits until `/status` says the coordinator is unreachable, and checks that it says why.
async fn unavailable(status: &watch::Receiver<ConsumerStatus>) {
    until("/status: broker unavailable", || {
        status.borrow().state == MemberState::BrokerUnavailable
    })
    .await;
    let error = status.borrow().last_error.clone().unwrap_or_default();
    assert!(
        error.starts_with("Heartbeat: no answer from the coordinator for 10000 ms (the session timeout)"),
        "{error}"
    );
}

/// The coordinator's broker dies: heartbeats go unanswered for a session, then FindCoordinator still names
/// no live coordinator for a while (the controller has not fenced the dead broker yet), then broker 2 has the
/// group. Silence is not a verdict: the member keeps its generation and its partitions, fetches and commits
/// meanwhile, and says `broker_unavailable` until the new coordinator answers a heartbeat.
#[tokio::test(start_paused = true)]
async fn a_coordinator_silent_for_a_session_timeout_is_reported_found_again_and_the_generation_goes_on() {
    let t = Test::dynamic();
    let (script, data, status) = (t.script.clone(), t.data.clone(), t.status.clone());
    let mut silence_began = 0;
    t.run(async {
        stable_in(&status, 1).await;
        heartbeating(&script).await;
        let silent = Instant::now();
        silence_began = script.log().len();
        script.answer(Api::Heartbeat, [Answer::Slow(SESSION * 2)]);
        script.answer(Api::FindCoordinator, vec![Answer::Error(CoordinatorNotAvailable); 5]);
        script.move_coordinator_to(2);
        unavailable(&status).await;
        let unavailable_after = silent.elapsed();
        assert!(
            unavailable_after >= SESSION - Duration::from_secs(1) && unavailable_after <= SESSION,
            "{unavailable_after:?}"
        );
        assert_eq!(status.borrow().generation, Some(1));
        assert_eq!(status.borrow().partitions.len(), 2, "it still owns its partitions");
        data.read(0, 4);
        until("a commit of what was read meanwhile", || {
            script.committed().get(&0) == Some(&4)
        })
        .await;
        assert_eq!(
            status.borrow().state,
            MemberState::BrokerUnavailable,
            "still looking for the coordinator"
        );
        assert!(status
            .borrow()
            .last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("Heartbeat")));
        stable_in(&status, 1).await;
        assert_eq!(status.borrow().last_error, None, "cleared once a heartbeat is answered");
        until("a few heartbeats on broker 2", || {
            script.requests(Api::Heartbeat).iter().filter(|b| b.broker == 2).count() >= 3
        })
        .await;
    })
    .await;
    assert_eq!(count(&script, Api::JoinGroup), 1, "no rejoin");
    let after: Vec<_> = script.log().split_off(silence_began);
    let finds = after.iter().filter(|r| r.api == Api::FindCoordinator).count();
    assert!(finds >= 6, "the heartbeat looked for the coordinator again: {finds}");
    let beats: Vec<_> = after.iter().filter(|r| r.api == Api::Heartbeat).collect();
    assert!(
        beats.iter().all(|b| b.generation == 1 && b.member_id == "member-1"),
        "{beats:?}"
    );
    assert_eq!(member_ids(&script, Api::LeaveGroup), ["member-1"]);
}

/// The same silence, then the coordinator that took the group over has a verdict: UNKNOWN_MEMBER_ID (it
/// removed the member) rejoins as a new member, ILLEGAL_GENERATION (the group moved on) with the same id;
/// neither commits in the old generation again.
#[tokio::test(start_paused = true)]
async fn a_coordinator_silent_for_a_session_timeout_then_a_verdict_from_the_new_one_rejoins() {
    for (code, rejoined_as) in [(UnknownMemberId, ""), (IllegalGeneration, "member-1")] {
        let t = Test::dynamic();
        let (script, data, status) = (t.script.clone(), t.data.clone(), t.status.clone());
        t.run(async {
            stable_in(&status, 1).await;
            heartbeating(&script).await;
            script.answer(Api::Heartbeat, [Answer::Slow(SESSION * 2), Answer::Error(code)]);
            script.answer(Api::FindCoordinator, vec![Answer::Error(CoordinatorNotAvailable); 3]);
            script.move_coordinator_to(2);
            unavailable(&status).await;
            stable_in(&status, 2).await;
            assert_eq!(status.borrow().last_error, None, "{code:?}");
            data.read(0, 3);
        })
        .await;
        assert_eq!(member_ids(&script, Api::JoinGroup), ["", rejoined_as], "{code:?}");
        let gen1_commits = script
            .requests(Api::OffsetCommit)
            .into_iter()
            .filter(|c| c.generation == 1)
            .count();
        assert_eq!(
            gen1_commits, 1,
            "{code:?}: only the starting points; the coordinator refuses the rest"
        );
    }
}

/// Ctrl+C while the coordinator is unreachable (its broker frozen: nothing answers): the final commit and
/// LeaveGroup wait 600 ms each at most, so the member stops within 2 s.
#[tokio::test(start_paused = true)]
async fn a_member_stopped_while_the_coordinator_is_unreachable_stops_quickly() {
    let t = Test::dynamic();
    let (script, data, status) = (t.script.clone(), t.data.clone(), t.status.clone());
    let frozen = || vec![Answer::Slow(SESSION * 2); 10];
    let stop_asked = std::cell::Cell::new(None);
    let outcome = t
        .run(async {
            stable_in(&status, 1).await;
            heartbeating(&script).await;
            for api in [Api::Heartbeat, Api::FindCoordinator, Api::OffsetCommit, Api::LeaveGroup] {
                script.answer(api, frozen());
            }
            unavailable(&status).await;
            data.read(0, 2);
            stop_asked.set(Some(Instant::now()));
        })
        .await;
    let stopped_in = stop_asked.get().expect("stopped").elapsed();
    assert_eq!(outcome.result, Ok(()));
    assert!(stopped_in < Duration::from_secs(2), "{stopped_in:?}");
    assert_eq!(outcome.status.state, MemberState::Stopping);
    assert_eq!(count(&script, Api::LeaveGroup), 1, "it tried to leave");
}

// --- static membership ---

#[tokio::test(start_paused = true)]
async fn a_static_member_names_its_instance_everywhere_and_does_not_leave_on_shutdown() {
    let t = Test::static_member("consumer-1");
    let (script, data, status) = (t.script.clone(), t.data.clone(), t.status.clone());
    let outcome = t
        .run(async {
            stable_in(&status, 1).await;
            data.read(0, 1);
            until("a commit", || script.committed().get(&0) == Some(&1)).await;
        })
        .await;
    assert_eq!(outcome.result, Ok(()));
    for api in [Api::JoinGroup, Api::SyncGroup, Api::Heartbeat, Api::OffsetCommit] {
        let requests = script.requests(api);
        assert!(!requests.is_empty(), "{api:?}");
        assert!(
            requests.iter().all(|r| r.instance_id.as_deref() == Some("consumer-1")),
            "{api:?}"
        );
    }
    assert_eq!(count(&script, Api::LeaveGroup), 0, "a static member does not leave");
    assert_eq!(outcome.status.instance_id.as_deref(), Some("consumer-1"));
}

#[tokio::test(start_paused = true)]
async fn a_fenced_static_member_stops_and_names_the_other_consumer() {
    let t = Test::static_member("consumer-1");
    let script = t.script.clone();
    t.script.answer(
        Api::Heartbeat,
        [Answer::Ok, Answer::Ok, Answer::Error(FencedInstanceId)],
    );
    let outcome = t.run_to_end().await;
    let message = outcome.result.expect_err("fatal");
    assert!(message.contains("FENCED_INSTANCE_ID"), "{message}");
    assert!(
        message.contains("another consumer runs with GROUP_INSTANCE_ID=consumer-1"),
        "{message}"
    );
    assert_eq!(count(&script, Api::LeaveGroup), 0, "the id is not ours any more");
    assert_eq!(outcome.status.state, MemberState::Failed);
}

#[tokio::test(start_paused = true)]
async fn a_dynamic_member_that_fails_leaves_so_the_group_need_not_wait() {
    let t = Test::dynamic();
    let script = t.script.clone();
    t.script
        .answer(Api::OffsetCommit, [Answer::Ok, Answer::Error(GroupAuthorizationFailed)]);
    let (data, status) = (t.data.clone(), t.status.clone());
    let reader = async move {
        stable_in(&status, 1).await;
        data.read(0, 1);
    };
    let (outcome, ()) = tokio::join!(t.run_to_end(), reader);
    assert!(outcome
        .result
        .expect_err("fatal")
        .contains("GROUP_AUTHORIZATION_FAILED"));
    assert_eq!(member_ids(&script, Api::LeaveGroup), ["member-1"]);
}
