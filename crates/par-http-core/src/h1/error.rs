//! [`ProtocolError`]: every way an HTTP/1.1 exchange can break the framing rules.
//!
//! Like h11's `LocalProtocolError`/`RemoteProtocolError`, one type says whether the peer
//! ([`is_remote`](ProtocolError::is_remote)) or the caller broke the rules, and whether a
//! configured limit was hit ([`is_limit`](ProtocolError::is_limit)). Variants carry no
//! `String`: what matters is matchable, and the input that caused it stays with the caller.

use std::fmt;

/// A violation of the HTTP/1.1 framing rules, by the peer or by the caller.
///
/// The wording of [`Display`](fmt::Display) is for people and may change; match on the
/// variant instead.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The status line is malformed (not `HTTP/x.y SP 3DIGIT SP reason CRLF`).
    InvalidStatusLine,
    /// The response has a well-formed but unsupported version (only HTTP/1.0 and HTTP/1.1).
    UnsupportedVersion,
    /// The status code is below 100 (three digits are always read, so it is at most 999).
    InvalidStatusCode,
    /// A header field line is malformed: no colon, or bytes not allowed in a name or value.
    InvalidHeader,
    /// The response head is larger than the limit.
    HeadTooLarge {
        /// The configured limit, in bytes.
        limit: usize,
    },
    /// The response head (or trailer section) has more fields than the limit.
    TooManyHeaders {
        /// The configured limit, in fields.
        limit: usize,
    },
    /// The server answered `101 Switching Protocols`, which this client never asks for.
    SwitchingProtocols,
    /// A `Content-Length` value is not a plain decimal number that fits in a `u64`.
    InvalidContentLength,
    /// `Content-Length` values disagree with each other.
    ConflictingContentLength,
    /// `Transfer-Encoding` lists `chunked` more than once (RFC 9112 §6.1).
    InvalidTransferEncoding,
    /// A chunk size is missing or is not hexadecimal.
    InvalidChunkSize,
    /// A chunk size does not fit in a `u64`.
    ChunkSizeOverflow,
    /// A chunk extension holds a control character.
    InvalidChunkExtension,
    /// Chunk data is not followed by a line end.
    InvalidChunkTerminator,
    /// A chunk-size line (with its extensions) is longer than the limit.
    ChunkLineTooLong {
        /// The configured limit, in bytes.
        limit: usize,
    },
    /// The trailer section of a chunked body is larger than the limit.
    TrailersTooLarge {
        /// The configured limit, in bytes.
        limit: usize,
    },
    /// A trailer field line is malformed.
    InvalidTrailer,
    /// The connection closed before any byte of a response arrived (a stale pooled
    /// connection looks like this, so the request may be retried).
    ClosedBeforeResponse,
    /// The connection closed in the middle of a response head.
    TruncatedHead,
    /// The connection closed before the end of a `Content-Length` or chunked body.
    TruncatedBody,
    /// The caller's request method is not a token.
    InvalidMethod,
    /// The caller's header name is not a token.
    InvalidHeaderName,
    /// The caller's header value holds CR, LF, NUL or another control character.
    InvalidHeaderValue,
    /// The caller's request target is empty or holds spaces, control or non-ASCII bytes.
    InvalidRequestTarget,
    /// The caller's host is empty, holds forbidden bytes, or `Host` was given twice.
    InvalidHost,
}

impl ProtocolError {
    /// True when the peer broke the rules (false: the caller supplied something invalid).
    #[must_use]
    pub fn is_remote(&self) -> bool {
        !matches!(
            self,
            Self::InvalidMethod
                | Self::InvalidHeaderName
                | Self::InvalidHeaderValue
                | Self::InvalidRequestTarget
                | Self::InvalidHost
        )
    }

    /// True when a configured limit was exceeded (head size, header count, chunk line, trailers).
    #[must_use]
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            Self::HeadTooLarge { .. }
                | Self::TooManyHeaders { .. }
                | Self::ChunkLineTooLong { .. }
                | Self::TrailersTooLarge { .. }
        )
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidStatusLine => f.write_str("invalid status line in response"),
            Self::UnsupportedVersion => {
                f.write_str("unsupported HTTP version in response (only HTTP/1.0 and HTTP/1.1)")
            }
            Self::InvalidStatusCode => f.write_str("response status code below 100"),
            Self::InvalidHeader => f.write_str("invalid header field in response"),
            Self::HeadTooLarge { limit } => {
                write!(f, "response head larger than the limit of {limit} bytes")
            }
            Self::TooManyHeaders { limit } => {
                write!(
                    f,
                    "response has more than the limit of {limit} header fields"
                )
            }
            Self::SwitchingProtocols => {
                f.write_str("server switched protocols (101), which is not supported")
            }
            Self::InvalidContentLength => f.write_str("invalid content-length in response"),
            Self::ConflictingContentLength => {
                f.write_str("conflicting content-length values in response")
            }
            Self::InvalidTransferEncoding => {
                f.write_str("transfer-encoding applies chunked more than once")
            }
            Self::InvalidChunkSize => f.write_str("invalid chunk size"),
            Self::ChunkSizeOverflow => f.write_str("chunk size does not fit in 64 bits"),
            Self::InvalidChunkExtension => f.write_str("invalid chunk extension"),
            Self::InvalidChunkTerminator => f.write_str("chunk data not followed by a line end"),
            Self::ChunkLineTooLong { limit } => {
                write!(f, "chunk-size line longer than the limit of {limit} bytes")
            }
            Self::TrailersTooLarge { limit } => {
                write!(f, "trailer section larger than the limit of {limit} bytes")
            }
            Self::InvalidTrailer => f.write_str("invalid trailer field"),
            Self::ClosedBeforeResponse => {
                f.write_str("connection closed before any response byte arrived")
            }
            Self::TruncatedHead => f.write_str("connection closed inside the response head"),
            Self::TruncatedBody => f.write_str("connection closed before the end of the body"),
            Self::InvalidMethod => f.write_str("invalid request method"),
            Self::InvalidHeaderName => f.write_str("invalid header name in request"),
            Self::InvalidHeaderValue => f.write_str("invalid header value in request"),
            Self::InvalidRequestTarget => f.write_str("invalid request target"),
            Self::InvalidHost => f.write_str("invalid host for request"),
        }
    }
}

impl std::error::Error for ProtocolError {}

#[cfg(test)]
mod tests {
    use super::ProtocolError;

    #[test]
    fn remote_and_limit_predicates() {
        assert!(ProtocolError::InvalidChunkSize.is_remote());
        assert!(ProtocolError::ClosedBeforeResponse.is_remote());
        assert!(!ProtocolError::InvalidHeaderValue.is_remote());
        assert!(!ProtocolError::InvalidHost.is_remote());
        assert!(ProtocolError::HeadTooLarge { limit: 1 }.is_limit());
        assert!(ProtocolError::TrailersTooLarge { limit: 1 }.is_limit());
        assert!(!ProtocolError::InvalidTrailer.is_limit());
    }

    #[test]
    fn display_is_lower_case() {
        let all = [
            ProtocolError::InvalidStatusLine,
            ProtocolError::UnsupportedVersion,
            ProtocolError::HeadTooLarge { limit: 3 },
            ProtocolError::TruncatedBody,
            ProtocolError::InvalidHost,
        ];
        for err in all {
            let text = err.to_string();
            assert!(text.starts_with(|c: char| c.is_ascii_lowercase()), "{text}");
        }
    }
}
