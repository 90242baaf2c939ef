//! Scenario 2, producer throughput: keep-alive clients posting as fast as they can, at 1, 8, 64 and 256
//! clients. Besides POST/s and latency it reads how many events each Produce request carried (the
//! producer logs every request at debug level), and counts POSTs that took 40 ms or more: the delayed-ACK
//! stall a request of 8 to 64 KB meets (see `kafka_lab::produce::batch`), which batching must not reach.

use std::time::Duration;

use crate::load::post_load;
use crate::probe::{batch_sizes, rss_mib};
use crate::report::{millis, quantile, Target};
use crate::support::Flavor;
use crate::Bench;
use Target::{AtLeast, AtMost, Info};

/// How many clients post at once, in turn.
const CLIENTS: [usize; 4] = [1, 8, 64, 256];
/// How long each number of clients posts.
const DURATION: Duration = Duration::from_secs(5);
/// A POST this slow met the delayed-ACK stall (or a broker that stalled).
const STALL: Duration = Duration::from_millis(40);

/// POST/s with 64 keep-alive clients before batching, for the "≥ 4× today's" target: the producer of commit
/// f0225b8 (one Produce request per POST) run in this bench, with this bench's load client, on 2026-11-29 with
/// the machine otherwise idle (load average 1.5): Tansu 14,012/s, Apache Kafka 1,460/s. (wrk with 64
/// connections gave that producer 9,300–11,000/s on Tansu, the 10.3–13.4k; earlier figures of
/// 5,100–7,000 and 463 were taken on a machine loaded 8–28 and understated it.)
fn before_batching_64(flavor: Flavor) -> f64 {
    match flavor {
        Flavor::Tansu => 14_012.0,
        Flavor::Kafka => 1_460.0,
    }
}

/// POST p50 at one client before batching, measured with the figures above: batching must not change it.
fn before_batching_one_client_p50(flavor: Flavor) -> f64 {
    match flavor {
        Flavor::Tansu => 0.2,
        Flavor::Kafka => 1.5,
    }
}

/// The one-client POST p50 target: the "one click still answers in ≤ 1 ms", measured on Tansu; on
/// Apache Kafka, where a POST waits for both replicas and took 1.5 ms before batching, "unchanged".
fn one_client_p50_target(flavor: Flavor) -> f64 {
    before_batching_one_client_p50(flavor).max(1.0)
}

impl Bench {
    pub async fn producer_throughput(&mut self) {
        for clients in CLIENTS {
            let logged = self.producer.plain_logs().len();
            let load = post_load(self.producer.port, "load", clients, DURATION).await;
            let batches = batch_sizes(self.producer.plain_logs().get(logged..).unwrap_or_default());
            self.report_load(clients, &load, &batches);
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

    fn report_load(&mut self, clients: usize, load: &crate::load::Load, batches: &[u64]) {
        let rate = load.ok as f64 / DURATION.as_secs_f64();
        self.best_post_rate = self.best_post_rate.max(rate);
        if clients == 64 {
            self.post_rate_64 = rate;
        }
        let target = match clients {
            64 => AtLeast(4.0 * before_batching_64(self.broker.flavor)),
            _ => Info("report"),
        };
        let p50_target = if clients == 1 {
            AtMost(one_client_p50_target(self.broker.flavor))
        } else {
            Info("—")
        };
        let stalls = load.latencies.iter().filter(|d| **d >= STALL).count();
        let mean_batch = (!batches.is_empty()).then(|| batches.iter().sum::<u64>() as f64 / batches.len() as f64);
        let name = |what: &str| format!("{clients} client{}: {what}", if clients == 1 { "" } else { "s" });
        self.report.add(
            "producer throughput",
            &[
                (&name("2xx"), Some(rate), "req/s", target, ""),
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
        if clients == 1 {
            self.report.note(format!(
                "1 client: POST p50 before batching (commit f0225b8, in this bench on 2026-11-29): {} ms.",
                before_batching_one_client_p50(self.broker.flavor)
            ));
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
