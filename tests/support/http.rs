//! A tiny HTTP/1.1 client for tests: one request per connection, whole body read.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response: status, headers (lower-cased names) and body text.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends one request to `127.0.0.1:port`; `Err` if nothing listens there.
pub async fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    parse(&raw)
}

/// Sends only a request's head, declaring a `Content-Length` of `declared` bytes, and reads the answer:
/// a server that checks the declared length answers without waiting for a body that never comes.
pub async fn request_head_only(port: u16, method: &str, path: &str, declared: u64) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    parse(&raw)
}

fn parse(raw: &[u8]) -> std::io::Result<Reply> {
    let text = String::from_utf8_lossy(raw);
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad response: {text}"));
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Reply {
        status,
        headers,
        body: body.to_string(),
    })
}

pub async fn get(port: u16, path: &str) -> std::io::Result<Reply> {
    request(port, "GET", path, &[], b"").await
}

pub async fn post_json(port: u16, path: &str, body: &str) -> std::io::Result<Reply> {
    request(
        port,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .await
}

/// Sends the CORS preflight a browser sends before a JSON `POST /` from another origin (the workshop's
/// React page on localhost:3000), and asserts the answer lets that POST through.
pub async fn assert_preflight_allows_json_post(port: u16) {
    let preflight = request(
        port,
        "OPTIONS",
        "/",
        &[
            ("Origin", "http://localhost:3000"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        b"",
    )
    .await
    .unwrap();
    assert!((200..300).contains(&preflight.status), "{preflight:?}");
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    let allowed_methods = preflight.header("access-control-allow-methods").unwrap_or_default();
    assert!(allowed_methods.contains("POST"), "{preflight:?}");
    let allowed_headers = preflight.header("access-control-allow-headers").unwrap_or_default();
    assert!(allowed_headers.to_lowercase().contains("content-type"), "{preflight:?}");
}
