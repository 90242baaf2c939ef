//! The lab page, compiled into the producer binary so that one file is all a user needs.
//!
//! Plain HTML, CSS and JavaScript: no build step and no request to any other host.

use hyper::StatusCode;

use crate::http::{self, Response};

const INDEX_HTML: &str = include_str!("../static/index.html");
const APP_JS: &str = include_str!("../static/app.js");
const APP_CSS: &str = include_str!("../static/app.css");

/// The bundled file at `path`, if there is one.
pub fn serve(path: &str) -> Option<Response> {
    let (content_type, body) = match path {
        "/" | "/index.html" => ("text/html; charset=utf-8", INDEX_HTML),
        "/app.js" => ("text/javascript; charset=utf-8", APP_JS),
        "/app.css" => ("text/css; charset=utf-8", APP_CSS),
        _ => return None,
    };
    Some(http::respond(StatusCode::OK, content_type, body))
}
