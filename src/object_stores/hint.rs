//! An object store whose credential failures say what was missing.
//!
//! Without credentials in the statement's options or the environment, `object_store`
//! asks the cloud's instance metadata service; off the cloud that fails with an HTTP
//! error about `169.254.169.254` that never says credentials were missing. [`Hinted`]
//! adds the hint to such errors and to refusals (`Unauthenticated`, `PermissionDenied`),
//! leaving every other error (`NotFound` above all, which DataFusion acts on) as it is.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, Error, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

/// `inner`, with `hint` added to the errors that come from missing credentials.
#[derive(Debug)]
pub(crate) struct Hinted {
    inner: Arc<dyn ObjectStore>,
    hint: &'static str,
}

impl Hinted {
    pub(crate) fn new(inner: Arc<dyn ObjectStore>, hint: &'static str) -> Self {
        Hinted { inner, hint }
    }

    fn explain(&self, error: Error) -> Error {
        explain(error, self.hint)
    }
}

/// `error` with `hint` added when it is about credentials.
fn explain(error: Error, hint: &'static str) -> Error {
    match error {
        Error::Unauthenticated { path, source } => {
            Error::Unauthenticated { path, source: format!("{source}; {hint}").into() }
        }
        Error::PermissionDenied { path, source } => {
            Error::PermissionDenied { path, source: format!("{source}; {hint}").into() }
        }
        Error::Generic { store, source } if is_credential_failure(&source.to_string()) => {
            Error::Generic { store, source: format!("{source}; {hint}").into() }
        }
        other => other,
    }
}

/// True for the failures of fetching credentials from a metadata service.
fn is_credential_failure(message: &str) -> bool {
    ["169.254.169.254", "169.254.170.2", "credential", "token request"].iter().any(|m| message.contains(m))
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
impl ObjectStore for Hinted {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await.map_err(|e| self.explain(e))
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await.map_err(|e| self.explain(e))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await.map_err(|e| self.explain(e))
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        let hint = self.hint;
        self.inner.delete_stream(locations).map(move |r| r.map_err(|e| explain(e, hint))).boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let hint = self.hint;
        self.inner.list(prefix).map(move |r| r.map_err(|e| explain(e, hint))).boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await.map_err(|e| self.explain(e))
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await.map_err(|e| self.explain(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_credential_failures_get_the_hint() {
        let generic = |m: &str| Error::Generic { store: "S3", source: m.to_string().into() };
        let metadata = explain(
            generic("error sending request for url (http://169.254.169.254/latest/api/token)"),
            "HINT",
        );
        assert!(metadata.to_string().contains("HINT"), "{metadata}");
        let other = explain(generic("connection refused"), "HINT");
        assert!(!other.to_string().contains("HINT"), "{other}");
        let missing = explain(Error::NotFound { path: "x".into(), source: "no such key".into() }, "HINT");
        assert!(matches!(missing, Error::NotFound { .. }) && !missing.to_string().contains("HINT"));
    }
}
