//! The consumer protocol's heartbeat: the member's only conversation with its coordinator about membership.
//!
//! Every heartbeat says "I am here, in epoch E, owning these partitions", and every answer says "your epoch
//! is now E', and (if it changed) your assignment is this". It runs in a task of its own, on a connection of
//! its own, for the same reason as the classic heartbeat (see [`crate::group::heartbeat`]): a commit or an
//! offset look-up must never hold it up. It sends one heartbeat at a time:
//!
//! - every interval the broker returned (`group.consumer.heartbeat.interval.ms`), and
//! - **at once** when the member's owned partitions changed: that heartbeat is the **acknowledgement** the
//!   coordinator waits for before it gives a revoked partition to another member.
//!
//! Fields the coordinator already heard are left out. After any failure (no answer, a broken connection,
//! the coordinator moved) the next heartbeat is a **full** one, built from what the member owns *now*. It
//! is never the lost request sent again: a lost answer may have raised the epoch, and an old
//! acknowledgement sent again can name partitions the member has since given up, which the coordinator
//! answers with FENCED_MEMBER_EPOCH (the Java and franz-go clients both had bugs there).
//!
//! The task tells the member what it heard through a `watch` channel (the member needs the latest state,
//! not a history): the epoch, the latest assignment, a passing trouble, and the **verdict** that ends the
//! membership (FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER_ID, or a fatal error). After a verdict it stops: a
//! fenced member must not heartbeat until it has let go of its partitions and joins again with epoch 0.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::link::Coordinator;
use super::request::{Answer, Beat, ByTopicId};
use crate::group::backoff::Backoff;
use crate::group::client::Identity;
use crate::group::error::GroupError;

/// The interval until the broker names one (the first heartbeat, the join, goes out at once).
const FIRST_INTERVAL: Duration = Duration::from_secs(1);
/// The shortest interval accepted from a broker.
const MIN_INTERVAL: Duration = Duration::from_millis(50);

/// What the member joins with: who it is and what it wants.
#[derive(Debug, Clone)]
pub struct Setup {
    pub me: Identity,
    pub topic: String,
    /// `GROUP_REMOTE_ASSIGNOR` (`None`: the broker's default).
    pub assignor: Option<String>,
    /// `MAX_POLL_INTERVAL_MS`: how long the coordinator waits for this member to give partitions up.
    pub rebalance_timeout: Duration,
}

/// What the heartbeat heard from the coordinator, as of its latest answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Heard {
    pub member_id: String,
    /// The member epoch (0 until the coordinator answered the join).
    pub epoch: i32,
    /// The latest assignment: the member's **target**.
    pub assignment: Option<ByTopicId>,
    /// The last heartbeat failed for a passing reason; the next one is being tried.
    pub trouble: Option<GroupError>,
    /// The membership is over; heartbeats have stopped.
    pub verdict: Option<GroupError>,
}

/// The heartbeat task of one membership; dropping this handle ends the task.
pub struct Heartbeat {
    task: JoinHandle<()>,
    heard: watch::Receiver<Heard>,
    /// A second receiver for [`Heartbeat::verdict`], so that waiting for a verdict never marks other news
    /// as seen (the member loop would then miss a new target).
    verdicts: watch::Receiver<Heard>,
    /// Kept so that the channel stays open after the task ends.
    _report: watch::Sender<Heard>,
    owned: watch::Sender<ByTopicId>,
}

impl Heartbeat {
    /// Starts heartbeating on `coordinator` (a link of the task's own), joining with epoch 0.
    pub fn start<C: Coordinator>(coordinator: C, setup: Setup) -> Self {
        let initial = Heard {
            member_id: setup.me.member_id.clone(),
            ..Heard::default()
        };
        let (report, heard) = watch::channel(initial);
        let (owned, owned_now) = watch::channel(ByTopicId::new());
        let span = tracing::info_span!(parent: None, "heartbeat", member = %setup.me.member_id);
        let task = tokio::spawn(beat(coordinator, setup, owned_now, report.clone()).instrument(span));
        Self {
            task,
            verdicts: heard.clone(),
            heard,
            _report: report,
            owned,
        }
    }

    /// The latest news (and marks it seen).
    pub fn heard(&mut self) -> Heard {
        self.heard.borrow_and_update().clone()
    }

    /// The member epoch, as of the latest answer (0 until the join is answered).
    pub fn epoch(&self) -> i32 {
        self.heard.borrow().epoch
    }

    /// Waits until there is news since [`Heartbeat::heard`] last looked.
    pub async fn changed(&mut self) {
        // The sender lives in `self`, so this only returns on news.
        let _ = self.heard.changed().await;
    }

    /// Waits for the verdict that ends the membership.
    pub async fn verdict(&mut self) -> GroupError {
        loop {
            if let Some(verdict) = self.verdicts.borrow_and_update().verdict.clone() {
                return verdict;
            }
            let _ = self.verdicts.changed().await;
        }
    }

    /// The member now owns exactly `owned`: acknowledged by the next heartbeat, which goes out at once.
    pub fn owns(&self, owned: ByTopicId) {
        self.owned.send_if_modified(|now| {
            let changed = *now != owned;
            *now = owned;
            changed
        });
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The heartbeat's memory: the member's epoch and what the coordinator last heard.
struct State {
    member_id: String,
    epoch: i32,
    interval: Duration,
    /// The owned partitions the coordinator last heard; `None` before the join and after any failure, so
    /// that the next heartbeat is a full one.
    told: Option<ByTopicId>,
}

impl State {
    /// The next heartbeat, from what the member owns now.
    fn next_beat(&self, setup: &Setup, owned: &ByTopicId) -> Beat {
        let full = self.told.is_none();
        Beat {
            member_id: self.member_id.clone(),
            epoch: self.epoch,
            instance_id: setup.me.instance_id.clone().filter(|_| full),
            rebalance_timeout: full.then_some(setup.rebalance_timeout),
            subscription: full.then(|| vec![setup.topic.clone()]),
            assignor: setup.assignor.clone().filter(|_| full),
            owned: (full || self.told.as_ref() != Some(owned)).then(|| owned.clone()),
        }
    }

    fn answered(&mut self, beat: &Beat, answer: &Answer) {
        self.member_id.clone_from(&answer.member_id);
        self.epoch = answer.epoch;
        self.interval = answer.interval.max(MIN_INTERVAL);
        if let Some(owned) = &beat.owned {
            self.told = Some(owned.clone());
        }
    }
}

/// The task: heartbeat every interval, or at once to acknowledge, until a verdict ends the membership.
async fn beat<C: Coordinator>(
    mut coordinator: C,
    setup: Setup,
    mut owned: watch::Receiver<ByTopicId>,
    report: watch::Sender<Heard>,
) {
    let mut state = State {
        member_id: setup.me.member_id.clone(),
        epoch: 0,
        interval: FIRST_INTERVAL,
        told: None,
    };
    let mut backoff = Backoff::default();
    let mut pause = Duration::ZERO;
    loop {
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            Ok(()) = owned.changed(), if state.epoch > 0 => {}
        }
        let beat = state.next_beat(&setup, &owned.borrow_and_update());
        match coordinator.heartbeat(&beat).await {
            Ok(answer) => {
                log_answer(&state, &beat, &answer);
                state.answered(&beat, &answer);
                backoff.succeeded("ConsumerGroupHeartbeat");
                pause = state.interval;
                report.send_if_modified(|heard| heard.update(answer));
            }
            Err(error) if error.ends_generation() => {
                report.send_modify(|heard| heard.verdict = Some(error));
                return;
            }
            Err(error) => {
                state.told = None;
                pause = backoff
                    .failed("heartbeating again with the full state, partitions kept", &error)
                    .min(state.interval);
                report.send_if_modified(|heard| {
                    let changed = heard.trouble.as_ref() != Some(&error);
                    heard.trouble = Some(error);
                    changed
                });
            }
        }
    }
}

impl Heard {
    /// Takes in an answer; whether anything the member cares about changed.
    fn update(&mut self, answer: Answer) -> bool {
        let before = self.clone();
        self.member_id = answer.member_id;
        self.epoch = answer.epoch;
        if answer.assignment.is_some() {
            self.assignment = answer.assignment;
        }
        self.trouble = None;
        *self != before
    }
}

fn log_answer(state: &State, beat: &Beat, answer: &Answer) {
    if beat.epoch == 0 {
        tracing::info!(epoch = answer.epoch, interval = ?answer.interval, "joined the group");
    } else if answer.epoch != state.epoch {
        tracing::debug!(from = state.epoch, to = answer.epoch, "new member epoch");
    }
    if let Some(assignment) = &answer.assignment {
        tracing::debug!(epoch = answer.epoch, ?assignment, "assignment");
    }
}
