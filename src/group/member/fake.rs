//! A scripted coordinator and data path, for testing the member's state machine without a network.
//!
//! Kafka's Java client tests its coordinator the same way (`ConsumerCoordinatorTest` with a `MockClient`):
//! each request the member makes is recorded, and answered from a script. Whatever a test did not script
//! is answered the way a healthy single-member group would: JoinGroup makes the member leader of the next
//! generation, SyncGroup hands out what the leader assigned, OffsetFetch returns what was committed, and
//! everything else succeeds. Time is tokio's paused test clock, so heartbeats and commit intervals are
//! exact and a test of a 10 s session timeout takes no real time.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;

use crate::consume::{lock, DataPath, Fetchers, Progress};
use crate::group::client::{Identity, Joined, JoinedMember, Membership};
use crate::group::commits::OffsetRequests;
use crate::group::error::GroupError;
use crate::group::link::{Coordinator, Timeouts};
use crate::group::protocol::{encode_assignment, Assignment};
use crate::store::{Limits, Read, Run, Store};

/// The topic of every test: two partitions.
pub const TOPIC: &str = "topic";

/// The group requests, as the script and the log name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Api {
    FindCoordinator,
    JoinGroup,
    SyncGroup,
    Heartbeat,
    OffsetCommit,
    OffsetFetch,
    LeaveGroup,
}

/// A scripted answer to the next request of one kind.
#[derive(Debug, Clone)]
pub enum Answer {
    /// What a healthy coordinator answers.
    Ok,
    /// A Kafka error code.
    Error(ResponseError),
    /// JoinGroup only: MEMBER_ID_REQUIRED, with this member id to join again with.
    MemberIdRequired(&'static str),
    /// The connection breaks.
    Broken,
    /// The answer (the next one in the script) comes after this long, or the request times out first.
    Slow(Duration),
}

/// One request the member made, as the coordinator saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub api: Api,
    /// Which broker received it (the coordinator can move).
    pub broker: u32,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub generation: i32,
    /// OffsetCommit only.
    pub offsets: BTreeMap<i32, i64>,
}

#[derive(Default)]
struct State {
    answers: BTreeMap<Api, VecDeque<Answer>>,
    log: Vec<Request>,
    /// The broker FindCoordinator names.
    coordinator: u32,
    generation: i32,
    members_created: u32,
    committed: BTreeMap<i32, i64>,
}

/// The script and the log, shared by the test and every link the member opens.
#[derive(Clone, Default)]
pub struct Script(Arc<Mutex<State>>);

impl Script {
    pub fn new() -> Self {
        let script = Self::default();
        lock(&script.0).coordinator = 1;
        script
    }

    /// Answers the next requests of kind `api` with `answers`, in order.
    pub fn answer(&self, api: Api, answers: impl IntoIterator<Item = Answer>) {
        lock(&self.0).answers.entry(api).or_default().extend(answers);
    }

    /// From now on FindCoordinator names `broker`.
    pub fn move_coordinator_to(&self, broker: u32) {
        lock(&self.0).coordinator = broker;
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Request> {
        lock(&self.0).log.clone()
    }

    /// The requests of one kind so far.
    pub fn requests(&self, api: Api) -> Vec<Request> {
        self.log().into_iter().filter(|r| r.api == api).collect()
    }

    /// What the group has committed.
    pub fn committed(&self) -> BTreeMap<i32, i64> {
        lock(&self.0).committed.clone()
    }

    fn next(&self, api: Api) -> Answer {
        let mut state = lock(&self.0);
        state
            .answers
            .get_mut(&api)
            .and_then(VecDeque::pop_front)
            .unwrap_or(Answer::Ok)
    }

    fn record(&self, request: Request) {
        lock(&self.0).log.push(request);
    }
}

/// One link to the scripted coordinator, as [`crate::group::link::CoordinatorLink`] is one to a real one.
pub struct FakeCoordinator {
    script: Script,
    timeouts: Timeouts,
    /// The broker this link is connected to, if any.
    connected: Option<u32>,
}

impl FakeCoordinator {
    pub fn new(script: Script, timeouts: Timeouts) -> Self {
        Self {
            script,
            timeouts,
            connected: None,
        }
    }

    /// Finds the coordinator if needed, records the request, and plays its scripted answer.
    async fn request(
        &mut self,
        api: Api,
        me: &Identity,
        generation: i32,
        offsets: &BTreeMap<i32, i64>,
    ) -> Result<Answer, GroupError> {
        if self.connected.is_none() {
            self.record(Api::FindCoordinator, me, -1, &BTreeMap::new());
            self.play(Api::FindCoordinator).await?;
            self.connected = Some(lock(&self.script.0).coordinator);
        }
        self.record(api, me, generation, offsets);
        self.play(api).await
    }

    fn record(&self, api: Api, me: &Identity, generation: i32, offsets: &BTreeMap<i32, i64>) {
        self.script.record(Request {
            api,
            broker: self.connected.unwrap_or(0),
            member_id: me.member_id.clone(),
            instance_id: me.instance_id.clone(),
            generation,
            offsets: offsets.clone(),
        });
    }

    /// Waits out `Slow` answers (up to the request's timeout), then turns the answer into a result.
    async fn play(&mut self, api: Api) -> Result<Answer, GroupError> {
        let timeout = self.timeout(api);
        let mut waited = Duration::ZERO;
        let answer = loop {
            match self.script.next(api) {
                Answer::Slow(delay) if waited + delay >= timeout => {
                    tokio::time::sleep(timeout - waited).await;
                    self.connected = None;
                    return Err(GroupError::Rediscover {
                        context: "connection",
                        reason: format!("{api:?}: no answer within {timeout:?}"),
                    });
                }
                Answer::Slow(delay) => {
                    tokio::time::sleep(delay).await;
                    waited += delay;
                }
                answer => break answer,
            }
        };
        let result = match &answer {
            Answer::Error(error) => Err(GroupError::from_code("scripted", error.code()).expect("an error code")),
            Answer::Broken => Err(GroupError::Rediscover {
                context: "connection",
                reason: "connection reset by peer".into(),
            }),
            _ => Ok(answer),
        };
        if let Err(GroupError::Rediscover { .. }) = &result {
            self.connected = None;
        }
        result
    }

    fn timeout(&self, api: Api) -> Duration {
        match api {
            Api::JoinGroup | Api::SyncGroup => self.timeouts.rebalance + Duration::from_secs(10),
            Api::Heartbeat | Api::OffsetCommit => self.timeouts.session,
            _ => Duration::from_secs(10),
        }
    }

    /// A healthy JoinGroup answer: this member leads the next generation alone.
    fn joined(&self, me: &Identity, assignors: &[(&'static str, Bytes)]) -> Membership {
        let mut state = lock(&self.script.0);
        state.generation += 1;
        let member_id = if me.member_id.is_empty() {
            state.members_created += 1;
            format!("member-{}", state.members_created)
        } else {
            me.member_id.clone()
        };
        let (assignor, metadata) = assignors.first().cloned().unwrap_or(("range", Bytes::new()));
        Membership {
            generation: state.generation,
            member_id: member_id.clone(),
            leader_id: member_id.clone(),
            assignor: assignor.to_string(),
            members: vec![JoinedMember {
                member_id,
                instance_id: me.instance_id.clone(),
                metadata,
            }],
            skip_assignment: false,
        }
    }
}

impl OffsetRequests for FakeCoordinator {
    async fn commit(
        &mut self,
        me: &Identity,
        generation: i32,
        _topic: &str,
        offsets: &BTreeMap<i32, i64>,
    ) -> Result<(), GroupError> {
        self.request(Api::OffsetCommit, me, generation, offsets).await?;
        lock(&self.script.0).committed.extend(offsets);
        Ok(())
    }

    async fn fetch_offsets(
        &mut self,
        _topic: &str,
        partitions: &[i32],
    ) -> Result<BTreeMap<i32, Option<i64>>, GroupError> {
        let nobody = Identity::default();
        self.request(Api::OffsetFetch, &nobody, -1, &BTreeMap::new()).await?;
        let committed = self.script.committed();
        Ok(partitions.iter().map(|p| (*p, committed.get(p).copied())).collect())
    }
}

impl Coordinator for FakeCoordinator {
    fn another(&self) -> Self {
        Self::new(self.script.clone(), self.timeouts)
    }

    fn forget(&mut self) {
        self.connected = None;
    }

    async fn join(&mut self, me: &Identity, assignors: &[(&'static str, Bytes)]) -> Result<Joined, GroupError> {
        match self.request(Api::JoinGroup, me, -1, &BTreeMap::new()).await? {
            Answer::MemberIdRequired(id) => Ok(Joined::MemberIdRequired(id.to_string())),
            _ => Ok(Joined::Member(self.joined(me, assignors))),
        }
    }

    async fn sync(
        &mut self,
        me: &Identity,
        membership: &Membership,
        assignments: Vec<(String, Bytes)>,
    ) -> Result<Bytes, GroupError> {
        self.request(Api::SyncGroup, me, membership.generation, &BTreeMap::new())
            .await?;
        let mine = assignments.into_iter().find(|(member, _)| *member == me.member_id);
        let everything = Assignment::from([(TOPIC.to_string(), vec![0, 1])]);
        Ok(mine.map_or_else(
            || encode_assignment(&everything).expect("encodable"),
            |(_, bytes)| bytes,
        ))
    }

    async fn heartbeat(&mut self, me: &Identity, generation: i32) -> Result<(), GroupError> {
        self.request(Api::Heartbeat, me, generation, &BTreeMap::new())
            .await
            .map(drop)
    }

    async fn leave(&mut self, me: &Identity) -> Result<(), GroupError> {
        self.request(Api::LeaveGroup, me, -1, &BTreeMap::new()).await.map(drop)
    }
}

/// The data path of a test: `TOPIC` with two partitions, starting at offset 0, read as far as the test says.
/// Its store is the real one, so what may be committed is what readers had ("committed = processed").
#[derive(Clone)]
pub struct FakeData {
    progress: Arc<Mutex<BTreeMap<i32, Progress>>>,
    store: Arc<Store>,
}

impl Default for FakeData {
    fn default() -> Self {
        let limits = Limits {
            events: 10_000,
            bytes: 1 << 20,
        };
        let run = Run {
            id: "test-run".into(),
            first_seq: 1,
        };
        Self {
            progress: Arc::default(),
            store: Arc::new(Store::new(limits, run)),
        }
    }
}

impl FakeData {
    /// The member's fetch loops fetch `events` more events of `partition`, and a reader has them all.
    pub fn read(&self, partition: i32, events: i64) {
        self.fetch(partition, events);
        self.store.drain(Read::HandOut);
    }

    /// The member's fetch loops fetch `events` more events of `partition` into the store; no reader has
    /// had them yet.
    pub fn fetch(&self, partition: i32, events: i64) {
        if let Some(progress) = lock(&self.progress).get_mut(&partition) {
            for offset in progress.position..progress.position + events {
                self.store
                    .push(partition, offset, serde_json::json!({ "offset": offset }), 10);
            }
            progress.position += events;
        }
    }
}

impl DataPath for FakeData {
    fn topic(&self) -> &str {
        TOPIC
    }

    async fn partition_counts(&self) -> Result<BTreeMap<String, i32>, GroupError> {
        Ok(BTreeMap::from([(TOPIC.to_string(), 2)]))
    }

    async fn starting_offsets(&self, committed: &BTreeMap<i32, Option<i64>>) -> Result<BTreeMap<i32, i64>, GroupError> {
        Ok(committed.iter().map(|(&p, offset)| (p, offset.unwrap_or(0))).collect())
    }

    fn start_fetching(&self, starts: &BTreeMap<i32, i64>) -> Fetchers {
        let progress = starts
            .iter()
            .map(|(&p, &position)| {
                (
                    p,
                    Progress {
                        position,
                        high_watermark: None,
                        error: None,
                    },
                )
            })
            .collect();
        *lock(&self.progress) = progress;
        Fetchers::scripted(Arc::clone(&self.progress), Arc::clone(&self.store))
    }

    fn invalid_events(&self) -> u64 {
        0
    }
}
