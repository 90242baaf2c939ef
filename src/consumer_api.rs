//! The consumer's HTTP API (port 8000 by default), as the workshop's lab page and scripts expect it.
//!
//! - `GET /` answers a JSON array of the events consumed since the previous `GET /`, oldest first: the
//!   original's draining read, just the event objects.
//! - `GET /ping` answers `pong:<group>`; the page takes the text after the first five characters as the
//!   group name, and shows "Offline" when it fails.
//! - `GET /events?after=N&run=R&limit=M` is a cursor read that consumes nothing, so several tabs can follow
//!   the same consumer: `{"group", "run", "events": [{"seq", "partition", "offset", "event"}...], "next",
//!   "more", "dropped", "gap"}`. A reader passes back `next` as `after` and `run` as `run`; a cursor from
//!   another run of the consumer, or from before the oldest event held, is answered with a `gap` saying so
//!   (see [`crate::store`]).
//! - `GET /status` shows the group membership (member id, generation, owned partitions, lag, ...) and what
//!   the data path has to say: events held and unread, fetching paused for readers, the topic gone, resets.
//!
//! What `GET /` and `GET /events` return is *handed to a reader*: from then on it counts as processed, and
//! the member commits it ("committed = processed", see [`crate::store`]). `HEAD` hands nothing out.
//!
//! The API only reads: events from the [`Store`] the fetch loops fill, and the latest [`ConsumerStatus`]
//! the group member publishes on a `watch` channel. So it can start listening before the group join is done
//! (the page sees the consumer online and `/status` says `joining`), and a slow client never holds up
//! consuming.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::http::{self, Response};
use crate::notices::{Notices, NoticesView};
use crate::status::ConsumerStatus;
use crate::store::{EventsPage, Read, Store, StoreView};

/// How many events `GET /events` returns when the request does not say.
pub const DEFAULT_EVENTS_LIMIT: usize = 500;

/// The most events one `GET /events` returns, whatever `limit` asks for.
pub const MAX_EVENTS_LIMIT: usize = 5000;

/// The consumer service as the HTTP side sees it: the group name, the event buffer, the status snapshot.
pub struct ConsumerApi {
    group: String,
    store: Arc<Store>,
    status: watch::Receiver<ConsumerStatus>,
    notices: Arc<Notices>,
}

/// The body of `GET /status`: the member's snapshot, and what the data path has to say.
#[derive(Serialize)]
struct StatusResponse {
    #[serde(flatten)]
    member: ConsumerStatus,
    #[serde(flatten)]
    notices: NoticesView,
    #[serde(flatten)]
    store: StoreView,
}

/// The parameters of `GET /events`.
#[derive(Debug, PartialEq, Eq)]
struct EventsQuery {
    after: u64,
    /// The run the cursor comes from, when the reader says.
    run: Option<String>,
    limit: usize,
}

/// The body of `GET /events`: the group, then the page of events.
#[derive(Serialize)]
struct EventsResponse<'a> {
    group: &'a str,
    #[serde(flatten)]
    page: EventsPage,
}

impl ConsumerApi {
    pub fn new(
        group: String,
        store: Arc<Store>,
        status: watch::Receiver<ConsumerStatus>,
        notices: Arc<Notices>,
    ) -> Self {
        Self {
            group,
            store,
            status,
            notices,
        }
    }

    /// Routes one request. No route reads a body, so routing needs only the method, path and query.
    pub async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Response {
        let uri = request.uri();
        self.route(request.method(), uri.path(), uri.query())
    }

    /// `HEAD` is answered as `GET` would be (hyper leaves the body out), but hands nothing out: a `HEAD /`
    /// must not take events away from the next `GET /`, nor count them as processed.
    fn route(&self, method: &Method, path: &str, query: Option<&str>) -> Response {
        let known = matches!(path, "/" | "/ping" | "/events" | "/status");
        if method == Method::OPTIONS {
            return http::preflight();
        }
        if !http::is_read(method) {
            return if known {
                http::method_not_allowed("GET, HEAD")
            } else {
                http::not_found(path)
            };
        }
        // What a GET returns is handed to the reader (and so committed); a HEAD only looks.
        let read = if method == Method::HEAD {
            Read::Look
        } else {
            Read::HandOut
        };
        match path {
            "/" => {
                let events = self.store.drain(read);
                let size = 2 + events.iter().map(|event| event.get().len() + 1).sum::<usize>();
                http::json_of_size(StatusCode::OK, &events, size)
            }
            "/ping" => http::text(StatusCode::OK, format!("pong:{}", self.group)),
            "/events" => self.events(query, read),
            "/status" => self.status(),
            _ => http::not_found(path),
        }
    }

    fn events(&self, query: Option<&str>, read: Read) -> Response {
        let query = match parse_events_query(query) {
            Ok(query) => query,
            Err(message) => return http::error(StatusCode::BAD_REQUEST, &message),
        };
        let page = self.store.after(query.after, query.run.as_deref(), query.limit, read);
        // Each event, and its seq, partition, offset and key around it.
        let size = 256 + page.events.iter().map(|e| e.event.get().len() + 96).sum::<usize>();
        let response = EventsResponse {
            group: &self.group,
            page,
        };
        http::json_of_size(StatusCode::OK, &response, size)
    }

    fn status(&self) -> Response {
        // Clone the snapshot and let go of the channel at once: holding `borrow()` blocks the publisher.
        let member = self.status.borrow().clone();
        let notices = self.notices.view(&member.topic);
        let store = self.store.view();
        http::json(StatusCode::OK, &StatusResponse { member, notices, store })
    }
}

/// Reads `after` (default 0), `run` and `limit` (default 500, at most 5000) from the query string.
fn parse_events_query(query: Option<&str>) -> Result<EventsQuery, String> {
    let after = parse_param(query, "after")?.unwrap_or(0);
    let run = http::query_param(query, "run")
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    let limit = parse_param(query, "limit")?.map_or(DEFAULT_EVENTS_LIMIT, |limit| {
        usize::try_from(limit).unwrap_or(MAX_EVENTS_LIMIT).min(MAX_EVENTS_LIMIT)
    });
    Ok(EventsQuery { after, run, limit })
}

/// The whole number in query parameter `name`, `None` when absent, an error naming it when not a number.
fn parse_param(query: Option<&str>, name: &str) -> Result<Option<u64>, String> {
    let Some(value) = http::query_param(query, name) else {
        return Ok(None);
    };
    match value.parse::<u64>() {
        Ok(number) => Ok(Some(number)),
        Err(_) => Err(format!("\"{name}\" must be a whole number, not '{value}'")),
    }
}

/// Serves the consumer's API on `listener` until `shutdown` is cancelled. The caller binds the listener
/// first, so the port answers at once, before the group join completes.
pub async fn serve(listener: TcpListener, api: Arc<ConsumerApi>, shutdown: CancellationToken) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("consumer API listening on http://{addr}");
    }
    http::serve(listener, move |request| Arc::clone(&api).handle(request), shutdown).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Limits, Run};
    use http_body_util::BodyExt;
    use hyper::header::{ACCESS_CONTROL_ALLOW_ORIGIN, CONTENT_TYPE};
    use serde_json::{json, Value};

    fn api() -> (ConsumerApi, watch::Sender<ConsumerStatus>) {
        let (sender, receiver) = watch::channel(ConsumerStatus::default());
        let api = ConsumerApi::new(
            "first-group".into(),
            Arc::new(Store::new(
                Limits {
                    events: 100,
                    bytes: 1 << 20,
                },
                Run {
                    id: "r1".into(),
                    first_seq: 1,
                },
            )),
            receiver,
            Arc::new(Notices::default()),
        );
        (api, sender)
    }

    async fn body_of(response: Response) -> Vec<u8> {
        match response.into_body().collect().await {
            Ok(collected) => collected.to_bytes().to_vec(),
            Err(never) => match never {},
        }
    }

    async fn json_of(response: Response) -> Value {
        serde_json::from_slice(&body_of(response).await).unwrap()
    }

    fn get(api: &ConsumerApi, path: &str, query: Option<&str>) -> Response {
        api.route(&Method::GET, path, query)
    }

    #[test]
    fn events_query_defaults() {
        let expected = EventsQuery {
            after: 0,
            run: None,
            limit: 500,
        };
        assert_eq!(parse_events_query(None), Ok(expected));
        let expected = EventsQuery {
            after: 0,
            run: None,
            limit: 500,
        };
        assert_eq!(parse_events_query(Some("other=x")), Ok(expected));
    }

    #[test]
    fn events_query_reads_both_parameters() {
        let expected = EventsQuery {
            after: 12,
            run: Some("r1".into()),
            limit: 30,
        };
        assert_eq!(parse_events_query(Some("limit=30&after=12&run=r1")), Ok(expected));
    }

    #[test]
    fn events_limit_is_capped() {
        assert_eq!(
            parse_events_query(Some("limit=999999")).unwrap().limit,
            MAX_EVENTS_LIMIT
        );
        assert_eq!(
            parse_events_query(Some("limit=18446744073709551615")).unwrap().limit,
            MAX_EVENTS_LIMIT
        );
    }

    #[test]
    fn non_numeric_parameters_are_named() {
        for (query, name) in [
            ("after=abc", "after"),
            ("after=-1", "after"),
            ("after=", "after"),
            ("limit=1.5", "limit"),
        ] {
            let error = parse_events_query(Some(query)).unwrap_err();
            assert!(error.starts_with(&format!("\"{name}\"")), "{query}: {error}");
        }
    }

    #[tokio::test]
    async fn ping_names_the_group() {
        let (api, _status) = api();
        let response = get(&api, "/ping", None);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert_eq!(body_of(response).await, b"pong:first-group");
    }

    #[tokio::test]
    async fn root_drains_plain_event_objects() {
        let (api, _status) = api();
        api.store.push(0, 5, json!({ "id": 1 }), 10);
        api.store.push(1, 9, json!({ "id": 2 }), 10);
        let response = get(&api, "/", None);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(json_of(response).await, json!([{ "id": 1 }, { "id": 2 }]));
        assert_eq!(json_of(get(&api, "/", None)).await, json!([]));
    }

    #[tokio::test]
    async fn head_answers_like_get_but_does_not_drain() {
        let (api, _status) = api();
        api.store.push(0, 5, json!({ "id": 1 }), 10);
        for path in ["/", "/ping", "/events", "/status"] {
            let head = api.route(&Method::HEAD, path, None);
            assert_eq!(head.status(), StatusCode::OK, "{path}");
        }
        let head = api.route(&Method::HEAD, "/", None);
        assert_eq!(json_of(head).await, json!([{ "id": 1 }]));
        assert_eq!(
            json_of(get(&api, "/", None)).await,
            json!([{ "id": 1 }]),
            "HEAD / drained"
        );
    }

    #[tokio::test]
    async fn events_answers_a_page_with_the_group() {
        let (api, _status) = api();
        api.store.push(1, 9, json!({ "id": 1 }), 10);
        api.store.push(0, 4, json!({ "id": 2 }), 10);
        let body = json_of(get(&api, "/events", Some("after=1"))).await;
        let expected = json!({
            "group": "first-group",
            "run": "r1",
            "events": [{ "seq": 2, "partition": 0, "offset": 4, "event": { "id": 2 } }],
            "next": 2,
            "more": false,
            "dropped": 0,
            "gap": null,
        });
        assert_eq!(body, expected);
    }

    #[tokio::test]
    async fn events_rejects_a_bad_cursor() {
        let (api, _status) = api();
        let response = get(&api, "/events", Some("after=latest"));
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let error = json_of(response).await["error"].as_str().unwrap().to_string();
        assert!(error.contains("after"), "{error}");
    }

    #[tokio::test]
    async fn status_serves_the_latest_snapshot() {
        let (api, sender) = api();
        sender.send_modify(|status| {
            status.group = "first-group".into();
            status.generation = Some(3);
        });
        let body = json_of(get(&api, "/status", None)).await;
        assert_eq!(body["group"], "first-group");
        assert_eq!(body["generation"], 3);
        assert_eq!(body["state"], "joining");
    }

    #[test]
    fn unknown_paths_and_methods() {
        let (api, _status) = api();
        assert_eq!(get(&api, "/nope", None).status(), StatusCode::NOT_FOUND);
        for path in ["/", "/ping", "/events", "/status"] {
            let response = api.route(&Method::POST, path, None);
            assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
            assert_eq!(response.headers()[hyper::header::ALLOW], "GET, HEAD", "{path}");
        }
        assert_eq!(
            api.route(&Method::DELETE, "/nope", None).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            api.route(&Method::OPTIONS, "/events", None).status(),
            StatusCode::NO_CONTENT
        );
    }
}
