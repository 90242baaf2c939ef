//! The numbers of a chaos scenario, and the table of a run: what was acknowledged, what the readers got,
//! and where each acknowledged event that no reader got still is.
//!
//! An acknowledged event no reader got is one of two things. If the topic's log still holds it, kafka-lab
//! lost it: **lost**, which must be 0. If the log no longer holds it, the broker lost it (or the topic was
//! deleted with it): **gone from the broker**, shown apart, as nothing a client does can bring it back.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::time::Duration;

use super::load::{Posts, Seen};

/// One scenario's outcome.
pub struct Outcome {
    pub scenario: String,
    /// What was done, in words (with how long it lasted).
    pub fault: String,
    pub posts: Posts,
    /// How often each id reached a reader, over every reader of the scenario.
    pub read: BTreeMap<i64, usize>,
    /// The ids the topic's log holds at the end.
    pub in_log: BTreeSet<i64>,
    /// From the fault's end until events posted after it reached readers from every partition.
    pub recovery: Option<Duration>,
    /// What each consumer's `/status` said, as it changed: (which consumer, the changes).
    pub statuses: Vec<(String, Vec<String>)>,
    pub gaps: usize,
}

impl Outcome {
    pub fn new(scenario: &str, fault: String, posts: Posts, seen: &[(String, Seen)], in_log: BTreeSet<i64>) -> Self {
        let mut read = BTreeMap::new();
        for (_, one) in seen {
            for event in &one.events {
                *read.entry(event.id).or_insert(0) += 1;
            }
        }
        Self {
            scenario: scenario.to_string(),
            fault,
            posts,
            read,
            in_log,
            recovery: None,
            statuses: seen.iter().map(|(who, s)| (who.clone(), s.states.clone())).collect(),
            gaps: seen.iter().map(|(_, s)| s.gaps).sum(),
        }
    }

    /// Acknowledged, still in the log, and never handed to a reader: kafka-lab's loss. Must be empty.
    pub fn lost(&self) -> Vec<i64> {
        self.unread().filter(|id| self.in_log.contains(id)).collect()
    }

    /// Acknowledged, never read, and no longer in the log: the broker's loss (or the deleted topic's).
    pub fn gone_from_broker(&self) -> Vec<i64> {
        self.unread().filter(|id| !self.in_log.contains(id)).collect()
    }

    /// Reads beyond the first of each event (at-least-once: what was handed out but not yet committed when a
    /// consumer went away is handed out again by the next owner).
    pub fn duplicates(&self) -> usize {
        self.read.values().map(|n| n - 1).sum()
    }

    fn unread(&self) -> impl Iterator<Item = i64> + '_ {
        self.posts
            .acked
            .iter()
            .copied()
            .filter(|id| !self.read.contains_key(id))
    }

    fn answers(&self) -> String {
        let mut parts = vec![format!("{} × 200", self.posts.acked.len())];
        if !self.posts.maybe.is_empty() {
            parts.push(format!("{} × 504", self.posts.maybe.len()));
        }
        for (status, count) in &self.posts.refused {
            parts.push(format!("{count} × {status}"));
        }
        parts.join(", ")
    }

    fn row(&self) -> String {
        let recovery = self
            .recovery
            .map_or("did not recover".to_string(), |d| format!("{:.1} s", d.as_secs_f64()));
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(who, states)| format!("{who}: {}", states.join(" → ")))
            .collect();
        let mut said = statuses.join("; ");
        if self.gaps > 0 {
            let _ = write!(said, "; readers were told of {} gap(s)", self.gaps);
        }
        format!(
            "| {} | {} | {} | **{}** | {} | {} | {} | {} |",
            self.scenario,
            self.fault,
            self.answers(),
            self.lost().len(),
            self.gone_from_broker().len(),
            self.duplicates(),
            recovery,
            said
        )
    }
}

/// The run's table, in markdown.
pub fn table(broker: &str, settings: &str, outcomes: &[Outcome]) -> String {
    let mut out = format!("## Chaos on {broker}\n\n{settings}\n\n");
    out.push_str(
        "| scenario | fault | producer answered | lost | gone from the broker | duplicates | recovery | /status \
         said |\n|---|---|---|---|---|---|---|---|\n",
    );
    for outcome in outcomes {
        let _ = writeln!(out, "{}", outcome.row());
    }
    out.push_str(
        "\nlost: acknowledged (200), still in the topic's log, never handed to a reader (must be 0). gone from \
         the broker: acknowledged, never read, no longer in the log. duplicates: events handed out more than \
         once (at-least-once). recovery: from the end of the fault until events posted after it reached readers \
         from both partitions.\n",
    );
    out
}
