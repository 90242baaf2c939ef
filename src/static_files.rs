//! The lab page, compiled into the producer binary so that one file is all a user needs.
//!
//! Plain HTML, CSS and JavaScript: no build step and no request to any other host.

use hyper::StatusCode;

use crate::http::{self, Response};

const INDEX_HTML: &str = include_str!("../static/index.html");
const HELPERS_JS: &str = include_str!("../static/helpers.js");
const CONSUMERS_JS: &str = include_str!("../static/consumers.js");
const APP_JS: &str = include_str!("../static/app.js");
const APP_CSS: &str = include_str!("../static/app.css");
const CLUSTER_CSS: &str = include_str!("../static/cluster.css");
const CLUSTER_MODEL_JS: &str = include_str!("../static/cluster-model.js");
const TIMELINE_MODEL_JS: &str = include_str!("../static/timeline-model.js");
const GUIDE_MODEL_JS: &str = include_str!("../static/guide-model.js");
const CLUSTER_DIAGRAM_JS: &str = include_str!("../static/cluster-diagram.js");
const CLUSTER_VIEW_JS: &str = include_str!("../static/cluster-view.js");
const GUIDE_JS: &str = include_str!("../static/guide.js");

/// The bundled file at `path`, if there is one.
pub fn serve(path: &str) -> Option<Response> {
    let (content_type, body) = match path {
        "/" | "/index.html" => ("text/html; charset=utf-8", INDEX_HTML),
        "/helpers.js" => ("text/javascript; charset=utf-8", HELPERS_JS),
        "/consumers.js" => ("text/javascript; charset=utf-8", CONSUMERS_JS),
        "/app.js" => ("text/javascript; charset=utf-8", APP_JS),
        "/app.css" => ("text/css; charset=utf-8", APP_CSS),
        "/cluster.css" => ("text/css; charset=utf-8", CLUSTER_CSS),
        "/cluster-model.js" => ("text/javascript; charset=utf-8", CLUSTER_MODEL_JS),
        "/timeline-model.js" => ("text/javascript; charset=utf-8", TIMELINE_MODEL_JS),
        "/guide-model.js" => ("text/javascript; charset=utf-8", GUIDE_MODEL_JS),
        "/cluster-diagram.js" => ("text/javascript; charset=utf-8", CLUSTER_DIAGRAM_JS),
        "/cluster-view.js" => ("text/javascript; charset=utf-8", CLUSTER_VIEW_JS),
        "/guide.js" => ("text/javascript; charset=utf-8", GUIDE_JS),
        _ => return None,
    };
    Some(http::respond(StatusCode::OK, content_type, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `src="…"` and `href="…"` of the page that names a local file.
    fn local_references(html: &str) -> Vec<&str> {
        ["src=\"", "href=\""]
            .iter()
            .flat_map(|attribute| html.split(attribute).skip(1))
            .filter_map(|rest| rest.split('"').next())
            .filter(|target| !target.contains(':'))
            .collect()
    }

    #[test]
    fn every_file_the_page_loads_is_bundled() {
        let references = local_references(INDEX_HTML);
        assert!(references.len() >= 4, "{references:?}");
        for target in references {
            assert!(
                serve(&format!("/{target}")).is_some(),
                "index.html loads {target}, which is not served"
            );
        }
    }

    #[test]
    fn unknown_files_are_not_served() {
        assert!(serve("/secret.txt").is_none());
        assert!(serve("/../Cargo.toml").is_none());
    }
}
