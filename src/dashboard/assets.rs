//! The pages' HTML, script and style, compiled into the binary: the dashboard needs no
//! build step and nothing from the internet.

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

const PAGE: &str = include_str!("assets/page.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/style.css");
const ICON: &str = include_str!("assets/favicon.svg");

/// The dashboard's pages: path, title.
pub(crate) const PAGES: [(&str, &str); 5] = [
    ("status", "Status"),
    ("workers", "Workers"),
    ("tasks", "Tasks"),
    ("queries", "Queries"),
    ("graph", "Graph"),
];

/// The HTML of page `page` (one of [`PAGES`], or `worker` for one worker's page).
pub(crate) fn page(page: &str, title: &str) -> Html<String> {
    let nav: String = PAGES
        .iter()
        .map(|(path, name)| {
            let current = if *path == page { " class=\"current\"" } else { "" };
            format!("<a href=\"/{path}\"{current}>{name}</a>")
        })
        .collect();
    Html(PAGE.replace("{{page}}", page).replace("{{title}}", title).replace("{{nav}}", &nav))
}

/// `GET /static/app.js`.
pub(crate) async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT).into_response()
}

/// `GET /static/style.css`.
pub(crate) async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

/// `GET /favicon.svg` (and `/favicon.ico`, which browsers ask for on their own).
pub(crate) async fn icon() -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml")], ICON).into_response()
}

/// Any other path.
pub(crate) async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such dashboard page; try /status").into_response()
}
