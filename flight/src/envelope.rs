//! Control messages inside Flight frames.
//!
//! The long-lived `DoExchange` streams (worker ⇄ scheduler, client ⇄ scheduler) carry one
//! protobuf message per `FlightData` frame in its `app_metadata`; the frame's Arrow body
//! stays empty. Decoding happens once, at the edge, and a frame that does not decode is
//! rejected with `InvalidArgument`: a peer can never make a Dusk process panic.

use arrow_flight::FlightData;
use bytes::Bytes;
use prost::Message;

use crate::WireError;

/// Largest number of entries of one kind (tasks, keys, events) in one control frame,
/// so frames stay far below gRPC message limits however large a graph is.
pub const MAX_FRAME_ENTRIES: usize = 8192;

/// Moves up to [`MAX_FRAME_ENTRIES`] items from the front of `from`: one frame's share
/// of a batch that may be larger.
pub fn take_front<T>(from: &mut Vec<T>) -> Vec<T> {
    let n = from.len().min(MAX_FRAME_ENTRIES);
    let rest = from.split_off(n);
    std::mem::replace(from, rest)
}

/// Encodes a message to protobuf bytes.
pub fn encode_message<M: Message>(message: &M) -> Bytes {
    Bytes::from(message.encode_to_vec())
}

/// Decodes protobuf bytes into `M`; `what` names the message in the error.
pub fn decode_message<M: Message + Default>(bytes: &[u8], what: &'static str) -> Result<M, WireError> {
    M::decode(bytes).map_err(|source| WireError::Decode { what, source })
}

/// Wraps a control message into a `FlightData` frame of an exchange stream.
pub fn to_flight_data<M: Message>(message: &M) -> FlightData {
    FlightData { app_metadata: encode_message(message), ..Default::default() }
}

/// Reads the control message carried by a `FlightData` frame.
pub fn from_flight_data<M: Message + Default>(
    frame: &FlightData,
    what: &'static str,
) -> Result<M, WireError> {
    decode_message(&frame.app_metadata, what)
}

/// Joins an error and its sources into one line, `outer: inner: root`.
///
/// This is the form people see, on the CLI and in errors sent to clients.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::FetchTicket;

    #[test]
    fn frame_round_trips_a_message() -> Result<(), WireError> {
        let ticket = FetchTicket { keys: vec!["a".into()], bucket: None };
        let frame = to_flight_data(&ticket);
        assert!(frame.data_body.is_empty());
        assert_eq!(from_flight_data::<FetchTicket>(&frame, "ticket")?, ticket);
        Ok(())
    }

    #[test]
    fn garbage_is_a_decode_error_naming_the_message() {
        let err = decode_message::<FetchTicket>(&[0xff, 0xff, 0xff], "fetch ticket")
            .expect_err("garbage must not decode");
        assert!(err.to_string().contains("fetch ticket"), "{err}");
    }
}
