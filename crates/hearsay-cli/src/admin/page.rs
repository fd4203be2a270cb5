//! `/`: the status page — one self-contained HTML document (no external script, style or font:
//! it works where the browser has no internet) that polls `/state` and `/series` every second
//! and shows the members with their status and last heartbeat, and live plots of traffic and
//! convergence drawn as inline SVG.

use axum::http::header;
use axum::response::IntoResponse;

/// The page, compiled into the binary.
pub const PAGE: &str = include_str!("page.html");

/// Serves [`PAGE`].
pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE)
}
