//! The heartbeat: how a member stays in its group, and how it hears that the group is rebalancing.
//!
//! The coordinator removes a member it has not heard from for a **session timeout** and hands its
//! partitions to the others. So the heartbeat must never wait for anything else the member does: not a
//! commit that takes long, not a metadata read, not the offset look-ups at the start of a generation. If it
//! did, a slow commit could get a member evicted while it still fetches, and two members would read one
//! partition. The Java client has a heartbeat thread for this reason; we have a heartbeat **task**:
//!
//! - one task per generation, started as soon as JoinGroup answered (the coordinator expects heartbeats
//!   while the leader assigns and everyone syncs), ended when the member sends its next JoinGroup or leaves;
//! - with its **own connection** to the coordinator (a connection serves one request at a time, so sharing
//!   the member's would make heartbeats queue behind commits again);
//! - every `HEARTBEAT_INTERVAL_MS`, whatever the member is doing.
//!
//! It tells the member only what changes the member's plans, through a `watch` channel (the member needs
//! the latest verdict, not a history):
//! - the coordinator's verdict that the generation is over (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION,
//!   UNKNOWN_MEMBER_ID) or that the member must stop (FENCED_INSTANCE_ID);
//! - **coordinator lost**: no answer for a whole session timeout. The coordinator has then most likely
//!   removed this member, as the Java client assumes too.
//!
//! A coordinator that moved or briefly failed to answer is the task's own business: it finds the
//! coordinator again and goes on heartbeating the same generation, retrying with backoff.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use super::backoff::Backoff;
use super::client::Identity;
use super::error::GroupError;
use super::link::Coordinator;

/// The heartbeat's two clocks.
#[derive(Debug, Clone, Copy)]
pub struct Clocks {
    /// How often to heartbeat (`HEARTBEAT_INTERVAL_MS`).
    pub interval: Duration,
    /// How long the coordinator waits for a heartbeat (`SESSION_TIMEOUT_MS`).
    pub session: Duration,
}

/// The latest verdict: `None` while the coordinator is content with this member.
type Verdict = Option<GroupError>;

/// The heartbeat task of one generation; dropping this handle ends the task.
pub struct Heartbeat {
    task: JoinHandle<()>,
    verdict: watch::Receiver<Verdict>,
    report: watch::Sender<Verdict>,
}

impl Heartbeat {
    /// Starts heartbeating `generation` on `coordinator` (a link of the task's own).
    pub fn start<C: Coordinator>(coordinator: C, me: Identity, generation: i32, clocks: Clocks) -> Self {
        let (report, verdict) = watch::channel(None);
        let beat = beat(coordinator, me, generation, clocks, report.clone());
        let span = tracing::info_span!(parent: None, "heartbeat", generation);
        let task = tokio::spawn(beat.instrument(span));
        Self { task, verdict, report }
    }

    /// Waits until the heartbeat says this generation is over, and why.
    pub async fn ended(&mut self) -> GroupError {
        loop {
            if let Some(error) = self.verdict.borrow_and_update().clone() {
                return error;
            }
            // The sender lives in `self.report`, so this only returns when a verdict arrives.
            let _ = self.verdict.changed().await;
        }
    }

    /// SyncGroup answered: a REBALANCE_IN_PROGRESS heard before was about the rebalance that just completed
    /// (some brokers say so while they wait for the leader's SyncGroup; Java ignores it until then too). A
    /// rebalance that begins later is reported again by the next heartbeat.
    pub fn synced(&self) {
        self.report.send_if_modified(|verdict| {
            let stale = matches!(verdict, Some(GroupError::Rejoin { .. }));
            if stale {
                *verdict = None;
            }
            stale
        });
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The task: heartbeat every interval until the coordinator's verdict ends the generation.
async fn beat<C: Coordinator>(
    mut coordinator: C,
    me: Identity,
    generation: i32,
    clocks: Clocks,
    report: watch::Sender<Verdict>,
) {
    let mut last_answer = Instant::now();
    let mut backoff = Backoff::default();
    let mut pause = clocks.interval;
    loop {
        tokio::time::sleep(pause).await;
        pause = clocks.interval;
        // Wait for the answer no longer than the session has left: then the coordinator counts as lost.
        let session_ends = last_answer + clocks.session;
        let wait = session_ends.saturating_duration_since(Instant::now());
        let answer = match tokio::time::timeout(wait, coordinator.heartbeat(&me, generation)).await {
            Ok(answer) => answer,
            Err(_) => Err(lost(clocks.session)),
        };
        match answer {
            // A verdict, once given, stands (only [`Heartbeat::synced`] withdraws one): the member acts on
            // it when it next looks, even if a later heartbeat was answered.
            Ok(()) => {
                last_answer = Instant::now();
                backoff.succeeded("Heartbeat");
            }
            Err(error) if error.ends_generation() => {
                let rebalancing = matches!(&error, GroupError::Rejoin { .. });
                tell(&report, error);
                // While the member gives its partitions back, heartbeats keep its session alive; after any
                // other verdict there is nothing left to heartbeat for.
                if !rebalancing {
                    return;
                }
            }
            Err(_) if Instant::now() >= session_ends => {
                tell(&report, lost(clocks.session));
                return;
            }
            Err(error) => {
                pause = backoff
                    .failed("heartbeating on, with backoff", &error)
                    .min(clocks.interval)
            }
        }
    }
}

/// Publishes a verdict unless the member already has it.
fn tell(report: &watch::Sender<Verdict>, verdict: GroupError) {
    report.send_if_modified(|current| {
        let changed = current.as_ref() != Some(&verdict);
        *current = Some(verdict);
        changed
    });
}

/// The verdict when the coordinator has not answered for a whole session timeout.
fn lost(session: Duration) -> GroupError {
    GroupError::Rediscover {
        context: "Heartbeat",
        reason: format!(
            "no answer from the coordinator for {} ms (the session timeout); it has most likely removed this member",
            session.as_millis()
        ),
    }
}
