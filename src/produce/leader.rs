//! The producer's connection to one partition's leader: rskafka's [`PartitionClient`], the [`Batcher`] that
//! sends on it, when the leader last answered, and when the connection is due for replacement.
//!
//! **Idle check.** A connection nobody used for a while may have died with its broker unnoticed. The first
//! event sent on it would then fail *after* going out, and the producer could only answer "may have been
//! written" (504). So a connection idle for over [`IDLE_CHECK`] is checked first (a ListOffsets request,
//! which writes nothing): a dead one is found before anything is sent, and the answer can say "not sent" (503).
//!
//! **Renewal (KIP-368).** A broker that limits SASL sessions (`connections.max.reauth.ms`) closes a
//! connection at its first request after the session ended. rskafka's connections do not log in again, so
//! the producer replaces them before 85 % of the session has passed ([`Renewal`]).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rskafka::client::error::Error as KafkaError;
use rskafka::client::partition::{OffsetAt, PartitionClient};
use rskafka::record::Record;

use super::batch::{Batcher, Outcome};
use crate::kafka::Renewal;

/// A partition connection unused for this long is checked before an event is sent on it.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// One partition leader's connection and its batching sender (a std mutex around one `Instant`, never held
/// across an `.await`).
pub(super) struct Leader {
    client: Arc<PartitionClient>,
    batcher: Batcher,
    created_at: Instant,
    renewal: Renewal,
    answered_at: Mutex<Instant>,
}

impl Leader {
    /// Takes over a fresh connection; `timeout` bounds each Produce request sent on it.
    pub(super) fn new(client: PartitionClient, timeout: Duration, renewal: Renewal) -> Self {
        let client = Arc::new(client);
        Self {
            batcher: Batcher::start(Arc::clone(&client), timeout),
            client,
            created_at: Instant::now(),
            renewal,
            answered_at: Mutex::new(Instant::now()),
        }
    }

    /// Whether it must be replaced before its SASL session ends.
    pub(super) fn due_for_renewal(&self) -> bool {
        self.renewal.due(self.created_at)
    }

    /// Checks the connection with a ListOffsets request if it was idle; nothing is written either way.
    pub(super) async fn check_if_idle(&self) -> Result<(), KafkaError> {
        if self.answered_at().elapsed() <= IDLE_CHECK {
            return Ok(());
        }
        self.client.get_offset(OffsetAt::Earliest).await?;
        self.answered();
        Ok(())
    }

    /// Sends one record in the next batch and waits for its offset (see [`Batcher::send`]).
    pub(super) async fn send(&self, record: Record) -> Outcome {
        let outcome = self.batcher.send(record).await;
        if outcome.is_ok() {
            self.answered();
        }
        outcome
    }

    fn answered(&self) {
        *self.lock() = Instant::now();
    }

    fn answered_at(&self) -> Instant {
        *self.lock()
    }

    fn lock(&self) -> MutexGuard<'_, Instant> {
        self.answered_at.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
