//! Interoperability: a kafka-lab consumer and an aiokafka consumer share one consumer group.
//!
//! Both speak Kafka's classic group protocol to the same coordinator; whichever joins first leads and
//! computes the assignment for both. Each must then receive exactly the events of its own partition.

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use support::group::{ids, owned, post_ids, FAST_GROUP};
use support::{eventually, Broker, Service};

const SETTLE: Duration = Duration::from_secs(40);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Installs aiokafka into .tools/python (once per test run); fails loudly if it cannot.
fn python_path() -> PathBuf {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let status = Command::new("bash")
                .arg(root().join("scripts/install-aiokafka.sh"))
                .status();
            assert!(
                status.is_ok_and(|s| s.success()),
                "installing aiokafka failed; see the output above"
            );
            root().join(".tools/python")
        })
        .clone()
}

/// An aiokafka group member running `tests/interop/aiokafka_member.py`, its JSON lines kept in a file.
struct AiokafkaMember {
    child: Child,
    output: PathBuf,
}

impl AiokafkaMember {
    fn start(broker: &Broker, group: &str) -> Self {
        let output = root().join(format!("target/test-logs/aiokafka-{}-{group}.jsonl", broker.port));
        let file = std::fs::File::create(&output).expect("aiokafka output file");
        let child = Command::new("python3")
            .arg(root().join("tests/interop/aiokafka_member.py"))
            .env("PYTHONPATH", python_path())
            .env("KAFKA_BOOTSTRAP_SERVERS", broker.address())
            .env("KAFKA_TOPIC", "first-topic")
            .env("CONSUMER_GROUP", group)
            .stdout(Stdio::from(file))
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting python3");
        Self { child, output }
    }

    fn lines(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.output).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    fn assignment(&self) -> Option<BTreeSet<i64>> {
        let last = self.lines().into_iter().rfind(|l| l["assignment"].is_array())?;
        Some(
            last["assignment"]
                .as_array()?
                .iter()
                .filter_map(Value::as_i64)
                .collect(),
        )
    }

    fn received(&self) -> Vec<(i64, i64)> {
        let lines = self.lines().into_iter().filter(|l| l["partition"].is_i64());
        lines
            .map(|l| {
                (
                    l["partition"].as_i64().unwrap(),
                    l["value"]["id"].as_i64().unwrap_or(-1),
                )
            })
            .collect()
    }
}

impl Drop for AiokafkaMember {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn kafka_lab_member(broker: &Broker) -> Service {
    let mut env = FAST_GROUP.to_vec();
    env.push(("AUTO_OFFSET_RESET", "earliest"));
    Service::consumer(&broker.address(), "mixed-group", &env).await
}

/// Waits until both members own one partition each, different ones; returns kafka-lab's partition.
async fn wait_for_split(ours: &Service, theirs: &AiokafkaMember) -> i64 {
    eventually(SETTLE, "kafka-lab and aiokafka to split the partitions", || async {
        let our_partitions = owned(ours).await?;
        let their_partitions = theirs.assignment()?;
        let split = our_partitions.len() == 1 && their_partitions.len() == 1 && our_partitions != their_partitions;
        split.then(|| *our_partitions.first().unwrap())
    })
    .await
}

/// Posts 20 events and checks that each member received exactly the events of its partition.
async fn check_each_gets_its_partition(broker: &Broker, ours: &Service, theirs: &AiokafkaMember, our_partition: i64) {
    let producer = Service::producer(&broker.address(), &[]).await;
    post_ids(&producer, 1..=20).await;
    let their_partition = 1 - our_partition;
    let on = |partition: i64| async move {
        let records = broker.read_all("first-topic", partition as i32).await;
        records
            .iter()
            .filter_map(|(_, _, v)| v["id"].as_i64())
            .collect::<BTreeSet<i64>>()
    };
    let (ours_expected, theirs_expected) = (on(our_partition).await, on(their_partition).await);
    assert_eq!(ours_expected.len() + theirs_expected.len(), 20);
    eventually(SETTLE, "both members to receive their partition's events", || async {
        let got_ours: BTreeSet<i64> = ids(ours).await.into_iter().collect();
        let got_theirs: BTreeSet<i64> = theirs.received().into_iter().map(|(_, id)| id).collect();
        (got_ours == ours_expected && got_theirs == theirs_expected).then_some(())
    })
    .await;
    assert!(theirs.received().iter().all(|(p, _)| *p == their_partition));
    assert_eq!(
        ids(ours).await.len(),
        ours_expected.len(),
        "kafka-lab received no duplicates"
    );
}

#[tokio::test]
async fn aiokafka_leads_and_kafka_lab_follows() {
    let broker = Broker::start().await;
    broker.create_topic("first-topic", 2);
    let theirs = AiokafkaMember::start(&broker, "mixed-group");
    eventually(SETTLE, "aiokafka to own both partitions", || async {
        (theirs.assignment()?.len() == 2).then_some(())
    })
    .await;
    let ours = kafka_lab_member(&broker).await;
    let our_partition = wait_for_split(&ours, &theirs).await;
    assert!(
        !support::group::status(&ours).await["leader"].as_bool().unwrap(),
        "aiokafka leads"
    );
    check_each_gets_its_partition(&broker, &ours, &theirs, our_partition).await;
}

#[tokio::test]
async fn kafka_lab_leads_and_aiokafka_follows() {
    let broker = Broker::start().await;
    broker.create_topic("first-topic", 2);
    let ours = kafka_lab_member(&broker).await;
    support::group::wait_for_assignment(&[&ours], &[2], SETTLE).await;
    let theirs = AiokafkaMember::start(&broker, "mixed-group");
    let our_partition = wait_for_split(&ours, &theirs).await;
    let status = support::group::status(&ours).await;
    assert!(status["leader"].as_bool().unwrap(), "kafka-lab leads: {status}");
    assert_eq!(status["assignor"], "roundrobin");
    check_each_gets_its_partition(&broker, &ours, &theirs, our_partition).await;
}
