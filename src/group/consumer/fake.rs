//! A scripted consumer-protocol coordinator, for testing the member without a network (the classic
//! member's `member/fake.rs` does the same for its protocol; the data path is that file's `FakeData`).
//!
//! The coordinator holds a target assignment and an epoch. Unless a test scripts otherwise, a heartbeat is
//! answered with the current epoch, and with the target whenever the member joins, sends its owned
//! partitions, or the target changed since the member last heard it. Every request is logged in order, so
//! a test can check what came before what (a commit before an acknowledgement).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::link::Coordinator;
use super::request::{Answer, Beat, ByTopicId};
use crate::consume::lock;
use crate::group::client::Identity;
use crate::group::commits::OffsetRequests;
use crate::group::error::GroupError;

/// The id of the test topic (`member::fake::TOPIC`).
pub const TOPIC_ID: Uuid = Uuid::from_u128(0x0848);
/// The heartbeat interval the coordinator names.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// A scripted answer to the next heartbeat.
#[derive(Debug, Clone)]
pub enum Reply {
    /// What a healthy coordinator answers.
    Ok,
    /// From now on the member's target is `partitions`, in `epoch`.
    Assign { epoch: i32, partitions: Vec<i32> },
    /// A Kafka error code.
    Error(ResponseError),
    /// `Assign`: the coordinator acts on the heartbeat, but its answer is lost on the way back.
    AssignLost { epoch: i32, partitions: Vec<i32> },
    /// The broker does not know ConsumerGroupHeartbeat (Tansu).
    Unsupported,
}

/// One request the member made.
#[derive(Debug, Clone, PartialEq)]
pub enum Sent {
    Heartbeat { beat: Beat, broker: u32 },
    Commit { epoch: i32, offsets: BTreeMap<i32, i64> },
    OffsetFetch { partitions: Vec<i32> },
    Metadata,
}

struct State {
    replies: VecDeque<Reply>,
    commit_errors: VecDeque<ResponseError>,
    log: Vec<Sent>,
    coordinator: u32,
    epoch: i32,
    target: BTreeSet<i32>,
    /// Whether the member heard the current target.
    told: bool,
    committed: BTreeMap<i32, i64>,
    /// How long commits and offset fetches take to answer.
    commit_delay: Duration,
    fetch_delay: Duration,
}

/// The script and the log, shared by the test and every link the member opens.
#[derive(Clone)]
pub struct Script(Arc<Mutex<State>>);

impl Script {
    /// A coordinator that gives a joining member both partitions in epoch 1.
    pub fn new() -> Self {
        Self(Arc::new(Mutex::new(State {
            replies: VecDeque::new(),
            commit_errors: VecDeque::new(),
            log: Vec::new(),
            coordinator: 1,
            epoch: 1,
            target: BTreeSet::from([0, 1]),
            told: false,
            committed: BTreeMap::new(),
            commit_delay: Duration::ZERO,
            fetch_delay: Duration::ZERO,
        })))
    }

    /// Answers the next heartbeats with `replies`, in order.
    pub fn reply(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.0).replies.extend(replies);
    }

    /// Answers the next commits with these errors, in order.
    pub fn fail_commits(&self, errors: impl IntoIterator<Item = ResponseError>) {
        lock(&self.0).commit_errors.extend(errors);
    }

    /// From now on commits take `delay` to answer.
    pub fn slow_commits(&self, delay: Duration) {
        lock(&self.0).commit_delay = delay;
    }

    /// From now on offset fetches take `delay` to answer.
    pub fn slow_offset_fetches(&self, delay: Duration) {
        lock(&self.0).fetch_delay = delay;
    }

    /// From now on FindCoordinator names `broker` (and the link on another broker is refused).
    pub fn move_coordinator_to(&self, broker: u32) {
        lock(&self.0).coordinator = broker;
    }

    /// The group's committed offsets, as a test sets them up.
    pub fn set_committed(&self, partition: i32, offset: i64) {
        lock(&self.0).committed.insert(partition, offset);
    }

    pub fn log(&self) -> Vec<Sent> {
        lock(&self.0).log.clone()
    }

    /// Every heartbeat so far.
    pub fn beats(&self) -> Vec<Beat> {
        let beats = self.log().into_iter().filter_map(|sent| match sent {
            Sent::Heartbeat { beat, .. } => Some(beat),
            _ => None,
        });
        beats.collect()
    }

    /// Every commit so far: (epoch, offsets).
    pub fn commits(&self) -> Vec<(i32, BTreeMap<i32, i64>)> {
        let commits = self.log().into_iter().filter_map(|sent| match sent {
            Sent::Commit { epoch, offsets } => Some((epoch, offsets)),
            _ => None,
        });
        commits.collect()
    }

    pub fn committed(&self) -> BTreeMap<i32, i64> {
        lock(&self.0).committed.clone()
    }

    /// The answer to one heartbeat, as the script and the coordinator's state say.
    fn answer(&self, beat: &Beat) -> Result<Answer, GroupError> {
        let mut state = lock(&self.0);
        let reply = state.replies.pop_front().unwrap_or(Reply::Ok);
        match &reply {
            Reply::Error(code) => return Err(GroupError::from_code("scripted", code.code()).expect("an error")),
            Reply::Unsupported => {
                return Err(GroupError::Unsupported {
                    context: "ConsumerGroupHeartbeat",
                    reason: "the broker does not support GROUP_PROTOCOL=consumer".into(),
                })
            }
            Reply::Assign { epoch, partitions } | Reply::AssignLost { epoch, partitions } => {
                state.epoch = *epoch;
                state.target = partitions.iter().copied().collect();
                state.told = false;
            }
            Reply::Ok => {}
        }
        if beat.epoch < 0 {
            return Ok(answer(beat, beat.epoch, None));
        }
        let tell = beat.epoch == 0 || beat.owned.is_some() || !state.told;
        state.told |= tell;
        let assignment = tell.then(|| ByTopicId::from([(TOPIC_ID, state.target.clone())]));
        let answered = answer(beat, state.epoch, assignment);
        match reply {
            Reply::AssignLost { .. } => Err(broken("the answer was lost")),
            _ => Ok(answered),
        }
    }
}

fn answer(beat: &Beat, epoch: i32, assignment: Option<ByTopicId>) -> Answer {
    Answer {
        member_id: beat.member_id.clone(),
        epoch,
        interval: INTERVAL,
        assignment,
    }
}

fn broken(reason: &str) -> GroupError {
    GroupError::Rediscover {
        context: "connection",
        reason: reason.into(),
    }
}

/// One link to the scripted coordinator.
pub struct FakeCoordinator {
    script: Script,
    /// The broker this link found the coordinator on.
    connected: Option<u32>,
}

impl FakeCoordinator {
    pub fn new(script: Script) -> Self {
        Self {
            script,
            connected: None,
        }
    }

    /// Finds the coordinator if needed; a link to a broker that is no longer the coordinator is refused
    /// (NOT_COORDINATOR) and finds it again next time.
    fn reach(&mut self) -> Result<u32, GroupError> {
        let coordinator = lock(&self.script.0).coordinator;
        match self.connected {
            Some(broker) if broker != coordinator => {
                self.connected = None;
                Err(GroupError::from_code("scripted", ResponseError::NotCoordinator.code()).expect("an error"))
            }
            _ => {
                self.connected = Some(coordinator);
                Ok(coordinator)
            }
        }
    }

    fn record(&self, sent: Sent) {
        lock(&self.script.0).log.push(sent);
    }
}

impl OffsetRequests for FakeCoordinator {
    async fn commit(
        &mut self,
        _me: &Identity,
        epoch: i32,
        _topic: &str,
        offsets: &BTreeMap<i32, i64>,
    ) -> Result<(), GroupError> {
        self.reach()?;
        self.record(Sent::Commit {
            epoch,
            offsets: offsets.clone(),
        });
        let delay = lock(&self.script.0).commit_delay;
        tokio::time::sleep(delay).await;
        let mut state = lock(&self.script.0);
        if let Some(code) = state.commit_errors.pop_front() {
            return Err(GroupError::from_code("scripted", code.code()).expect("an error"));
        }
        state.committed.extend(offsets);
        Ok(())
    }

    async fn fetch_offsets(
        &mut self,
        _topic: &str,
        partitions: &[i32],
    ) -> Result<BTreeMap<i32, Option<i64>>, GroupError> {
        self.reach()?;
        self.record(Sent::OffsetFetch {
            partitions: partitions.to_vec(),
        });
        let delay = lock(&self.script.0).fetch_delay;
        tokio::time::sleep(delay).await;
        let committed = self.script.committed();
        Ok(partitions.iter().map(|p| (*p, committed.get(p).copied())).collect())
    }
}

impl Coordinator for FakeCoordinator {
    fn another(&self) -> Self {
        Self::new(self.script.clone())
    }

    async fn heartbeat(&mut self, beat: &Beat) -> Result<Answer, GroupError> {
        let broker = self.reach()?;
        self.record(Sent::Heartbeat {
            beat: beat.clone(),
            broker,
        });
        let answer = self.script.answer(beat);
        if let Err(GroupError::Rediscover { .. }) = &answer {
            self.connected = None;
        }
        answer
    }

    async fn topic_id(&mut self, _topic: &str) -> Result<Option<Uuid>, GroupError> {
        self.reach()?;
        self.record(Sent::Metadata);
        Ok(Some(TOPIC_ID))
    }
}
