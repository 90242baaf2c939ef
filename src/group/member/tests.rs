//! The member's state machine against a scripted coordinator (see `fake.rs`): each test is one scenario,
//! in the words of the group protocol. Time is paused: the clocks (heartbeat every 1 s, auto-commit every
//! 1 s, session 10 s) run exactly and instantly.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use kafka_protocol::ResponseError::{self, *};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::fake::{Answer, Api, FakeCoordinator, FakeData, Script};
use super::{GroupSettings, Member};
use crate::group::link::Timeouts;
use crate::status::{ConsumerStatus, MemberState};

const SESSION: Duration = Duration::from_secs(10);

/// One member, its scripted coordinator and data path, and its `/status`.
struct Test {
    settings: GroupSettings,
    script: Script,
    data: FakeData,
    status: watch::Receiver<ConsumerStatus>,
    publish: watch::Sender<ConsumerStatus>,
}

/// How the member's run ended, and what `/status` said then.
struct Outcome {
    result: Result<(), String>,
    status: ConsumerStatus,
}

impl Test {
    fn dynamic() -> Self {
        Self::member(None)
    }

    fn static_member(instance_id: &str) -> Self {
        Self::member(Some(instance_id))
    }

    fn member(instance_id: Option<&str>) -> Self {
        let settings = GroupSettings {
            group: "group".into(),
            bootstrap_servers: vec!["broker:9092".into()],
            security: std::sync::Arc::new(crate::security::Security::plaintext()),
            instance_id: instance_id.map(str::to_string),
            session_timeout: SESSION,
            rebalance_timeout: Duration::from_secs(300),
            heartbeat_interval: Duration::from_secs(1),
            auto_commit_interval: Duration::from_secs(1),
        };
        let (publish, status) = watch::channel(ConsumerStatus::default());
        Self {
            settings,
            script: Script::new(),
            data: FakeData::default(),
            status,
            publish,
        }
    }

    /// Runs the member while `scenario` plays, then shuts it down (Ctrl+C).
    async fn run(self, scenario: impl Future<Output = ()>) -> Outcome {
        let shutdown = CancellationToken::new();
        let (member, status) = self.start();
        let play = async {
            scenario.await;
            shutdown.cancel();
        };
        let (result, ()) = tokio::join!(member.run(shutdown.clone()), play);
        let status = status.borrow().clone();
        Outcome { result, status }
    }

    /// Runs the member until it stops by itself (a fatal error).
    async fn run_to_end(self) -> Outcome {
        let (member, status) = self.start();
        let run = member.run(CancellationToken::new());
        let result = tokio::time::timeout(Duration::from_secs(600), run)
            .await
            .expect("the member stops by itself");
        let status = status.borrow().clone();
        Outcome { result, status }
    }

    fn start(self) -> (Member<FakeCoordinator, FakeData>, watch::Receiver<ConsumerStatus>) {
        let timeouts = Timeouts {
            session: self.settings.session_timeout,
            rebalance: self.settings.rebalance_timeout,
            commit: self.settings.session_timeout,
        };
        let coordinator = FakeCoordinator::new(self.script, timeouts);
        (
            Member::with(self.settings, coordinator, self.data, self.publish),
            self.status,
        )
    }
}

/// Waits (in paused time) until `check` holds.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < Duration::from_secs(120), "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until `status` says stable in generation `generation`.
async fn stable_in(status: &watch::Receiver<ConsumerStatus>, generation: i32) {
    until(&format!("stable in generation {generation}"), || {
        let now = status.borrow();
        now.state == MemberState::Stable && now.generation == Some(generation)
    })
    .await;
}

fn count(script: &Script, api: Api) -> usize {
    script.requests(api).len()
}

fn member_ids(script: &Script, api: Api) -> Vec<String> {
    script.requests(api).into_iter().map(|r| r.member_id).collect()
}

fn offsets(pairs: &[(i32, i64)]) -> BTreeMap<i32, i64> {
    pairs.iter().copied().collect()
}

// --- joining ---

#[tokio::test(start_paused = true)]
async fn a_member_joins_starts_where_nothing_was_committed_commits_what_it_read_and_leaves() {
    let t = Test::dynamic();
    let (script, data, status) = (t.script.clone(), t.data.clone(), t.status.clone());
    let outcome = t
        .run(async {
            stable_in(&status, 1).await;
            data.read(0, 5);
            until("the auto-commit", || script.committed() == offsets(&[(0, 5), (1, 0)])).await;
            until("a few heartbeats", || count(&script, Api::Heartbeat) >= 3).await;
            data.read(1, 2);
        })
        .await;
    assert_eq!(outcome.result, Ok(()));
    let apis: Vec<Api> = script.log().iter().map(|r| r.api).take(5).collect();
    use Api::*;
    assert_eq!(apis[..3], [FindCoordinator, JoinGroup, SyncGroup]);
    assert!(apis.contains(&OffsetFetch) && apis.contains(&OffsetCommit));
    let first_commit = &script.requests(OffsetCommit)[0];
    assert_eq!(
        first_commit.offsets,
        offsets(&[(0, 0), (1, 0)]),
        "starting points committed first"
    );
    assert_eq!(
        script.committed(),
        offsets(&[(0, 5), (1, 2)]),
        "the final commit at shutdown"
    );
    assert_eq!(member_ids(&script, LeaveGroup), ["member-1"]);
    assert_eq!(outcome.status.state, MemberState::Stopping);
}

#[tokio::test(start_paused = true)]
async fn member_id_required_joins_again_with_the_id_it_was_given() {
    let t = Test::dynamic();
    t.script.answer(Api::JoinGroup, [Answer::MemberIdRequired("given-id")]);
    let (script, status) = (t.script.clone(), t.status.clone());
    t.run(stable_in(&status, 1)).await;
    assert_eq!(member_ids(&script, Api::JoinGroup), ["", "given-id"]);
    assert_eq!(member_ids(&script, Api::SyncGroup), ["given-id"]);
}

#[tokio::test(start_paused = true)]
async fn an_unavailable_coordinator_is_looked_for_again_with_growing_pauses() {
    let t = Test::dynamic();
    let unavailable = Answer::Error(CoordinatorNotAvailable);
    t.script.answer(Api::FindCoordinator, vec![unavailable; 4]);
    let (script, status) = (t.script.clone(), t.status.clone());
    let started = Instant::now();
    t.run(async {
        until("/status says the broker is unavailable", || {
            status.borrow().state == MemberState::BrokerUnavailable
        })
        .await;
        stable_in(&status, 1).await;
    })
    .await;
    assert_eq!(count(&script, Api::FindCoordinator), 5);
    // 100 + 200 + 400 + 800 ms, each ±20 %.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1200) && waited <= Duration::from_millis(1900),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_fatal_join_error_stops_the_member_with_what_to_change() {
    let t = Test::dynamic();
    t.script.answer(Api::JoinGroup, [Answer::Error(InvalidSessionTimeout)]);
    let script = t.script.clone();
    let outcome = t.run_to_end().await;
    let message = outcome.result.expect_err("fatal");
    assert!(message.starts_with("scripted: INVALID_SESSION_TIMEOUT"), "{message}");
    assert!(
        message.contains("SESSION_TIMEOUT_MS=10000") && message.contains("6000..1800000"),
        "{message}"
    );
    assert_eq!(outcome.status.state, MemberState::Failed);
    assert_eq!(outcome.status.last_error, Some(message));
    assert_eq!(count(&script, Api::LeaveGroup), 0, "no member id to give up");
}

#[tokio::test(start_paused = true)]
async fn every_fatal_code_stops_the_member_in_every_phase_it_can_come_from() {
    let fatal = [
        InconsistentGroupProtocol,
        GroupAuthorizationFailed,
        TopicAuthorizationFailed,
        GroupMaxSizeReached,
        UnsupportedVersion,
        InvalidGroupId,
    ];
    for api in [
        Api::JoinGroup,
        Api::SyncGroup,
        Api::OffsetFetch,
        Api::Heartbeat,
        Api::OffsetCommit,
    ] {
        for code in fatal {
            let t = Test::dynamic();
            t.script.answer(api, [Answer::Error(code)]);
            let script = t.script.clone();
            let outcome = t.run_to_end().await;
            let message = outcome.result.expect_err("fatal");
            assert!(message.contains(&crate::group::error::name(code)), "{api:?}: {message}");
            assert_eq!(outcome.status.state, MemberState::Failed, "{api:?} {code:?}");
            let left = count(&script, Api::LeaveGroup);
            assert_eq!(
                left,
                usize::from(api != Api::JoinGroup),
                "{api:?} {code:?}: leaves if it holds an id"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_rejoin_the_coordinator_answers_unknown_member_id_joins_as_a_new_member() {
    let t = Test::dynamic();
    let (script, status) = (t.script.clone(), t.status.clone());
    t.run(async {
        stable_in(&status, 1).await;
        script.answer(
            Api::JoinGroup,
            [Answer::Error(CoordinatorLoadInProgress), Answer::Error(UnknownMemberId)],
        );
        script.answer(Api::Heartbeat, [Answer::Error(RebalanceInProgress)]);
        stable_in(&status, 2).await;
    })
    .await;
    // Loading: the same id again; unknown: a new member.
    assert_eq!(member_ids(&script, Api::JoinGroup), ["", "member-1", "member-1", ""]);
    assert_eq!(member_ids(&script, Api::SyncGroup), ["member-1", "member-2"]);
}

// --- SyncGroup ---

#[tokio::test(start_paused = true)]
async fn sync_errors_rejoin_keeping_or_dropping_the_member_id() {
    let cases: [(ResponseError, &str); 4] = [
        (RebalanceInProgress, "member-1"),
        (IllegalGeneration, "member-1"),
        (UnknownMemberId, ""),
        (NotCoordinator, "member-1"),
    ];
    for (code, rejoined_as) in cases {
        let t = Test::dynamic();
        t.script.answer(Api::SyncGroup, [Answer::Error(code)]);
        let (script, status) = (t.script.clone(), t.status.clone());
        t.run(stable_in(&status, 2)).await;
        assert_eq!(member_ids(&script, Api::JoinGroup), ["", rejoined_as], "{code:?}");
    }
}

// --- the start of a generation ---

#[tokio::test(start_paused = true)]
async fn offset_fetch_retries_within_the_generation_when_the_coordinator_moves_or_loads() {
    for code in [
        NotCoordinator,
        CoordinatorLoadInProgress,
        CoordinatorNotAvailable,
        RequestTimedOut,
    ] {
        let t = Test::dynamic();
        t.script.answer(Api::OffsetFetch, [Answer::Error(code)]);
        t.script.move_coordinator_to(2);
        let (script, status) = (t.script.clone(), t.status.clone());
        t.run(stable_in(&status, 1)).await;
        assert_eq!(count(&script, Api::JoinGroup), 1, "{code:?}: no rejoin");
        let fetches = script.requests(Api::OffsetFetch);
        assert_eq!(fetches.len(), 2, "{code:?}");
        assert_eq!(fetches[1].broker, 2, "{code:?}: found the coordinator again");
    }
}

#[tokio::test(start_paused = true)]
async fn a_starting_point_commit_refused_for_the_generation_rejoins_with_the_same_id() {
    let t = Test::dynamic();
    t.script.answer(Api::OffsetCommit, [Answer::Error(IllegalGeneration)]);
    let (script, status) = (t.script.clone(), t.status.clone());
    t.run(stable_in(&status, 2)).await;
    assert_eq!(member_ids(&script, Api::JoinGroup), ["", "member-1"]);
}

#[tokio::test(start_paused = true)]
async fn heartbeats_go_on_while_offset_fetch_is_slow() {
    let t = Test::dynamic();
    t.script
        .answer(Api::OffsetFetch, [Answer::Slow(Duration::from_secs(8)), Answer::Ok]);
    let (script, status) = (t.script.clone(), t.status.clone());
    t.run(stable_in(&status, 1)).await;
    let beats = script.requests(Api::Heartbeat);
    assert!(
        beats.len() >= 7,
        "heartbeats while OffsetFetch waited 8 s: {}",
        beats.len()
    );
    assert!(beats.iter().all(|b| b.generation == 1 && b.member_id == "member-1"));
}

mod commits;
mod stable;
