//! Committed offsets, the part both group protocols share: OffsetFetch and OffsetCommit are the same requests
//! under the classic protocol and the consumer protocol (KIP-848), so both members use this module for them.
//!
//! - **Where a partition starts** ([`starting_points`]): at the group's committed offset; where the group
//!   never committed one, the reset policy (`AUTO_OFFSET_RESET`) chooses, and that choice is committed at once.
//! - **Which offsets a commit sends** ([`moved_since`]): only the partitions whose offset moved since the
//!   member last committed. Both members commit on a clock (`AUTO_COMMIT_INTERVAL_MS`), when they give
//!   partitions up and when they stop, always what readers have had
//!   ([`crate::consume::Fetchers::committable`]). Committing an offset that did not move would only cost the
//!   coordinator a write to `__consumer_offsets`, so an idle group commits nothing.

use std::collections::BTreeMap;
use std::future::Future;

use super::client::Identity;
use super::error::GroupError;
use crate::consume::DataPath;

/// OffsetCommit and OffsetFetch, as both members' coordinators answer them: the real
/// [`super::link::CoordinatorLink`], and each member's scripted coordinator in its unit tests.
pub trait OffsetRequests: Send {
    /// OffsetCommit of `offsets` (partition → next offset to read) of `topic`, in `generation` (under the
    /// consumer protocol the same field carries the member epoch).
    fn commit(
        &mut self,
        me: &Identity,
        generation: i32,
        topic: &str,
        offsets: &BTreeMap<i32, i64>,
    ) -> impl Future<Output = Result<(), GroupError>> + Send;

    /// OffsetFetch: the group's committed offset of each partition (`None`: never committed).
    fn fetch_offsets(
        &mut self,
        topic: &str,
        partitions: &[i32],
    ) -> impl Future<Output = Result<BTreeMap<i32, Option<i64>>, GroupError>> + Send;
}

/// Where each of `partitions` starts reading: OffsetFetch, then the reset policy where nothing was committed,
/// then a commit of those choices ([`chosen_by_reset`] says why) before anything is read. One attempt: the
/// members retry it with backoff within their generation.
pub async fn starting_points<D: DataPath + Sync>(
    coordinator: &mut impl OffsetRequests,
    data: &D,
    me: &Identity,
    generation: i32,
    partitions: &[i32],
) -> Result<BTreeMap<i32, i64>, GroupError> {
    let topic = data.topic();
    let mut committed = coordinator.fetch_offsets(topic, partitions).await?;
    for &partition in partitions {
        committed.entry(partition).or_insert(None);
    }
    let starts = data.starting_offsets(&committed).await?;
    let decided = chosen_by_reset(&starts, &committed);
    if !decided.is_empty() {
        coordinator.commit(me, generation, topic, &decided).await?;
    }
    Ok(starts)
}

/// The offsets of `offsets` that differ from what `committed` says was last committed.
pub fn moved_since(committed: &BTreeMap<i32, i64>, offsets: BTreeMap<i32, i64>) -> BTreeMap<i32, i64> {
    offsets
        .into_iter()
        .filter(|(partition, offset)| committed.get(partition) != Some(offset))
        .collect()
}

/// The starting offsets the reset policy (`AUTO_OFFSET_RESET`) chose: those of `starts` whose partition has no
/// committed offset in `committed` (OffsetFetch's answer, `None` where the group never committed). Both members
/// commit them before reading anything, so that a member dying right after does not make the next owner
/// resolve "latest" again, later, and skip the events produced in between.
pub fn chosen_by_reset(starts: &BTreeMap<i32, i64>, committed: &BTreeMap<i32, Option<i64>>) -> BTreeMap<i32, i64> {
    starts
        .iter()
        .filter(|(partition, _)| committed.get(partition).is_none_or(Option::is_none))
        .map(|(&partition, &offset)| (partition, offset))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_offsets_that_moved_are_sent() {
        let committed = BTreeMap::from([(0, 5), (1, 7)]);
        let offsets = BTreeMap::from([(0, 5), (1, 9), (2, 0)]);
        assert_eq!(moved_since(&committed, offsets), BTreeMap::from([(1, 9), (2, 0)]));
    }

    #[test]
    fn the_reset_policy_chose_where_nothing_was_committed() {
        let starts = BTreeMap::from([(0, 5), (1, 0), (2, 42)]);
        let committed = BTreeMap::from([(0, Some(5)), (1, None)]);
        assert_eq!(chosen_by_reset(&starts, &committed), BTreeMap::from([(1, 0), (2, 42)]));
    }
}
