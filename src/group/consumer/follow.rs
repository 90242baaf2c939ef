//! A membership's loop: take in what the heartbeat heard, reconcile when the target changed, commit every
//! `AUTO_COMMIT_INTERVAL_MS`, and refresh `/status`, until the coordinator ends the membership or the
//! consumer stops.
//!
//! The loop owns everything it changes (the fetch loops, the commits); the heartbeat task beside it only
//! reports. It looks at the heartbeat's *latest* news, not at a history, so however many answers came while
//! it was busy reconciling, it reconciles towards the newest target.

use std::time::Duration;

use tokio::time::{interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::heartbeat::{Heard, Heartbeat};
use super::link::Coordinator;
use super::{Ended, Member, Owned};
use crate::consume::DataPath;
use crate::group::backoff::Backoff;
use crate::group::error::GroupError;
use crate::group::report;
use crate::status::MemberState;

/// How often `/status` is refreshed with fetch progress.
const STATUS_REFRESH: Duration = Duration::from_millis(200);
/// How often a target naming a topic id not resolved yet is looked at again.
const RESOLVE_AGAIN: Duration = Duration::from_secs(2);

impl<C: Coordinator, D: DataPath> Member<C, D> {
    /// Follows the coordinator until the membership ends.
    pub(super) async fn follow(
        &mut self,
        owned: &mut Owned,
        heartbeat: &mut Heartbeat,
        shutdown: &CancellationToken,
    ) -> Ended {
        let mut auto_commit = ticker(self.settings.auto_commit_interval);
        let mut refresh = ticker(STATUS_REFRESH);
        let mut resolve_again = ticker(RESOLVE_AGAIN);
        // Commits are retried at the next interval; this only keeps the log to one warning per change.
        let mut commit_warnings = Backoff::default();
        let mut look = true;
        let mut resolved = true;
        loop {
            if look {
                let heard = heartbeat.heard();
                if let Some(verdict) = heard.verdict {
                    return Ended::Over(verdict);
                }
                self.take_in(&heard);
                if let Some(target) = &heard.assignment {
                    match self.reconcile(owned, target, heartbeat, shutdown).await {
                        // Something changed: there may be newer news already.
                        Ok(outcome) if outcome.changed => continue,
                        Ok(outcome) => resolved = outcome.resolved,
                        Err(ended) => return ended,
                    }
                }
                look = false;
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ended::Shutdown,
                () = heartbeat.changed() => look = true,
                _ = resolve_again.tick(), if !resolved => look = true,
                _ = auto_commit.tick() => {
                    if let Err(ended) = self.auto_commit(owned, heartbeat, shutdown, &mut commit_warnings).await {
                        return ended;
                    }
                    // The next commit comes one interval after this one ended, however long it took.
                    auto_commit.reset();
                }
                _ = refresh.tick() => self.publish_progress(owned),
            }
        }
    }

    /// The heartbeat's news that is not an assignment: the epoch, the member id a version-0 broker gave,
    /// and a passing trouble (shown in `/status`; the partitions are kept meanwhile).
    fn take_in(&mut self, heard: &Heard) {
        if !heard.member_id.is_empty() {
            self.me.member_id.clone_from(&heard.member_id);
        }
        let member_id = self.me.member_id.clone();
        self.status.send_if_modified(|s| {
            let before = s.clone();
            s.member_id = Some(member_id);
            if heard.epoch > 0 {
                s.epoch = Some(heard.epoch);
            }
            match &heard.trouble {
                Some(error) => {
                    if let GroupError::Rediscover { .. } = error {
                        s.state = MemberState::BrokerUnavailable;
                    }
                    s.last_error = Some(format!("{error} (retrying; owned partitions are kept)"));
                }
                None if s.state == MemberState::BrokerUnavailable => {
                    s.state = match (&s.target, s.epoch) {
                        (Some(_), _) => MemberState::Reconciling,
                        (None, Some(_)) => MemberState::Stable,
                        (None, None) => MemberState::Joining,
                    };
                    s.last_error = None;
                }
                None => {}
            }
            *s != before
        });
    }

    /// Commits what was read, in the current epoch. A verdict heard meanwhile ends the membership at once.
    async fn auto_commit(
        &mut self,
        owned: &mut Owned,
        heartbeat: &mut Heartbeat,
        shutdown: &CancellationToken,
        warnings: &mut Backoff,
    ) -> Result<(), Ended> {
        let offsets = owned.fetchers.committable();
        let epoch = heartbeat.epoch();
        let result = tokio::select! {
            result = self.commit(epoch, offsets, &mut owned.committed) => result,
            verdict = heartbeat.verdict() => return Err(Ended::Over(verdict)),
            () = shutdown.cancelled() => return Err(Ended::Shutdown),
        };
        match result {
            Ok(()) => {
                warnings.succeeded("OffsetCommit");
                Ok(())
            }
            // UNKNOWN_MEMBER_ID (or a fatal error): the membership is over.
            Err(error) if error.ends_generation() => Err(Ended::Over(error)),
            // STALE_MEMBER_EPOCH (the epoch moved on meanwhile), a coordinator that moved: next interval.
            Err(error) => {
                warnings.failed("committing again at the next interval", &error);
                self.publish(|s| s.last_error = Some(format!("{error} (retrying at the next interval)")));
                Ok(())
            }
        }
    }

    /// Refreshes positions, lag and committed offsets in `/status`.
    pub(super) fn publish_progress(&self, owned: &Owned) {
        let partitions = owned.fetchers.partitions();
        let progress = owned.fetchers.progress();
        let invalid = self.data.invalid_events();
        report::progress_changed(&self.status, &partitions, &progress, &owned.committed, invalid);
    }
}

/// An interval that waits after a late tick instead of bursting to catch up.
fn ticker(period: Duration) -> tokio::time::Interval {
    let mut ticker = interval(period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticker
}
