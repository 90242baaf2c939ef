//! The consumer service: HTTP up at once, then a group member that consumes the topic.
//!
//! The HTTP server starts before anything talks to Kafka, so `/ping` and `/status` answer immediately (the
//! lab page shows "joining" rather than "Offline" while the group forms). The member then runs the group
//! protocol (see [`crate::group::member`]) and its fetch loops fill the [`Store`] that `GET /` and
//! `GET /events` read. On Ctrl+C or SIGTERM the member commits and leaves the group, then HTTP stops.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use rskafka::client::Client;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::ConsumerConfig;
use crate::consume::FetchContext;
use crate::consumer_api::{self, ConsumerApi};
use crate::group::member::{GroupSettings, Member};
use crate::http;
use crate::kafka;
use crate::status::{ConsumerStatus, MemberState};
use crate::store::Store;

/// Runs the consumer until `shutdown` is cancelled.
pub async fn run(config: ConsumerConfig, shutdown: CancellationToken) -> std::io::Result<()> {
    tracing::info!("Starting consumer on topic {}, in group {}", config.topic, config.group);
    let store = Arc::new(Store::new(config.max_retained_events));
    let initial = ConsumerStatus {
        topic: config.topic.clone(),
        group: config.group.clone(),
        ..Default::default()
    };
    let (status, status_reader) = watch::channel(initial);

    let listener = http::bind((config.host, config.port).into()).await?;
    tracing::info!("consumer listening on http://{}", listener.local_addr()?);
    let api = Arc::new(ConsumerApi::new(
        config.group.clone(),
        Arc::clone(&store),
        status_reader,
    ));
    let stop_http = CancellationToken::new();
    let server = tokio::spawn(consumer_api::serve(listener, api, stop_http.clone()));

    let client = tokio::select! {
        client = connect_until_ready(&config, &status) => Some(client),
        () = shutdown.cancelled() => None,
    };
    if let Some(client) = client {
        let fetch = FetchContext {
            client,
            topic: config.topic.clone(),
            max_wait: config.fetch_max_wait,
            bytes: config.fetch_min_bytes..config.fetch_max_bytes,
            reset: config.offset_reset,
            store,
            invalid_events: Arc::new(AtomicU64::new(0)),
        };
        Member::new(group_settings(&config), fetch, status).run(shutdown).await;
    }
    stop_http.cancel();
    let _ = server.await;
    Ok(())
}

fn group_settings(config: &ConsumerConfig) -> GroupSettings {
    GroupSettings {
        group: config.group.clone(),
        bootstrap_servers: config.bootstrap_servers.clone(),
        session_timeout: config.session_timeout,
        // How long the coordinator waits for members to rejoin; they notice within a heartbeat interval.
        rebalance_timeout: config.session_timeout,
        heartbeat_interval: config.heartbeat_interval,
        auto_commit_interval: config.auto_commit_interval,
    }
}

/// Connects rskafka to the cluster, retrying (and saying so in `/status`) while no broker answers.
async fn connect_until_ready(config: &ConsumerConfig, status: &watch::Sender<ConsumerStatus>) -> Arc<Client> {
    loop {
        match kafka::connect(&config.bootstrap_servers).await {
            Ok(client) => return Arc::new(client),
            Err(e) => {
                let message = format!("cannot reach Kafka at {}: {e}", config.bootstrap_servers.join(","));
                tracing::warn!("{message}; retrying");
                status.send_modify(|s| {
                    s.state = MemberState::BrokerUnavailable;
                    s.last_error = Some(message);
                });
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
