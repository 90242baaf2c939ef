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
//! It tells the member how things stand through a `watch` channel (the member needs the latest news, not a
//! history), as a [`Health`]:
//! - **healthy**: the coordinator answers;
//! - **unreachable**: no answer for a whole session timeout. The task drops its connection, finds the
//!   coordinator again (with backoff) and goes on heartbeating the **same generation**; the member keeps
//!   fetching and committing meanwhile and says `broker_unavailable` in `/status`;
//! - **over**: the coordinator's verdict that the generation is over (REBALANCE_IN_PROGRESS,
//!   ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID) or that the member must stop (FENCED_INSTANCE_ID).
//!
//! Why silence is not a verdict: a coordinator that does not answer says nothing about this member. Its
//! broker may have died, and Kafka only moves the coordinator once the controller has fenced that broker
//! (`broker.session.timeout.ms`, 9 s by default), often after this member's session timeout. The group's
//! state (members, generation, offsets) is kept in `__consumer_offsets`, so the new coordinator loads it
//! and either still knows this member (then the generation simply goes on: no rebalance, nothing read
//! twice) or answers UNKNOWN_MEMBER_ID (then the member rejoins as a new member). Ending the generation on
//! silence would cost the whole group a rebalance, and events consumed but not yet committed would be
//! delivered again. The Java client does the same: when the session expires without a heartbeat answer, its
//! heartbeat thread only marks the coordinator unknown ("session timed out without receiving a heartbeat
//! response"), looks it up again, and heartbeats on; the consumer keeps polling meanwhile. The price, in
//! Java as here: a member the coordinator did remove reads on until it hears so, while its commits are
//! refused, so another member may read the same events again (at-least-once), but none are lost.
//!
//! A coordinator that moved or briefly failed to answer within the session is the task's own business: it
//! finds the coordinator again and heartbeats on, retrying with backoff, without telling the member.

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

/// How this member stands with its coordinator, as the heartbeat last heard.
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    /// The coordinator answers heartbeats and is content with this member.
    Healthy,
    /// No answer for a session timeout: the heartbeat is looking for the coordinator again and goes on in
    /// the same generation. Not a verdict; the error says what to show in `/status`.
    Unreachable(GroupError),
    /// The coordinator's verdict: this generation is over (or the member must stop), and how to go on.
    Over(GroupError),
}

/// The heartbeat task of one generation; dropping this handle ends the task.
pub struct Heartbeat {
    task: JoinHandle<()>,
    health: watch::Receiver<Health>,
    report: watch::Sender<Health>,
    /// What [`Heartbeat::news`] last told the member.
    told: Health,
}

impl Heartbeat {
    /// Starts heartbeating `generation` on `coordinator` (a link of the task's own).
    pub fn start<C: Coordinator>(coordinator: C, me: Identity, generation: i32, clocks: Clocks) -> Self {
        let (report, health) = watch::channel(Health::Healthy);
        let beat = beat(coordinator, me, generation, clocks, report.clone());
        let span = tracing::info_span!(parent: None, "heartbeat", generation);
        let task = tokio::spawn(beat.instrument(span));
        Self {
            task,
            health,
            report,
            told: Health::Healthy,
        }
    }

    /// Waits until the heartbeat says this generation is over, and why (whatever else it says meanwhile).
    pub async fn ended(&mut self) -> GroupError {
        loop {
            if let Health::Over(verdict) = &*self.health.borrow_and_update() {
                return verdict.clone();
            }
            // The sender lives in `self.report`, so this only returns when something changed.
            let _ = self.health.changed().await;
        }
    }

    /// Waits until the heartbeat's news differs from what this method last returned (at first: from
    /// healthy), and returns it. Cancel-safe, so it can be one branch of a `select!`.
    pub async fn news(&mut self) -> Health {
        loop {
            let now = self.health.borrow_and_update().clone();
            if now != self.told {
                self.told = now.clone();
                return now;
            }
            let _ = self.health.changed().await;
        }
    }

    /// Whether the coordinator answers, as far as [`Heartbeat::news`] has told: `false` from "unreachable"
    /// until the next "healthy".
    pub fn reachable(&self) -> bool {
        !matches!(self.told, Health::Unreachable(_))
    }

    /// SyncGroup answered: a REBALANCE_IN_PROGRESS heard before was about the rebalance that just completed
    /// (some brokers say so while they wait for the leader's SyncGroup; Java ignores it until then too). A
    /// rebalance that begins later is reported again by the next heartbeat.
    pub fn synced(&self) {
        self.report.send_if_modified(|health| {
            let stale = matches!(health, Health::Over(GroupError::Rejoin { .. }));
            if stale {
                *health = Health::Healthy;
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
    report: watch::Sender<Health>,
) {
    // Until when the coordinator has to answer: a session after its last answer. When that passes in
    // silence, the coordinator is found again and gets a fresh session to answer in (Java, too, restarts
    // its session timer when it has found the coordinator again).
    let mut answer_by = Instant::now() + clocks.session;
    let mut backoff = Backoff::default();
    let mut pause = clocks.interval;
    loop {
        tokio::time::sleep(pause).await;
        pause = clocks.interval;
        let wait = answer_by.saturating_duration_since(Instant::now());
        match tokio::time::timeout(wait, coordinator.heartbeat(&me, generation)).await {
            Ok(Ok(())) => {
                answer_by = Instant::now() + clocks.session;
                backoff.succeeded("Heartbeat");
                if tell(&report, Health::Healthy) {
                    tracing::info!("the coordinator answers heartbeats again; generation {generation} goes on");
                }
            }
            Ok(Err(error)) if error.ends_generation() => {
                let rebalancing = matches!(&error, GroupError::Rejoin { .. });
                tell(&report, Health::Over(error));
                // While the member gives its partitions back, heartbeats keep its session alive; after any
                // other verdict there is nothing left to heartbeat for.
                if !rebalancing {
                    return;
                }
            }
            Ok(Err(error)) => {
                pause = backoff
                    .failed("heartbeating on, with backoff", &error)
                    .min(clocks.interval);
            }
            // The session ran out while this heartbeat waited: look for the coordinator again at once.
            Err(_) => pause = Duration::ZERO,
        }
        if Instant::now() >= answer_by {
            // Silence for a session: not a verdict. Drop the connection (it may hang on a frozen broker),
            // find the coordinator again, and heartbeat on in this generation.
            let unreachable = unanswered(clocks.session);
            if tell(&report, Health::Unreachable(unreachable.clone())) {
                tracing::warn!("{unreachable}");
            }
            coordinator.forget();
            answer_by = Instant::now() + clocks.session;
        }
    }
}

/// Publishes `news` unless the member already has it; returns whether it did. A verdict, once given,
/// stands (only [`Heartbeat::synced`] withdraws one): the member acts on it when it next looks, even if a
/// later heartbeat was answered.
fn tell(report: &watch::Sender<Health>, news: Health) -> bool {
    report.send_if_modified(|current| {
        let changed = *current != news && (matches!(news, Health::Over(_)) || !matches!(current, Health::Over(_)));
        if changed {
            *current = news;
        }
        changed
    })
}

/// Why the coordinator counts as unreachable: no answer for a whole session timeout.
fn unanswered(session: Duration) -> GroupError {
    GroupError::Rediscover {
        context: "Heartbeat",
        reason: format!(
            "no answer from the coordinator for {} ms (the session timeout); finding it again and heartbeating on \
             in the same generation",
            session.as_millis()
        ),
    }
}
