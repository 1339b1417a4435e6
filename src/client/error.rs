//! What can go wrong for a client, said so a person can act on it.

use dusk_flight::messages::{FailureKind, TaskFailed};

use crate::data_client::TransferError;
use crate::net::ConnectError;

/// A client call failed.
///
/// Task failures carry the key, the function and the worker, so a message reads
/// `task inc-3f2a (inc on grpc://127.0.0.1:40211) panicked: boom`.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The scheduler could not be reached.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The credentials in the environment could not be read.
    #[error("credentials: {0}")]
    Credentials(#[from] crate::security::SecurityError),
    /// The scheduler refused a call, or the connection to it broke during the call.
    #[error("scheduler {url}: {}", describe_status(.source))]
    Scheduler {
        /// The scheduler's URL.
        url: String,
        /// Its answer.
        #[source]
        source: tonic::Status,
    },
    /// The task's function panicked or returned an error.
    #[error("task {key} ({function} on {worker}) {message}")]
    TaskFailed {
        /// The task.
        key: String,
        /// Its function.
        function: String,
        /// Where it ran.
        worker: String,
        /// What the function said.
        message: String,
    },
    /// No function of that name is registered in the worker's binary.
    #[error("task {key}: {message} (worker {worker})")]
    UnknownFunction {
        /// The task.
        key: String,
        /// The missing function.
        function: String,
        /// The worker that looked.
        worker: String,
        /// The worker's message.
        message: String,
    },
    /// An argument did not decode as the type the function takes.
    #[error("task {key}: {function} got a bad argument: {message}")]
    BadArgument {
        /// The task.
        key: String,
        /// Its function.
        function: String,
        /// The decoder's complaint.
        message: String,
    },
    /// The task was running on more workers that died than allowed.
    #[error("task {key} killed too many workers: {message}")]
    KilledWorker {
        /// The task.
        key: String,
        /// Which workers died.
        message: String,
    },
    /// An input of the task failed, so it could not run.
    #[error("task {key} could not run: its input {cause} failed: {message}")]
    DependencyFailed {
        /// The task.
        key: String,
        /// The input that failed first.
        cause: String,
        /// That failure.
        message: String,
    },
    /// The result was lost and cannot be recomputed, or the key is unknown.
    #[error("task {key}: {message}")]
    Unavailable {
        /// The key.
        key: String,
        /// Why.
        message: String,
    },
    /// The task was cancelled.
    #[error("task {key} was cancelled")]
    Cancelled {
        /// The task.
        key: String,
    },
    /// An argument could not be encoded.
    #[error("encoding an argument of {function}: {message}")]
    Encode {
        /// The function.
        function: String,
        /// The encoder's complaint.
        message: String,
    },
    /// A result did not decode as the expected type.
    #[error("decoding the result of {key}")]
    Decode {
        /// The key.
        key: String,
        /// The decoder's complaint.
        #[source]
        source: postcard::Error,
    },
    /// A result could not be fetched from the worker holding it.
    #[error("fetching {key}")]
    Fetch {
        /// The key.
        key: String,
        /// What went wrong.
        #[source]
        source: TransferError,
    },
    /// Scattering data failed.
    #[error("scattering to {addr}")]
    Scatter {
        /// The worker.
        addr: String,
        /// What went wrong.
        #[source]
        source: TransferError,
    },
    /// A query's result arrived malformed.
    #[error("reading the result of query {query}: {message}")]
    Result {
        /// The query.
        query: String,
        /// What was wrong.
        message: String,
    },
    /// The connection to the scheduler ended (it stopped or restarted, or the network
    /// failed): work in flight on it is lost; the session reconnects for the next call.
    #[error("the connection to the scheduler was lost (it stopped or restarted); work in flight was lost")]
    Disconnected,
}

impl ClientError {
    /// The client-side error for a failure the scheduler reported.
    pub(crate) fn from_failure(f: TaskFailed) -> Self {
        let kind = FailureKind::try_from(f.kind).unwrap_or(FailureKind::Internal);
        match kind {
            FailureKind::Raised | FailureKind::Internal => ClientError::TaskFailed {
                key: f.key,
                function: f.function,
                worker: f.worker,
                message: f.message,
            },
            FailureKind::UnknownFunction => ClientError::UnknownFunction {
                key: f.key,
                function: f.function,
                worker: f.worker,
                message: f.message,
            },
            FailureKind::BadArgument => {
                ClientError::BadArgument { key: f.key, function: f.function, message: f.message }
            }
            FailureKind::KilledWorker => ClientError::KilledWorker { key: f.key, message: f.message },
            FailureKind::DependencyFailed => {
                let message = if f.worker.is_empty() {
                    f.message
                } else {
                    format!("{} on {}: {}", f.function, f.worker, f.message)
                };
                ClientError::DependencyFailed { key: f.key, cause: f.cause_key, message }
            }
            FailureKind::Lost | FailureKind::UnknownDependency | FailureKind::NoWorkers => {
                ClientError::Unavailable { key: f.key, message: f.message }
            }
        }
    }
}

/// A scheduler's answer for a person: a broken connection says what that means.
fn describe_status(status: &tonic::Status) -> String {
    if crate::net::is_connection_lost(status) {
        format!(
            "lost the connection to the scheduler (it stopped, restarted or cannot be reached); \
             a statement in flight did not finish, the next call reconnects: {}",
            status.message()
        )
    } else {
        status.message().to_string()
    }
}
