//! Errors raised while decoding what a peer sent.

/// A frame or message from a peer could not be understood.
///
/// Always the peer's fault (or a version mismatch), so these map to
/// `InvalidArgument` when reported back over gRPC.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// A protobuf body did not decode as the message the protocol expects here.
    #[error("malformed {what}")]
    Decode {
        /// Which message was expected, e.g. "worker update".
        what: &'static str,
        /// The protobuf decoder's complaint.
        #[source]
        source: prost::DecodeError,
    },
    /// An Arrow batch of a byte value did not have the expected shape.
    #[error("malformed value stream: {reason}")]
    Chunks {
        /// What was wrong with it.
        reason: String,
    },
    /// Arrow failed to build or read a batch.
    #[error("arrow")]
    Arrow(#[from] arrow::error::ArrowError),
}

impl From<WireError> for tonic::Status {
    fn from(e: WireError) -> Self {
        tonic::Status::invalid_argument(crate::envelope::error_chain(&e))
    }
}
