//! Names of the `DoAction` calls Dusk's services answer.
//!
//! Request and response bodies are the protobuf messages named beside each constant.

/// Scheduler: publish a named dataset (`PublishRequest` → empty).
pub const PUBLISH: &str = "dusk.publish";
/// Scheduler: remove a named dataset (`DatasetName` → empty).
pub const UNPUBLISH: &str = "dusk.unpublish";
/// Scheduler: look up a named dataset (`DatasetName` + client → `DatasetKeys`).
pub const GET_DATASET: &str = "dusk.get_dataset";
/// Scheduler: list dataset names (empty → `DatasetList`).
pub const LIST_DATASETS: &str = "dusk.list_datasets";
/// Scheduler: pick workers to receive scattered data (`ScatterTargetRequest` → `ScatterTargets`).
pub const SCATTER_TARGETS: &str = "dusk.scatter_targets";
/// Scheduler: a snapshot of workers and task counts (empty → `ClusterInfo`).
pub const CLUSTER_INFO: &str = "dusk.cluster_info";
/// Scheduler: recent runs of tasks by key prefix (`TaskHistoryRequest` → `TaskHistory`).
pub const TASK_HISTORY: &str = "dusk.task_history";
/// Scheduler: plan and run one SQL statement (`SqlRequest` → `SqlResult`).
pub const SQL: &str = "dusk.sql";
/// Scheduler: drop a query's result from the workers (`QueryId` → empty).
pub const SQL_CLOSE: &str = "dusk.sql_close";
/// Scheduler: drop results cached by `DataFrame::cache()` (`UncacheRequest` → empty).
pub const SQL_UNCACHE: &str = "dusk.sql_uncache";
/// Scheduler: drain a worker and let it leave, nothing recomputed (`DatasetName` naming
/// the worker by name or data address → empty, once it has left).
pub const RETIRE_WORKER: &str = "dusk.retire_worker";
/// Scheduler: how the running SQL queries stand (empty → `QueryProgress`).
pub const QUERY_PROGRESS: &str = "dusk.query_progress";
/// Scheduler, internal: unfinished tasks under each stage prefix (`StagePrefixes` →
/// `StageCounts`).
pub const STAGE_COUNTS: &str = "dusk.stage_counts";
