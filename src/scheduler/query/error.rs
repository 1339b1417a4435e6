//! Why a query failed, said so the person who wrote it can act on it.

use datafusion::error::DataFusionError;

/// A SQL statement could not be planned or run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum QueryError {
    /// DataFusion refused or failed the statement (syntax, unknown table, type error, ...).
    #[error("{}", plan_message(.0))]
    Plan(#[from] DataFusionError),
    /// A task of the query failed on a worker.
    #[error("query {query} failed: {message}")]
    Task {
        /// The query.
        query: String,
        /// The failure, naming the task and worker.
        message: String,
    },
    /// The query was cancelled.
    #[error("query {0} was cancelled")]
    Cancelled(String),
    /// The scheduler is shutting down.
    #[error("the scheduler is shutting down")]
    ShuttingDown,
}

impl From<crate::blocking::BlockingFailed> for QueryError {
    fn from(e: crate::blocking::BlockingFailed) -> Self {
        QueryError::Plan(DataFusionError::External(Box::new(e)))
    }
}

/// DataFusion's message for people: a parser error reads `sql parser error: Expected ...`
/// rather than its debug form inside `SQL error: ParserError("...")`.
fn plan_message(e: &DataFusionError) -> String {
    match e.find_root() {
        DataFusionError::SQL(parser, _) => parser.to_string(),
        _ => e.to_string(),
    }
}

impl From<QueryError> for tonic::Status {
    fn from(e: QueryError) -> Self {
        // A planning error may come wrapped (with a diagnostic or context): its code is
        // that of its root.
        match &e {
            QueryError::Plan(plan) => match plan.find_root() {
                DataFusionError::SQL(..)
                | DataFusionError::Plan(_)
                | DataFusionError::SchemaError(..)
                | DataFusionError::Substrait(_) => tonic::Status::invalid_argument(e.to_string()),
                DataFusionError::NotImplemented(_) => tonic::Status::unimplemented(e.to_string()),
                _ => tonic::Status::internal(e.to_string()),
            },
            QueryError::Cancelled(_) => tonic::Status::cancelled(e.to_string()),
            QueryError::ShuttingDown => tonic::Status::unavailable(e.to_string()),
            _ => tonic::Status::internal(e.to_string()),
        }
    }
}
