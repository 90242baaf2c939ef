//! The producer's HTTP side, where the broker does not matter (one Tansu gives it an address): body limits and
//! timeouts, the connection cap, `HEAD`, CORS, bad environment variables, signals.

mod support;

use std::time::Duration;

use support::http;
use support::lab::Lab;
use support::process::run_to_exit;
use support::Flavor;

/// HTTP-only: needs a broker address but does not depend on which broker it is.
#[tokio::test]
async fn a_declared_body_of_100_gib_is_refused_before_it_is_read() {
    let Lab { producer, .. } = Lab::start(Flavor::Tansu).await;
    let declared = 100 * 1024 * 1024 * 1024; // 100 GiB: never sent
    let answer = http::request_head_only(producer.port, "POST", "/", declared);
    let reply = tokio::time::timeout(Duration::from_secs(10), answer)
        .await
        .expect("no answer: the producer waited for the body")
        .unwrap();
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert!(reply.json()["error"].as_str().is_some_and(|e| e.contains("larger")));
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
}

/// HTTP-only: a body trickled at one byte a second is cut off after the body read timeout (10 s) with a 408,
/// and nothing is produced.
#[tokio::test]
async fn a_body_trickled_byte_by_byte_is_cut_off_with_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Lab {
        cluster,
        topic,
        producer,
    } = Lab::start(Flavor::Tansu).await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", producer.port))
        .await
        .unwrap();
    let head = "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let trickle = async {
        let mut raw = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            tokio::select! {
                read = stream.read(&mut buffer) => match read {
                    Ok(0) | Err(_) => return raw,
                    Ok(n) => raw.extend_from_slice(&buffer[..n]),
                },
                () = tokio::time::sleep(Duration::from_secs(1)) => {
                    // One more byte of the body, as a very slow client would send it.
                    let _ = stream.write_all(b" ").await;
                }
            }
        }
    };
    let raw = tokio::time::timeout(Duration::from_secs(40), trickle)
        .await
        .expect("the trickled body was never cut off");
    let answer = String::from_utf8_lossy(&raw);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive within"), "{answer}");
    assert_eq!(
        cluster.end_offset(&topic, 0).await + cluster.end_offset(&topic, 1).await,
        0
    );
}

/// HTTP-only: connections beyond the cap wait, unanswered, until one of the open ones closes.
#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let Lab { producer, .. } = Lab::start(Flavor::Tansu).await;
    let mut idle = Vec::new();
    for _ in 0..kafka_lab::http::MAX_CONNECTIONS {
        idle.push(
            tokio::net::TcpStream::connect(("127.0.0.1", producer.port))
                .await
                .unwrap(),
        );
    }
    // Every slot is held by an idle connection: a new request is not accepted yet.
    let waiting = tokio::spawn(http::get(producer.port, "/ping"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!waiting.is_finished(), "a connection beyond the cap was served");
    idle.pop();
    let reply = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the waiting connection was not served once a slot was free")
        .unwrap()
        .unwrap();
    assert_eq!((reply.status, reply.body.as_str()), (200, "pong"));
}

/// HTTP-only: `HEAD` is answered wherever `GET` is, with the headers and no body.
#[tokio::test]
async fn head_is_answered_wherever_get_is() {
    let Lab { producer, .. } = Lab::start(Flavor::Tansu).await;
    for path in ["/ping", "/", "/app.js"] {
        let get = http::get(producer.port, path).await.unwrap();
        let head = http::request(producer.port, "HEAD", path, &[], b"").await.unwrap();
        assert_eq!((head.status, head.body.as_str()), (200, ""), "HEAD {path}");
        assert_eq!(head.header("content-type"), get.header("content-type"), "HEAD {path}");
        assert_eq!(head.header("content-length"), Some(get.body.len().to_string().as_str()));
    }
    let put = http::request(producer.port, "PUT", "/ping", &[], b"").await.unwrap();
    assert_eq!((put.status, put.header("allow")), (405, Some("GET, HEAD")));
}

/// HTTP-only: needs a broker address but does not depend on which broker it is.
#[tokio::test]
async fn ping_and_cors_preflight() {
    let Lab { producer, .. } = Lab::start(Flavor::Tansu).await;
    let ping = http::get(producer.port, "/ping").await.unwrap();
    assert_eq!((ping.status, ping.body.as_str()), (200, "pong"));
    assert_eq!(ping.header("access-control-allow-origin"), Some("*"));
    http::assert_preflight_allows_json_post(producer.port).await;
}

#[tokio::test]
async fn missing_or_malformed_env_var_exits_2_naming_it() {
    let producer = env!("CARGO_BIN_EXE_producer");
    let (status, output) = run_to_exit(producer, &[], &[]);
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(output.contains("KAFKA_BOOTSTRAP_SERVERS"), "{output}");
    assert!(
        !output.contains("panicked") && !output.contains("backtrace"),
        "{output}"
    );

    let (status, output) = run_to_exit(producer, &[], &[("KAFKA_BOOTSTRAP_SERVERS", "a:1"), ("PORT", "five")]);
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(output.contains("PORT"), "{output}");

    let (status, help) = run_to_exit(producer, &["--help"], &[]);
    assert_eq!(status.code(), Some(0));
    for var in [
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_TOPIC",
        "PORT",
        "HOST",
        "REQUEST_TIMEOUT_MS",
        "RUST_LOG",
        "5000",
        "first-topic",
    ] {
        assert!(help.contains(var), "--help lacks {var}: {help}");
    }
}

/// Signals: needs a broker address but does not depend on which broker it is.
#[tokio::test]
async fn sigterm_exits_zero() {
    let Lab { mut producer, .. } = Lab::start(Flavor::Tansu).await;
    let status = producer.signal("TERM");
    assert_eq!(status.code(), Some(0), "{}", producer.logs());
}
