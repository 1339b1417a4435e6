//! Result tickets the scheduler signs and workers check.
//!
//! A Flight SQL query's answer stays on the workers that computed it; the scheduler's
//! `FlightInfo` points the client at them, one endpoint per final partition, each with a
//! [`ResultTicket`] naming the partition's key, the schema the stream must carry and
//! when the ticket expires. The scheduler signs the ticket with HMAC-SHA256 under a key
//! it makes at start and hands to every worker when it joins, so a worker serves only
//! what the scheduler issued, for as long as it said: a forged, altered or stale ticket
//! is refused, and a scheduler restart voids every ticket it gave out before.
//!
//! On the wire a signed ticket is `MAGIC ‖ body ‖ tag`: the magic tells it apart from the
//! workers' own fetch tickets (protobuf, which never starts with these bytes), the body
//! is the protobuf [`ResultTicket`] and the tag the 32-byte HMAC of the body.
//!
//! ```
//! use dusk_flight::ticket::{ResultTicket, TicketSigner};
//!
//! let signer = TicketSigner::generate().unwrap();
//! let ticket = ResultTicket { key: "q1/part-0".into(), expires_unix_ms: u64::MAX, ..Default::default() };
//! let bytes = signer.sign(&ticket);
//! assert_eq!(signer.verify(&bytes, 0).unwrap(), ticket);
//! let mut forged = bytes.to_vec();
//! forged[10] ^= 1;
//! assert!(signer.verify(&forged, 0).is_err());
//! ```

use bytes::{BufMut, Bytes, BytesMut};
use prost::Message;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// First bytes of every signed ticket.
pub const MAGIC: &[u8] = b"dusk-result-ticket-1:";

/// Length of the HMAC-SHA256 tag that ends a signed ticket.
const TAG_LEN: usize = 32;

/// What a signed ticket lets its holder read.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResultTicket {
    /// Key of the task whose result to stream.
    #[prost(string, tag = "1")]
    pub key: String,
    /// After this time (Unix milliseconds) the ticket is refused.
    #[prost(uint64, tag = "2")]
    pub expires_unix_ms: u64,
    /// The Arrow IPC schema the scheduler announced for the stream; the worker sends
    /// exactly this schema, even for an empty partition.
    #[prost(bytes = "bytes", tag = "3")]
    pub schema: Bytes,
    /// The query the result belongs to, for logs.
    #[prost(string, tag = "4")]
    pub query: String,
}

/// Why a ticket was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TicketError {
    /// The bytes are not a signed ticket at all.
    #[error("not a signed result ticket")]
    Malformed,
    /// The tag does not match the body: forged, altered, or from another scheduler.
    #[error("the ticket's signature does not match: it was not issued by this cluster's scheduler")]
    BadSignature,
    /// The ticket is past its expiry.
    #[error("the ticket expired {ago_ms} ms ago; ask the scheduler for a new one")]
    Expired {
        /// How long ago.
        ago_ms: u64,
    },
    /// No randomness was available to make a key.
    #[error("the system's random number generator failed")]
    Random,
}

impl From<TicketError> for tonic::Status {
    fn from(e: TicketError) -> Self {
        match e {
            TicketError::Malformed => tonic::Status::invalid_argument(e.to_string()),
            TicketError::Random => tonic::Status::internal(e.to_string()),
            _ => tonic::Status::permission_denied(e.to_string()),
        }
    }
}

/// Signs and checks [`ResultTicket`]s with one HMAC-SHA256 key.
#[derive(Clone)]
pub struct TicketSigner {
    key: hmac::Key,
    raw: Bytes,
}

impl std::fmt::Debug for TicketSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TicketSigner { .. }")
    }
}

impl TicketSigner {
    /// A signer with a fresh random 256-bit key.
    pub fn generate() -> Result<Self, TicketError> {
        let mut raw = [0u8; 32];
        SystemRandom::new().fill(&mut raw).map_err(|_| TicketError::Random)?;
        Ok(Self::from_key(&raw))
    }

    /// A signer with a key received from the scheduler.
    pub fn from_key(raw: &[u8]) -> Self {
        TicketSigner { key: hmac::Key::new(hmac::HMAC_SHA256, raw), raw: Bytes::copy_from_slice(raw) }
    }

    /// The raw key, to hand to a worker.
    pub fn key_bytes(&self) -> Bytes {
        self.raw.clone()
    }

    /// The ticket's wire bytes.
    pub fn sign(&self, ticket: &ResultTicket) -> Bytes {
        let body = ticket.encode_to_vec();
        let tag = hmac::sign(&self.key, &body);
        let mut out = BytesMut::with_capacity(MAGIC.len() + body.len() + TAG_LEN);
        out.put_slice(MAGIC);
        out.put_slice(&body);
        out.put_slice(tag.as_ref());
        out.freeze()
    }

    /// The ticket in `bytes` if this signer signed it and it has not expired at
    /// `now_unix_ms`.
    pub fn verify(&self, bytes: &[u8], now_unix_ms: u64) -> Result<ResultTicket, TicketError> {
        let signed = bytes.strip_prefix(MAGIC).ok_or(TicketError::Malformed)?;
        if signed.len() < TAG_LEN {
            return Err(TicketError::Malformed);
        }
        let (body, tag) = signed.split_at(signed.len() - TAG_LEN);
        hmac::verify(&self.key, body, tag).map_err(|_| TicketError::BadSignature)?;
        let ticket = ResultTicket::decode(body).map_err(|_| TicketError::Malformed)?;
        if now_unix_ms > ticket.expires_unix_ms {
            return Err(TicketError::Expired { ago_ms: now_unix_ms - ticket.expires_unix_ms });
        }
        Ok(ticket)
    }
}

/// True if `bytes` look like a signed result ticket (not necessarily a valid one).
pub fn is_signed(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// The clock tickets expire by.
pub use crate::clock::now_unix_ms;

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(expires_unix_ms: u64) -> ResultTicket {
        ResultTicket {
            key: "q1/stage-2/part-0".into(),
            expires_unix_ms,
            query: "q1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_ticket_verifies_under_its_own_key_only() {
        let signer = TicketSigner::generate().unwrap();
        let bytes = signer.sign(&ticket(10_000));
        assert!(is_signed(&bytes));
        assert_eq!(signer.verify(&bytes, 5_000).unwrap(), ticket(10_000));
        let same_key = TicketSigner::from_key(&signer.key_bytes());
        assert_eq!(same_key.verify(&bytes, 5_000).unwrap(), ticket(10_000));
        let other = TicketSigner::generate().unwrap();
        assert_eq!(other.verify(&bytes, 5_000), Err(TicketError::BadSignature));
    }

    #[test]
    fn an_expired_or_altered_ticket_is_refused() {
        let signer = TicketSigner::generate().unwrap();
        let bytes = signer.sign(&ticket(10_000));
        assert_eq!(signer.verify(&bytes, 10_500), Err(TicketError::Expired { ago_ms: 500 }));
        // Extend the expiry by re-encoding the body but keeping the old tag.
        let longer = ticket(u64::MAX).encode_to_vec();
        let mut forged = MAGIC.to_vec();
        forged.extend_from_slice(&longer);
        forged.extend_from_slice(&bytes[bytes.len() - TAG_LEN..]);
        assert_eq!(signer.verify(&forged, 10_500), Err(TicketError::BadSignature));
        assert_eq!(signer.verify(b"garbage", 0), Err(TicketError::Malformed));
        assert_eq!(signer.verify(MAGIC, 0), Err(TicketError::Malformed));
    }
}
