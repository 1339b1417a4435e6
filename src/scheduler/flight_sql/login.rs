//! The Flight handshake: a user trades a name and password for a bearer token.
//!
//! Clients send `authorization: Basic base64(user:password)` on the handshake (JDBC,
//! ADBC, `pyarrow.flight`'s `authenticate_basic_token`) and read the token from the
//! `authorization: Bearer <token>` header of the answer; the token is also the answer's
//! payload. A client that already holds a token may send it instead and gets it back.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use tonic::Status;
use tonic::metadata::MetadataMap;

use crate::security::{Role, Security, TokenIssuer, USER_TOKEN_TTL, Users};

/// What the handshake checks passwords and issues tokens with.
#[derive(Debug, Default)]
pub(crate) struct Login {
    issuer: Option<TokenIssuer>,
    users: Users,
}

impl Login {
    pub(crate) fn new(security: &Security) -> Self {
        Login { issuer: security.issuer(), users: security.users.clone().unwrap_or_default() }
    }

    /// The token for the caller of a handshake, or `None` when the cluster does not
    /// authenticate.
    pub(crate) fn handshake(&self, metadata: &MetadataMap) -> Result<Option<String>, Status> {
        let Some(issuer) = &self.issuer else {
            return Ok(None);
        };
        let header = metadata.get("authorization").and_then(|v| v.to_str().ok()).ok_or_else(|| {
            Status::unauthenticated(
                "the handshake needs an authorization header: Basic (user and password) or Bearer",
            )
        })?;
        let (scheme, value) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            let token = value.trim();
            issuer.verify(token).map_err(|e| Status::unauthenticated(e.to_string()))?;
            return Ok(Some(token.to_string()));
        }
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(Status::unauthenticated(format!(
                "unsupported authorization scheme {scheme:?}: use Basic or Bearer"
            )));
        }
        // Go's Flight client (under ADBC) sends unpadded base64; Java and C++ pad it.
        let base64 = GeneralPurpose::new(
            &alphabet::STANDARD,
            GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
        );
        let decoded =
            base64.decode(value.trim()).ok().and_then(|d| String::from_utf8(d).ok()).ok_or_else(|| {
                Status::unauthenticated("Basic credentials are not base64 of user:password")
            })?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or_else(|| Status::unauthenticated("Basic credentials are not of the form user:password"))?;
        if !self.users.check(user, password) {
            tracing::warn!(user, "refused a login: wrong user name or password");
            return Err(Status::unauthenticated("invalid user name or password"));
        }
        tracing::info!(user, "user logged in");
        Ok(Some(issuer.issue(user, Role::User, Some(USER_TOKEN_TTL))))
    }
}
