//! The server side of authentication: a tower layer in front of every Flight service.
//!
//! With authentication on, every call must carry `authorization: Bearer <token>` with a
//! token of this cluster. The guard checks it before the service sees the call and puts
//! the token's [`Claims`] in the request's extensions, so a service can ask who calls
//! (only cluster processes may join as workers, for example). Two calls pass without a
//! token: the handshake, where a user trades a password for a token, and a worker's
//! `DoGet`, whose ticket the data plane checks itself (a signed result ticket is its own
//! proof; any other ticket needs a cluster token).

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::{Either, Ready, ready};
use tonic::Status;

use super::tokens::{Claims, TokenIssuer};

/// Which calls may come without a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Open {
    /// The scheduler: only the handshake.
    Handshake,
    /// A worker's data plane: only `DoGet`, which checks its ticket itself.
    DoGet,
}

/// A layer that checks bearer tokens; `None` lets everything through (no authentication).
#[derive(Clone, Debug)]
pub(crate) struct AuthLayer {
    guard: Option<Arc<Guard>>,
}

#[derive(Debug)]
struct Guard {
    issuer: TokenIssuer,
    open: Open,
}

impl AuthLayer {
    /// Checks tokens issued by `issuer`, if any.
    pub(crate) fn new(issuer: Option<TokenIssuer>, open: Open) -> Self {
        AuthLayer { guard: issuer.map(|issuer| Arc::new(Guard { issuer, open })) }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService { inner, guard: self.guard.clone() }
    }
}

/// The service an [`AuthLayer`] wraps around a Flight service.
#[derive(Clone, Debug)]
pub(crate) struct AuthService<S> {
    inner: S,
    guard: Option<Arc<Guard>>,
}

impl<S, B, R> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    R: Default,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<http::Response<R>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        if let Some(guard) = &self.guard {
            match guard.check(&request) {
                Ok(Some(claims)) => {
                    request.extensions_mut().insert(claims);
                }
                Ok(None) => {}
                Err(status) => return Either::Right(ready(Ok(status.into_http()))),
            }
        }
        Either::Left(self.inner.call(request))
    }
}

impl Guard {
    /// The caller's claims, `None` for an open call without a token, or the refusal.
    fn check<B>(&self, request: &http::Request<B>) -> Result<Option<Claims>, Status> {
        let method = request.uri().path().rsplit('/').next().unwrap_or_default();
        let open = match self.open {
            Open::Handshake => method == "Handshake",
            Open::DoGet => method == "DoGet",
        };
        if open && self.open == Open::Handshake {
            // The handshake reads its own `authorization` header (Basic or Bearer).
            return Ok(None);
        }
        let header = request.headers().get(http::header::AUTHORIZATION);
        let Some(header) = header else {
            return if open {
                Ok(None)
            } else {
                Err(Status::unauthenticated(
                    "authentication required: log in with a handshake (user and password) and send \
                     the bearer token it returns",
                ))
            };
        };
        let token = bearer(header)
            .ok_or_else(|| Status::unauthenticated("the authorization header is not a bearer token"))?;
        self.issuer.verify(token).map(Some).map_err(|e| Status::unauthenticated(e.to_string()))
    }
}

/// The token of an `authorization: Bearer <token>` header value.
pub(crate) fn bearer(header: &http::HeaderValue) -> Option<&str> {
    let text = header.to_str().ok()?;
    let (scheme, token) = text.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}
