//! The rebalance history: what no Kafka UI shows.
//!
//! Kafka's tools show a group as it is *now*. A **rebalance** is a moment: members come or go, the
//! partitions are dealt again, and for a while some partitions are read by nobody. The producer keeps a
//! short history of them by comparing successive views of the cluster ([`History::observe`]):
//!
//! - A group is **settled** when its coordinator says `Stable` (or `Empty`). Each time a group settles with
//!   other owners, other members or another epoch than it last settled with, or after some partition went
//!   unowned in between, one [`Rebalance`] is recorded: when, who owned what before and after, who joined
//!   and who left.
//! - For each partition that moved (or paused in place), **how long it went unread**. The views are a
//!   fraction of a second apart, so the pause is known between two bounds: at most the time from the last
//!   view it was owned in to the first view it is owned again in, at least the span of the views in which
//!   nobody owned it. In a classic group nobody reads during a rebalance (members give up every partition
//!   to rejoin: eager rebalancing), so even partitions that stay with their member pause; KIP-848 moves
//!   only the partitions that change owner.
//!
//! The history is bounded ([`MAX_ENTRIES`]); views in which the cluster could not be read are skipped, and
//! so are groups whose owners nobody reported (a broker that keeps classic assignments to itself, when no
//! kafka-lab consumer of the group was asked).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::Serialize;

use super::view::{ClusterView, Group, Protocol};

/// How many rebalances are kept (the oldest go first).
pub const MAX_ENTRIES: usize = 100;
/// A group missing from the views this long is forgotten (it may only have been unreachable for a moment).
const FORGET_AFTER_MS: u64 = 60_000;

/// One rebalance of one group, as the views saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rebalance {
    /// Counts up from 1, so a reader can ask only for what is new.
    pub seq: u64,
    pub group: String,
    pub protocol: Protocol,
    /// When the group was seen settled again (`HH:MM:SS:mmm`, and in ms since the Unix epoch).
    pub at: String,
    pub at_ms: u64,
    /// The last time the group was seen settled as before (`None` for a group that formed while watched).
    pub before_ms: Option<u64>,
    pub generation_before: Option<i32>,
    pub generation_after: Option<i32>,
    /// Who owned what before and after (members that own nothing are listed too).
    pub before: Vec<Owner>,
    pub after: Vec<Owner>,
    pub joined: Vec<String>,
    pub left: Vec<String>,
    /// Every partition that changed owner or went unread.
    pub partitions: Vec<Pause>,
}

/// A member and its partitions of the topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owner {
    pub member_id: String,
    pub client_id: String,
    pub host: String,
    /// The kafka-lab consumer it was, if one said so (so the page can name a member that is gone).
    pub kafka_lab: Option<String>,
    pub partitions: Vec<i32>,
}

/// How one partition fared across a rebalance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pause {
    pub partition: i32,
    /// Owner before and after (member ids); the same for a partition that paused and stayed.
    pub from: Option<String>,
    pub to: Option<String>,
    /// At most this long unread (`None`: nobody reads it now, or it was never seen read).
    pub unread_ms: Option<u64>,
    /// At least this long unread.
    pub unread_at_least_ms: u64,
    /// Nobody owns it after the rebalance.
    pub still_unread: bool,
    /// The group's lag on it when it was picked up again: the events that waited.
    pub backlog: Option<i64>,
}

/// A group as it last settled.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Settled {
    generation: Option<i32>,
    owners: BTreeMap<i32, String>,
    /// Member id → (client id, host, kafka-lab consumer).
    members: BTreeMap<String, (String, String, Option<String>)>,
}

/// What the history remembers of one group between views.
#[derive(Debug, Default)]
struct Track {
    settled: Option<Settled>,
    /// The last view in which the group was seen as `settled`.
    settled_seen_ms: u64,
    /// An unsettled view was seen since.
    unsettled: bool,
    /// Partition → the last view in which someone owned it.
    last_owned: BTreeMap<i32, u64>,
    /// Partition → the first and last view in which nobody owned it, since it was last owned.
    unowned: BTreeMap<i32, (u64, u64)>,
    /// The group appeared while the history was watching (so its forming is worth recording).
    appeared: bool,
    last_seen_ms: u64,
}

/// The rebalances of the groups of one topic.
#[derive(Debug, Default)]
pub struct History {
    tracks: BTreeMap<String, Track>,
    entries: VecDeque<Rebalance>,
    next_seq: u64,
    views: u64,
}

impl History {
    /// The rebalances seen, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &Rebalance> {
        self.entries.iter()
    }

    /// The groups the history follows: to be described even when caught without assignments.
    pub fn groups(&self) -> BTreeSet<String> {
        self.tracks.keys().cloned().collect()
    }

    /// Compares a new view with what came before and records the rebalances it reveals.
    pub fn observe(&mut self, view: &ClusterView) {
        if view.error.is_some() || view.topic_exists != Some(true) {
            return;
        }
        let first = self.views == 0;
        self.views += 1;
        let now = view.observed_at_ms;
        let partitions: Vec<i32> = view.partitions.iter().map(|p| p.partition).collect();
        // A group whose owners nobody reported tells nothing about who reads what: skipped, not "nobody".
        for group in view.groups.iter().filter(|g| g.assignments_known()) {
            let track = self.tracks.entry(group.group.clone()).or_insert_with(|| Track {
                appeared: !first,
                ..Track::default()
            });
            track.last_seen_ms = now;
            if let Some(entry) = track.observe(group, now, &view.observed_at, &partitions) {
                self.next_seq += 1;
                self.entries.push_back(Rebalance {
                    seq: self.next_seq,
                    ..entry
                });
                if self.entries.len() > MAX_ENTRIES {
                    self.entries.pop_front();
                }
            }
        }
        self.tracks
            .retain(|_, track| now.saturating_sub(track.last_seen_ms) < FORGET_AFTER_MS);
    }
}

impl Track {
    /// Takes in one view of the group; returns the rebalance it completes, if any.
    fn observe(&mut self, group: &Group, now: u64, at: &str, partitions: &[i32]) -> Option<Rebalance> {
        let current = Settled {
            generation: group.generation,
            owners: group.owners().map(|(p, m)| (p, m.to_string())).collect(),
            members: group
                .members
                .iter()
                .map(|m| {
                    let about = (m.client_id.clone(), m.host.clone(), m.kafka_lab.clone());
                    (m.member_id.clone(), about)
                })
                .collect(),
        };
        let mut entry = None;
        if group.is_settled() {
            entry = self.settle(group, &current, now, at);
            self.settled = Some(current.clone());
            self.settled_seen_ms = now;
            self.unsettled = false;
        } else {
            self.unsettled = true;
        }
        for &partition in partitions {
            if current.owners.contains_key(&partition) {
                self.last_owned.insert(partition, now);
                self.unowned.remove(&partition);
            } else {
                self.unowned.entry(partition).or_insert((now, now)).1 = now;
            }
        }
        entry
    }

    /// The rebalance that ends with `current`, if it differs from how the group last settled.
    fn settle(&self, group: &Group, current: &Settled, now: u64, at: &str) -> Option<Rebalance> {
        let before = match &self.settled {
            Some(before) => before,
            None if self.appeared => &Settled {
                generation: None,
                owners: BTreeMap::new(),
                members: BTreeMap::new(),
            },
            None => return None,
        };
        let pauses = self.pauses(group, before, current, now);
        if before == current && pauses.is_empty() {
            return None;
        }
        let joined = current.members.keys().filter(|m| !before.members.contains_key(*m));
        let left = before.members.keys().filter(|m| !current.members.contains_key(*m));
        Some(Rebalance {
            seq: 0,
            group: group.group.clone(),
            protocol: group.protocol,
            at: at.to_string(),
            at_ms: now,
            before_ms: self.settled.as_ref().map(|_| self.settled_seen_ms),
            generation_before: before.generation,
            generation_after: current.generation,
            before: owners(before),
            after: owners(current),
            joined: joined.cloned().collect(),
            left: left.cloned().collect(),
            partitions: pauses,
        })
    }

    /// Every partition that changed owner, or was seen unowned, between `before` and `current`.
    fn pauses(&self, group: &Group, before: &Settled, current: &Settled, now: u64) -> Vec<Pause> {
        let mut touched: BTreeSet<i32> = before.owners.keys().chain(current.owners.keys()).copied().collect();
        touched.extend(self.unowned.keys());
        let backlog = |p: i32| group.partitions.iter().find(|g| g.partition == p).and_then(|g| g.lag);
        touched
            .into_iter()
            .filter_map(|p| {
                let (from, to) = (before.owners.get(&p), current.owners.get(&p));
                let seen_unowned = self.unowned.get(&p);
                let moved = from != to && (from.is_some() || to.is_some());
                let resumed = to.is_some() && seen_unowned.is_some();
                if !moved && !resumed {
                    return None;
                }
                let unread_ms = to.and(self.last_owned.get(&p)).map(|&last| now.saturating_sub(last));
                Some(Pause {
                    partition: p,
                    from: from.cloned(),
                    to: to.cloned(),
                    unread_ms,
                    unread_at_least_ms: seen_unowned.map_or(0, |(first, last)| last.saturating_sub(*first)),
                    still_unread: to.is_none(),
                    backlog: to.and(backlog(p)),
                })
            })
            .collect()
    }
}

/// Each member with its partitions (none for an idle member).
fn owners(settled: &Settled) -> Vec<Owner> {
    settled
        .members
        .iter()
        .map(|(member_id, (client_id, host, kafka_lab))| Owner {
            member_id: member_id.clone(),
            client_id: client_id.clone(),
            host: host.clone(),
            kafka_lab: kafka_lab.clone(),
            partitions: settled
                .owners
                .iter()
                .filter(|(_, owner)| *owner == member_id)
                .map(|(&p, _)| p)
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests;
