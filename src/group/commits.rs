//! Which offsets a commit sends: only the partitions whose offset moved since the member last committed, and
//! at the start of a generation the starting points the reset policy chose.
//!
//! Both members commit on a clock (`AUTO_COMMIT_INTERVAL_MS`), when they give partitions up and when they
//! stop, always what readers have had ([`crate::consume::Fetchers::committable`]). Committing an offset
//! that did not move would only cost the coordinator a write to `__consumer_offsets`, so an idle group
//! commits nothing.

use std::collections::BTreeMap;

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
