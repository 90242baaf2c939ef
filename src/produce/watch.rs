//! How the producer knows whether Kafka answers before an event runs into an outage: a Metadata request for
//! all topics every [`WATCH_INTERVAL`] while all is well, and, once a request found Kafka unreachable, a
//! background probe every [`PROBE_INTERVAL`] until it answers again (meanwhile POSTs get 503 at once, see
//! [`super::health`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::timeout_at;

use super::answer::Failure;
use super::health::PROBE_INTERVAL;
use super::Producer;

/// How often the producer checks that Kafka answers (a Metadata request), so that `/status` and the page
/// know of an outage before the next event runs into it.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);

impl Producer {
    /// Lists the topics every [`WATCH_INTERVAL`] (the background probe takes over during an outage).
    pub(super) async fn watch(self: Arc<Self>) {
        loop {
            if self.health.outage().is_none() {
                let deadline = tokio::time::Instant::now() + WATCH_INTERVAL;
                let mut checked = self.answers(deadline).await;
                if checked.is_err() {
                    // Its connection may lead to the one broker that went away: not Kafka gone. Ask again on a
                    // fresh cluster connection (any bootstrap broker) before saying so.
                    *self.client.lock().await = None;
                    checked = self.answers(tokio::time::Instant::now() + WATCH_INTERVAL).await;
                }
                match checked {
                    Ok(()) => self.health.reachable(),
                    Err(reason) => {
                        self.failed(Failure::Unreachable(reason)).await;
                    }
                }
            }
            tokio::time::sleep(WATCH_INTERVAL).await;
        }
    }

    /// Whether Kafka answers a Metadata request (for all topics) by `deadline`.
    async fn answers(&self, deadline: tokio::time::Instant) -> Result<(), String> {
        let (client, _) = self.connected(deadline).await.map_err(|failure| failure.reason())?;
        match timeout_at(deadline, client.list_topics()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no answer to a Metadata request".into()),
        }
    }

    /// Tries Kafka at once, then every [`PROBE_INTERVAL`] until it answers, and lets requests through again.
    /// (At once: a check that timed out just as the brokers came back must not keep POSTs out for a second.)
    pub(super) async fn probe(&self) {
        loop {
            let deadline = tokio::time::Instant::now() + PROBE_INTERVAL;
            let Err(reason) = self.answers(deadline).await else {
                break;
            };
            self.forget_connections().await;
            self.health.unreachable(reason);
            tokio::time::sleep_until(deadline).await;
        }
        self.health.reachable();
        self.health.probe_ended();
        tracing::info!("Kafka answers again");
    }
}
