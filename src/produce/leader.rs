//! The producer's connection to one partition's leader: rskafka's [`PartitionClient`], the [`Batcher`] that
//! sends on it, and when the leader last answered.
//!
//! A connection nobody used for a while may have died with its broker unnoticed. The first event sent on it
//! would then fail *after* going out, and the producer could only answer "may have been written" (504). So
//! a connection idle for over [`IDLE_CHECK`] is checked first (a ListOffsets request, which writes nothing):
//! a dead one is found before anything is sent, and the answer can say "not sent" (503).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rskafka::client::error::Error as KafkaError;
use rskafka::client::partition::{OffsetAt, PartitionClient};
use rskafka::record::Record;

use super::batch::{Batcher, Outcome};

/// A partition connection unused for this long is checked before an event is sent on it.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// One partition leader's connection and its batching sender (a std mutex around one `Instant`, never held
/// across an `.await`).
pub(super) struct Leader {
    client: Arc<PartitionClient>,
    batcher: Batcher,
    answered_at: Mutex<Instant>,
}

impl Leader {
    /// Takes over a fresh connection; `timeout` bounds each Produce request sent on it.
    pub(super) fn new(client: PartitionClient, timeout: Duration) -> Self {
        let client = Arc::new(client);
        Self {
            batcher: Batcher::start(Arc::clone(&client), timeout),
            client,
            answered_at: Mutex::new(Instant::now()),
        }
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
