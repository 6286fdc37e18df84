//! HTTP/2 failures as par-http errors, and which of them mean "not processed, send it
//! again".
//!
//! An error with an HTTP/2 error code (a `RST_STREAM` or `GOAWAY` from the server, or
//! one `h2` sent itself for a protocol violation) becomes
//! [`ErrorKind::Http2`] carrying the code. An IO failure under the connection keeps the
//! kind of the phase it cut short (`Io` before the head, `Body` after it).
//!
//! RFC 9113 §8.7: a stream refused with `REFUSED_STREAM`, or above the last stream id
//! of a graceful `GOAWAY`, was not processed, so any request may be sent again.

use crate::error::{Error, ErrorKind};

/// The par-http error for an `h2` error met in a phase whose IO failures are `io_kind`.
pub(crate) fn from_h2(err: h2::Error, io_kind: ErrorKind) -> Error {
    match err.reason() {
        Some(reason) if !err.is_io() => {
            Error::new(ErrorKind::Http2(reason.into())).with_source(err)
        }
        _ if err.is_io() => Error::new(io_kind).with_source(err),
        // A misuse of the API, which `h2` reports without a code: an internal error.
        _ => Error::new(ErrorKind::Http2(h2::Reason::INTERNAL_ERROR.into())).with_source(err),
    }
}

/// True when the server did not process the stream, so that it may be sent again.
pub(crate) fn is_unprocessed(err: &h2::Error) -> bool {
    match err.reason() {
        Some(h2::Reason::REFUSED_STREAM) => true,
        // Streams above the last id of a graceful GOAWAY get its code, NO_ERROR.
        Some(h2::Reason::NO_ERROR) => err.is_go_away(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_codes_become_typed_errors() {
        let err = from_h2(h2::Error::from(h2::Reason::CANCEL), ErrorKind::Io);
        assert_eq!(err.kind(), &ErrorKind::Http2(0x8));
        assert_eq!(err.h2_reason(), Some(0x8));
        assert!(is_unprocessed(&h2::Error::from(h2::Reason::REFUSED_STREAM)));
        assert!(!is_unprocessed(&h2::Error::from(
            h2::Reason::PROTOCOL_ERROR
        )));
    }
}
