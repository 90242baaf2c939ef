//! What a group member tells the outside world: the `/status` snapshot it publishes.
//!
//! The member loop owns the real state; after each join, and every few hundred milliseconds while stable,
//! it publishes a fresh [`ConsumerStatus`] on a `tokio::sync::watch` channel. The HTTP side and the lab page
//! only ever read that snapshot: the classic member by generation, the consumer protocol's by member epoch.
//! Lag is `high watermark − position`: the events in Kafka this member has not read yet.

use std::collections::BTreeMap;

use tokio::sync::watch;

use super::client::Membership;
use super::leader::idle_reason;
use crate::consume::Progress;
use crate::status::{ConsumerStatus, MemberState, PartitionStatus};

/// A generation that just started, as this member sees it.
pub struct NewGeneration<'a> {
    pub membership: &'a Membership,
    pub partitions: &'a [i32],
    /// Where each owned partition starts.
    pub starts: &'a BTreeMap<i32, i64>,
    /// Partitions per topic, when they could be read.
    pub partition_counts: Option<BTreeMap<String, i32>>,
}

/// Publishes the membership of a new generation: stable, with the owned partitions at their start offsets.
/// A member that owns nothing says why, in the log and in `/status` (the seed's troubleshooting case).
pub fn generation_started(
    status: &watch::Sender<ConsumerStatus>,
    topic: &str,
    group: &str,
    generation: NewGeneration<'_>,
) {
    let NewGeneration {
        membership,
        partitions,
        starts,
        partition_counts,
    } = generation;
    let topic_partitions = partition_counts.and_then(|c| c.get(topic).copied());
    let members = membership.is_leader().then_some(membership.members.len());
    let idle_reason = partitions.is_empty().then(|| {
        let reason = idle_reason(topic, group, topic_partitions, members);
        tracing::warn!("{reason}");
        reason
    });
    let partitions = partitions
        .iter()
        .map(|&p| {
            let start = starts.get(&p).copied();
            let progress = start.map(|position| Progress {
                position,
                high_watermark: None,
                error: None,
            });
            partition_status(p, start, progress.as_ref())
        })
        .collect();
    status.send_modify(|s| {
        s.state = MemberState::Stable;
        s.member_id = Some(membership.member_id.clone());
        s.generation = Some(membership.generation);
        s.leader = membership.is_leader();
        s.assignor = Some(membership.assignor.clone());
        s.members = members;
        s.topic_partitions = topic_partitions.map(|p| p as usize);
        s.partitions = partitions;
        s.idle_reason = idle_reason;
        s.last_error = None;
        s.rebalances += 1;
    });
}

/// Publishes that the member gives its partitions back, in `state` (rebalancing, or stopping). Unless it is
/// stopping (its final commit, for these partitions, is still to come), `/status` stops listing them at once:
/// a member that rebalances, joins or cannot reach the broker owns nothing, and old partitions shown with
/// lag 0 would say it still reads them.
pub fn revoking(status: &watch::Sender<ConsumerStatus>, state: MemberState) {
    status.send_modify(|s| {
        s.state = state;
        if state != MemberState::Stopping {
            s.partitions.clear();
            s.idle_reason = None;
        }
    });
}

/// Publishes fetch progress (positions, high watermarks, commits), waking readers only when it changed. A
/// partition that cannot be read also becomes the member's `last_error`.
pub fn progress_changed(
    status: &watch::Sender<ConsumerStatus>,
    partitions: &[i32],
    progress: &BTreeMap<i32, Progress>,
    committed: &BTreeMap<i32, i64>,
    invalid_events: u64,
) {
    let statuses: Vec<PartitionStatus> = partitions
        .iter()
        .map(|&p| partition_status(p, committed.get(&p).copied(), progress.get(&p)))
        .collect();
    let partition_error = statuses.iter().find_map(|p| p.error.clone());
    status.send_if_modified(|s| {
        let changed = s.partitions != statuses || s.invalid_events != invalid_events;
        s.partitions = statuses;
        s.invalid_events = invalid_events;
        if partition_error.is_some() {
            s.last_error = partition_error;
        }
        changed
    });
}

/// Consumer protocol (KIP-848): what the member owns in which epoch, and its target while it reconciles.
pub struct EpochAssignment<'a> {
    pub epoch: i32,
    pub owned: &'a [i32],
    /// `Some` while the member is still giving up or taking on partitions to reach it.
    pub target: Option<Vec<i32>>,
    pub progress: &'a BTreeMap<i32, Progress>,
    pub committed: &'a BTreeMap<i32, i64>,
    /// The topic's partition count, when known.
    pub topic_partitions: Option<i32>,
    /// Why the member owns nothing, when it owns nothing and is not about to own something.
    pub idle_reason: Option<String>,
}

/// Publishes a consumer-protocol member's assignment: `stable`, or `reconciling` with its target. Counts a
/// rebalance whenever the owned partitions changed.
pub fn epoch_assignment(status: &watch::Sender<ConsumerStatus>, assignment: EpochAssignment<'_>) {
    let partitions: Vec<PartitionStatus> = assignment
        .owned
        .iter()
        .map(|&p| partition_status(p, assignment.committed.get(&p).copied(), assignment.progress.get(&p)))
        .collect();
    status.send_modify(|s| {
        let before: Vec<i32> = s.partitions.iter().map(|p| p.partition).collect();
        if before != assignment.owned {
            s.rebalances += 1;
        }
        s.state = match assignment.target {
            Some(_) => MemberState::Reconciling,
            None => MemberState::Stable,
        };
        s.epoch = Some(assignment.epoch);
        s.partitions = partitions;
        s.target = assignment.target;
        s.topic_partitions = assignment.topic_partitions.map(|p| p as usize);
        s.idle_reason = assignment.idle_reason;
        if s.target.is_none() {
            s.last_error = None;
        }
    });
}

fn partition_status(partition: i32, committed: Option<i64>, progress: Option<&Progress>) -> PartitionStatus {
    let position = progress.map(|p| p.position);
    let high_watermark = progress.and_then(|p| p.high_watermark);
    let lag = position.zip(high_watermark).map(|(pos, hw)| (hw - pos).max(0));
    PartitionStatus {
        partition,
        committed,
        position,
        high_watermark,
        lag,
        error: progress.and_then(|p| p.error.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(position: i64, high_watermark: i64, error: Option<&str>) -> Progress {
        Progress {
            position,
            high_watermark: Some(high_watermark),
            error: error.map(str::to_string),
        }
    }

    #[test]
    fn a_partition_that_cannot_be_read_is_named_in_status() {
        let (status, _reader) = watch::channel(ConsumerStatus::default());
        let problem = "topic t, partition 1, offset 3: the record batch there is compressed with lz4, ...";
        let progress = BTreeMap::from([(0, progress(11, 11, None)), (1, progress(3, 9, Some(problem)))]);
        let committed = BTreeMap::from([(0, 11), (1, 3)]);
        progress_changed(&status, &[0, 1], &progress, &committed, 0);
        let snapshot = status.borrow();
        assert_eq!(snapshot.partitions[0].lag, Some(0));
        assert_eq!(snapshot.partitions[0].error, None);
        assert_eq!(snapshot.partitions[1].lag, Some(6));
        assert_eq!(snapshot.partitions[1].error.as_deref(), Some(problem));
        assert_eq!(snapshot.last_error.as_deref(), Some(problem));
    }

    #[test]
    fn readable_partitions_leave_last_error_alone() {
        let (status, _reader) = watch::channel(ConsumerStatus::default());
        status.send_modify(|s| s.last_error = Some("coordinator unreachable".into()));
        let progress = BTreeMap::from([(0, progress(5, 5, None))]);
        progress_changed(&status, &[0], &progress, &BTreeMap::new(), 0);
        assert_eq!(status.borrow().last_error.as_deref(), Some("coordinator unreachable"));
    }
}
