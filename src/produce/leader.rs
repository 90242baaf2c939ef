//! The producer's connection to one partition's leader: made once and reused, checked before an event goes
//! out on it after it was idle, and replaced before the brokers end its SASL session.
//!
//! **Idle check.** A connection unused for over [`IDLE_CHECK`] is asked for an offset (ListOffsets) first:
//! a broker that died while nobody was sending is found before anything is sent, so the answer can still
//! be "not sent" (503) rather than "maybe written" (504).
//!
//! **Renewal (KIP-368).** A broker that limits SASL sessions (`connections.max.reauth.ms`) closes a
//! connection at its first request after the session ended. rskafka's connections do not log in again, so
//! the producer replaces them before 85 % of the session has passed ([`Renewal`]).

use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};

use rskafka::client::partition::PartitionClient;

use crate::kafka::Renewal;

/// A partition connection unused for this long is checked before an event is sent on it.
const IDLE_CHECK: Duration = Duration::from_secs(1);

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
