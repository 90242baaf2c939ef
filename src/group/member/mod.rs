//! One member's life in a consumer group, as a single loop that owns all of its state.
//!
//! ```text
//!  ┌─▶ find coordinator ─▶ JoinGroup ─▶ (leader: assign) ─▶ SyncGroup ─▶ OffsetFetch ─▶ stable
//!  │                          └── heartbeat task starts: every interval, on its own connection ──┐
//!  │   stable: fetch owned partitions, commit every interval ◀── "coordinator unreachable" ──────┤
//!  │           (/status says broker_unavailable until it answers again; same generation)         │
//!  └── rebalance: stop fetching, commit, rejoin ◀──── the heartbeat says "generation over" ◀─────┘
//!      shutdown:  stop fetching, commit, LeaveGroup, done     (leader: or a topic's partitions changed)
//!      fatal:     stop fetching, say what to change, done     (e.g. INVALID_SESSION_TIMEOUT)
//! ```
//!
//! This file is the joining side of the loop; `start.rs` finds where each partition starts, `stable.rs` is
//! the stable phase and the revoke; the heartbeat runs beside them (see [`super::heartbeat`]).
//!
//! A **generation** is one round of this: every JoinGroup that completes starts a new generation number,
//! and the coordinator only accepts heartbeats and commits that name the current one. That is how a member
//! that was away (paused, cut off) learns it no longer owns its partitions: its next heartbeat or commit is
//! refused, and it must rejoin. For the same reason this member stops every fetch loop of a generation
//! *before* it commits and rejoins: it never reads or commits a partition it no longer owns. Only the
//! coordinator's verdict ends a generation; a coordinator that moved is found again and the generation goes
//! on (see [`super::error`] for which error does what). So does a coordinator that left heartbeats
//! unanswered for a whole session timeout (its broker died, say): the group's state outlives it in
//! `__consumer_offsets`, and the coordinator that takes over either still knows this member or says so
//! (UNKNOWN_MEMBER_ID), as the Java client assumes too (see [`super::heartbeat`]).
//!
//! Offsets are committed automatically: every `AUTO_COMMIT_INTERVAL_MS`, when partitions are given back in
//! a rebalance, and on shutdown. What is committed is what this member's readers were handed, not what it
//! fetched ("committed = processed", see [`crate::store`]): events handed out after the last commit may
//! reach a reader again through the next owner (at-least-once delivery), but none are lost.
//!
//! With `GROUP_INSTANCE_ID` the member is **static** (KIP-345): the coordinator knows it by that id across
//! restarts, so a restart within the session timeout gets its partitions back without a rebalance of the
//! others. A static member therefore does not send LeaveGroup when it stops (as in Java): leaving would
//! rebalance the group, which is what static membership avoids.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

#[cfg(test)]
pub(crate) mod fake;
mod stable;
mod start;
#[cfg(test)]
mod tests;

use super::assign::ASSIGNORS;
use super::backoff::Backoff;
use super::client::{Identity, Joined, Membership};
use super::error::GroupError;
use super::heartbeat::{Clocks, Heartbeat};
use super::leader::plan_assignment;
use super::link::{Coordinator, CoordinatorLink, Timeouts};
use super::protocol::{decode_assignment, encode_subscription};
use crate::consume::{DataPath, FetchContext};
use crate::security::Security;
use crate::status::{ConsumerStatus, MemberState};

/// How long shutdown may spend on each of its final commit and LeaveGroup.
const SHUTDOWN_STEP_TIMEOUT: Duration = Duration::from_millis(600);
/// How long a metadata read that only informs `/status` or the leader's watch may take.
const METADATA_WAIT: Duration = Duration::from_secs(1);

/// The group settings, as the Java client names them.
#[derive(Debug, Clone)]
pub struct GroupSettings {
    pub group: String,
    pub bootstrap_servers: Vec<String>,
    /// TLS and SASL for the coordinator connections.
    pub security: Arc<Security>,
    /// `group.instance.id`: makes the member static (KIP-345).
    pub instance_id: Option<String>,
    pub session_timeout: Duration,
    /// `max.poll.interval.ms`: how long the coordinator waits for members to rejoin in a rebalance.
    pub rebalance_timeout: Duration,
    pub heartbeat_interval: Duration,
    pub auto_commit_interval: Duration,
}

/// A generation this member joined and synced: its membership, its partitions, and its heartbeat.
struct Generation {
    membership: Membership,
    partitions: Vec<i32>,
    heartbeat: Heartbeat,
    /// Partitions per topic, as read when the generation started (for `/status`).
    partition_counts: Option<BTreeMap<String, i32>>,
    /// The leader's watched partition counts (see [`super::leader`]); `None` for a follower.
    watched: Option<BTreeMap<String, i32>>,
}

/// Why a generation ended.
#[derive(Debug)]
enum Ended {
    Shutdown,
    /// The coordinator's verdict ended it; the error says how to go on.
    Over(GroupError),
    /// The leader saw a subscribed topic's partition count change: it leaves and joins again as a new
    /// member, which every coordinator answers with a rebalance.
    Reassign,
}

/// A consumer group member: the loop described in the module docs.
pub struct Member<C: Coordinator, D: DataPath> {
    settings: GroupSettings,
    data: D,
    status: watch::Sender<ConsumerStatus>,
    /// The member id the coordinator gave (empty until the first JoinGroup, and after "rejoin fresh"), and
    /// the static instance id.
    me: Identity,
    coordinator: C,
    /// Pauses between failed attempts to join.
    backoff: Backoff,
}

impl Member<CoordinatorLink, FetchContext> {
    /// A member that talks to the real coordinator and fetches with rskafka.
    pub fn new(settings: GroupSettings, fetch: FetchContext, status: watch::Sender<ConsumerStatus>) -> Self {
        let timeouts = Timeouts {
            session: settings.session_timeout,
            rebalance: settings.rebalance_timeout,
            commit: settings.session_timeout,
        };
        let link = CoordinatorLink::new(
            settings.bootstrap_servers.clone(),
            Arc::clone(&settings.security),
            settings.group.clone(),
            timeouts,
        );
        Self::with(settings, link, fetch, status)
    }
}

impl<C: Coordinator, D: DataPath> Member<C, D> {
    /// A member over any coordinator and data path (the unit tests script both).
    pub fn with(settings: GroupSettings, coordinator: C, data: D, status: watch::Sender<ConsumerStatus>) -> Self {
        let me = Identity {
            member_id: String::new(),
            instance_id: settings.instance_id.clone(),
        };
        status.send_modify(|s| s.instance_id = me.instance_id.clone());
        Self {
            settings,
            data,
            status,
            me,
            coordinator,
            backoff: Backoff::default(),
        }
    }

    /// Runs until `shutdown` is cancelled (then commits and leaves the group), or until an error that will
    /// not go away by itself: `Err` then holds one line naming the cause and what to change.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), String> {
        loop {
            let joined = tokio::select! {
                joined = self.join_group() => joined,
                () = shutdown.cancelled() => break,
            };
            let ended = match joined {
                Ok(generation) => {
                    self.backoff.succeeded("Joining the group");
                    let span = tracing::info_span!("generation", id = generation.membership.generation);
                    self.run_generation(generation, &shutdown).instrument(span).await
                }
                Err(error) => {
                    self.retry_join(error, &shutdown).await?;
                    continue;
                }
            };
            match ended {
                Ended::Shutdown => break,
                Ended::Over(error) if error.is_fatal() => return Err(self.fail(error).await),
                Ended::Over(error) => self.generation_over(&error),
                Ended::Reassign => {
                    self.leave().await;
                    self.me.member_id.clear();
                }
            }
        }
        self.publish(|s| s.state = MemberState::Stopping);
        if self.me.instance_id.is_some() {
            tracing::info!("static member: not sending LeaveGroup; the group waits a session timeout for it");
        } else {
            self.leave().await;
        }
        Ok(())
    }

    /// Find coordinator → JoinGroup → (leader: assign) → SyncGroup. The heartbeat task starts as soon as
    /// JoinGroup answered.
    #[tracing::instrument(name = "join", skip_all, fields(group = %self.settings.group))]
    async fn join_group(&mut self) -> Result<Generation, GroupError> {
        // "joining", unless `/status` says the coordinator is unreachable: that stays until it answers.
        self.status.send_if_modified(|s| {
            let changed = !matches!(s.state, MemberState::BrokerUnavailable | MemberState::Joining);
            if changed {
                s.state = MemberState::Joining;
            }
            changed
        });
        let membership = self.join().await?;
        self.publish(|s| s.state = MemberState::Joining);
        let clocks = Clocks {
            interval: self.settings.heartbeat_interval,
            session: self.settings.session_timeout,
        };
        let generation = membership.generation;
        let heartbeat = Heartbeat::start(self.coordinator.another(), self.me.clone(), generation, clocks);
        let counts = self.partition_counts(membership.is_leader()).await?;
        let (assignments, watched) = match (&counts, membership.is_leader()) {
            (Some(counts), true) => {
                let plan = plan_assignment(&membership, counts)?;
                (plan.assignments, Some(plan.watched))
            }
            _ => (Vec::new(), None),
        };
        let bytes = self.coordinator.sync(&self.me, &membership, assignments).await?;
        heartbeat.synced();
        let assignment = decode_assignment(&bytes).map_err(|e| GroupError::Retry {
            context: "SyncGroup",
            reason: e.to_string(),
        })?;
        let partitions = assignment.get(self.data.topic()).cloned().unwrap_or_default();
        tracing::info!(generation, leader = membership.is_leader(), ?partitions, "joined");
        Ok(Generation {
            membership,
            partitions,
            heartbeat,
            partition_counts: counts,
            watched,
        })
    }

    /// JoinGroup, answering MEMBER_ID_REQUIRED (KIP-394) by joining again with the id the coordinator gave.
    async fn join(&mut self) -> Result<Membership, GroupError> {
        let topics = [self.data.topic().to_string()];
        let subscription = encode_subscription(&topics).map_err(|e| GroupError::Retry {
            context: "JoinGroup",
            reason: e.to_string(),
        })?;
        let assignors: Vec<_> = ASSIGNORS.iter().map(|name| (*name, subscription.clone())).collect();
        loop {
            match self.coordinator.join(&self.me, &assignors).await? {
                Joined::MemberIdRequired(id) => self.me.member_id = id,
                Joined::Member(membership) => {
                    self.me.member_id = membership.member_id.clone();
                    return Ok(membership);
                }
            }
        }
    }

    /// Partition counts: the leader must have them to assign; a follower only shows them in `/status`.
    async fn partition_counts(&self, leader: bool) -> Result<Option<BTreeMap<String, i32>>, GroupError> {
        if leader {
            return self.data.partition_counts().await.map(Some);
        }
        let read = tokio::time::timeout(METADATA_WAIT, self.data.partition_counts()).await;
        Ok(read.ok().and_then(Result::ok))
    }

    /// Joining failed: say so, forget the member id if the coordinator did, and wait (with backoff) before
    /// the next attempt. A fatal error stops the member instead (`Err`).
    async fn retry_join(&mut self, error: GroupError, shutdown: &CancellationToken) -> Result<(), String> {
        if error.is_fatal() {
            return Err(self.fail(error).await);
        }
        if let GroupError::RejoinFresh { .. } = error {
            self.me.member_id.clear();
        }
        self.publish(|s| {
            s.state = error.member_state();
            s.last_error = Some(error.to_string());
        });
        let pause = self.backoff.failed("joining again, with backoff", &error);
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = shutdown.cancelled() => {}
        }
        Ok(())
    }

    /// A generation ended by the coordinator: rejoin at once, as a new member if the coordinator forgot
    /// this one. ILLEGAL_GENERATION keeps the id (a dropped id would linger in the
    /// group until its session expires, and hold up the next rebalance).
    fn generation_over(&mut self, error: &GroupError) {
        if let GroupError::RejoinFresh { .. } = error {
            self.me.member_id.clear();
        }
        self.publish(|s| {
            s.state = MemberState::Joining;
            s.last_error = None;
        });
    }

    /// Stops for good: one line naming the cause and what to change, in the log and in `/status`. A dynamic
    /// member whose id the coordinator still knows leaves, so the group need not wait for its session.
    async fn fail(&mut self, error: GroupError) -> String {
        let message = error.explain(&self.settings);
        tracing::error!("{message}");
        if error.member_still_known() && self.me.instance_id.is_none() {
            self.leave().await;
        }
        self.publish(|s| {
            s.state = MemberState::Failed;
            s.partitions.clear();
            s.last_error = Some(message.clone());
        });
        message
    }

    /// LeaveGroup whenever we hold a member id (whatever the generation), so the group rebalances at once.
    async fn leave(&mut self) {
        if self.me.member_id.is_empty() {
            return;
        }
        let member_id = self.me.member_id.clone();
        match tokio::time::timeout(SHUTDOWN_STEP_TIMEOUT, self.coordinator.leave(&self.me)).await {
            Ok(Ok(())) => tracing::info!(member = %member_id, "left the group"),
            Ok(Err(e)) => tracing::warn!("LeaveGroup failed (the group will notice after the session timeout): {e}"),
            Err(_) => tracing::warn!("LeaveGroup: no answer within {SHUTDOWN_STEP_TIMEOUT:?}"),
        }
    }

    fn publish(&self, change: impl FnOnce(&mut ConsumerStatus)) {
        self.status.send_modify(change);
    }
}
