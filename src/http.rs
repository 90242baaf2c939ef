//! The small HTTP layer both binaries share: responses with CORS, JSON errors, bounded bodies, and a server
//! that stops gracefully.
//!
//! The lab page is served from one port and calls the producer and consumers on others, so every response
//! carries `Access-Control-Allow-Origin: *` and preflight `OPTIONS` requests are answered. Errors are JSON
//! objects `{"error": "..."}` so that scripts and the page can show the reason. hyper 1.x is used directly:
//! one connection task per client, and on shutdown the listener closes while requests in flight finish.
//!
//! A server on a laptop still meets clients that misbehave, so every limit a client could stretch is bounded:
//! a request head must arrive within 30 s, a body within 10 s ([`BODY_READ_TIMEOUT`]) and within a size,
//! and at most [`MAX_CONNECTIONS`] connections are served at once (the rest wait to be accepted). `HEAD` is
//! answered wherever `GET` is, without a body and without side effects.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Incoming};
use hyper::header::{HeaderValue, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ALLOW, CONNECTION};
use hyper::header::{ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Every handler answers with a complete body.
pub type Response = hyper::Response<Full<Bytes>>;

/// How long in-flight requests may take to finish once shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
/// A connection that sends no complete request head for this long is closed, so idle or stuck clients
/// do not pile up.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a request body may take to arrive in full, from the end of its head. A body trickled in slowly
/// would otherwise hold a connection (and a producer's request slot) for as long as the client likes.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this many connections are served at once; further ones wait, unaccepted, in the kernel's queue
/// until one closes (mini-redis caps its connections the same way). 256 is far more than the lab needs (a
/// browser opens at most 6 connections per host, `make bench` 8) and far below the usual limit of 1024 open
/// files, so accepting never fails for want of a file descriptor and the Kafka connections always have room.
pub const MAX_CONNECTIONS: usize = 256;
/// How long to wait after a failed accept before accepting again.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// A response with the given status, content type and body, allowing any origin.
pub fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response {
    let mut response = hyper::Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A JSON response.
pub fn json(status: StatusCode, body: &impl Serialize) -> Response {
    json_of_size(status, body, 128)
}

/// A JSON response about `size` bytes long: its buffer is allocated once at that size instead of doubling
/// its way up, which matters for answers of megabytes (a drain of thousands of events): each doubling copies
/// the buffer and leaves the freed one behind as fragments in the allocator.
pub fn json_of_size(status: StatusCode, body: &impl Serialize, size: usize) -> Response {
    let mut bytes = Vec::with_capacity(size);
    match serde_json::to_writer(&mut bytes, body) {
        Ok(()) => respond(status, "application/json", bytes),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("could not encode JSON: {e}"),
        ),
    }
}

/// A plain-text response.
pub fn text(status: StatusCode, body: impl Into<String>) -> Response {
    respond(status, "text/plain; charset=utf-8", body.into())
}

/// A JSON error, `{"error": message}`.
pub fn error(status: StatusCode, message: &str) -> Response {
    json(status, &serde_json::json!({ "error": message }))
}

/// The answer to a CORS preflight `OPTIONS` request: any origin, the methods and headers the page uses.
pub fn preflight() -> Response {
    let mut response = respond(StatusCode::NO_CONTENT, "text/plain", Bytes::new());
    let headers = response.headers_mut();
    headers.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, POST, OPTIONS"),
    );
    headers.insert(
        ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("*, Content-Type"),
    );
    headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    response
}

/// 405 for a known path asked with a method it does not serve; `allowed` is the `Allow` header's list,
/// e.g. `"GET, HEAD"`.
pub fn method_not_allowed(allowed: &'static str) -> Response {
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("method not allowed here; use {allowed}"),
    );
    response.headers_mut().insert(ALLOW, HeaderValue::from_static(allowed));
    response
}

/// Whether a request only reads: `GET`, or `HEAD` (the same answer without its body).
pub fn is_read(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// 404 for an unknown path.
pub fn not_found(path: &str) -> Response {
    error(StatusCode::NOT_FOUND, &format!("no such path: {path}"))
}

/// The most a request may send before it is cut off. Past `limit`, a body is still read (and dropped) up to
/// this size, so that a client busy sending it gets to read the 413: closing a connection with unread data
/// resets it, and the client would see a network error instead of the answer.
const READ_AT_MOST: u64 = 16 * 1024 * 1024;

/// Reads a request body of at most `limit` bytes; a larger one is answered 413 and not kept. A declared
/// `Content-Length` over `READ_AT_MOST` (16 MiB) is refused before any of it is read (a client that sent
/// `Expect: 100-continue`, as curl does for large bodies, then never sends it). A body that has not arrived
/// in full within [`BODY_READ_TIMEOUT`] is answered 408, and the connection is closed.
pub async fn read_body(request: Request<Incoming>, limit: usize) -> Result<Bytes, Response> {
    match tokio::time::timeout(BODY_READ_TIMEOUT, read_limited(request, limit)).await {
        Ok(result) => result,
        Err(_) => {
            let message = format!("the request body did not arrive within {BODY_READ_TIMEOUT:?}");
            let mut response = error(StatusCode::REQUEST_TIMEOUT, &message);
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            Err(response)
        }
    }
}

async fn read_limited(request: Request<Incoming>, limit: usize) -> Result<Bytes, Response> {
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("body is larger than {limit} bytes"),
        )
    };
    let mut body = request.into_body();
    if body.size_hint().lower() > READ_AT_MOST {
        return Err(too_large());
    }
    let mut kept = BytesMut::new();
    let mut received: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| error(StatusCode::BAD_REQUEST, &format!("could not read the body: {e}")))?;
        let Ok(data) = frame.into_data() else { continue };
        received += data.len() as u64;
        if received > READ_AT_MOST {
            return Err(too_large());
        }
        if received <= limit as u64 {
            kept.extend_from_slice(&data);
        }
    }
    if received > limit as u64 {
        return Err(too_large());
    }
    Ok(kept.freeze())
}

/// The value of `name` in a query string such as `after=3&x=y`.
pub fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Binds the HTTP listener, with a message that names the address when the port is taken.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

/// Serves HTTP/1.1 on `listener` with `handler` until `shutdown` is cancelled, then lets requests in flight
/// finish (for at most a second) and returns.
pub async fn serve<H, F>(listener: TcpListener, handler: H, shutdown: CancellationToken)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    // A semaphore, as in mini-redis: one permit per connection, taken before accepting and given back when
    // the connection's task ends, so the cap holds without any bookkeeping of our own.
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => permit.expect("the connection semaphore is never closed"),
            () = shutdown.cancelled() => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // E.g. out of file descriptors: wait a little rather than spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let handler = handler.clone();
        let service = hyper::service::service_fn(move |request| {
            let response = handler(request);
            async move { Ok::<_, std::convert::Infallible>(response.await) }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("connection ended: {e}");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after {DRAIN_TIMEOUT:?}; closing them");
    }
}

/// Resolves when the process receives SIGINT (Ctrl+C) or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
