//! Scenario 2b, consumers under sustained load: 64 keep-alive clients post about 50,000 events as fast as the
//! producer takes them, to a topic of their own, while two consumers of one group read them (each drained by
//! a reader every 50 ms). Does reading slow the producer down (on Apache Kafka it should cost less than half
//! its POST/s), how far do the consumers fall behind (the largest lag seen), and how soon after the load ends
//! are they caught up (the target: within a second)?
//!
//! On Tansu the consumers fetch with `make demo`'s `FETCH_MAX_WAIT_MS=100`: Tansu re-checks a parked fetch
//! instead of waking it when data arrives, so the default 20 ms has two idle consumers cost it five times
//! the fetches (see `scripts/demo.sh`). Apache Kafka wakes a parked fetch on data: the default stays.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::time::sleep;

use crate::load::post_load;
use crate::probe::{get_json, wait_assigned};
use crate::report::Target;
use crate::support::{http, Flavor};
use crate::Bench;
use Target::{AtLeast, AtMost, Info};

/// About this many events are posted (the duration follows from the POST/s measured without consumers).
const EVENTS: f64 = 50_000.0;
const CLIENTS: usize = 64;
const TOPIC: &str = "sustained";

impl Bench {
    /// Runs the scenario; `alone` is the POST/s the same 64 clients reached with no consumer reading.
    pub async fn consumers_under_load(&mut self, alone: f64) {
        self.broker.create_topic(TOPIC, 2).await;
        let fetch = match self.broker.flavor {
            Flavor::Tansu => vec![("FETCH_MAX_WAIT_MS", "100")],
            Flavor::Kafka => vec![],
        };
        let first = self.consumer(TOPIC, "bench-sustained", &fetch).await;
        let second = self.consumer(TOPIC, "bench-sustained", &fetch).await;
        let ports = [first.port, second.port];
        if !wait_assigned(&ports, 2, Duration::from_secs(30)).await {
            self.report
                .note("sustained load: the two consumers did not own a partition each in 30 s");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let max_lag = Arc::new(AtomicI64::new(0));
        // Tasks: the readers and the lag watch run on their own clocks while the load runs.
        let readers: Vec<_> = ports
            .iter()
            .map(|&port| tokio::spawn(drain(port, stop.clone())))
            .collect();
        let watch = tokio::spawn(watch_lag(ports, stop.clone(), max_lag.clone()));

        let duration = Duration::from_secs_f64((EVENTS / alone.max(1.0)).clamp(3.0, 30.0));
        let load = post_load(self.producer.port, TOPIC, CLIENTS, duration).await;
        let ended = Instant::now();
        let caught_up = caught_up_after(&ports, load.ok as i64, ended, Duration::from_secs(30)).await;
        stop.store(true, Ordering::SeqCst);
        for task in readers {
            let _ = task.await;
        }
        let _ = watch.await;

        let rate = load.ok as f64 / duration.as_secs_f64();
        // The issue sets "less than half" on Apache Kafka, where a parked fetch costs nothing until data
        // arrives. On Tansu the producer alone already fills both cores, so the row is reported only.
        let rate_target = match self.broker.flavor {
            Flavor::Kafka => AtLeast(alone / 2.0),
            Flavor::Tansu => Info("report"),
        };
        self.report.add(
            "consumers under sustained load",
            &[
                (
                    "64 clients, two consumers reading: 2xx",
                    Some(rate),
                    "req/s",
                    rate_target,
                    "",
                ),
                (
                    "64 clients, no consumer (from above)",
                    Some(alone),
                    "req/s",
                    Info("—"),
                    "",
                ),
                (
                    "largest lag while loaded (both partitions)",
                    Some(max_lag.load(Ordering::SeqCst) as f64),
                    "events",
                    Info("bounded"),
                    "",
                ),
                (
                    "caught up after the load ended",
                    caught_up.as_ref().ok().map(|d| d.as_secs_f64()),
                    "s",
                    AtMost(1.0),
                    "",
                ),
            ],
        );
        if let Err(where_they_were) = &caught_up {
            self.report.note(format!(
                "Sustained load: not caught up 30 s after the load: {where_they_were}."
            ));
        }
        self.report.note(format!(
            "Sustained load: {} events acknowledged in {:.1} s by 64 clients while two consumers of one group read \
             them (a reader draining each every 50 ms); {} errors.",
            load.ok,
            duration.as_secs_f64(),
            load.errors
        ));
    }
}

/// Drains the consumer's `GET /` every 50 ms until `stop` (committed = processed: unread events would make
/// it pause).
async fn drain(port: u16, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        let _ = http::get(port, "/").await;
        sleep(Duration::from_millis(50)).await;
    }
}

/// The total lag of both consumers, every 100 ms; keeps the largest.
async fn watch_lag(ports: [u16; 2], stop: Arc<AtomicBool>, max_lag: Arc<AtomicI64>) {
    while !stop.load(Ordering::SeqCst) {
        let mut total = 0;
        for port in ports {
            total += lag(port).await.unwrap_or(0);
        }
        max_lag.fetch_max(total, Ordering::SeqCst);
        sleep(Duration::from_millis(100)).await;
    }
}

/// A consumer's lag over the partitions it owns, from `/status`.
async fn lag(port: u16) -> Option<i64> {
    let status = get_json(port, "/status").await?;
    let partitions = status["partitions"].as_array()?.clone();
    Some(partitions.iter().filter_map(|p| p["lag"].as_i64()).sum())
}

/// How long after `ended` the consumers' positions added up to `acknowledged`: the topic was empty before the
/// load, so every event acknowledged is one offset (the consumers' own lag could be measured against an older
/// end).
async fn caught_up_after(
    ports: &[u16; 2],
    acknowledged: i64,
    ended: Instant,
    timeout: Duration,
) -> Result<Duration, String> {
    let mut positions = [0; 2];
    while ended.elapsed() < timeout {
        positions = [0; 2];
        for &port in ports {
            let status = get_json(port, "/status").await.unwrap_or_default();
            for partition in status["partitions"].as_array().into_iter().flatten() {
                let (Some(p), Some(position)) = (partition["partition"].as_u64(), partition["position"].as_i64())
                else {
                    continue;
                };
                if let Some(slot) = positions.get_mut(p as usize) {
                    *slot = position;
                }
            }
        }
        if positions[0] + positions[1] >= acknowledged {
            return Ok(ended.elapsed());
        }
        sleep(Duration::from_millis(20)).await;
    }
    Err(format!(
        "positions {positions:?} for {acknowledged} events acknowledged"
    ))
}
