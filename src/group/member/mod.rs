//! One member's life in a consumer group, as a single loop that owns all of its state.
//!
//! ```text
//!  ┌─▶ find coordinator ─▶ JoinGroup ─▶ (leader: assign) ─▶ SyncGroup ─▶ OffsetFetch
//!  │                                                                        │
//!  │   stable: fetch owned partitions, Heartbeat every interval, commit every interval
//!  │                                                                        │
//!  └── rebalance: stop fetching, commit, rejoin ◀───── Heartbeat says "rebalance"
//!      shutdown:  stop fetching, commit, LeaveGroup, done     (leader: or a topic's partitions changed)
//! ```
//!
//! This file is the joining side of the loop; `stable.rs` is the stable phase and the revoke.
//!
//! A **generation** is one round of this: every JoinGroup that completes starts a new generation number,
//! and the coordinator only accepts heartbeats and commits that name the current one. That is how a member
//! that was away (paused, cut off) learns it no longer owns its partitions: its next heartbeat or commit is
//! refused, and it must rejoin. For the same reason this member stops every fetch loop of a generation
//! *before* it commits and rejoins: it never reads or commits a partition it no longer owns.
//!
//! Offsets are committed automatically: every `AUTO_COMMIT_INTERVAL_MS`, when partitions are given back in
//! a rebalance, and on shutdown. What is committed is what this member's readers were handed, not what it
//! fetched ("committed = processed", see [`crate::store`]): events handed out after the last commit may
//! reach a reader again through the next owner (at-least-once delivery), but none are lost.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

mod stable;

use super::assign::ASSIGNORS;
use super::client::{Joined, Membership};
use super::error::GroupError;
use super::leader::plan_assignment;
use super::link::CoordinatorLink;
use super::protocol::{decode_assignment, encode_subscription};
use super::report;
use crate::consume::{starting_offsets, FetchContext};
use crate::status::{ConsumerStatus, MemberState};

/// How long shutdown may spend on each of its final commit and LeaveGroup.
const SHUTDOWN_STEP_TIMEOUT: Duration = Duration::from_millis(600);

/// The group settings, as the Java client names them.
#[derive(Debug, Clone)]
pub struct GroupSettings {
    pub group: String,
    pub bootstrap_servers: Vec<String>,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub heartbeat_interval: Duration,
    pub auto_commit_interval: Duration,
}

/// One generation as this member sees it: its membership and the partitions it owns.
struct Generation {
    membership: Membership,
    partitions: Vec<i32>,
    /// Where each owned partition starts: its committed offset (the starting points were committed).
    starts: BTreeMap<i32, i64>,
    /// The leader's watched partition counts (see [`super::leader`]); `None` for a follower.
    watched: Option<BTreeMap<String, i32>>,
}

/// Why a stable generation ended.
enum Ended {
    Shutdown,
    Rejoin(GroupError),
    /// The leader saw a subscribed topic's partition count change: it leaves and joins again as a new
    /// member, which every coordinator answers with a rebalance.
    Reassign,
}

/// A consumer group member: the loop described in the module docs.
pub struct Member {
    settings: GroupSettings,
    fetch: FetchContext,
    status: watch::Sender<ConsumerStatus>,
    /// The id the coordinator gave us; empty until the first JoinGroup, and again after "rejoin fresh".
    member_id: String,
    coordinator: CoordinatorLink,
}

impl Member {
    pub fn new(settings: GroupSettings, fetch: FetchContext, status: watch::Sender<ConsumerStatus>) -> Self {
        let coordinator = CoordinatorLink::new(settings.bootstrap_servers.clone(), settings.group.clone());
        Self {
            settings,
            fetch,
            status,
            member_id: String::new(),
            coordinator,
        }
    }

    /// Runs until `shutdown` is cancelled, then commits and leaves the group.
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            let joined = tokio::select! {
                joined = self.join_group() => joined,
                () = shutdown.cancelled() => {
                    // A request may have been cut off mid-way: that connection is not reusable.
                    self.coordinator.forget();
                    break;
                }
            };
            let ended = match joined {
                Ok(generation) => {
                    let span = tracing::info_span!("generation", id = generation.membership.generation);
                    self.consume_generation(generation, &shutdown).instrument(span).await
                }
                Err(error) => Ended::Rejoin(error),
            };
            match ended {
                Ended::Shutdown => break,
                Ended::Rejoin(error) => self.recover(error, &shutdown).await,
                Ended::Reassign => {
                    self.leave().await;
                    self.member_id.clear();
                }
            }
        }
        self.publish(|s| s.state = MemberState::Stopping);
        self.leave().await;
    }

    /// Find coordinator → JoinGroup → (leader: assign) → SyncGroup → OffsetFetch.
    #[tracing::instrument(name = "join", skip_all, fields(group = %self.settings.group))]
    async fn join_group(&mut self) -> Result<Generation, GroupError> {
        // "joining" once the coordinator answers; until then `/status` keeps saying what went wrong.
        self.coordinator.get().await?;
        self.publish(|s| s.state = MemberState::Joining);
        let membership = self.join().await?;
        let (assignments, counts, watched) = if membership.is_leader() {
            let plan = plan_assignment(&self.fetch.client, &membership).await?;
            (plan.assignments, Some(plan.partition_counts), Some(plan.watched))
        } else {
            (Vec::new(), None, None)
        };
        let rebalance_timeout = self.settings.rebalance_timeout;
        let bytes = self
            .coordinator
            .get()
            .await?
            .sync(&membership, assignments, rebalance_timeout)
            .await?;
        let assignment = decode_assignment(&bytes).map_err(|e| GroupError::Protocol {
            context: "SyncGroup",
            reason: e.to_string(),
        })?;
        let partitions = assignment.get(&self.fetch.topic).cloned().unwrap_or_default();
        let topic = self.fetch.topic.clone();
        let committed = self.coordinator.get().await?.fetch_offsets(&topic, &partitions).await?;
        let starts = self.commit_starting_points(membership.generation, &committed).await?;
        tracing::info!(
            generation = membership.generation,
            leader = membership.is_leader(),
            ?partitions,
            "joined"
        );
        let generation = report::NewGeneration {
            membership: &membership,
            partitions: &partitions,
            starts: &starts,
            partition_counts: counts,
        };
        report::generation_started(&self.status, &self.fetch, &self.settings.group, generation).await;
        Ok(Generation {
            membership,
            partitions,
            starts,
            watched,
        })
    }

    /// Resolves where each partition starts and commits the starting points the reset policy chose, before
    /// any event is read: if this member dies right after, the next owner starts from the same point, not
    /// from a later "latest" that would skip the events produced in between.
    async fn commit_starting_points(
        &mut self,
        generation: i32,
        committed: &BTreeMap<i32, Option<i64>>,
    ) -> Result<BTreeMap<i32, i64>, GroupError> {
        let starts = starting_offsets(&self.fetch, committed)
            .await
            .map_err(|e| GroupError::Rediscover {
                context: "starting offsets",
                reason: e.to_string(),
            })?;
        let decided: BTreeMap<i32, i64> = starts
            .iter()
            .filter(|(p, _)| committed.get(p) == Some(&None))
            .map(|(&p, &o)| (p, o))
            .collect();
        if !decided.is_empty() {
            self.commit_offsets(generation, &decided).await?;
        }
        Ok(starts)
    }

    /// OffsetCommit of `offsets` (partition → next offset to read) in `generation`: the coordinator refuses
    /// a commit from a member or generation it no longer knows, so a stale member cannot move the offsets.
    async fn commit_offsets(&mut self, generation: i32, offsets: &BTreeMap<i32, i64>) -> Result<(), GroupError> {
        let (member_id, topic) = (self.member_id.clone(), self.fetch.topic.clone());
        let timeout = self.settings.session_timeout;
        self.coordinator
            .get()
            .await?
            .commit(generation, &member_id, &topic, offsets, timeout)
            .await
    }

    /// JoinGroup, answering MEMBER_ID_REQUIRED by joining again with the id the coordinator gave.
    async fn join(&mut self) -> Result<Membership, GroupError> {
        let topics = [self.fetch.topic.clone()];
        let subscription = encode_subscription(&topics).map_err(|e| GroupError::Protocol {
            context: "JoinGroup",
            reason: e.to_string(),
        })?;
        let assignors: Vec<_> = ASSIGNORS.iter().map(|name| (*name, subscription.clone())).collect();
        loop {
            let (session, rebalance) = (self.settings.session_timeout, self.settings.rebalance_timeout);
            let member_id = self.member_id.clone();
            let coordinator = self.coordinator.get().await?;
            match coordinator.join(&member_id, session, rebalance, &assignors).await? {
                Joined::MemberIdRequired(id) => self.member_id = id,
                Joined::Member(membership) => {
                    self.member_id = membership.member_id.clone();
                    return Ok(membership);
                }
            }
        }
    }

    /// Reacts to an error as its class says (see [`GroupError`]), pausing where retrying at once won't help.
    async fn recover(&mut self, error: GroupError, shutdown: &CancellationToken) {
        match error {
            GroupError::RejoinFresh { .. } => self.member_id.clear(),
            GroupError::Rediscover { .. } => self.coordinator.forget(),
            _ => {}
        }
        tracing::info!("{error}");
        self.publish(|s| {
            s.state = error.member_state();
            s.last_error = (!matches!(error, GroupError::Rejoin { .. })).then(|| error.to_string());
        });
        tokio::select! {
            () = tokio::time::sleep(error.pause()) => {}
            () = shutdown.cancelled() => {}
        }
    }

    /// LeaveGroup whenever we hold a member id (whatever the generation), so the group rebalances at once.
    async fn leave(&mut self) {
        if self.member_id.is_empty() {
            return;
        }
        let member_id = self.member_id.clone();
        let result = match self.coordinator.for_leaving(SHUTDOWN_STEP_TIMEOUT).await {
            Ok(mut coordinator) => coordinator.leave(&member_id, SHUTDOWN_STEP_TIMEOUT).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => tracing::info!(member = %member_id, "left the group"),
            Err(e) => tracing::warn!("LeaveGroup failed (the group will notice after the session timeout): {e}"),
        }
    }

    fn publish(&self, change: impl FnOnce(&mut ConsumerStatus)) {
        self.status.send_modify(change);
    }
}
