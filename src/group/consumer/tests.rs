//! The consumer-protocol member against a scripted coordinator (see `fake.rs`): joining, reconciliation
//! (revocations before acknowledgements, kept partitions never paused), stale epochs, lost answers, a
//! coordinator that moves, fatal errors. Time is paused: the broker's 1 s heartbeat interval and the 1 s
//! auto-commit run exactly and instantly.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use kafka_protocol::ResponseError::*;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::fake::{FakeCoordinator, Reply, Script, Sent, INTERVAL, TOPIC_ID};
use super::request::{Beat, ByTopicId};
use super::Member;
use crate::group::member::fake::{FakeData, TOPIC};
use crate::group::member::GroupSettings;
use crate::status::{ConsumerStatus, MemberState};

mod faults;

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
    /// A member that commits only when it gives partitions up or stops (not every second).
    fn without_auto_commit() -> Self {
        let mut test = Self::new(None);
        test.settings.auto_commit_interval = Duration::from_secs(3600);
        test
    }

    fn new(instance_id: Option<&str>) -> Self {
        let settings = GroupSettings {
            group: "group".into(),
            bootstrap_servers: vec!["broker:9092".into()],
            security: std::sync::Arc::new(crate::security::Security::plaintext()),
            instance_id: instance_id.map(str::to_string),
            session_timeout: Duration::from_secs(45),
            rebalance_timeout: Duration::from_secs(300),
            heartbeat_interval: Duration::from_secs(5),
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
        let status = self.status.clone();
        let member = self.member();
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
        let status = self.status.clone();
        let run = self.member().run(CancellationToken::new());
        let result = tokio::time::timeout(Duration::from_secs(600), run)
            .await
            .expect("the member stops by itself");
        let status = status.borrow().clone();
        Outcome { result, status }
    }

    fn member(self) -> Member<FakeCoordinator, FakeData> {
        let coordinator = FakeCoordinator::new(self.script);
        Member::with(self.settings, None, coordinator, self.data, self.publish)
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

/// Waits until `/status` says stable in `epoch`, owning `partitions`.
async fn stable_in(status: &watch::Receiver<ConsumerStatus>, epoch: i32, partitions: &[i32]) {
    until(&format!("stable in epoch {epoch} with {partitions:?}"), || {
        let now = status.borrow();
        let owned: Vec<i32> = now.partitions.iter().map(|p| p.partition).collect();
        now.state == MemberState::Stable && now.epoch == Some(epoch) && owned == partitions
    })
    .await;
}

fn owns(partitions: &[i32]) -> Option<ByTopicId> {
    Some(ByTopicId::from([(TOPIC_ID, partitions.iter().copied().collect())]))
}

fn offsets(pairs: &[(i32, i64)]) -> BTreeMap<i32, i64> {
    pairs.iter().copied().collect()
}

/// The position in the log of the first heartbeat acknowledging exactly `partitions`.
fn acknowledged_at(script: &Script, partitions: &[i32]) -> Option<usize> {
    let wanted = owns(partitions);
    script
        .log()
        .iter()
        .position(|sent| matches!(sent, Sent::Heartbeat { beat, .. } if beat.owned == wanted && beat.epoch > 0))
}

// --- joining ---

#[tokio::test(start_paused = true)]
async fn a_member_joins_with_epoch_0_and_a_uuid_acknowledges_at_once_and_heartbeats_at_the_brokers_interval() {
    let t = Test::new(None);
    let (script, status) = (t.script.clone(), t.status.clone());
    let outcome = t
        .run(async {
            stable_in(&status, 1, &[0, 1]).await;
            tokio::time::sleep(INTERVAL * 3).await;
        })
        .await;
    assert_eq!(outcome.result, Ok(()));
    let beats = script.beats();
    let join = &beats[0];
    assert_eq!(join.epoch, 0);
    assert!(uuid::Uuid::parse_str(&join.member_id).is_ok(), "{}", join.member_id);
    assert_eq!(join.subscription, Some(vec![TOPIC.to_string()]));
    assert_eq!(join.rebalance_timeout, Some(Duration::from_secs(300)));
    assert_eq!(join.owned, Some(ByTopicId::new()), "joins owning nothing");
    let ack = &beats[1];
    assert_eq!((ack.epoch, ack.owned.clone()), (1, owns(&[0, 1])));
    assert_eq!(ack.subscription, None, "only what changed");
    let steady: Vec<&Beat> = beats[2..].iter().filter(|b| b.epoch > 0).collect();
    assert!(steady.len() >= 3, "{beats:?}");
    assert!(steady.iter().all(|b| b.owned.is_none() && b.subscription.is_none()));
    assert!(
        beats.iter().all(|b| b.member_id == join.member_id),
        "one member id for life"
    );
    let leave = beats.last().unwrap();
    assert_eq!((leave.epoch, leave.owned.clone()), (-1, None), "leaves with epoch -1");
    assert_eq!(outcome.status.state, MemberState::Stopping);
    assert_eq!(outcome.status.epoch, Some(1));
    assert_eq!(outcome.status.generation, None);
}

#[tokio::test(start_paused = true)]
async fn the_acknowledgement_goes_out_at_once_not_at_the_next_interval() {
    let t = Test::new(None);
    let (script, status) = (t.script.clone(), t.status.clone());
    t.run(async {
        let joined = Instant::now();
        until("the acknowledgement", || acknowledged_at(&script, &[0, 1]).is_some()).await;
        assert!(joined.elapsed() < INTERVAL / 2, "{:?}", joined.elapsed());
        stable_in(&status, 1, &[0, 1]).await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn new_partitions_start_from_the_committed_offset_or_the_reset_policy_committed_at_once() {
    let t = Test::new(None);
    t.script.set_committed(1, 7);
    let (script, data, status) = (t.script.clone(), t.data.clone(), t.status.clone());
    t.run(async {
        stable_in(&status, 1, &[0, 1]).await;
        data.read(1, 2);
    })
    .await;
    let first_commit = &script.commits()[0];
    assert_eq!(
        first_commit,
        &(1, offsets(&[(0, 0)])),
        "partition 0's reset point, in epoch 1"
    );
    assert_eq!(
        script.committed(),
        offsets(&[(0, 0), (1, 9)]),
        "partition 1 from 7, read 2"
    );
}

// --- reconciliation ---

#[tokio::test(start_paused = true)]
async fn a_revoked_partition_is_stopped_and_committed_before_the_acknowledgement_and_the_kept_one_never_pauses() {
    let t = Test::without_auto_commit();
    let (script, data, status) = (t.script.clone(), t.data.clone(), t.status.clone());
    t.run(async {
        stable_in(&status, 1, &[0, 1]).await;
        data.read(0, 3);
        data.read(1, 4);
        script.reply([Reply::Assign {
            epoch: 1,
            partitions: vec![0],
        }]);
        until("the acknowledgement of [0]", || {
            acknowledged_at(&script, &[0]).is_some()
        })
        .await;
        // The coordinator raises the epoch once it heard the acknowledgement.
        script.reply([Reply::Assign {
            epoch: 2,
            partitions: vec![0],
        }]);
        stable_in(&status, 2, &[0]).await;
        data.read(0, 2);
        data.read(1, 100);
    })
    .await;
    let log = script.log();
    let ack = acknowledged_at(&script, &[0]).unwrap();
    let revoke_commit = log
        .iter()
        .position(|s| matches!(s, Sent::Commit { offsets, .. } if offsets.get(&1) == Some(&4)));
    let revoke_commit = revoke_commit.expect("partition 1's last position committed");
    assert!(
        revoke_commit < ack,
        "commit at {revoke_commit}, acknowledgement at {ack}: {log:?}"
    );
    assert_eq!(
        log[revoke_commit],
        Sent::Commit {
            epoch: 1,
            offsets: offsets(&[(1, 4)])
        },
        "in the epoch it still has"
    );
    let later = log[ack..]
        .iter()
        .any(|s| matches!(s, Sent::Commit { offsets, .. } if offsets.contains_key(&1)));
    assert!(!later, "partition 1 is never committed again: {log:?}");
    let fetches = log.iter().filter(|s| matches!(s, Sent::OffsetFetch { .. })).count();
    assert_eq!(fetches, 1, "partition 0 was never restarted");
    assert_eq!(
        script.commits().last(),
        Some(&(2, offsets(&[(0, 5)]))),
        "partition 0 read on throughout; commits carry the member epoch"
    );
}

#[tokio::test(start_paused = true)]
async fn a_partition_added_later_is_taken_on_alone_from_its_committed_offset() {
    let t = Test::new(None);
    t.script.reply([Reply::Assign {
        epoch: 1,
        partitions: vec![0],
    }]);
    let (script, data, status) = (t.script.clone(), t.data.clone(), t.status.clone());
    t.run(async {
        stable_in(&status, 1, &[0]).await;
        data.read(0, 3);
        script.set_committed(1, 7);
        script.reply([Reply::Assign {
            epoch: 2,
            partitions: vec![0, 1],
        }]);
        stable_in(&status, 2, &[0, 1]).await;
        let seen = status.borrow().clone();
        assert_eq!(seen.partitions[1].committed, Some(7), "{seen:?}");
        assert_eq!(seen.partitions[0].position, Some(3), "partition 0 read on");
        assert!(acknowledged_at(&script, &[0, 1]).is_some());
    })
    .await;
    let fetched: Vec<Vec<i32>> = script
        .log()
        .into_iter()
        .filter_map(|s| match s {
            Sent::OffsetFetch { partitions } => Some(partitions),
            _ => None,
        })
        .collect();
    assert_eq!(fetched, [vec![0], vec![1]]);
}

#[tokio::test(start_paused = true)]
async fn while_reconciling_status_shows_the_target_next_to_what_is_owned() {
    let t = Test::new(None);
    t.script.reply([Reply::Assign {
        epoch: 1,
        partitions: vec![0],
    }]);
    let (script, status) = (t.script.clone(), t.status.clone());
    t.run(async {
        stable_in(&status, 1, &[0]).await;
        // Partition 1's committed offset takes 3 s to read: long enough to watch the member reconcile.
        script.slow_offset_fetches(Duration::from_secs(3));
        script.reply([Reply::Assign {
            epoch: 2,
            partitions: vec![0, 1],
        }]);
        until("reconciling", || status.borrow().state == MemberState::Reconciling).await;
        let seen = status.borrow().clone();
        assert_eq!(seen.target, Some(vec![0, 1]), "{seen:?}");
        let owned: Vec<i32> = seen.partitions.iter().map(|p| p.partition).collect();
        assert_eq!(owned, [0]);
        stable_in(&status, 2, &[0, 1]).await;
        assert_eq!(status.borrow().target, None);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn the_newest_target_wins_when_another_arrives_during_a_reconciliation() {
    let t = Test::without_auto_commit();
    let (script, data, status) = (t.script.clone(), t.data.clone(), t.status.clone());
    t.run(async {
        stable_in(&status, 1, &[0, 1]).await;
        data.read(1, 1);
        // Giving partition 1 up takes a slow commit, during which a heartbeat brings a newer target.
        script.slow_commits(INTERVAL * 3);
        script.reply([
            Reply::Assign {
                epoch: 1,
                partitions: vec![0],
            },
            Reply::Assign {
                epoch: 3,
                partitions: vec![1],
            },
        ]);
        stable_in(&status, 3, &[1]).await;
    })
    .await;
    let acknowledged: Vec<Option<ByTopicId>> = script
        .beats()
        .into_iter()
        .filter(|b| b.owned.is_some() && b.epoch > 0)
        .map(|b| b.owned)
        .collect();
    // Each acknowledgement says what the member owns when the heartbeat goes out: [0] (after giving 1 up)
    // may be overtaken by [1] before it is sent; a stale [0, 1] never comes back.
    assert_eq!(acknowledged.first(), Some(&owns(&[0, 1])));
    assert!(!acknowledged[1..].contains(&owns(&[0, 1])), "{acknowledged:?}");
    assert_eq!(acknowledged.last(), Some(&owns(&[1])), "{acknowledged:?}");
}
