//! The group as Apache Kafka's own tooling sees it. `kafka-consumer-groups.sh` (the ConsumerGroupCommand
//! class) is what kafka-ui and every Kafka operator rely on: it must list kafka-lab's members with their
//! client id, host and partitions, and its offsets and lag must agree with the consumers' `/status`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use support::group::{ids, post_ids, status, wait_for_assignment};
use support::kafka::run_tool;
use support::lab::Lab;
use support::{eventually, Flavor, Service};

const SETTLE: Duration = Duration::from_secs(30);
const GROUP_COMMAND: &str = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand";

#[tokio::test]
async fn kafka_consumer_groups_describes_our_members_offsets_and_lag_on_kafka() {
    let lab = Lab::start(Flavor::Kafka).await;
    let group = lab.group("described-group");
    let members = [lab.consumer(&group).await, lab.consumer(&group).await];
    let owned = wait_for_assignment(&[&members[0], &members[1]], &[1, 1], SETTLE).await;
    post_ids(&lab.producer, 1..=10).await;
    let committed = wait_until_all_committed(&lab, &members, 10).await;

    let bootstrap = lab.cluster.bootstrap();
    let args = ["--bootstrap-server", &bootstrap, "--describe", "--group", &group];
    let listed = run_tool(GROUP_COMMAND, &[&args[..], &["--members", "--verbose"]].concat());
    println!("{listed}");
    let rows = table(&listed);
    assert_eq!(rows.len(), 2, "two members:\n{listed}");
    for (member, partitions) in members.iter().zip(&owned) {
        let member_id = status(member).await["member_id"].as_str().unwrap().to_string();
        let row = rows
            .iter()
            .find(|r| r["CONSUMER-ID"] == member_id)
            .unwrap_or_else(|| panic!("{member_id} is not listed:\n{listed}"));
        assert_eq!(row["CLIENT-ID"], "kafka-lab", "{listed}");
        assert_eq!(row["HOST"], "/127.0.0.1", "{listed}");
        // Kafka 4.x lists a member's partitions as `topic:0,1` under CURRENT-ASSIGNMENT.
        let assignment: Vec<String> = partitions.iter().map(|p| p.to_string()).collect();
        let expected = format!("{}:{}", lab.topic, assignment.join(","));
        assert_eq!(row["CURRENT-ASSIGNMENT"], expected, "{listed}");
    }

    let offsets = run_tool(GROUP_COMMAND, &args);
    let rows = table(&offsets);
    assert_eq!(rows.len(), 2, "one row per partition:\n{offsets}");
    for row in rows {
        let partition: i64 = row["PARTITION"].parse().unwrap();
        let (committed, lag) = committed[&partition];
        assert_eq!(row["CURRENT-OFFSET"], committed.to_string(), "{offsets}");
        assert_eq!(row["LAG"], lag.to_string(), "{offsets}");
        assert_eq!(row["LOG-END-OFFSET"], (committed + lag).to_string(), "{offsets}");
    }
}

/// Waits until the members consumed `count` events and committed all of them; returns partition →
/// (committed offset, lag) as their `/status` says.
async fn wait_until_all_committed(lab: &Lab, members: &[Service], count: usize) -> BTreeMap<i64, (i64, i64)> {
    eventually(SETTLE, "every event consumed and committed", || async {
        let mut consumed = BTreeSet::new();
        let mut offsets = BTreeMap::new();
        for member in members {
            consumed.extend(ids(member).await);
            for p in status(member).await["partitions"].as_array()?.clone() {
                let committed = p["committed"].as_i64()?;
                (Some(committed) == p["position"].as_i64()).then_some(())?;
                offsets.insert(p["partition"].as_i64()?, (committed, p["lag"].as_i64()?));
            }
        }
        let total: i64 = offsets.values().map(|(c, _)| c).sum();
        let expected_end = lab.cluster.end_offset(&lab.topic, 0).await + lab.cluster.end_offset(&lab.topic, 1).await;
        (consumed.len() == count && total == expected_end && offsets.len() == 2).then_some(offsets)
    })
    .await
}

/// Reads the tool's table (a header line of column names, then rows) into column → value maps.
fn table(output: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = output.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .find(|l| l.starts_with("GROUP"))
        .unwrap_or_else(|| panic!("no table in:\n{output}"))
        .split_whitespace()
        .collect();
    lines
        .map(|line| {
            let cells = line.split_whitespace().map(str::to_string);
            header.iter().map(|h| h.to_string()).zip(cells).collect()
        })
        .collect()
}
