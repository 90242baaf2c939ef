//! Batching concurrent sends to one partition: what waits while a Produce request is in flight goes
//! together in the next one.
//!
//! Kafka is fast per request, not per event: a Produce request costs the broker about the same for one
//! record as for fifty. The Java producer therefore collects what is waiting for a partition into one
//! record batch. kafka-lab does the same, without ever holding an event back on purpose:
//!
//! - Each partition written to has one [`Batcher`]: a task that owns the partition's connection and
//!   keeps **at most one Produce request in flight**. An event that arrives while the partition is idle
//!   is sent at once, alone (a single click is not delayed). Events that arrive while a request is in
//!   flight queue up, and all of them (up to [`MAX_BATCH_EVENTS`] and [`MAX_BATCH_BYTES`]) travel in the
//!   next request. Under load, batches grow by themselves; idle, there is no linger.
//! - Each event's caller waits for **its own** answer: the offset the broker gave that record (a batch's
//!   records get consecutive offsets, in order), only once the broker acknowledged the whole batch. If the
//!   request fails, every caller of that batch gets the error.
//!
//! Why not rskafka's own `BatchProducer`: it flushes a batch after a fixed *linger* (or when full) and
//! lets flushes overlap, so either every lone click waits for the linger or, with no linger, batches stay
//! tiny. Batching on "a request is in flight" needs no timer at all, and this small loop over rskafka's
//! `PartitionClient` is all it takes.
//!
//! Why requests stay under 8 KiB: rskafka writes a request's 4-byte length and its body as two writes into
//! an 8 KiB buffered stream, and does not set `TCP_NODELAY` (nor lets us set it). A body that fits the
//! buffer with its length leaves as one TCP segment; a bigger one flushes the 4 bytes alone first, and
//! Nagle's algorithm then holds the body until the broker acknowledges those 4 bytes, which a delayed ACK
//! does after about 40 ms (measured: requests of 8 to 60 KB took 44 ms, 6 KB ones 1–2 ms). Batches are
//! therefore capped below that size. A single event larger than the cap is still sent, alone.

use std::sync::Arc;
use std::time::Duration;

use rskafka::client::error::Error as KafkaError;
use rskafka::client::partition::{Compression, PartitionClient};
use rskafka::record::Record;
use tokio::sync::{mpsc, oneshot};

/// The most events one Produce request carries (events under about 50 bytes reach it before the byte limit).
pub const MAX_BATCH_EVENTS: usize = 100;
/// The most record bytes one Produce request carries (estimated: key, value and headers, plus 24 bytes of
/// framing per record): rskafka's 8 KiB write buffer, less the request's own headers (topic name included).
pub const MAX_BATCH_BYTES: usize = 8 * 1024 - 512;
/// Events waiting for a partition beyond this make senders wait (backpressure instead of unbounded memory).
const QUEUE_CAPACITY: usize = 4096;

/// The outcome of one event: its offset, or why its batch failed.
pub type Outcome = Result<i64, BatchError>;

/// Why a batch was not acknowledged. Every event of the batch gets the same one, so the caller can still
/// tell "refused, nothing written" from "sent, no answer" (`answer::after_sending`).
#[derive(Debug, Clone)]
pub enum BatchError {
    /// The Produce request failed as rskafka reports it (shared: rskafka's error is not `Clone`).
    Kafka(Arc<KafkaError>),
    /// No answer within the request timeout: the batch may have been written.
    NoAnswer(Duration),
    /// The broker's answer did not give one offset per event.
    BadAnswer(String),
    /// The partition's task had ended (its connection was dropped) before the event was queued: not sent.
    Stopped,
    /// The partition's task ended without answering (the runtime is shutting down): maybe sent.
    Abandoned,
}

/// One event waiting to be sent, and where its answer goes.
struct Pending {
    record: Record,
    size: usize,
    answer: oneshot::Sender<Outcome>,
}

/// The sending side of one partition's batching task (cheap to clone). Once every clone is dropped, the
/// task sends what is still queued and ends.
#[derive(Clone)]
pub struct Batcher {
    queue: mpsc::Sender<Pending>,
}

impl Batcher {
    /// Starts the batching task of one partition. `timeout` bounds each Produce request, so a hung broker
    /// fails the batch instead of holding the partition forever.
    pub fn start(client: Arc<PartitionClient>, timeout: Duration) -> Self {
        // A bounded channel is the queue: the task takes everything waiting in it once a request is done.
        let (queue, waiting) = mpsc::channel(QUEUE_CAPACITY);
        // One task per partition: it alone writes to the partition, so requests never overlap or reorder.
        tokio::spawn(run(client, waiting, timeout));
        Self { queue }
    }

    /// Queues one record and waits until the broker acknowledged the batch it travelled in.
    pub async fn send(&self, record: Record) -> Outcome {
        let (answer, answered) = oneshot::channel();
        let size = encoded_size(&record);
        let pending = Pending { record, size, answer };
        self.queue.send(pending).await.map_err(|_| BatchError::Stopped)?;
        answered.await.unwrap_or(Err(BatchError::Abandoned))
    }
}

/// The batching task: waits for an event, takes everything else already waiting, sends it as one request,
/// answers every caller, and starts over. Ends when every [`Batcher`] handle is gone and the queue is empty.
async fn run(client: Arc<PartitionClient>, mut waiting: mpsc::Receiver<Pending>, timeout: Duration) {
    let mut carried = None;
    loop {
        let first = match carried.take() {
            Some(pending) => pending,
            None => match waiting.recv().await {
                Some(pending) => pending,
                None => return,
            },
        };
        if first.answer.is_closed() {
            continue;
        }
        let batch = gather(first, &mut waiting, &mut carried);
        send_batch(&client, batch, timeout).await;
    }
}

/// `first` plus whatever is already queued, within the batch limits. An event that would overflow the
/// batch is left in `carried` to open the next one. An event whose caller stopped waiting (its request
/// timed out and was answered "may have been written") is dropped unsent: writing nothing keeps a retry
/// from making a duplicate.
fn gather(first: Pending, waiting: &mut mpsc::Receiver<Pending>, carried: &mut Option<Pending>) -> Vec<Pending> {
    let mut bytes = first.size;
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH_EVENTS {
        let Ok(next) = waiting.try_recv() else { break };
        if next.answer.is_closed() {
            continue;
        }
        if bytes + next.size > MAX_BATCH_BYTES {
            *carried = Some(next);
            break;
        }
        bytes += next.size;
        batch.push(next);
    }
    batch
}

/// Sends one batch as one Produce request and gives each caller its record's offset, or everyone the error.
async fn send_batch(client: &PartitionClient, batch: Vec<Pending>, timeout: Duration) {
    // Each event's size was estimated once, when it was queued.
    let bytes: usize = batch.iter().map(|p| p.size).sum();
    let (records, answers): (Vec<Record>, Vec<oneshot::Sender<Outcome>>) =
        batch.into_iter().map(|p| (p.record, p.answer)).unzip();
    let count = records.len();
    tracing::debug!(count, bytes, "producing a batch");
    let produced = tokio::time::timeout(timeout, client.produce(records, Compression::NoCompression)).await;
    let offsets = match produced {
        Ok(Ok(offsets)) if offsets.len() == count => Ok(offsets),
        Ok(Ok(offsets)) => Err(BatchError::BadAnswer(format!(
            "the broker acknowledged {} offsets for {count} events",
            offsets.len()
        ))),
        Ok(Err(e)) => Err(BatchError::Kafka(Arc::new(e))),
        Err(_) => Err(BatchError::NoAnswer(timeout)),
    };
    match offsets {
        Ok(offsets) => answers.into_iter().zip(offsets).for_each(|(answer, offset)| {
            // A caller that gave up (its request timed out) no longer listens; it was told "maybe written".
            let _ = answer.send(Ok(offset));
        }),
        Err(error) => answers.into_iter().for_each(|answer| {
            let _ = answer.send(Err(error.clone()));
        }),
    }
}

/// A record's size in a Produce request, slightly over-estimated: key, value and headers, plus up to 24
/// bytes of per-record framing (varint lengths, offset and timestamp deltas, attributes).
fn encoded_size(record: &Record) -> usize {
    record.approximate_size() + 24
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(size: usize) -> (Pending, oneshot::Receiver<Outcome>) {
        let (answer, answered) = oneshot::channel();
        let record = Record {
            key: None,
            value: Some(vec![b'x'; size]),
            headers: Default::default(),
            timestamp: rskafka::chrono::Utc::now(),
        };
        let size = encoded_size(&record);
        (Pending { record, size, answer }, answered)
    }

    #[tokio::test]
    async fn gather_takes_what_waits_up_to_the_byte_limit_and_carries_the_rest() {
        let (queue, mut waiting) = mpsc::channel(16);
        let (first, _a) = pending(100);
        let mut keep = Vec::new();
        for size in [100, 100, MAX_BATCH_BYTES, 100] {
            let (p, rx) = pending(size);
            keep.push(rx);
            queue.send(p).await.unwrap();
        }
        let mut carried = None;
        let batch = gather(first, &mut waiting, &mut carried);
        assert_eq!(batch.len(), 3, "the big event does not fit");
        assert!(carried.as_ref().is_some_and(|p| p.size > MAX_BATCH_BYTES));
        let batch = gather(carried.take().unwrap(), &mut waiting, &mut carried);
        assert_eq!(batch.len(), 1, "an oversized event goes alone");
        assert!(carried.is_some(), "and the next one waits for the next request");
    }

    #[tokio::test]
    async fn gather_stops_at_the_event_limit() {
        let (queue, mut waiting) = mpsc::channel(MAX_BATCH_EVENTS + 10);
        let mut keep = Vec::new();
        for _ in 0..MAX_BATCH_EVENTS + 5 {
            let (p, rx) = pending(0);
            keep.push(rx);
            queue.send(p).await.unwrap();
        }
        let (first, _a) = pending(0);
        let mut carried = None;
        assert_eq!(gather(first, &mut waiting, &mut carried).len(), MAX_BATCH_EVENTS);
        assert!(carried.is_none());
        assert_eq!(waiting.len(), 6);
    }
}
