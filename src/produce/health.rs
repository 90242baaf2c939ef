//! Whether Kafka answers, as far as the producer knows: what lets it **fail fast**.
//!
//! Once a request (or the producer's own check every 2 s) found Kafka unreachable (no connection, or a
//! connection that broke or went silent), every following request is answered 503 at once, "not sent", instead of each one waiting out its own timeout
//! while the page's clicks pile up. Meanwhile one background check at a time (a probe: connect and list the
//! topics) runs every [`PROBE_INTERVAL`] until Kafka answers, and the producer sends again from then on.
//! `GET /status` shows the state, so the page can say "Producer: Online, Kafka unreachable": the producer
//! process is up (`/ping` still answers `pong`), Kafka is not.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

/// How often the background check tries Kafka while it is unreachable.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Kafka's state as `GET /status` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KafkaStatus {
    /// `unknown` (not connected yet), `reachable` or `unreachable`.
    pub kafka: &'static str,
    /// Why Kafka counts as unreachable.
    pub last_error: Option<String>,
    /// For how long it has been unreachable.
    pub unreachable_for_ms: Option<u64>,
}

/// The producer's knowledge of Kafka's reachability. A std mutex: it guards a few fields, is held for a
/// field update only and never across an `.await`.
#[derive(Default)]
pub struct Health {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    outage: Option<Outage>,
    /// Whether the background check runs (at most one does).
    probing: bool,
    /// Whether a connection has ever worked.
    connected: bool,
}

struct Outage {
    since: Instant,
    reason: String,
}

impl Health {
    /// The reason to refuse a request at once, while Kafka is known to be unreachable.
    pub fn outage(&self) -> Option<String> {
        let state = self.lock();
        state.outage.as_ref().map(|outage| {
            format!(
                "Kafka is unreachable (for {} s: {}); the producer tries again every {PROBE_INTERVAL:?}",
                outage.since.elapsed().as_secs(),
                outage.reason
            )
        })
    }

    /// Kafka answered.
    pub fn reachable(&self) {
        let mut state = self.lock();
        state.outage = None;
        state.connected = true;
    }

    /// Kafka did not answer; returns whether the caller should start the background check (none runs yet).
    pub fn unreachable(&self, reason: String) -> bool {
        let mut state = self.lock();
        match &mut state.outage {
            Some(outage) => outage.reason = reason,
            None => {
                state.outage = Some(Outage {
                    since: Instant::now(),
                    reason,
                })
            }
        }
        !std::mem::replace(&mut state.probing, true)
    }

    /// The background check ended (Kafka answered).
    pub fn probe_ended(&self) {
        self.lock().probing = false;
    }

    pub fn status(&self) -> KafkaStatus {
        let state = self.lock();
        let kafka = match (&state.outage, state.connected) {
            (Some(_), _) => "unreachable",
            (None, true) => "reachable",
            (None, false) => "unknown",
        };
        KafkaStatus {
            kafka,
            last_error: state.outage.as_ref().map(|o| o.reason.clone()),
            unreachable_for_ms: state.outage.as_ref().map(|o| o.since.elapsed().as_millis() as u64),
        }
    }

    /// Every update is a plain field assignment, so a panic elsewhere cannot leave the state half-done.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_reported_until_kafka_answers_and_probed_once() {
        let health = Health::default();
        assert_eq!(health.status().kafka, "unknown");
        assert!(health.outage().is_none());
        assert!(
            health.unreachable("connection refused".into()),
            "the first outage starts the check"
        );
        assert!(!health.unreachable("still refused".into()), "one check at a time");
        let outage = health.outage().unwrap();
        assert!(
            outage.contains("unreachable") && outage.contains("still refused"),
            "{outage}"
        );
        assert_eq!(health.status().kafka, "unreachable");
        health.reachable();
        health.probe_ended();
        assert!(health.outage().is_none());
        assert_eq!(health.status().kafka, "reachable");
        assert!(health.unreachable("again".into()), "a new outage starts a new check");
    }
}
