//! Size limits that bound what a peer can make the decoder hold in memory or scan.
//!
//! Every default is a named constant with the reason it exists. A response that goes past
//! a limit is rejected with a [`ProtocolError`](super::ProtocolError) for which
//! [`is_limit`](super::ProtocolError::is_limit) is true.

/// Default cap on the size of a response head (status line + headers), 64 KiB.
// The head is buffered whole before it is parsed, so without a cap a peer that never sends
// the blank line makes us buffer (and scan) without end: a memory-exhaustion DoS. 64 KiB
// is far above what real servers send (their own limits are about 8 KiB per header line)
// and keeps the cost of one slow or hostile peer small.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 64 * 1024;

/// Default cap on the number of header fields in a response head.
// Each field becomes a `HeaderMap` entry (an allocation and a hash), so the count bounds
// CPU and memory per head; 100 is hyper's default and far above what servers send.
pub const DEFAULT_MAX_HEADERS: usize = 100;

/// Default cap on the length of one chunk-size line, extensions included, 4 KiB.
// RFC 9112 §7.1.1 lets a recipient ignore chunk extensions but it still has to read past
// them: without a cap a peer can stream an endless extension that never yields body bytes
// (Node.js CVE-2024-22019, unbounded chunk extensions; hyper capped them for the same reason).
pub const DEFAULT_MAX_CHUNK_LINE_BYTES: usize = 4 * 1024;

/// Default cap on the total size of the trailer section of a chunked body, 16 KiB.
// Trailer fields are buffered until the final blank line, like a head (RFC 9112 §7.1.2),
// so they need the same memory bound; real trailers are a few checksums or timings.
pub const DEFAULT_MAX_TRAILER_BYTES: usize = 16 * 1024;

/// Limits applied while decoding a response.
///
/// Build one from [`Limits::default`] and the builder-style setters:
///
/// ```
/// use par_http_core::h1::Limits;
/// let limits = Limits::default().max_head_bytes(16 * 1024).max_headers(50);
/// assert_eq!(limits.max_headers, 50);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest response head (status line, header fields and the blank line), in bytes.
    /// Empty lines received before the status line count toward it.
    pub max_head_bytes: usize,
    /// Largest number of header fields in a response head (and of trailer fields).
    pub max_headers: usize,
    /// Longest chunk-size line of a chunked body (size, extensions, not the line end).
    pub max_chunk_line_bytes: usize,
    /// Largest trailer section of a chunked body, in bytes.
    pub max_trailer_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            max_chunk_line_bytes: DEFAULT_MAX_CHUNK_LINE_BYTES,
            max_trailer_bytes: DEFAULT_MAX_TRAILER_BYTES,
        }
    }
}

impl Limits {
    /// Sets the largest accepted response head, in bytes.
    #[must_use]
    pub fn max_head_bytes(mut self, n: usize) -> Self {
        self.max_head_bytes = n;
        self
    }

    /// Sets the largest accepted number of header (and trailer) fields.
    #[must_use]
    pub fn max_headers(mut self, n: usize) -> Self {
        self.max_headers = n;
        self
    }

    /// Sets the longest accepted chunk-size line, in bytes.
    #[must_use]
    pub fn max_chunk_line_bytes(mut self, n: usize) -> Self {
        self.max_chunk_line_bytes = n;
        self
    }

    /// Sets the largest accepted trailer section, in bytes.
    #[must_use]
    pub fn max_trailer_bytes(mut self, n: usize) -> Self {
        self.max_trailer_bytes = n;
        self
    }
}
