//! The producer's connection to one partition's leader: made once and reused, checked before an event goes
//! out on it after it was idle, and replaced before the brokers end its SASL session.
//!
//! **Idle check.** A connection unused for over [`IDLE_CHECK`] is asked for an offset (ListOffsets) first:
//! a broker that died while nobody was sending is found before anything is sent, so the answer can still
//! be "not sent" (503) rather than "maybe written" (504).
//!
//! **Renewal (KIP-368).** A broker that limits SASL sessions (`connections.max.reauth.ms`) closes a
//! connection at its first request after the session ended. rskafka's connections do not log in again, so
//! the producer replaces them before 85 % of the session has passed ([`Renewal`]), the margin our own
//! connections re-authenticate at ([`crate::security::sasl`]).

use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};

use rskafka::client::partition::PartitionClient;

use crate::security::sasl;

/// A partition connection unused for this long is checked before an event is sent on it.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// When a connection must be replaced: before the brokers end its SASL session.
#[derive(Debug, Clone, Copy)]
pub(super) struct Renewal {
    session_lifetime: Option<Duration>,
}

impl Renewal {
    /// For connections whose SASL session lasts `session_lifetime` (`None`: no limit, or no SASL).
    pub(super) fn new(session_lifetime: Option<Duration>) -> Self {
        Self { session_lifetime }
    }

    /// Whether a connection made at `since` must be replaced now.
    pub(super) fn due(self, since: Instant) -> bool {
        self.session_lifetime
            .is_some_and(|lifetime| since.elapsed() >= sasl::reauthenticate_after(lifetime))
    }
}

/// The connection to one partition's leader, and when it last answered (a std mutex: one `Instant`,
/// never held across an `.await`).
pub(super) struct Leader {
    pub(super) client: PartitionClient,
    created_at: Instant,
    renewal: Renewal,
    answered_at: StdMutex<Instant>,
}

impl Leader {
    pub(super) fn new(client: PartitionClient, renewal: Renewal) -> Self {
        Self {
            client,
            created_at: Instant::now(),
            renewal,
            answered_at: StdMutex::new(Instant::now()),
        }
    }

    /// Whether it must be replaced before its SASL session ends.
    pub(super) fn due_for_renewal(&self) -> bool {
        self.renewal.due(self.created_at)
    }

    /// Whether it went unused long enough to be checked before sending on it.
    pub(super) fn idle(&self) -> bool {
        lock(&self.answered_at).elapsed() > IDLE_CHECK
    }

    pub(super) fn answered(&self) {
        *lock(&self.answered_at) = Instant::now();
    }
}

fn lock<T>(mutex: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_due_at_85_percent_of_the_session() {
        let session = Renewal::new(Some(Duration::from_secs(100)));
        assert!(!session.due(Instant::now()));
        assert!(session.due(Instant::now() - Duration::from_secs(86)));
        assert!(!Renewal::new(None).due(Instant::now() - Duration::from_secs(1_000_000)));
    }
}
