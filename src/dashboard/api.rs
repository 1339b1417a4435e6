//! The JSON endpoints under `/api/`, behind every page and open to other tools.
//!
//! Each answers from one look at the scheduler's state (see [`super::views`]); a
//! scheduler that is shutting down answers 503.

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::source::{Gone, Source};
use super::{live, metrics, views};
use crate::scheduler::query::QuerySummary;

impl IntoResponse for Gone {
    fn into_response(self) -> Response {
        (StatusCode::SERVICE_UNAVAILABLE, self.to_string()).into_response()
    }
}

/// `?since=N`: runs after the first N; `?interval=MS`: time between live frames.
#[derive(Debug, Deserialize)]
pub(crate) struct StatusParams {
    #[serde(default)]
    since: Option<u64>,
    #[serde(default)]
    interval: Option<u64>,
}

/// `GET /api/status`: one status frame (what the live feed sends).
pub(crate) async fn status(
    State(source): State<Source>,
    Query(params): Query<StatusParams>,
) -> Result<Json<views::StatusView>, Gone> {
    let since = params.since;
    let frame = source
        .inspect(move |s| {
            let seen =
                since.unwrap_or_else(|| s.history.total().saturating_sub(views::MAX_RUNS_PER_FRAME as u64));
            views::status(s, seen)
        })
        .await?;
    Ok(Json(frame))
}

/// `GET /api/live`: the status page's WebSocket feed.
pub(crate) async fn live(
    State(source): State<Source>,
    Query(params): Query<StatusParams>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let interval = params.interval.map_or(live::DEFAULT_INTERVAL, Duration::from_millis);
    upgrade.on_upgrade(move |socket| live::serve(socket, source, interval))
}

/// `GET /api/workers`.
pub(crate) async fn workers(State(source): State<Source>) -> Result<Json<Vec<views::WorkerView>>, Gone> {
    Ok(Json(source.inspect(views::workers).await?))
}

/// `?limit=N`.
#[derive(Debug, Deserialize)]
pub(crate) struct LimitParams {
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    prefix: Option<String>,
}

/// `GET /api/workers/{name}`: one worker and its latest runs.
pub(crate) async fn worker(
    State(source): State<Source>,
    Path(name): Path<String>,
    Query(params): Query<LimitParams>,
) -> Result<Response, Gone> {
    let limit = params.limit.unwrap_or(200);
    let missing = name.clone();
    Ok(match source.inspect(move |s| views::worker_detail(s, &name, limit)).await? {
        Some(detail) => Json(detail).into_response(),
        None => (StatusCode::NOT_FOUND, format!("no connected worker named {missing:?}")).into_response(),
    })
}

/// `GET /api/tasks?limit=N&prefix=P`: the latest finished runs, newest first.
pub(crate) async fn tasks(
    State(source): State<Source>,
    Query(params): Query<LimitParams>,
) -> Result<Json<Vec<views::RunView>>, Gone> {
    let limit = params.limit.unwrap_or(500).min(100_000);
    let prefix = params.prefix.unwrap_or_default();
    Ok(Json(source.inspect(move |s| views::tasks(s, &prefix, limit)).await?))
}

/// `GET /api/groups`: every task group's counts.
pub(crate) async fn groups(State(source): State<Source>) -> Result<Json<Vec<views::GroupView>>, Gone> {
    Ok(Json(source.inspect(views::groups).await?))
}

/// `GET /api/graph`: the current task graph, by task when small, else by group.
pub(crate) async fn graph(State(source): State<Source>) -> Result<Json<views::GraphView>, Gone> {
    Ok(Json(source.inspect(views::graph).await?))
}

/// A query with the task counts of each of its stages that are still listed.
#[derive(Debug, Serialize)]
pub(crate) struct QueryView {
    #[serde(flatten)]
    query: QuerySummary,
    /// Task counts by stage prefix.
    progress: HashMap<String, views::GroupView>,
}

/// `GET /api/queries`: running queries first, then the latest ended.
pub(crate) async fn queries(State(source): State<Source>) -> Result<Json<Vec<QueryView>>, Gone> {
    let queries = source.queries.queries();
    let names: Vec<String> =
        queries.iter().flat_map(|q| q.stages.iter().map(|s| format!("{}part", s.prefix))).collect();
    let groups = source.inspect(move |s| views::groups_named(s, &names)).await?;
    let by_name: HashMap<String, views::GroupView> =
        groups.into_iter().map(|g| (g.name.clone(), g)).collect();
    let views = queries
        .into_iter()
        .map(|query| {
            let progress = query
                .stages
                .iter()
                .filter_map(|s| {
                    by_name.get(&format!("{}part", s.prefix)).map(|g| (s.prefix.clone(), g.clone()))
                })
                .collect();
            QueryView { query, progress }
        })
        .collect();
    Ok(Json(views))
}

/// `GET /metrics`: Prometheus text format.
pub(crate) async fn prometheus(State(source): State<Source>) -> Result<Response, Gone> {
    let view = source.inspect(views::metrics).await?;
    let body = metrics::render(&view, &source.queries.query_stats());
    Ok(([(axum::http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body).into_response())
}

/// Health as probes read it.
#[derive(Debug, Serialize)]
pub(crate) struct Health {
    /// `ok`, or `no-workers` while no worker is connected (work waits for one, up to the
    /// no-workers timeout).
    status: &'static str,
    workers: usize,
    /// Workers draining before they leave.
    retiring: usize,
    /// Ready tasks that no live worker can run right now.
    unrunnable_tasks: usize,
}

/// `GET /health`: 200 while the scheduler's event loop answers, 503 otherwise.
pub(crate) async fn health(State(source): State<Source>) -> Response {
    let look = source.inspect(|s| {
        let unrunnable = s.no_worker.len() + if s.workers.is_empty() { s.queued.len() } else { 0 };
        Health {
            status: if s.workers.is_empty() { "no-workers" } else { "ok" },
            workers: s.workers.len(),
            retiring: s.workers.values().filter(|w| w.retiring.is_some()).count(),
            unrunnable_tasks: unrunnable,
        }
    });
    let answer = tokio::time::timeout(Duration::from_secs(5), look).await;
    match answer {
        Ok(Ok(health)) => Json(health).into_response(),
        Ok(Err(gone)) => gone.into_response(),
        Err(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, "the scheduler did not answer within 5 s").into_response()
        }
    }
}
