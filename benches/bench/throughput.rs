//! Scenario 2, producer throughput: keep-alive clients posting as fast as they can, at 1, 8, 64 and 256
//! clients. Besides POST/s and latency it reads how many events each Produce request carried (the
//! producer logs every request at debug level), and counts POSTs that took 40 ms or more: the delayed-ACK
//! stall a request of 8 to 64 KB meets (see `kafka_lab::produce::batch`), which batching must not reach.

use std::time::Duration;

use crate::load::post_load;
use crate::probe::{batch_sizes, rss_mib};
use crate::report::{millis, quantile, Target};
use crate::support::Service;
use crate::Bench;
use Target::{AtLeast, AtMost, Info};

/// How many clients post at once, in turn.
const CLIENTS: [usize; 4] = [1, 8, 64, 256];
/// How long each number of clients posts.
const DURATION: Duration = Duration::from_secs(5);
/// A POST this slow met the delayed-ACK stall (or a broker that stalled).
const STALL: Duration = Duration::from_millis(40);

/// The producer before batching (commit f0225b8: one Produce request per POST), built by `make bench`
/// (scripts/build-before-batching.sh). The "≥ 4× today's" and "p50 at one client unchanged" are
/// measured against it in the same run, on the same broker, with the same load client: the machine's speed
/// varies by a third or more from one run to the next, so figures from another day cannot be compared.
pub const BEFORE_BATCHING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/before-batching/release/producer");

/// The topic of one throughput run: `producer` is "now" (ours) or "before".
pub fn load_topic(producer: &str, clients: usize) -> String {
    format!("load-{producer}-{clients}")
}

/// Each run writes to a topic of its own, created just before it: Tansu slows down as a topic grows (a fifth
/// over 30 s of load, for either producer), so every run starts on an empty log.
async fn fresh_topic(bench: &Bench, producer: &str, clients: usize) -> String {
    let topic = load_topic(producer, clients);
    bench.broker.create_topic(&topic, 2).await;
    topic
}

/// What the producer before batching did in this run.
struct Before {
    /// POST p50 with one client, in ms.
    one_client_p50: Option<f64>,
    /// POST/s with 64 clients.
    rate_64: f64,
}

/// The one-client POST p50 target: the "one click still answers in ≤ 1 ms" or, where the producer
/// before batching already took longer in this run (Apache Kafka, where a POST waits for both replicas), its
/// p50: "unchanged".
fn one_client_p50_target(before: &Before) -> f64 {
    before.one_client_p50.unwrap_or(f64::NAN).max(1.0)
}

impl Bench {
    pub async fn producer_throughput(&mut self) {
        let before = self.before_batching().await;
        for clients in CLIENTS {
            let logged = self.producer.plain_logs().len();
            let topic = fresh_topic(self, "now", clients).await;
            let load = post_load(self.producer.port, &topic, clients, DURATION).await;
            let batches = batch_sizes(self.producer.plain_logs().get(logged..).unwrap_or_default());
            self.report_load(clients, &load, &batches, &before);
        }
        let rss = rss_mib(&self.producer);
        self.report.add(
            "footprint",
            &[(
                "producer RSS after the throughput runs",
                rss,
                "MiB",
                Info("bounded"),
                "",
            )],
        );
    }

    /// The producer before batching, with 64 clients and then one; its rows. Its one-client run comes last, so
    /// that ours, which follows at once, meets the brokers in the same state.
    async fn before_batching(&mut self) -> Before {
        let bootstrap = self.broker.bootstrap();
        let old = Service::start(BEFORE_BATCHING, &[("KAFKA_BOOTSTRAP_SERVERS", &bootstrap)]).await;
        let topic = fresh_topic(self, "before", 64).await;
        let many = post_load(old.port, &topic, 64, DURATION).await;
        let topic = fresh_topic(self, "before", 1).await;
        let one = post_load(old.port, &topic, 1, DURATION).await;
        drop(old);
        let before = Before {
            one_client_p50: quantile(&one.latencies, 0.5),
            rate_64: many.ok as f64 / DURATION.as_secs_f64(),
        };
        let errors = Some((one.errors + many.errors) as f64);
        self.report.add(
            "producer throughput",
            &[
                (
                    "before batching (f0225b8), 1 client: POST p50",
                    before.one_client_p50,
                    "ms",
                    Info("—"),
                    "",
                ),
                (
                    "before batching (f0225b8), 64 clients: 2xx",
                    Some(before.rate_64),
                    "req/s",
                    Info("—"),
                    "",
                ),
                ("before batching (f0225b8): errors", errors, "errors", AtMost(0.0), ""),
            ],
        );
        before
    }

    fn report_load(&mut self, clients: usize, load: &crate::load::Load, batches: &[u64], before: &Before) {
        let rate = load.ok as f64 / DURATION.as_secs_f64();
        self.best_post_rate = self.best_post_rate.max(rate);
        if clients == 64 {
            self.post_rate_64 = rate;
        }
        let p50_target = if clients == 1 {
            AtMost(one_client_p50_target(before))
        } else {
            Info("—")
        };
        let stalls = load.latencies.iter().filter(|d| **d >= STALL).count();
        let mean_batch = (!batches.is_empty()).then(|| batches.iter().sum::<u64>() as f64 / batches.len() as f64);
        let name = |what: &str| format!("{clients} client{}: {what}", if clients == 1 { "" } else { "s" });
        self.report.add(
            "producer throughput",
            &[
                (&name("2xx"), Some(rate), "req/s", Info("report"), ""),
                (&name("POST p50"), quantile(&load.latencies, 0.5), "ms", p50_target, ""),
                (&name("POST p99"), quantile(&load.latencies, 0.99), "ms", Info("—"), ""),
                (
                    &name("POST max"),
                    load.latencies.last().map(|d| millis(*d)),
                    "ms",
                    Info("—"),
                    "",
                ),
                (
                    &name("POSTs ≥ 40 ms"),
                    Some(stalls as f64),
                    "POSTs",
                    Info("stall check"),
                    "",
                ),
                (
                    &name("events per Produce request, mean"),
                    mean_batch,
                    "events/request",
                    Info("—"),
                    "",
                ),
                (
                    &name("errors (non-2xx or I/O)"),
                    Some(load.errors as f64),
                    "errors",
                    AtMost(0.0),
                    "",
                ),
            ],
        );
        if clients == 64 {
            let ratio = rate / before.rate_64.max(1.0);
            let row = ("64 clients: 2xx ÷ before batching", Some(ratio), "×", AtLeast(4.0), "");
            self.report.add("producer throughput", &[row]);
        }
        let largest = batches.iter().max().copied().unwrap_or(0);
        self.report.note(format!(
            "{}: {} Produce requests for {} POSTs, the largest carrying {largest} events.",
            name("batches"),
            batches.len(),
            load.ok + load.errors
        ));
    }
}
