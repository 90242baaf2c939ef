//! The stable phase of a generation: the member owns its partitions and, until a rebalance or shutdown,
//! fetches them, heartbeats and commits. Then it gives them back (**revoke**): every fetch loop is stopped
//! *before* the final commit, so a member never reads or commits a partition it no longer owns.
//!
//! Three clocks run side by side: the **heartbeat** (every `HEARTBEAT_INTERVAL_MS`; its answer is how a
//! member learns that the group is rebalancing), the **auto-commit** (every `AUTO_COMMIT_INTERVAL_MS`), and,
//! for the leader, a check of the subscribed topics' partition counts.
//!
//! Every commit takes its offsets from [`Fetchers::committable`]: what readers have had, not what was
//! fetched ("committed = processed", see [`crate::store`]).

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::{interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::{Ended, Generation, Member, SHUTDOWN_STEP_TIMEOUT};
use crate::consume::{Fetchers, Progress};
use crate::group::error::GroupError;
use crate::group::leader::partition_change;
use crate::group::report;
use crate::status::MemberState;

/// How often `/status` is refreshed with fetch progress while stable.
const STATUS_REFRESH: Duration = Duration::from_millis(200);
/// How often the leader checks whether the subscribed topics' partition counts changed, and how long
/// it waits for that Metadata answer (the heartbeat waits meanwhile).
const METADATA_CHECK: Duration = Duration::from_secs(3);
const METADATA_WAIT: Duration = Duration::from_secs(1);

impl Member {
    /// The stable phase: fetch, heartbeat and commit until a rebalance or shutdown; then give the
    /// partitions back (stop fetching, commit).
    pub(super) async fn consume_generation(&mut self, generation: Generation, shutdown: &CancellationToken) -> Ended {
        let fetchers = Fetchers::start(&self.fetch, &generation.starts);
        let mut committed = generation.starts.clone();
        let mut heartbeat = ticker(self.settings.heartbeat_interval);
        let mut auto_commit = ticker(self.settings.auto_commit_interval);
        let mut refresh = ticker(STATUS_REFRESH);
        let mut metadata_check = ticker(METADATA_CHECK);
        let gen_id = generation.membership.generation;
        let ended = loop {
            tokio::select! {
                () = shutdown.cancelled() => break Ended::Shutdown,
                _ = heartbeat.tick() => {
                    let outcome = unless_shutdown(self.heartbeat(gen_id), shutdown).await;
                    if let Some(ended) = self.ended_by(outcome) {
                        break ended;
                    }
                }
                _ = auto_commit.tick() => {
                    let offsets = fetchers.committable();
                    let outcome = unless_shutdown(self.commit(gen_id, offsets, &mut committed), shutdown).await;
                    if let Some(ended) = self.ended_by(outcome) {
                        break ended;
                    }
                }
                _ = refresh.tick() => self.publish_progress(&generation.partitions, &fetchers.progress(), &committed),
                _ = metadata_check.tick(), if generation.watched.is_some() => {
                    if let Some(ended) = self.check_partitions(generation.watched.as_ref()).await {
                        break ended;
                    }
                }
            }
        };
        self.revoke(gen_id, fetchers, &mut committed, &ended).await;
        ended
    }

    /// Gives back this generation's partitions: every fetch loop is stopped before the final commit.
    async fn revoke(&mut self, gen_id: i32, fetchers: Fetchers, committed: &mut BTreeMap<i32, i64>, ended: &Ended) {
        let state = match ended {
            Ended::Shutdown => MemberState::Stopping,
            Ended::Rejoin(_) | Ended::Reassign => MemberState::Rebalancing,
        };
        report::revoking(&self.status, state);
        let last = fetchers.stop().await;
        let revoked: Vec<i32> = last.keys().copied().collect();
        let generation_still_valid = !matches!(
            ended,
            Ended::Rejoin(GroupError::RejoinFresh { .. } | GroupError::Rediscover { .. })
        );
        if generation_still_valid {
            let commit = self.commit(gen_id, last, committed);
            match tokio::time::timeout(SHUTDOWN_STEP_TIMEOUT, commit).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("final commit of generation {gen_id} failed: {e}"),
                Err(_) => {
                    self.coordinator.forget();
                    tracing::warn!("final commit of generation {gen_id}: no answer within {SHUTDOWN_STEP_TIMEOUT:?}");
                }
            }
        }
        tracing::info!(partitions = ?revoked, "partitions revoked");
    }

    /// The leader's check: a subscribed topic gained (or lost) partitions, so rejoin to have the group
    /// assigned again.
    async fn check_partitions(&self, watched: Option<&BTreeMap<String, i32>>) -> Option<Ended> {
        let check = partition_change(&self.fetch.client, watched?);
        let change = tokio::time::timeout(METADATA_WAIT, check).await.ok()??;
        tracing::info!("{change}: leaving and joining again, so that the group is assigned again");
        Some(Ended::Reassign)
    }

    /// Whether a stable-phase request ends the generation: its error does, and so does shutdown cutting it
    /// off (the connection is then mid-request and cannot be reused).
    fn ended_by(&mut self, outcome: Option<Result<(), GroupError>>) -> Option<Ended> {
        match outcome {
            Some(Ok(())) => None,
            Some(Err(error)) => Some(Ended::Rejoin(error)),
            None => {
                self.coordinator.forget();
                Some(Ended::Shutdown)
            }
        }
    }

    /// Heartbeat, waiting at most a session timeout for the answer. As in the Java client, a member that got
    /// no answer for that long treats the coordinator as lost (it has most likely been expired from the group
    /// by now anyway) and finds it again.
    async fn heartbeat(&mut self, generation: i32) -> Result<(), GroupError> {
        let member_id = self.member_id.clone();
        let timeout = self.settings.session_timeout;
        self.coordinator
            .get()
            .await?
            .heartbeat(generation, &member_id, timeout)
            .await
    }

    /// Commits every offset in `offsets` (from [`Fetchers::committable`]) that moved since the last commit.
    async fn commit(
        &mut self,
        generation: i32,
        offsets: BTreeMap<i32, i64>,
        committed: &mut BTreeMap<i32, i64>,
    ) -> Result<(), GroupError> {
        let moved: BTreeMap<i32, i64> = offsets
            .into_iter()
            .filter(|(p, offset)| committed.get(p) != Some(offset))
            .collect();
        if moved.is_empty() {
            return Ok(());
        }
        self.commit_offsets(generation, &moved).await?;
        tracing::debug!(?moved, "committed");
        committed.extend(moved);
        Ok(())
    }

    /// Refreshes positions, lag and committed offsets in `/status`.
    fn publish_progress(&self, partitions: &[i32], progress: &BTreeMap<i32, Progress>, committed: &BTreeMap<i32, i64>) {
        let invalid = self.fetch.invalid_events.load(std::sync::atomic::Ordering::Relaxed);
        report::progress_changed(&self.status, partitions, progress, committed, invalid);
    }
}

/// An interval that waits after a late tick instead of bursting to catch up.
fn ticker(period: Duration) -> tokio::time::Interval {
    let mut ticker = interval(period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticker
}

/// Awaits `request` unless shutdown comes first (`None`): a stopping member does not wait on a broker
/// that stopped answering.
async fn unless_shutdown<T>(request: impl std::future::Future<Output = T>, shutdown: &CancellationToken) -> Option<T> {
    tokio::select! {
        outcome = request => Some(outcome),
        () = shutdown.cancelled() => None,
    }
}
