//! A member of a consumer group under the **consumer** protocol (KIP-848, `GROUP_PROTOCOL=consumer`): the
//! broker assigns, and a rebalance moves only the partitions that change hands.
//!
//! Under the classic protocol (see [`crate::group::member`]) every rebalance is a barrier: all members stop
//! fetching, give everything back, rejoin, and wait for the leader's new plan. Here the **coordinator**
//! computes the assignment (its `uniform` or `range` assignor) and each member only follows it, at its own
//! pace, with one request: the heartbeat (see [`heartbeat`]).
//!
//! ```text
//!  join: heartbeat with epoch 0 and the subscription ──▶ answer: epoch E, assignment (the target)
//!  ┌─▶ reconcile: owned ≠ target?
//!  │     give up what is not in the target: stop fetching it, commit it, acknowledge (heartbeat: "I own …")
//!  │     take on what is new: its committed offset (or AUTO_OFFSET_RESET), start fetching, acknowledge
//!  │     partitions in both: untouched, fetched throughout
//!  └── heartbeat every interval; an answer with a new assignment starts the next reconciliation
//!  shutdown: stop fetching, commit, heartbeat with epoch -1 ("leaving"; -2: a static member, back soon)
//!  fenced:   stop fetching (no commit: the partitions may be someone else's already), join again with epoch 0
//! ```
//!
//! **Member epochs** take the place of generations. There is no group-wide round: each member has its own
//! epoch, which the coordinator raises whenever it gives that member a new assignment. The member sends its
//! epoch with every heartbeat and commit, so the coordinator can tell a member that missed a change: it
//! answers FENCED_MEMBER_EPOCH (a heartbeat from an old epoch, or one that claims partitions the member no
//! longer has) or UNKNOWN_MEMBER_ID (it removed the member, e.g. after its session timed out). Either way
//! the member has lost its partitions, stops fetching them at once, and joins again with epoch 0 (with a
//! new member id after UNKNOWN_MEMBER_ID, keeping its id after FENCED_MEMBER_EPOCH). The member id is a UUID
//! the member makes up (KIP-1082) and keeps.
//!
//! A coordinator that moved or does not answer says nothing about the member: it keeps its partitions and
//! goes on fetching them while the heartbeat finds the coordinator again (as the Java client does). If the
//! coordinator removed it meanwhile, the next answer says so, and the member lets go then.
//!
//! **Reconciliation** is how a member moves from what it owns to its target. A partition moves between
//! members in two steps: the coordinator first takes it out of the old owner's target, and only once the old
//! owner has *acknowledged* (its heartbeat no longer lists the partition) does it put it in the new owner's
//! target. So the old owner stops fetching and commits before it acknowledges, and the new owner reads the
//! committed offset: nothing is lost and nothing is read by two members at once. Meanwhile every partition
//! that stays where it is goes on being fetched, which is the point of the protocol: a rebalance pauses only
//! the partitions that move. The member's epoch stays while it still owns a partition it must give up; the
//! acknowledgement brings it to the new epoch.
//!
//! Errors that will not go away by themselves stop the member as they stop the classic one (see
//! [`crate::group::error`]): UNRELEASED_INSTANCE_ID (another consumer holds this `GROUP_INSTANCE_ID`),
//! UNSUPPORTED_ASSIGNOR, GROUP_MAX_SIZE_REACHED, and a broker without the protocol at all (Tansu).
//!
//! This file is the member's life (join, follow, let go, join again); `follow.rs` is the loop of one
//! membership and `reconcile.rs` the reconciliation; [`heartbeat`] talks to the coordinator; [`request`]
//! encodes what it says; [`link`] is the trait the unit tests script. Fetching, committing, reporting and
//! error handling are the ones the classic member uses.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

#[cfg(test)]
mod fake;
mod follow;
pub mod heartbeat;
pub mod link;
mod reconcile;
pub mod request;
#[cfg(test)]
mod tests;

use self::heartbeat::{Heartbeat, Setup};
use self::link::Coordinator;
use self::request::{Beat, ByTopicId};
use super::backoff::Backoff;
use super::client::Identity;
use super::error::GroupError;
use super::link::{CoordinatorLink, Timeouts};
use super::member::GroupSettings;
use crate::consume::{DataPath, FetchContext, Fetchers};
use crate::status::{ConsumerStatus, MemberState};

/// How long shutdown may spend on each of its final commit and leave.
const SHUTDOWN_STEP_TIMEOUT: Duration = Duration::from_millis(600);
/// The epoch that leaves the group, and the one a static member leaves with (it will be back).
const LEAVE_EPOCH: i32 = -1;
const LEAVE_STATIC_EPOCH: i32 = -2;

/// Why a membership ended.
#[derive(Debug)]
enum Ended {
    Shutdown,
    /// The coordinator ended it; the error says how to go on.
    Over(GroupError),
}

/// What the member owns in one membership: its fetch loops and what it committed for them.
struct Owned {
    fetchers: Fetchers,
    committed: BTreeMap<i32, i64>,
    /// Whether `/status` showed this membership's assignment yet.
    reported: bool,
}

/// A consumer-protocol group member: the loop described in the module docs.
pub struct Member<C: Coordinator, D: DataPath> {
    settings: GroupSettings,
    /// `GROUP_REMOTE_ASSIGNOR`.
    assignor: Option<String>,
    data: D,
    status: watch::Sender<ConsumerStatus>,
    me: Identity,
    coordinator: C,
    /// The subscribed topic's id, as last looked up.
    topic_id: Option<Uuid>,
    /// Pauses between memberships that the coordinator ended.
    backoff: Backoff,
}

impl Member<CoordinatorLink, FetchContext> {
    /// A member that talks to the real coordinator and fetches with rskafka.
    pub fn new(
        settings: GroupSettings,
        assignor: Option<String>,
        fetch: FetchContext,
        status: watch::Sender<ConsumerStatus>,
    ) -> Self {
        let timeouts = Timeouts {
            session: link::HEARTBEAT_TIMEOUT,
            rebalance: settings.rebalance_timeout,
            commit: crate::group::client::REQUEST_TIMEOUT,
        };
        let link = CoordinatorLink::new(
            settings.bootstrap_servers.clone(),
            Arc::clone(&settings.security),
            settings.group.clone(),
            timeouts,
        );
        Self::with(settings, assignor, link, fetch, status)
    }
}

impl<C: Coordinator, D: DataPath> Member<C, D> {
    /// A member over any coordinator and data path (the unit tests script both).
    pub fn with(
        settings: GroupSettings,
        assignor: Option<String>,
        coordinator: C,
        data: D,
        status: watch::Sender<ConsumerStatus>,
    ) -> Self {
        let me = Identity {
            member_id: new_member_id(),
            instance_id: settings.instance_id.clone(),
        };
        status.send_modify(|s| {
            s.instance_id = me.instance_id.clone();
            s.member_id = Some(me.member_id.clone());
            s.assignor = assignor.clone();
        });
        Self {
            settings,
            assignor,
            data,
            status,
            me,
            coordinator,
            topic_id: None,
            backoff: Backoff::default(),
        }
    }

    /// Runs until `shutdown` is cancelled (then commits and leaves the group), or until an error that will
    /// not go away by itself: `Err` then holds one line naming the cause and what to change.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), String> {
        while !shutdown.is_cancelled() {
            let span = tracing::info_span!("membership", member = %self.me.member_id);
            match self.membership(&shutdown).instrument(span).await {
                Ended::Shutdown => break,
                Ended::Over(error) if error.is_fatal() => return Err(self.fail(error)),
                Ended::Over(error) => self.join_again(&error, &shutdown).await,
            }
        }
        Ok(())
    }

    /// One membership: join with epoch 0, follow the coordinator's assignments, let go at the end.
    async fn membership(&mut self, shutdown: &CancellationToken) -> Ended {
        self.publish(|s| {
            if s.state != MemberState::BrokerUnavailable {
                s.state = MemberState::Joining;
            }
        });
        let setup = Setup {
            me: self.me.clone(),
            topic: self.data.topic().to_string(),
            assignor: self.assignor.clone(),
            rebalance_timeout: self.settings.rebalance_timeout,
        };
        let mut heartbeat = Heartbeat::start(self.coordinator.another(), setup);
        let mut owned = Owned {
            fetchers: self.data.start_fetching(&BTreeMap::new()),
            committed: BTreeMap::new(),
            reported: false,
        };
        let ended = self.follow(&mut owned, &mut heartbeat, shutdown).await;
        self.let_go(owned, heartbeat, &ended).await;
        ended
    }

    /// The end of a membership. On shutdown: stop fetching, commit, leave. Fenced or failed: stop fetching
    /// without committing (the coordinator would refuse it; the partitions may be another member's now).
    async fn let_go(&mut self, owned: Owned, heartbeat: Heartbeat, ended: &Ended) {
        let epoch = heartbeat.epoch();
        let Owned {
            fetchers,
            mut committed,
            ..
        } = owned;
        match ended {
            Ended::Shutdown => {
                self.publish(|s| s.state = MemberState::Stopping);
                let last = fetchers.stop().await;
                let commit = self.commit(epoch, last, &mut committed);
                match tokio::time::timeout(SHUTDOWN_STEP_TIMEOUT, commit).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!("final commit failed: {e}"),
                    Err(_) => tracing::warn!("final commit: no answer within {SHUTDOWN_STEP_TIMEOUT:?}"),
                }
                drop(heartbeat);
                if epoch > 0 {
                    self.leave(epoch).await;
                }
            }
            Ended::Over(error) => {
                let lost = fetchers.stop().await;
                if !lost.is_empty() && !error.is_fatal() {
                    tracing::warn!(partitions = ?lost.keys(), "stopped fetching without a commit: {error}");
                }
                drop(heartbeat);
                if error.is_fatal() && error.member_still_known() && epoch > 0 {
                    self.leave(epoch).await;
                }
            }
        }
    }

    /// The coordinator ended the membership: join again with epoch 0, as a new member if it forgot this one.
    async fn join_again(&mut self, error: &GroupError, shutdown: &CancellationToken) {
        if let GroupError::RejoinFresh { .. } = error {
            self.me.member_id = new_member_id();
        }
        self.publish(|s| {
            s.state = MemberState::Joining;
            s.member_id = Some(self.me.member_id.clone());
            s.partitions.clear();
            s.target = None;
            s.last_error = Some(error.to_string());
        });
        let pause = self.backoff.failed("joining again with epoch 0", error);
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = shutdown.cancelled() => {}
        }
    }

    /// Stops for good: one line naming the cause and what to change, in the log and in `/status`.
    fn fail(&mut self, error: GroupError) -> String {
        let message = error.explain(&self.settings);
        tracing::error!("{message}");
        self.publish(|s| {
            s.state = MemberState::Failed;
            s.partitions.clear();
            s.target = None;
            s.last_error = Some(message.clone());
        });
        message
    }

    /// The leave heartbeat: epoch -1, or -2 for a static member (the coordinator keeps its partitions for
    /// it until its session times out, so a restart gets them back without a rebalance).
    async fn leave(&mut self, epoch: i32) {
        let leave_epoch = match self.me.instance_id {
            Some(_) => LEAVE_STATIC_EPOCH,
            None => LEAVE_EPOCH,
        };
        let beat = Beat {
            member_id: self.me.member_id.clone(),
            epoch: leave_epoch,
            instance_id: self.me.instance_id.clone(),
            rebalance_timeout: None,
            subscription: None,
            assignor: None,
            owned: None,
        };
        match tokio::time::timeout(SHUTDOWN_STEP_TIMEOUT, self.coordinator.heartbeat(&beat)).await {
            Ok(Ok(_)) => tracing::info!(epoch, leave_epoch, "left the group"),
            Ok(Err(e)) => tracing::warn!("leaving failed (the group will notice after the session timeout): {e}"),
            Err(_) => tracing::warn!("leaving: no answer within {SHUTDOWN_STEP_TIMEOUT:?}"),
        }
    }

    /// Commits every offset in `offsets` (from [`Fetchers::committable`]) that moved since the last commit,
    /// in member epoch `epoch`.
    async fn commit(
        &mut self,
        epoch: i32,
        offsets: BTreeMap<i32, i64>,
        committed: &mut BTreeMap<i32, i64>,
    ) -> Result<(), GroupError> {
        let moved = crate::group::commits::moved_since(committed, offsets);
        if moved.is_empty() {
            return Ok(());
        }
        let topic = self.data.topic();
        self.coordinator.commit(&self.me, epoch, topic, &moved).await?;
        tracing::debug!(epoch, ?moved, "committed");
        committed.extend(moved);
        Ok(())
    }

    /// The owned partitions as the heartbeat acknowledges them: by topic id.
    fn by_topic_id(&self, fetchers: &Fetchers) -> ByTopicId {
        match self.topic_id {
            Some(id) if !fetchers.partitions().is_empty() => {
                ByTopicId::from([(id, fetchers.partitions().into_iter().collect())])
            }
            _ => ByTopicId::new(),
        }
    }

    fn publish(&self, change: impl FnOnce(&mut ConsumerStatus)) {
        self.status.send_modify(change);
    }
}

/// A member id for life (KIP-1082): a random (version 4) UUID. The randomness comes from the standard
/// library's randomly seeded hasher, as the backoff's jitter does (no crate for it).
fn new_member_id() -> String {
    let mut bytes = [0u8; 16];
    for chunk in bytes.chunks_mut(8) {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(0);
        chunk.copy_from_slice(&hasher.finish().to_le_bytes());
    }
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}
