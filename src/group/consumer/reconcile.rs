//! Reconciliation: moving from the partitions this member owns to the coordinator's **target**.
//!
//! 1. **Resolve** the target's topic ids to partitions of the subscribed topic (a Metadata request when an
//!    id is new to us, e.g. the topic was created after the member joined).
//! 2. **Give up** what is owned but not in the target: stop those fetch loops and wait until they are gone,
//!    commit their last positions (in the current epoch, which the coordinator still accepts: the member
//!    keeps its epoch until it acknowledges), then **acknowledge**: the heartbeat goes out at once, listing
//!    what the member now owns. Only then does the coordinator give those partitions to someone else.
//! 3. **Take on** what is in the target but not owned: its committed offset (OffsetFetch), or where
//!    `AUTO_OFFSET_RESET` says if the group never committed one (committed at once, as the classic member
//!    does), start fetching it, acknowledge.
//!
//! Partitions in both are not touched at all: their fetch loops run on throughout.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::heartbeat::Heartbeat;
use super::link::Coordinator;
use super::request::ByTopicId;
use super::{Ended, Member, Owned};
use crate::consume::DataPath;
use crate::group::backoff::Backoff;
use crate::group::commits;
use crate::group::leader::idle_reason;
use crate::group::report::{self, EpochAssignment};

/// How long the commit of given-up partitions may take before they are acknowledged anyway (the next
/// owner then starts from the previous commit: events are read twice, none are lost).
const GIVE_UP_COMMIT_WAIT: Duration = Duration::from_secs(5);
/// How long a metadata read that only informs `/status` may take.
const METADATA_WAIT: Duration = Duration::from_secs(1);

/// What one reconciliation did.
pub(super) struct Outcome {
    /// Whether the owned partitions changed.
    pub changed: bool,
    /// Whether every topic id of the target was resolved (if not, the member looks again later).
    pub resolved: bool,
}

impl<C: Coordinator, D: DataPath> Member<C, D> {
    /// Makes the owned partitions match `target`: give up, acknowledge, take on, acknowledge.
    #[tracing::instrument(name = "reconcile", skip_all, fields(epoch = heartbeat.epoch()))]
    pub(super) async fn reconcile(
        &mut self,
        owned: &mut Owned,
        target: &ByTopicId,
        heartbeat: &mut Heartbeat,
        shutdown: &CancellationToken,
    ) -> Result<Outcome, Ended> {
        let (wanted, resolved) = self.wanted(target).await;
        let current: BTreeSet<i32> = owned.fetchers.partitions().into_iter().collect();
        if wanted == current {
            if !owned.reported {
                self.report(owned, heartbeat.epoch(), None).await;
            }
            return Ok(Outcome {
                changed: false,
                resolved,
            });
        }
        let give_up: Vec<i32> = current.difference(&wanted).copied().collect();
        let take_on: Vec<i32> = wanted.difference(&current).copied().collect();
        let kept: Vec<i32> = current.intersection(&wanted).copied().collect();
        tracing::info!(?kept, ?give_up, ?take_on, "reconciling towards the target");
        self.report(owned, heartbeat.epoch(), Some(wanted.iter().copied().collect()))
            .await;
        if !give_up.is_empty() {
            self.give_up(owned, &give_up, heartbeat.epoch()).await;
            heartbeat.owns(self.by_topic_id(&owned.fetchers));
        }
        if !take_on.is_empty() {
            self.take_on(owned, &take_on, heartbeat, shutdown).await?;
            heartbeat.owns(self.by_topic_id(&owned.fetchers));
        }
        self.report(owned, heartbeat.epoch(), None).await;
        self.backoff.succeeded("Joining the group");
        Ok(Outcome {
            changed: true,
            resolved,
        })
    }

    /// The target's partitions of the subscribed topic, and whether every topic id in it was resolved.
    async fn wanted(&mut self, target: &ByTopicId) -> (BTreeSet<i32>, bool) {
        if target.keys().any(|&id| Some(id) != self.topic_id) {
            self.look_up_topic_id().await;
        }
        let mut wanted = BTreeSet::new();
        let mut resolved = true;
        for (&id, partitions) in target {
            if Some(id) == self.topic_id {
                wanted.extend(partitions);
            } else {
                resolved = false;
            }
        }
        (wanted, resolved)
    }

    /// Reads the subscribed topic's id with our own Metadata request (rskafka's has no topic ids).
    async fn look_up_topic_id(&mut self) {
        let topic = self.data.topic().to_string();
        match self.coordinator.topic_id(&topic).await {
            Ok(Some(id)) => {
                if self.topic_id != Some(id) {
                    tracing::info!(%id, "topic id of {topic}");
                }
                self.topic_id = Some(id);
            }
            Ok(None) => tracing::warn!("the assignment names a topic id, but {topic} does not exist (yet)"),
            Err(error) => tracing::warn!("looking up the id of {topic}: {error}; trying again"),
        }
    }

    /// Stops fetching `partitions` (the others go on), then commits their last positions.
    async fn give_up(&mut self, owned: &mut Owned, partitions: &[i32], epoch: i32) {
        let last = owned.fetchers.remove(partitions).await;
        let commit = self.commit(epoch, last, &mut owned.committed);
        match tokio::time::timeout(GIVE_UP_COMMIT_WAIT, commit).await {
            Ok(Ok(())) => tracing::info!(?partitions, "gave up (stopped and committed)"),
            Ok(Err(e)) => tracing::warn!(?partitions, "gave up; their commit failed: {e}"),
            Err(_) => tracing::warn!(
                ?partitions,
                "gave up; their commit had no answer in {GIVE_UP_COMMIT_WAIT:?}"
            ),
        }
        owned.committed.retain(|p, _| !partitions.contains(p));
    }

    /// Starts fetching `partitions` from where the group left them.
    async fn take_on(
        &mut self,
        owned: &mut Owned,
        partitions: &[i32],
        heartbeat: &mut Heartbeat,
        shutdown: &CancellationToken,
    ) -> Result<(), Ended> {
        let starts = self.starting_points(partitions, heartbeat, shutdown).await?;
        tracing::info!(?starts, "took on");
        owned.fetchers.add(&starts);
        owned.committed.extend(starts);
        Ok(())
    }

    /// The starting offset of each of `partitions`, retried until known or the membership ends.
    async fn starting_points(
        &mut self,
        partitions: &[i32],
        heartbeat: &mut Heartbeat,
        shutdown: &CancellationToken,
    ) -> Result<BTreeMap<i32, i64>, Ended> {
        let mut backoff = Backoff::default();
        loop {
            let epoch = heartbeat.epoch();
            let attempt = tokio::select! {
                attempt = commits::starting_points(&mut self.coordinator, &self.data, &self.me, epoch, partitions) => attempt,
                verdict = heartbeat.verdict() => return Err(Ended::Over(verdict)),
                () = shutdown.cancelled() => return Err(Ended::Shutdown),
            };
            let error = match attempt {
                Ok(starts) => return Ok(starts),
                Err(error) if error.ends_generation() => return Err(Ended::Over(error)),
                Err(error) => error,
            };
            self.publish(|s| s.last_error = Some(error.to_string()));
            let pause = backoff.failed("looking up where to start again, with backoff", &error);
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                verdict = heartbeat.verdict() => return Err(Ended::Over(verdict)),
                () = shutdown.cancelled() => return Err(Ended::Shutdown),
            }
        }
    }

    /// Publishes what the member owns (and, while reconciling, its target) in `/status`.
    async fn report(&mut self, owned: &mut Owned, epoch: i32, target: Option<Vec<i32>>) {
        let partitions = owned.fetchers.partitions();
        let topic = self.data.topic().to_string();
        // While reconciling, nothing may wait for a metadata read: the partition count shown stays as it was.
        let topic_partitions = match target {
            Some(_) => self.status.borrow().topic_partitions.map(|p| p as i32),
            None => {
                let counts = tokio::time::timeout(METADATA_WAIT, self.data.partition_counts()).await;
                counts.ok().and_then(Result::ok).and_then(|c| c.get(&topic).copied())
            }
        };
        let idle = (partitions.is_empty() && target.is_none()).then(|| {
            let reason = idle_reason(&topic, &self.settings.group, topic_partitions, None);
            tracing::info!("{reason}");
            reason
        });
        let assignment = EpochAssignment {
            epoch,
            owned: &partitions,
            target,
            progress: &owned.fetchers.progress(),
            committed: &owned.committed,
            topic_partitions,
            idle_reason: idle,
        };
        report::epoch_assignment(&self.status, assignment);
        owned.reported = true;
    }
}
