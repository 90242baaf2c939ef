//! The consumer service: HTTP up at once, then a group member that consumes the topic.
//!
//! The HTTP server starts before anything talks to Kafka, so `/ping` and `/status` answer immediately (the
//! lab page shows "joining" rather than "Offline" while the group forms). The member then runs the group
//! protocol `GROUP_PROTOCOL` names (see [`crate::group::member`], the classic one, and
//! [`crate::group::consumer`], KIP-848's) and its fetch loops fill the [`Store`] that `GET /` and
//! `GET /events` read. On Ctrl+C or SIGTERM the member commits and leaves the group, then HTTP stops.
//!
//! When the member stops on an error that will not go away by itself (a session timeout the broker refuses,
//! another consumer with the same `GROUP_INSTANCE_ID`, ...), `/status` says `failed` with the reason for
//! [`FAILED_GRACE`], so the lab page can show it, and then the process exits with an error.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use rskafka::client::Client;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::{ConsumerConfig, GroupProtocol};
use crate::consume::compaction::Compaction;
use crate::consume::FetchContext;
use crate::consumer_api::{self, ConsumerApi};
use crate::group::consumer::Member as ConsumerProtocolMember;
use crate::group::member::{GroupSettings, Member};
use crate::http;
use crate::kafka;
use crate::notices::{self, Notices};
use crate::status::{ConsumerStatus, MemberState};
use crate::store::{Limits, Run, Store};

/// How long HTTP keeps answering after the member failed, before the process exits.
pub const FAILED_GRACE: Duration = Duration::from_secs(2);

/// Runs the consumer until `shutdown` is cancelled, or until the member fails (`Err` with its reason).
pub async fn run(config: ConsumerConfig, shutdown: CancellationToken) -> std::io::Result<()> {
    tracing::info!("Starting consumer on topic {}, in group {}", config.topic, config.group);
    let protocol = config.group_protocol.protocol;
    tracing::info!("group protocol: {}", protocol.name());
    config.security.log_start();
    for ignored in &config.group_protocol.ignored {
        tracing::warn!("{ignored}");
    }
    let limits = Limits {
        events: config.max_retained_events,
        bytes: config.max_retained_bytes,
    };
    let store = Arc::new(Store::new(limits, Run::start()));
    let initial = ConsumerStatus {
        topic: config.topic.clone(),
        group: config.group.clone(),
        protocol,
        ..Default::default()
    };
    let (status, status_reader) = watch::channel(initial);

    let listener = http::bind((config.host, config.port).into()).await?;
    tracing::info!("consumer listening on http://{}", listener.local_addr()?);
    let notices = Arc::new(Notices::default());
    let api = Arc::new(ConsumerApi::new(
        config.group.clone(),
        Arc::clone(&store),
        status_reader,
        Arc::clone(&notices),
    ));
    let stop_http = CancellationToken::new();
    let server = tokio::spawn(consumer_api::serve(listener, api, stop_http.clone()));

    let client = tokio::select! {
        client = connect_until_ready(&config, &status) => Some(client),
        () = shutdown.cancelled() => None,
    };
    let mut outcome = Ok(());
    if let Some(client) = client {
        // A task of its own: the topic list is read on its own clock, whatever the member is doing.
        let watch = notices::watch_topic(Arc::clone(&client), config.topic.clone(), Arc::clone(&notices));
        let watch = tokio::spawn(watch);
        let fetch = FetchContext {
            client,
            topic: config.topic.clone(),
            max_wait: config.fetch_max_wait,
            min_bytes: config.fetch_min_bytes,
            max_bytes: config.fetch_max_bytes,
            reset: config.offset_reset,
            store,
            invalid_events: Arc::new(AtomicU64::new(0)),
            notices,
            renewal: kafka::Renewal::learn(&config.bootstrap_servers, &config.security).await,
            compaction: Arc::new(Compaction::new(
                config.bootstrap_servers.clone(),
                Arc::clone(&config.security),
                config.topic.clone(),
            )),
        };
        if let Err(reason) = run_member(&config, fetch, status, shutdown.clone()).await {
            tokio::select! {
                () = tokio::time::sleep(FAILED_GRACE) => {}
                () = shutdown.cancelled() => {}
            }
            outcome = Err(std::io::Error::other(reason));
        }
        watch.abort();
    }
    stop_http.cancel();
    let _ = server.await;
    outcome
}

/// The member of the protocol `GROUP_PROTOCOL` names, until shutdown or a fatal error.
async fn run_member(
    config: &ConsumerConfig,
    fetch: FetchContext,
    status: watch::Sender<ConsumerStatus>,
    shutdown: CancellationToken,
) -> Result<(), String> {
    let settings = group_settings(config);
    match config.group_protocol.protocol {
        GroupProtocol::Classic => Member::new(settings, fetch, status).run(shutdown).await,
        GroupProtocol::Consumer => {
            let assignor = config.group_protocol.remote_assignor.clone();
            ConsumerProtocolMember::new(settings, assignor, fetch, status)
                .run(shutdown)
                .await
        }
    }
}

fn group_settings(config: &ConsumerConfig) -> GroupSettings {
    GroupSettings {
        group: config.group.clone(),
        bootstrap_servers: config.bootstrap_servers.clone(),
        security: Arc::clone(&config.security),
        instance_id: config.group_instance_id.clone(),
        session_timeout: config.session_timeout,
        rebalance_timeout: config.max_poll_interval,
        heartbeat_interval: config.heartbeat_interval,
        auto_commit_interval: config.auto_commit_interval,
    }
}

/// Connects rskafka to the cluster, retrying (and saying so in `/status`) while no broker answers.
async fn connect_until_ready(config: &ConsumerConfig, status: &watch::Sender<ConsumerStatus>) -> Arc<Client> {
    loop {
        // No retries inside rskafka: after a failed request it would look the partition's leader up by a
        // Metadata request naming the topic, which lets a broker create a deleted topic again; the data
        // path retries by itself, listing the topics first (see `crate::notices`).
        match kafka::connect_with(&config.bootstrap_servers, &config.security, kafka::no_retries()).await {
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
