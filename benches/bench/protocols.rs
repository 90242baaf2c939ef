//! The two consumer group protocols side by side on Apache Kafka (`make bench BROKER=kafka`): hand-over after
//! SIGINT and SIGKILL under the consumer protocol (KIP-848; the classic rows come first), and how long the
//! partition that did **not** move waited while a second member joined, under each protocol.
//!
//! The test cluster gives consumer-protocol groups a 6 s session and 500 ms heartbeats (the broker's
//! settings, see `support::kafka`), about what the classic members set for themselves here (6 s, 600 ms).

use super::*;

/// The consumer-protocol rows, after the classic hand-over rows.
pub async fn run(bench: &mut Bench) {
    let env = [("GROUP_PROTOCOL", "consumer")];
    let first = bench.consumer("handover", "bench-handover-848", &env).await;
    let second = bench.consumer("handover", "bench-handover-848", &env).await;
    let who = "GROUP_PROTOCOL=consumer: SIG{signal} of a member";
    let survivor = bench.handover_as(who, [first, second], "INT").await;
    let newcomer = bench.consumer("handover", "bench-handover-848", &env).await;
    bench.handover_as(who, [survivor, newcomer], "KILL").await;
    for protocol in ["classic", "consumer"] {
        bench.kept_partition_pause(protocol).await;
    }
    bench.report.note(
        "Pause of the partition that did not move: one member owns both partitions while an event is posted \
         every 20 ms; a second member joins and takes one. The longest produced → consumed wait of the \
         other partition's events from the join until 2 s after the group settled; in brackets the same over \
         the 2 s before the join (what the machine's load costs anyway). The classic member stops both \
         partitions and starts the kept one again after SyncGroup; the consumer-protocol member never stops it.",
    );
}

impl Bench {
    /// A member owns both partitions; a second joins; the longest wait of the partition the first kept.
    async fn kept_partition_pause(&mut self, protocol: &'static str) {
        let topic = format!("pause-{protocol}");
        self.broker.create_topic(&topic, 2).await;
        let group = format!("bench-pause-{protocol}");
        let session = self.handover_session_ms.to_string();
        let env = match protocol {
            "classic" => vec![("SESSION_TIMEOUT_MS", session.as_str())],
            _ => vec![("GROUP_PROTOCOL", protocol)],
        };
        let first = self.consumer(&topic, &group, &env).await;
        let ready = wait_assigned(&[first.port], 2, Duration::from_secs(30)).await;
        let stop = Arc::new(AtomicBool::new(false));
        let poster = tokio::spawn(post_every_20_ms(self.producer.port, topic.clone(), stop.clone()));
        sleep(Duration::from_secs(2)).await;
        let joined = stamp_ms(&wall_clock()).unwrap_or_default();
        let second = self.consumer(&topic, &group, &env).await;
        let settled = ready && wait_assigned(&[first.port, second.port], 2, Duration::from_secs(30)).await;
        sleep(Duration::from_secs(2)).await;
        stop.store(true, Ordering::SeqCst);
        let _ = poster.await;
        sleep(Duration::from_millis(500)).await;

        let kept = get_json(first.port, "/status")
            .await
            .and_then(|s| s["partitions"][0]["partition"].as_i64());
        let waits = kept_waits(first.port, kept).await;
        let longest = |during: bool| {
            let waits = waits.iter().filter(|(produced, _)| (*produced >= joined) == during);
            waits.map(|(_, wait)| *wait).reduce(f64::max)
        };
        let during = longest(true).filter(|_| settled);
        let metric = format!("{protocol} protocol: longest wait of the partition that did not move");
        let target = Info("a second member joins and takes the other partition");
        self.report
            .add("rebalance pause", &[(&metric, during, "ms", target, "")]);
        self.report.note(format!(
            "{protocol} protocol, kept partition P{}: longest wait {} while the second member joined ({} before).",
            kept.map_or("?".into(), |p| p.to_string()),
            during.map_or("not measured".into(), |ms| format!("{ms:.0} ms")),
            longest(false).map_or("?".into(), |ms| format!("{ms:.0} ms")),
        ));
    }
}

/// `(produced, consumed − produced)` in ms of every event of partition `kept` a consumer holds.
async fn kept_waits(port: u16, kept: Option<i64>) -> Vec<(f64, f64)> {
    let mut cursor = 0;
    let events = read_new(port, &mut cursor).await;
    let kept_events = events.iter().filter(|e| e["partition"].as_i64() == kept);
    let stamps = kept_events.filter_map(|e| {
        let produced = stamp_ms(e["event"]["produced"].as_str()?)?;
        let consumed = stamp_ms(e["event"]["consumed"].as_str()?)?;
        Some((produced, consumed - produced))
    });
    stamps.collect()
}

/// Posts `{"topic": topic, "id": n}` about every 20 ms until `stop`.
async fn post_every_20_ms(port: u16, topic: String, stop: Arc<AtomicBool>) {
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    for id in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        ticker.tick().await;
        let _ = http::post_json(port, "/", &json!({ "topic": topic, "id": id }).to_string()).await;
    }
}
