//! Sans-IO HTTP/1.1 framing (RFC 9112): bytes in, events out; events in, bytes out.
//!
//! Nothing in this module performs IO, reads the clock, or knows about a runtime. The
//! caller owns the socket and the buffers:
//!
//! * [`encode`] appends a request head (and chunked-body framing) to a caller's `Vec<u8>`.
//! * [`ResponseDecoder`] takes the bytes received so far and returns how many it consumed
//!   plus, when it has one, an [`Event`]: the response head, a slice of body data, or the
//!   end of the message. `None` means "give me more bytes" (h11's `NEED_DATA`).
//!   When the peer closes the connection, [`ResponseDecoder::decode_eof`] either ends a
//!   close-delimited body or reports the truncation.
//!
//! ```text
//!   request ──encode──▶ bytes ──▶ socket ──▶ bytes ──decode──▶ Head, Data*, End
//! ```
//!
//! Every framing rule lives here so that it can be tested without sockets, on every split
//! of the input.

mod chunked;
pub mod decode;
pub mod encode;
mod error;
mod keep_alive;
mod limits;

pub use decode::{BodyKind, CloseReason, EndOfMessage, Event, ResponseDecoder, ResponseHead};
pub use encode::{BodyFraming, encode_chunk, encode_last_chunk, encode_request_head};
pub use error::ProtocolError;
pub use keep_alive::keep_alive_timeout;
pub use limits::{
    DEFAULT_MAX_CHUNK_LINE_BYTES, DEFAULT_MAX_HEAD_BYTES, DEFAULT_MAX_HEADERS,
    DEFAULT_MAX_TRAILER_BYTES, Limits,
};
