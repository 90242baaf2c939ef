//! The producer's HTTP API (port 5000), as the workshop's lab page and scripts expect it.
//!
//! - `POST /` takes a JSON object, stamps it `produced`, writes it to the topic named by its `topic` field
//!   (or the configured default) and answers 200 once Kafka acknowledged it, naming topic, partition and
//!   offset. An optional string `key` field becomes the message key (and so picks the partition). When no
//!   acknowledgement comes, 503 says nothing was written and 504 that it may have been (see [`crate::produce`]).
//! - `GET /ping` answers `pong` while the producer runs, whether Kafka answers or not (the workshop's
//!   contract); the page shows "Producer: Offline" when it fails.
//! - `GET /status` says whether Kafka answers (`reachable`, `unreachable` with the reason, `unknown` before the
//!   first connection), so the page can show "Producer: Online, Kafka unreachable".
//! - `GET /cluster?topic=NAME` answers the cluster as Kafka sees it, with the rebalance history
//!   ([`crate::cluster`]).
//! - `GET /` serves the lab page, compiled into the binary.
//! - `HEAD` is answered wherever `GET` is.
//!
//! Input is checked completely before anything is sent: a rejected request never produces an event. On
//! Ctrl+C / SIGTERM every request already accepted gets an answer before the process exits.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::cluster::{self, ClusterWatch};
use crate::config::ProducerConfig;
use crate::event;
use crate::http::{self, Response};
use crate::produce::{KafkaStatus, Producer, SendError};
use crate::static_files;

/// The largest event body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The producer service: configuration plus the long-lived Kafka producer.
pub struct ProducerApi {
    default_topic: String,
    request_timeout_ms: u64,
    producer: Arc<Producer>,
    cluster: Arc<ClusterWatch>,
    /// Cancelled on Ctrl+C / SIGTERM: requests in flight are then answered at once, or after a short grace.
    stopping: CancellationToken,
}

/// The body of `GET /status`.
#[derive(Serialize)]
struct ProducerStatus<'a> {
    default_topic: &'a str,
    request_timeout_ms: u64,
    #[serde(flatten)]
    kafka: KafkaStatus,
}

/// An event that passed validation, ready to send.
struct Outgoing {
    topic: String,
    key: Option<String>,
    value: Vec<u8>,
}

impl ProducerApi {
    /// The service; its producer starts connecting at once (in the background).
    pub fn new(config: &ProducerConfig, stopping: CancellationToken) -> Self {
        let producer = Producer::new(
            config.bootstrap_servers.clone(),
            Arc::clone(&config.security),
            config.request_timeout,
        );
        producer.start();
        Self {
            default_topic: config.topic.clone(),
            request_timeout_ms: config.request_timeout.as_millis() as u64,
            producer,
            cluster: Arc::new(ClusterWatch::new(
                config.bootstrap_servers.clone(),
                Arc::clone(&config.security),
            )),
            stopping,
        }
    }

    /// Routes one request.
    pub async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Response {
        let path = request.uri().path().to_string();
        match (request.method(), path.as_str()) {
            (&Method::OPTIONS, _) => http::preflight(),
            (&Method::POST, "/") => self.produce(request).await,
            (method, "/ping") if http::is_read(method) => http::text(StatusCode::OK, "pong"),
            (method, "/status") if http::is_read(method) => self.status(),
            (method, "/cluster") if http::is_read(method) => {
                cluster::serve(&self.cluster, request.uri().query(), &self.default_topic).await
            }
            (method, _) if http::is_read(method) => {
                static_files::serve(&path).unwrap_or_else(|| http::not_found(&path))
            }
            (_, "/") => http::method_not_allowed("GET, HEAD, POST"),
            (_, "/ping" | "/status" | "/cluster") => http::method_not_allowed("GET, HEAD"),
            _ => http::not_found(&path),
        }
    }

    async fn produce(&self, request: Request<Incoming>) -> Response {
        let read = tokio::select! {
            read = http::read_body(request, MAX_BODY_BYTES) => read,
            () = self.stopping.cancelled() => Err(answer(&SendError::NotSent("the producer is stopping".into()))),
        };
        let body = match read {
            Ok(body) => body,
            Err(response) => return response,
        };
        let outgoing = match self.prepare(&body) {
            Ok(outgoing) => outgoing,
            Err(message) => return http::error(StatusCode::BAD_REQUEST, &message),
        };
        let (topic, key) = (&outgoing.topic, outgoing.key.as_deref());
        match self.producer.send(topic, key, &outgoing.value, &self.stopping).await {
            Ok(delivery) => http::json(StatusCode::OK, &delivery),
            Err(error) => answer(&error),
        }
    }

    fn status(&self) -> Response {
        let status = ProducerStatus {
            default_topic: &self.default_topic,
            request_timeout_ms: self.request_timeout_ms,
            kafka: self.producer.kafka_status(),
        };
        http::json(StatusCode::OK, &status)
    }

    /// Validates the body and turns it into the message to send: the object plus `produced`.
    ///
    /// An object without `produced` (what the page and scripts send) is stamped without being rebuilt: its
    /// text with the field appended ([`event::fields`]). Anything else is parsed into a map, which also names
    /// what is wrong with a body that is refused.
    fn prepare(&self, body: &[u8]) -> Result<Outgoing, String> {
        if let Ok(text) = std::str::from_utf8(body) {
            match event::fields::peek(text, "produced", true) {
                Ok(peeked) if !peeked.stamped => return self.prepare_text(text, peeked),
                _ => {}
            }
        }
        self.prepare_parsed(body)
    }

    /// [`prepare`](Self::prepare) for a JSON object without `produced`: its text with the field appended.
    fn prepare_text(&self, text: &str, peeked: event::fields::Peeked) -> Result<Outgoing, String> {
        let topic = self.topic_of(peeked.topic.as_ref())?;
        let key = key_of(peeked.key.as_ref())?;
        let value =
            event::fields::append_stamp(text, "produced", &event::wall_clock()).ok_or("body must be a JSON object")?;
        Ok(Outgoing {
            topic,
            key,
            value: value.into_bytes(),
        })
    }

    /// [`prepare`](Self::prepare) by parsing the body into a map: for a body that has `produced` already
    /// (it is replaced in its place) or is refused.
    fn prepare_parsed(&self, body: &[u8]) -> Result<Outgoing, String> {
        let value: Value = serde_json::from_slice(body).map_err(|e| format!("body is not valid JSON: {e}"))?;
        let Value::Object(mut event) = value else {
            return Err(format!("body must be a JSON object, not {}", kind_of(&value)));
        };
        let topic = self.topic_of(event.get("topic"))?;
        let key = key_of(event.get("key"))?;
        event::stamp(&mut event, "produced");
        let value = serde_json::to_vec(&event).map_err(|e| format!("could not encode the event: {e}"))?;
        Ok(Outgoing { topic, key, value })
    }

    /// The topic an event's `topic` field names, or the default one when it has none.
    fn topic_of(&self, field: Option<&Value>) -> Result<String, String> {
        match field {
            None => Ok(self.default_topic.clone()),
            Some(Value::String(topic)) if !topic.trim().is_empty() => Ok(topic.trim().to_string()),
            Some(other) => Err(format!("\"topic\" must be a non-empty string, not {}", kind_of(other))),
        }
    }
}

/// The HTTP answer to an event that was not acknowledged: 404 for a topic that does not exist, 503 when
/// nothing was written, 504 when it may have been, 413 when the broker found it too large.
fn answer(error: &SendError) -> Response {
    let status = match error {
        SendError::UnknownTopic(_) | SendError::DeletedTopic(_) => StatusCode::NOT_FOUND,
        SendError::NotSent(_) => StatusCode::SERVICE_UNAVAILABLE,
        SendError::Unconfirmed(_) => StatusCode::GATEWAY_TIMEOUT,
        SendError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
    };
    http::error(status, &error.to_string())
}

/// The message key an event's `key` field gives, if any.
fn key_of(field: Option<&Value>) -> Result<Option<String>, String> {
    match field {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(key)) => Ok(Some(key.clone())),
        Some(other) => Err(format!("\"key\" must be a string, not {}", kind_of(other))),
    }
}

/// How a JSON value is named in error messages.
fn kind_of(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(_) => "a number".into(),
        Value::String(s) if s.trim().is_empty() => "an empty string".into(),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Runs the producer's HTTP server until `shutdown` is cancelled.
pub async fn run(config: ProducerConfig, shutdown: CancellationToken) -> std::io::Result<()> {
    config.security.log_start();
    let listener = http::bind((config.host, config.port).into()).await?;
    tracing::info!(
        "producer listening on http://{}, default topic {}, brokers {}",
        listener.local_addr()?,
        config.topic,
        config.bootstrap_servers.join(",")
    );
    let api = Arc::new(ProducerApi::new(&config, shutdown.clone()));
    http::serve(listener, move |request| Arc::clone(&api).handle(request), shutdown).await;
    Ok(())
}
