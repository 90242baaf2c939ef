//! The fault suite (`make chaos`; a shorter form runs in `make test`): the workshop's lab under load while
//! things go wrong, with numbers. A client posts unique ids at about 300 events/s; two consumers of one group
//! are read as the lab page reads them, one once a second and one 20 times a second. Then one fault per
//! scenario: a consumer stopped (SIGINT) or killed (SIGKILL), the brokers frozen past a session timeout,
//! both brokers killed and restarted (Apache Kafka keeps its data), one of two brokers stopped, the
//! coordinator's broker stopped, the topic deleted (and created again by hand).
//!
//! For each: every acknowledged event must reach a reader (**lost 0**) unless the broker itself no longer
//! has it; duplicates, the recovery time and what `/status` said are reported. The table goes to
//! `target/chaos/report-<broker>.md`. `CHAOS_SECONDS` sets how long the load runs before and after each
//! fault (3 s in `make test`, 15 s in `make chaos`).

#[path = "../support/mod.rs"]
mod support;

mod load;
mod report;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kafka_lab::group::client::find_coordinator;
use load::{Follower, PacedPosts, Seen};
use report::Outcome;
use support::group::wait_for_owned;
use support::{Cluster, Flavor, Service};

/// The workshop's pace of clicks, give or take: far above a class's, low enough for a loaded laptop.
const EVENTS_PER_SECOND: u32 = 300;
/// The lab page's read rate, and a fast reader's.
const PAGE_READS: Duration = Duration::from_secs(1);
const FAST_READS: Duration = Duration::from_millis(50);
/// How long recovery and draining may take before the scenario counts as failed.
const PATIENCE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    ConsumerStopped,
    ConsumerKilled,
    BrokersFrozen,
    BrokersRestarted,
    OneBrokerStopped,
    CoordinatorStopped,
    TopicDeleted,
}

impl Fault {
    const ALL: [Fault; 7] = [
        Fault::ConsumerStopped,
        Fault::ConsumerKilled,
        Fault::BrokersFrozen,
        Fault::BrokersRestarted,
        Fault::OneBrokerStopped,
        Fault::CoordinatorStopped,
        Fault::TopicDeleted,
    ];

    fn name(self) -> &'static str {
        match self {
            Fault::ConsumerStopped => "consumer stopped (SIGINT)",
            Fault::ConsumerKilled => "consumer killed (SIGKILL)",
            Fault::BrokersFrozen => "brokers frozen past a session",
            Fault::BrokersRestarted => "brokers restarted",
            Fault::OneBrokerStopped => "one of two brokers stopped",
            Fault::CoordinatorStopped => "coordinator's broker stopped",
            Fault::TopicDeleted => "topic deleted",
        }
    }

    fn slug(self) -> String {
        format!("{self:?}").to_lowercase()
    }

    /// Tansu is one broker keeping its data in memory: a restart loses everything, and there is no second
    /// broker to stop.
    fn runs_on(self, flavor: Flavor) -> bool {
        let needs_two_brokers = matches!(
            self,
            Fault::BrokersRestarted | Fault::OneBrokerStopped | Fault::CoordinatorStopped
        );
        flavor == Flavor::Kafka || !needs_two_brokers
    }
}

fn load_time() -> Duration {
    let seconds = std::env::var("CHAOS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    Duration::from_secs(seconds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_on_kafka() {
    let _turn = support::one_at_a_time().await;
    run(Flavor::Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_on_tansu() {
    let _turn = support::one_at_a_time().await;
    run(Flavor::Tansu).await;
}

/// Every scenario that applies to `flavor`, one after the other (Apache Kafka: on one cluster of the suite's
/// own, brought back to health after each fault; Tansu: a fresh broker each), then the table and the verdict.
async fn run(flavor: Flavor) {
    let mut kafka = match flavor {
        Flavor::Kafka => Some(Cluster::kafka_of_its_own().await),
        Flavor::Tansu => None,
    };
    let mut outcomes = Vec::new();
    // CHAOS_ONLY=topicdeleted (a fault's name in lower case) runs one scenario, when looking into it.
    let only = std::env::var("CHAOS_ONLY").ok();
    let chosen = |f: &Fault| only.as_ref().is_none_or(|name| *name == f.slug());
    for fault in Fault::ALL.into_iter().filter(|f| f.runs_on(flavor) && chosen(f)) {
        let mut cluster = match kafka.take() {
            Some(cluster) => cluster,
            None => Cluster::tansu().await,
        };
        let outcome = scenario(&mut cluster, fault).await;
        println!("{flavor:?}: {}: lost {:?}", outcome.scenario, outcome.lost());
        outcomes.push(outcome);
        if flavor == Flavor::Kafka {
            kafka = Some(cluster);
        }
    }
    let broker = match flavor {
        Flavor::Kafka => "Apache Kafka 4.4.0 (a controller and two brokers, replication factor 2)",
        Flavor::Tansu => "Tansu (one broker, in memory)",
    };
    let settings = format!(
        "{EVENTS_PER_SECOND} events/s posted, readers at 1/s and 20/s, {} s of load before and after each \
         fault, consumers with {} and AUTO_OFFSET_RESET=earliest.",
        load_time().as_secs(),
        group_settings(flavor)
    );
    let table = report::table(broker, &settings, &outcomes);
    println!("{table}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/chaos");
    std::fs::create_dir_all(&dir).expect("target/chaos");
    let name = format!("report-{}.md", format!("{flavor:?}").to_lowercase());
    std::fs::write(dir.join(name), &table).expect("writing the report");
    for outcome in &outcomes {
        assert!(outcome.lost().is_empty(), "{}: events lost\n{table}", outcome.scenario);
        assert!(outcome.recovery.is_some(), "{}: no recovery\n{table}", outcome.scenario);
        assert!(
            outcome.posts.acked.len() > 100,
            "{}: too little load\n{table}",
            outcome.scenario
        );
    }
}

/// The consumers' session settings (each broker's shortest comfortable session, see `Cluster::fast_group`).
fn group_settings(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Kafka => "SESSION_TIMEOUT_MS=6000, HEARTBEAT_INTERVAL_MS=500",
        Flavor::Tansu => "SESSION_TIMEOUT_MS=3000, HEARTBEAT_INTERVAL_MS=300",
    }
}

/// One scenario: the topic, a producer, two consumers with their readers, load, the fault, load again, then
/// every acknowledged event accounted for.
async fn scenario(cluster: &mut Cluster, fault: Fault) -> Outcome {
    let topic = format!("chaos-{}", fault.slug());
    cluster.create_topic(&topic, 2).await;
    let bootstrap = cluster.bootstrap();
    let producer = Service::producer(&bootstrap, &[("KAFKA_TOPIC", &topic)]).await;
    let mut env = cluster.fast_group().to_vec();
    env.extend([("KAFKA_TOPIC", topic.as_str()), ("AUTO_OFFSET_RESET", "earliest")]);
    let group = format!("chaos-{}", fault.slug());
    let slow = Service::consumer(&bootstrap, &group, &env).await;
    let fast = Service::consumer(&bootstrap, &group, &env).await;
    wait_for_owned(&[&slow, &fast], &[1, 1], PATIENCE).await;
    let mut slow = Some(slow);
    let followers = [
        (
            "page reader (1/s)".to_string(),
            Follower::start(slow.as_ref().unwrap().port, PAGE_READS),
        ),
        ("fast reader (20/s)".to_string(), Follower::start(fast.port, FAST_READS)),
    ];
    let posts = PacedPosts::start(producer.port, EVENTS_PER_SECOND);
    tokio::time::sleep(load_time()).await;

    let (what, aftermath) = apply(fault, cluster, &mut slow, &topic, &group).await;
    let (boundary, ended) = (posts.next_id(), Instant::now());
    let recovery = recovered(&followers, boundary, ended).await;
    tokio::time::sleep(load_time()).await;
    if let Some(index) = aftermath {
        restart_broker(cluster, index).await;
    }
    let posts = posts.stop().await;
    drain(&followers, &posts.acked, cluster, &topic).await;

    let mut seen: Vec<(String, Seen)> = Vec::new();
    for (who, follower) in followers {
        seen.push((who, follower.stop().await));
    }
    let in_log = ids_in_log(cluster, &topic).await;
    let mut outcome = Outcome::new(fault.name(), what, posts, &seen, in_log);
    outcome.recovery = recovery;
    let logs = [Some(&producer), Some(&fast), slow.as_ref()].map(|s| s.map(|s| s.log.display().to_string()));
    println!("{}: logs {logs:?}", fault.name());
    drop((producer, fast, slow));
    outcome
}

/// Does the fault and says what it did (a consumer fault takes `slow`). Returns the index of a broker to start
/// again after the second stretch of load, if the fault leaves one stopped.
async fn apply(
    fault: Fault,
    cluster: &mut Cluster,
    slow: &mut Option<Service>,
    topic: &str,
    group: &str,
) -> (String, Option<usize>) {
    let session = session_ms(cluster);
    match fault {
        Fault::ConsumerStopped | Fault::ConsumerKilled => {
            let signal = if fault == Fault::ConsumerStopped { "INT" } else { "KILL" };
            let mut victim = slow.take().expect("the page-read consumer");
            let status = tokio::task::spawn_blocking(move || victim.signal(signal))
                .await
                .unwrap();
            (format!("SIG{signal} of the page-read consumer ({status})"), None)
        }
        Fault::BrokersFrozen => {
            let frozen = Duration::from_millis(session + 2000);
            cluster.pause_brokers();
            tokio::time::sleep(frozen).await;
            cluster.resume_brokers();
            (
                format!("SIGSTOP for {:.0} s (session {session} ms)", frozen.as_secs_f64()),
                None,
            )
        }
        Fault::BrokersRestarted => {
            let started = Instant::now();
            tokio::task::block_in_place(|| {
                let kafka = cluster.own_kafka();
                (0..2).for_each(|i| kafka.kill_broker(i));
                std::thread::sleep(Duration::from_secs(3));
                (0..2).for_each(|i| kafka.restart_broker(i));
            });
            let down = started.elapsed().as_secs_f64();
            (format!("both brokers SIGKILLed, started again {down:.0} s later"), None)
        }
        Fault::OneBrokerStopped => {
            tokio::task::block_in_place(|| cluster.own_kafka().stop_broker(1));
            (
                "the second broker stopped (SIGTERM), started again after the load".into(),
                Some(1),
            )
        }
        Fault::CoordinatorStopped => {
            let brokers: Vec<String> = cluster.bootstrap().split(',').map(str::to_string).collect();
            let plaintext = std::sync::Arc::new(kafka_lab::security::Security::plaintext());
            let coordinator = find_coordinator(&brokers, &plaintext, group)
                .await
                .expect("the coordinator");
            let index = brokers.iter().position(|b| *b == coordinator).expect("one of ours");
            tokio::task::block_in_place(|| cluster.own_kafka().stop_broker(index));
            let what =
                format!("the coordinator's broker ({coordinator}) stopped (SIGTERM), started again after the load");
            (what, Some(index))
        }
        Fault::TopicDeleted => {
            cluster.delete_topic(topic).await;
            tokio::time::sleep(Duration::from_secs(3)).await;
            cluster.create_topic(topic, 2).await;
            ("deleted, created again by hand 3 s later".into(), None)
        }
    }
}

async fn restart_broker(cluster: &Cluster, index: usize) {
    tokio::task::block_in_place(|| cluster.own_kafka().restart_broker(index));
}

fn session_ms(cluster: &Cluster) -> u64 {
    cluster.fast_group()[0].1.parse().expect("SESSION_TIMEOUT_MS")
}

/// How long after `ended` the readers had events posted after it (ids from `boundary`) from both partitions.
async fn recovered(followers: &[(String, Follower)], boundary: i64, ended: Instant) -> Option<Duration> {
    while ended.elapsed() < PATIENCE {
        let mut first_by_partition = BTreeMap::new();
        for (_, follower) in followers {
            for event in follower.seen().events.iter().filter(|e| e.id >= boundary) {
                let first = first_by_partition.entry(event.partition).or_insert(event.at);
                *first = (*first).min(event.at);
            }
        }
        if first_by_partition.len() == 2 {
            let latest = first_by_partition.values().max().copied().unwrap_or(ended);
            return Some(latest.saturating_duration_since(ended));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Waits until the readers together have every acknowledged event the log still holds (or [`PATIENCE`]
/// passed).
async fn drain(followers: &[(String, Follower)], acked: &BTreeSet<i64>, cluster: &Cluster, topic: &str) {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        let read: BTreeSet<i64> = followers
            .iter()
            .flat_map(|(_, f)| f.seen().events.into_iter().map(|e| e.id))
            .collect();
        let unread: BTreeSet<i64> = acked.difference(&read).copied().collect();
        if unread.is_empty() || unread.is_disjoint(&ids_in_log(cluster, topic).await) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The ids the topic's log holds now.
async fn ids_in_log(cluster: &Cluster, topic: &str) -> BTreeSet<i64> {
    let mut ids = BTreeSet::new();
    for partition in 0..2 {
        for (_, _, event) in cluster.read_all(topic, partition).await {
            ids.extend(event["id"].as_i64());
        }
    }
    ids
}
