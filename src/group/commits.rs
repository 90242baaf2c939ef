//! Which offsets a commit sends: only the partitions whose offset moved since the member last committed.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_offsets_that_moved_are_sent() {
        let committed = BTreeMap::from([(0, 5), (1, 7)]);
        let offsets = BTreeMap::from([(0, 5), (1, 9), (2, 0)]);
        assert_eq!(moved_since(&committed, offsets), BTreeMap::from([(1, 9), (2, 0)]));
    }
}
