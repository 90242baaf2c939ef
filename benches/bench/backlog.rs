//! Scenarios 3 and 4, the consumer catching up: a fresh group reads a 50,000-event backlog written straight to
//! Kafka (its rate, from the events' own `consumed` stamps), then a consumer with the default retention reads
//! a backlog of up to 1,000,000 events while a reader drains it (its RSS, bounded by the retention limits).

use std::time::{Duration, Instant};

use tokio::time::sleep;

use crate::load::produce_direct;
use crate::probe::*;
use crate::report::{grouped, Target};
use crate::support::http;
use crate::Bench;
use Target::Info;

pub const BACKLOG: u64 = 50_000;
const BIG_BACKLOG: u64 = 1_000_000;
/// Producing plus consuming the big backlog may take this long; beyond it the backlog is scaled down.
const BIG_BACKLOG_BUDGET: Duration = Duration::from_secs(50);

impl Bench {
    /// Scenario 3: a fresh group catches up a backlog written straight to Kafka. Returns (produce, consume) time.
    pub async fn consumer_throughput(&mut self) -> (Duration, Duration) {
        let produced = produce_direct(&self.broker, "backlog", BACKLOG).await;
        let start = Instant::now();
        let retained = BACKLOG.to_string();
        let extra = [
            ("AUTO_OFFSET_RESET", "earliest"),
            ("MAX_RETAINED_EVENTS", retained.as_str()),
        ];
        let consumer = self.consumer("backlog", "bench-backlog", &extra).await;
        let caught_up = wait_caught_up(consumer.port, BACKLOG, Duration::from_secs(60)).await;
        let total = start.elapsed();
        // The events' own `consumed` stamps time the consuming itself, without start-up and group join.
        let (first, last) = (
            read_stamp(consumer.port, 0).await,
            read_stamp(consumer.port, BACKLOG - 1).await,
        );
        let consuming = first
            .zip(last)
            .map(|(a, b)| (b - a).rem_euclid(86_400_000.0))
            .filter(|ms| *ms > 0.0);
        let rate = consuming
            .map(|ms| (BACKLOG - 1) as f64 / ms * 1000.0)
            .filter(|_| caught_up);
        let total_s = caught_up.then_some(total.as_secs_f64());
        self.report.add(
            "consumer throughput",
            &[
                (
                    "50,000 backlog, first→last consumed",
                    rate,
                    "events/s",
                    Info("report"),
                    "",
                ),
                ("start → caught up, join included", total_s, "s", Info("report"), ""),
            ],
        );
        let rss = rss_mib(&consumer);
        let metric = "consumer RSS after catching up 50,000 (MAX_RETAINED_EVENTS=50000)";
        self.report
            .add("footprint", &[(metric, rss, "MiB", Info("bounded"), "")]);
        self.report.note(format!(
            "Writing the 50,000-event backlog straight to Kafka (rskafka, 2000 per request) took {:.2} s. A fresh \
             consumer's start → caught up includes its group join, which Tansu holds for max(1 s, session/2) = 5 s \
             at the default SESSION_TIMEOUT_MS.",
            produced.as_secs_f64()
        ));
        if let (Some(full), Some(idle)) = (rss, self.idle_consumer_rss) {
            let per_event = (full - idle) * 1024.0 / BACKLOG as f64;
            self.report.note(format!(
                "A retained event costs about {per_event:.2} KiB of RSS (from the two rows)."
            ));
        }
        (
            produced,
            consuming.map_or(total, |ms| Duration::from_secs_f64(ms / 1000.0)),
        )
    }

    /// Scenario 4: a consumer with the default retention reading a large backlog. Events no reader has had are
    /// never dropped (the consumer pauses until they are read), so a reader drains `GET /` meanwhile.
    /// Returns the backlog's topic and size, our catch-up rate and our RSS once caught up.
    pub async fn big_backlog(&mut self, per_50k: Duration) -> (&'static str, u64, Option<f64>, Option<f64>) {
        let estimate = per_50k.mul_f64((BIG_BACKLOG / BACKLOG) as f64);
        let mut count = BIG_BACKLOG;
        if estimate > BIG_BACKLOG_BUDGET {
            let share = BIG_BACKLOG_BUDGET.as_secs_f64() / estimate.as_secs_f64();
            count = (BIG_BACKLOG as f64 * share) as u64 / 10_000 * 10_000;
            self.report.note(format!(
                "The 1,000,000-event backlog was scaled to {}: producing and consuming 50,000 took {:.1} s, so \
                 1,000,000 would take about {:.0} s.",
                grouped(count),
                per_50k.as_secs_f64(),
                estimate.as_secs_f64()
            ));
        }
        let produced = produce_direct(&self.broker, "million", count).await;
        let consumer = self
            .consumer("million", "bench-million", &[("AUTO_OFFSET_RESET", "earliest")])
            .await;
        let start = Instant::now();
        let port = consumer.port;
        // A task: the reader drains on its own clock while the probe below watches `/status`. It asks again at
        // once while events come, and pauses a millisecond when none did.
        let reader = tokio::spawn(async move {
            loop {
                let drained = http::get(port, "/").await.map(|reply| reply.body.len() > 2);
                if !drained.unwrap_or(false) {
                    sleep(Duration::from_millis(1)).await;
                }
            }
        });
        let rate = catch_up_rate(consumer.port, count, Duration::from_secs(90)).await;
        let (caught_up, waited) = (rate.is_some(), start.elapsed().as_secs_f64());
        reader.abort();
        let metric = format!(
            "consumer RSS after {} events drained by a reader (default retention)",
            grouped(count)
        );
        let rss = rss_mib(&consumer);
        self.report
            .add("footprint", &[(&metric, rss, "MiB", Info("bounded"), "50 MiB idle")]);
        let outcome = if caught_up { "caught up" } else { "had NOT caught up" };
        let peak = proc_status_mib(&consumer, "VmHWM:").unwrap_or(f64::NAN);
        self.report.note(format!(
            "Big backlog: writing {} events took {:.1} s; the consumer {outcome} {waited:.1} s after /ping (join \
             included); its peak RSS (VmHWM) was {peak:.1} MiB.",
            grouped(count),
            produced.as_secs_f64()
        ));
        ("million", count, rate, rss)
    }
}
