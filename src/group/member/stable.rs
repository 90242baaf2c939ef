//! The stable phase of a generation: the member owns its partitions and, until the generation ends, fetches
//! them and commits. Then it gives them back (**revoke**): every fetch loop is stopped *before* the final
//! commit, so a member never reads or commits a partition it no longer owns.
//!
//! Clocks run side by side here: the **auto-commit** (every `AUTO_COMMIT_INTERVAL_MS`), a `/status`
//! refresh, and, for the leader, a check of the subscribed topics' partition counts. The **heartbeat** has
//! its own task (see [`crate::group::heartbeat`]); this loop only listens to its news: a verdict ends the
//! generation, a coordinator unreachable for a session timeout only shows as `broker_unavailable` in
//! `/status` (until a heartbeat is answered again) while fetching and commits go on.
//!
//! Every commit takes its offsets from [`Fetchers::committable`]: what readers have had, not what was
//! fetched ("committed = processed", see [`crate::store`]).
//!
//! A commit that fails for a passing reason (the coordinator moved, did not answer in time) is simply tried
//! again at the next interval with the offsets readers have had by then: nothing is lost, as those only
//! grow, and the generation goes on. Only the coordinator's verdict ends it.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::ResponseError;
use tokio::sync::watch;
use tokio::time::{interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::{Ended, Generation, Member, METADATA_WAIT, SHUTDOWN_STEP_TIMEOUT};
use crate::consume::{DataPath, Fetchers};
use crate::group::backoff::Backoff;
use crate::group::error::GroupError;
use crate::group::heartbeat::{Health, Heartbeat};
use crate::group::leader::partition_change;
use crate::group::link::Coordinator;
use crate::group::report::{self, NewGeneration};
use crate::status::{ConsumerStatus, MemberState};

/// How often `/status` is refreshed with fetch progress while stable.
const STATUS_REFRESH: Duration = Duration::from_millis(200);
/// How often the leader checks whether the subscribed topics' partition counts changed.
const METADATA_CHECK: Duration = Duration::from_secs(3);

/// What the member owns while stable.
struct Owned {
    generation: i32,
    partitions: Vec<i32>,
    fetchers: Fetchers,
    /// The offset last committed for each partition.
    committed: BTreeMap<i32, i64>,
    /// The leader's watched partition counts; `None` for a follower.
    watched: Option<BTreeMap<String, i32>>,
}

impl<C: Coordinator, D: DataPath> Member<C, D> {
    /// A generation from its start to its end: starting points, stable phase, revoke.
    pub(super) async fn run_generation(&mut self, generation: Generation, shutdown: &CancellationToken) -> Ended {
        let Generation {
            membership,
            partitions,
            mut heartbeat,
            partition_counts,
            watched,
        } = generation;
        let gen_id = membership.generation;
        let starts = match self
            .starting_points(gen_id, &partitions, &mut heartbeat, shutdown)
            .await
        {
            Ok(starts) => starts,
            Err(ended) => return said(gen_id, ended),
        };
        let started = NewGeneration {
            membership: &membership,
            partitions: &partitions,
            starts: &starts,
            partition_counts,
        };
        report::generation_started(&self.status, self.data.topic(), &self.settings.group, started);
        let mut owned = Owned {
            generation: gen_id,
            partitions,
            fetchers: self.data.start_fetching(&starts),
            committed: starts,
            watched,
        };
        let ended = said(gen_id, self.stable(&mut owned, &mut heartbeat, shutdown).await);
        // The heartbeat goes on until the partitions are given back: the revoke's commit must not cost
        // the member its place in the group.
        self.revoke(owned, &ended).await;
        ended
    }

    /// Commit every interval, refresh `/status`, and wait for the generation to end.
    async fn stable(&mut self, owned: &mut Owned, heartbeat: &mut Heartbeat, shutdown: &CancellationToken) -> Ended {
        let mut auto_commit = ticker(self.settings.auto_commit_interval);
        let mut refresh = ticker(STATUS_REFRESH);
        let mut metadata_check = ticker(METADATA_CHECK);
        // Commits are retried at the next interval; this only keeps the log to one warning per change.
        let mut commit_warnings = Backoff::default();
        // The heartbeat's news is shown in `/status` at once, even while a commit waits.
        let status = self.status.clone();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return Ended::Shutdown,
                news = heartbeat.news() => if let Some(verdict) = show(&status, news) {
                    return Ended::Over(verdict);
                },
                _ = auto_commit.tick() => {
                    // A verdict that arrives meanwhile ends the generation at once; the revoke then commits
                    // these offsets and more (the link drops the connection of the abandoned commit).
                    let result = {
                        let offsets = owned.fetchers.committable();
                        let commit = self.commit(owned.generation, offsets, &mut owned.committed);
                        tokio::pin!(commit);
                        loop {
                            tokio::select! {
                                result = &mut commit => break result,
                                news = heartbeat.news() => if let Some(verdict) = show(&status, news) {
                                    return Ended::Over(verdict);
                                },
                                () = shutdown.cancelled() => return Ended::Shutdown,
                            }
                        }
                    };
                    // The next commit comes one interval after this one ended, however long it took.
                    auto_commit.reset();
                    // While the coordinator is unreachable, `/status` keeps saying so rather than which
                    // commit failed.
                    let reachable = heartbeat.reachable();
                    if let Err(error) = result {
                        if error.ends_generation() {
                            return Ended::Over(error);
                        }
                        commit_warnings.failed("committing again at the next interval", &error);
                        if reachable {
                            self.publish(|s| s.last_error = Some(format!("{error} (retrying at the next interval)")));
                        }
                    } else {
                        commit_warnings.succeeded("OffsetCommit");
                        if reachable {
                            self.status.send_if_modified(|s| s.last_error.take().is_some());
                        }
                    }
                }
                _ = refresh.tick() => self.publish_progress(owned),
                _ = metadata_check.tick(), if owned.watched.is_some() => {
                    if self.partitions_changed(owned.watched.as_ref()).await {
                        return Ended::Reassign;
                    }
                }
            }
        }
    }

    /// Gives back this generation's partitions: every fetch loop is stopped before the final commit, which
    /// is made when the coordinator will still accept it.
    async fn revoke(&mut self, owned: Owned, ended: &Ended) {
        let Owned {
            generation,
            fetchers,
            mut committed,
            ..
        } = owned;
        let state = match ended {
            Ended::Shutdown => MemberState::Stopping,
            Ended::Over(_) | Ended::Reassign => MemberState::Rebalancing,
        };
        // Unless it stops, the member owns nothing from here on: `/status` stops listing the partitions.
        report::revoking(&self.status, state);
        let last = fetchers.stop().await;
        if may_commit_after(ended) {
            // Shutdown must be quick; a rebalance may take longer (the coordinator waits for us).
            let wait = match ended {
                Ended::Shutdown => SHUTDOWN_STEP_TIMEOUT,
                _ => self.settings.session_timeout,
            };
            match tokio::time::timeout(wait, self.commit(generation, last, &mut committed)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("final commit of generation {generation} failed: {e}"),
                Err(_) => tracing::warn!("final commit of generation {generation}: no answer within {wait:?}"),
            }
        }
        tracing::info!("partitions revoked");
    }

    /// Commits every offset in `offsets` (from [`Fetchers::committable`]) that moved since the last commit.
    async fn commit(
        &mut self,
        generation: i32,
        offsets: BTreeMap<i32, i64>,
        committed: &mut BTreeMap<i32, i64>,
    ) -> Result<(), GroupError> {
        let moved = crate::group::commits::moved_since(committed, offsets);
        if moved.is_empty() {
            return Ok(());
        }
        let topic = self.data.topic();
        self.coordinator.commit(&self.me, generation, topic, &moved).await?;
        tracing::debug!(?moved, "committed");
        committed.extend(moved);
        Ok(())
    }

    /// The leader's check: whether a subscribed topic gained (or lost) partitions, so that the group must
    /// be assigned again.
    async fn partitions_changed(&self, watched: Option<&BTreeMap<String, i32>>) -> bool {
        let (Some(watched), Ok(Ok(now))) = (
            watched,
            tokio::time::timeout(METADATA_WAIT, self.data.partition_counts()).await,
        ) else {
            return false;
        };
        let Some(change) = partition_change(watched, &now) else {
            return false;
        };
        tracing::info!("{change}: leaving and joining again, so that the group is assigned again");
        true
    }

    /// Refreshes positions, lag and committed offsets in `/status`.
    fn publish_progress(&self, owned: &Owned) {
        let progress = owned.fetchers.progress();
        let invalid = self.data.invalid_events();
        report::progress_changed(&self.status, &owned.partitions, &progress, &owned.committed, invalid);
    }
}

/// Shows the heartbeat's news in `/status`: a coordinator unreachable for a session timeout as
/// `broker_unavailable` (with why), one that answers again as `stable`. Returns a verdict for the caller to
/// act on.
fn show(status: &watch::Sender<ConsumerStatus>, news: Health) -> Option<GroupError> {
    match news {
        Health::Over(verdict) => return Some(verdict),
        Health::Unreachable(error) => status.send_modify(|s| {
            s.state = MemberState::BrokerUnavailable;
            s.last_error = Some(error.to_string());
        }),
        Health::Healthy => status.send_modify(|s| {
            s.state = MemberState::Stable;
            s.last_error = None;
        }),
    }
    None
}

/// Logs why a generation ended (a rebalance is routine: info; a fatal error is not: warn).
fn said(generation: i32, ended: Ended) -> Ended {
    match &ended {
        Ended::Over(error @ (GroupError::Rejoin { .. } | GroupError::RejoinFresh { .. })) => {
            tracing::info!("generation {generation} is over: {error}");
        }
        Ended::Over(error) => tracing::warn!("generation {generation} is over: {error}"),
        Ended::Shutdown | Ended::Reassign => {}
    }
    ended
}

/// Whether the coordinator still accepts this generation's commits after it ended this way: not after it
/// said the member or generation is unknown, not after a fatal error.
fn may_commit_after(ended: &Ended) -> bool {
    match ended {
        Ended::Shutdown | Ended::Reassign => true,
        Ended::Over(GroupError::Rejoin { error, .. }) => *error == ResponseError::RebalanceInProgress,
        Ended::Over(_) => false,
    }
}

/// An interval that waits after a late tick instead of bursting to catch up.
fn ticker(period: Duration) -> tokio::time::Interval {
    let mut ticker = interval(period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticker
}
