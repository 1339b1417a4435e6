//! Bearer tokens: what a caller shows on every call once it has authenticated.
//!
//! A token is `base64url(role:expires:name) "." base64url(HMAC-SHA256)`, signed with a key
//! derived from the cluster secret. Any process that holds the secret can check one
//! without asking the scheduler, so workers check tokens too. A user gets a token from the
//! Flight handshake (user name and password); processes of the cluster mint their own.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

use super::ClusterSecret;

/// Who a token was issued to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A user who logged in with a password: runs queries, reads results.
    User,
    /// A process of the cluster (worker, Rust client, the scheduler itself): may also
    /// join as a worker and read any result by key.
    Cluster,
}

impl Role {
    fn tag(self) -> &'static str {
        match self {
            Role::User => "u",
            Role::Cluster => "c",
        }
    }

    fn from_tag(tag: &str) -> Option<Self> {
        match tag {
            "u" => Some(Role::User),
            "c" => Some(Role::Cluster),
            _ => None,
        }
    }
}

/// What a valid token says about its bearer; put in the request's extensions by the
/// server's guard for the service to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// The user name, or the process's name for [`Role::Cluster`].
    pub name: String,
    /// What the bearer may do.
    pub role: Role,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token this cluster issued (wrong form, altered, or another cluster's key).
    #[error("the bearer token is not valid for this cluster")]
    Invalid,
    /// Issued here, but too long ago.
    #[error("the bearer token has expired: authenticate again")]
    Expired,
}

/// Issues and checks bearer tokens with a key derived from the cluster secret.
#[derive(Clone)]
pub struct TokenIssuer {
    key: hmac::Key,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenIssuer(..)")
    }
}

impl TokenIssuer {
    /// The issuer of the cluster holding `secret`.
    pub fn new(secret: &ClusterSecret) -> Self {
        TokenIssuer { key: secret.derive("dusk bearer tokens v1") }
    }

    /// A token for `name` in `role`, valid for `ttl` (`None`: never expires, for the
    /// cluster's own processes, which can mint a new one at will anyway).
    pub fn issue(&self, name: &str, role: Role, ttl: Option<Duration>) -> String {
        let expires =
            ttl.map_or(0, |ttl| dusk_flight::clock::now_unix_ms().saturating_add(ttl.as_millis() as u64));
        let claims = format!("{}:{expires}:{name}", role.tag());
        let tag = hmac::sign(&self.key, claims.as_bytes());
        format!("{}.{}", URL_SAFE_NO_PAD.encode(claims), URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The claims of `token` if this cluster issued it and it has not expired.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let (claims, tag) = token.trim().split_once('.').ok_or(TokenError::Invalid)?;
        let claims = URL_SAFE_NO_PAD.decode(claims).map_err(|_| TokenError::Invalid)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| TokenError::Invalid)?;
        hmac::verify(&self.key, &claims, &tag).map_err(|_| TokenError::Invalid)?;
        let claims = String::from_utf8(claims).map_err(|_| TokenError::Invalid)?;
        let mut parts = claims.splitn(3, ':');
        let role = parts.next().and_then(Role::from_tag).ok_or(TokenError::Invalid)?;
        let expires: u64 = parts.next().and_then(|e| e.parse().ok()).ok_or(TokenError::Invalid)?;
        let name = parts.next().ok_or(TokenError::Invalid)?.to_string();
        if expires != 0 && expires < dusk_flight::clock::now_unix_ms() {
            return Err(TokenError::Expired);
        }
        Ok(Claims { name, role })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(secret: &str) -> TokenIssuer {
        TokenIssuer::new(&ClusterSecret::new(secret).unwrap())
    }

    #[test]
    fn a_token_round_trips_its_claims() {
        let issuer = issuer("0123456789abcdef-one");
        let token = issuer.issue("alice:admin", Role::User, Some(Duration::from_secs(60)));
        assert_eq!(issuer.verify(&token), Ok(Claims { name: "alice:admin".into(), role: Role::User }));
        let forever = issuer.issue("worker-1", Role::Cluster, None);
        assert_eq!(issuer.verify(&forever).map(|c| c.role), Ok(Role::Cluster));
    }

    #[test]
    fn altered_foreign_and_expired_tokens_are_refused() {
        let issuer_a = issuer("0123456789abcdef-one");
        let token = issuer_a.issue("alice", Role::User, Some(Duration::from_secs(60)));
        let (claims, tag) = token.split_once('.').unwrap();
        let forged_claims = URL_SAFE_NO_PAD.encode(b"c:0:alice");
        assert_eq!(issuer_a.verify(&format!("{forged_claims}.{tag}")), Err(TokenError::Invalid));
        assert_eq!(issuer_a.verify(claims), Err(TokenError::Invalid));
        assert_eq!(issuer("0123456789abcdef-two").verify(&token), Err(TokenError::Invalid));
        let stale = issuer_a.issue("alice", Role::User, Some(Duration::ZERO));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(issuer_a.verify(&stale), Err(TokenError::Expired));
    }
}
