//! Load for the producer and the brokers: keep-alive HTTP clients posting as fast as they can, a slow
//! steady poster, and a backlog written straight to Kafka.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_lab::event::wall_clock;
use rskafka::client::partition::{Compression, UnknownTopicHandling};
use rskafka::record::Record;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::sleep;

use crate::support::{http, Cluster};

/// A keep-alive HTTP/1.1 client for `POST /` that reads `Content-Length` bodies. Its buffers are kept from one
/// POST to the next, so the load it makes costs the machine little besides the requests themselves (it shares
/// the cores with the producer and the broker it measures).
struct KeepAlive {
    stream: BufReader<TcpStream>,
    /// The request's head up to the `Content-Length` value.
    head: String,
    request: Vec<u8>,
    line: String,
    body: Vec<u8>,
}

impl KeepAlive {
    async fn connect(port: u16) -> std::io::Result<Self> {
        let stream = BufReader::new(TcpStream::connect(("127.0.0.1", port)).await?);
        let head =
            format!("POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: ");
        let (request, line, body) = (Vec::new(), String::new(), Vec::new());
        Ok(Self {
            stream,
            head,
            request,
            line,
            body,
        })
    }

    /// Posts `body` and returns the response status.
    async fn post(&mut self, body: &str) -> std::io::Result<u16> {
        use std::io::Write;
        self.request.clear();
        self.request.extend_from_slice(self.head.as_bytes());
        write!(self.request, "{}\r\n\r\n{body}", body.len())?;
        self.stream.get_mut().write_all(&self.request).await?;
        let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        self.line.clear();
        if self.stream.read_line(&mut self.line).await? == 0 {
            return Err(bad("connection closed"));
        }
        let status = self.line.split(' ').nth(1).and_then(|s| s.parse().ok());
        let status = status.ok_or_else(|| bad("bad status line"))?;
        let mut length = 0;
        loop {
            self.line.clear();
            self.stream.read_line(&mut self.line).await?;
            match self.line.trim_end().split_once(':') {
                Some((name, value)) if name.eq_ignore_ascii_case("content-length") => {
                    length = value.trim().parse().map_err(|_| bad("bad content-length"))?
                }
                None => break,
                _ => {}
            }
        }
        self.body.resize(length, 0);
        self.stream.read_exact(&mut self.body).await?;
        Ok(status)
    }
}

/// What a load of keep-alive clients achieved.
#[derive(Default)]
pub struct Load {
    /// 2xx answers.
    pub ok: u64,
    /// Other answers, I/O errors and failed connects.
    pub errors: u64,
    /// How long each answered POST took, sorted.
    pub latencies: Vec<Duration>,
}

/// `clients` keep-alive clients posting small events to `topic` through the producer on `port` as fast as they
/// can for `duration`, each waiting for its answer before the next POST (as the lab page and wrk do).
pub async fn post_load(port: u16, topic: &str, clients: usize, duration: Duration) -> Load {
    let deadline = Instant::now() + duration;
    let topic: Arc<str> = Arc::from(topic);
    let tasks: Vec<_> = (0..clients)
        .map(|c| tokio::spawn(load_client(port, Arc::clone(&topic), c, deadline)))
        .collect();
    let mut total = Load::default();
    for task in tasks {
        let load = task.await.unwrap_or_default();
        total.ok += load.ok;
        total.errors += load.errors;
        total.latencies.extend(load.latencies);
    }
    total.latencies.sort();
    total
}

/// One of the load clients: posts over one keep-alive connection until `deadline`, reconnecting on errors.
async fn load_client(port: u16, topic: Arc<str>, client: usize, deadline: Instant) -> Load {
    let (mut load, mut connection, mut id) = (Load::default(), None, 0);
    while Instant::now() < deadline {
        if connection.is_none() {
            connection = KeepAlive::connect(port).await.ok();
        }
        let Some(open) = connection.as_mut() else {
            load.errors += 1;
            sleep(Duration::from_millis(10)).await;
            continue;
        };
        id += 1;
        // The page's shape of event, written out directly (the topic is a plain name).
        let body = format!(
            r#"{{"topic":"{topic}","id":{id},"client":{client},"clicked":"{}"}}"#,
            wall_clock()
        );
        let start = Instant::now();
        let status = open.post(&body).await;
        load.latencies.push(start.elapsed());
        if status.is_err() {
            connection = None;
        }
        match status {
            Ok(200..=299) => load.ok += 1,
            _ => load.errors += 1,
        }
    }
    load
}

/// Posts `{"topic": "handover", "id": n}` about every 20 ms until `stop`.
pub async fn keep_posting(port: u16, next_id: Arc<AtomicU64>, stop: Arc<AtomicBool>) {
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    while !stop.load(Ordering::SeqCst) {
        ticker.tick().await;
        let id = next_id.fetch_add(1, Ordering::SeqCst);
        let _ = http::post_json(port, "/", &json!({ "topic": "handover", "id": id }).to_string()).await;
    }
}

/// Writes `count` small JSON events straight to Kafka (both partitions at once, 2000 per request: requests
/// of 8 to 64 KB stall ~40 ms on loopback, as rskafka writes a frame's length and body separately into an
/// 8 KiB buffer without TCP_NODELAY, see `kafka_lab::produce::batch`; bigger ones do not).
pub async fn produce_direct(broker: &Cluster, topic: &str, count: u64) -> Duration {
    let client = broker.client().await;
    let start = Instant::now();
    let per_partition = |partition: i32| {
        let client = &client;
        async move {
            let writer = client
                .partition_client(topic, partition, UnknownTopicHandling::Error)
                .await;
            let writer = writer.expect("partition client");
            let ids: Vec<u64> = (partition as u64..count).step_by(2).collect();
            for chunk in ids.chunks(2000) {
                let records = chunk.iter().map(|id| Record {
                    key: None,
                    value: Some(json!({ "id": id, "clicked": wall_clock() }).to_string().into_bytes()),
                    headers: Default::default(),
                    timestamp: rskafka::chrono::Utc::now(),
                });
                writer
                    .produce(records.collect(), Compression::NoCompression)
                    .await
                    .expect("produce");
            }
        }
    };
    tokio::join!(per_partition(0), per_partition(1));
    start.elapsed()
}
