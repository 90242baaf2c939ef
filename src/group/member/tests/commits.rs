//! Scenarios of the stable phase's commits: a coordinator that moved, passing failures, a slow commit, a commit
//! refused for the generation, and what a commit takes.

use super::*;

#[tokio::test(start_paused = true)]
async fn a_commit_that_finds_the_coordinator_moved_goes_to_the_new_one_in_the_same_generation() {
    let t = Test::dynamic();
    let (script, data, status) = (t.script.clone(), t.data.clone(), t.status.clone());
    t.run(async {
        stable_in(&status, 1).await;
        script.move_coordinator_to(2);
        script.answer(Api::OffsetCommit, [Answer::Error(NotCoordinator)]);
        data.read(0, 4);
        until("a commit on broker 2", || script.committed().get(&0) == Some(&4)).await;
    })
    .await;
    let commits = script.requests(Api::OffsetCommit);
    let refused = commits.iter().position(|c| c.offsets.get(&0) == Some(&4)).unwrap();
    assert_eq!(commits[refused].broker, 1);
    assert_eq!((commits[refused + 1].broker, commits[refused + 1].generation), (2, 1));
    assert_eq!(count(&script, Api::JoinGroup), 1, "no rebalance");
}

#[tokio::test(start_paused = true)]
async fn a_commit_that_fails_for_a_passing_reason_is_retried_at_the_next_interval() {
    let passing = [
        Answer::Slow(SESSION * 2),
        Answer::Error(CoordinatorLoadInProgress),
        Answer::Error(CoordinatorNotAvailable),
        Answer::Error(RequestTimedOut),
        Answer::Broken,
        Answer::Error(UnstableOffsetCommit),
    ];
    for answer in passing {
        let t = Test::dynamic();
        let (script, data, status) = (t.script.clone(), t.data.clone(), t.status.clone());
        let label = format!("{answer:?}");
        t.run(async {
            stable_in(&status, 1).await;
            script.answer(Api::OffsetCommit, [answer]);
            data.read(1, 7);
            until("/status shows the failed commit", || {
                status.borrow().last_error.is_some()
            })
            .await;
            assert_eq!(status.borrow().state, MemberState::Stable, "{label}");
            until("the retried commit", || script.committed().get(&1) == Some(&7)).await;
            until("/status clears the error", || status.borrow().last_error.is_none()).await;
        })
        .await;
        assert_eq!(count(&script, Api::JoinGroup), 1, "{label}: no rejoin");
    }
}

#[tokio::test(start_paused = true)]
async fn heartbeats_keep_their_clock_during_a_slow_commit() {
    let t = Test::dynamic();
    let (script, data, status) = (t.script.clone(), t.data.clone(), t.status.clone());
    t.run(async {
        stable_in(&status, 1).await;
        script.answer(Api::OffsetCommit, [Answer::Slow(Duration::from_secs(6)), Answer::Ok]);
        data.read(0, 1);
        let before = count(&script, Api::Heartbeat);
        until("the slow commit", || script.committed().get(&0) == Some(&1)).await;
        let during = count(&script, Api::Heartbeat) - before;
        assert!(during >= 5, "{during} heartbeats during a 6 s commit");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_rebalance_heard_during_a_slow_commit_abandons_it_commits_everything_read_and_rejoins() {
    let t = Test::dynamic();
    let (script, data, status) = (t.script.clone(), t.data.clone(), t.status.clone());
    t.run(async {
        stable_in(&status, 1).await;
        script.answer(Api::OffsetCommit, [Answer::Slow(Duration::from_secs(8)), Answer::Ok]);
        data.read(0, 2);
        until("the commit is under way", || {
            script.requests(Api::OffsetCommit).len() == 2
        })
        .await;
        script.answer(Api::Heartbeat, [Answer::Error(RebalanceInProgress)]);
        data.read(0, 3);
        let heard = Instant::now();
        stable_in(&status, 2).await;
        assert!(
            heard.elapsed() < Duration::from_secs(2),
            "did not wait for the slow commit"
        );
    })
    .await;
    let gen1: Vec<_> = script
        .requests(Api::OffsetCommit)
        .into_iter()
        .filter(|c| c.generation == 1)
        .collect();
    let last = gen1.last().expect("commits in generation 1");
    assert_eq!(last.offsets.get(&0), Some(&5), "the final commit has everything read");
    assert_eq!(member_ids(&script, Api::JoinGroup), ["", "member-1"]);
}

#[tokio::test(start_paused = true)]
async fn a_commit_refused_for_the_generation_rejoins_keeping_or_dropping_the_id() {
    for (code, rejoined_as) in [
        (IllegalGeneration, "member-1"),
        (UnknownMemberId, ""),
        (RebalanceInProgress, "member-1"),
    ] {
        let t = Test::dynamic();
        let (script, data, status) = (t.script.clone(), t.data.clone(), t.status.clone());
        t.run(async {
            stable_in(&status, 1).await;
            script.answer(Api::OffsetCommit, [Answer::Error(code)]);
            data.read(0, 1);
            stable_in(&status, 2).await;
        })
        .await;
        assert_eq!(member_ids(&script, Api::JoinGroup), ["", rejoined_as], "{code:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn commits_take_only_what_readers_have_had_and_the_revoke_gives_back_the_rest() {
    let t = Test::dynamic();
    let (script, data, status) = (t.script.clone(), t.data.clone(), t.status.clone());
    let outcome = t
        .run(async {
            stable_in(&status, 1).await;
            data.read(0, 3);
            data.fetch(0, 4);
            until("a commit of what readers had", || {
                script.committed().get(&0) == Some(&3)
            })
            .await;
            let commits = count(&script, Api::OffsetCommit);
            until("more auto-commit intervals", || count(&script, Api::Heartbeat) >= 6).await;
            assert_eq!(
                count(&script, Api::OffsetCommit),
                commits,
                "nothing new was read: no commit"
            );
        })
        .await;
    assert_eq!(outcome.result, Ok(()));
    let highest = script
        .requests(Api::OffsetCommit)
        .iter()
        .filter_map(|c| c.offsets.get(&0).copied())
        .max();
    assert_eq!(
        highest,
        Some(3),
        "fetched but unread events are never committed, not even at shutdown"
    );
    assert_eq!(script.committed(), offsets(&[(0, 3), (1, 0)]));
}
