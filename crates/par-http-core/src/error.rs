//! The one error type of par-http.
//!
//! Every failure a user can see is an [`Error`]: a boxed record of *what* went wrong
//! ([`ErrorKind`]), *which request* it belongs to (method and URL), and the underlying
//! cause in [`std::error::Error::source`]. Framing failures carry a typed
//! [`ProtocolError`](crate::h1::ProtocolError) that says whether the peer or the caller broke the rules.
//!
//! The `Display` text describes one level only and its wording is not stable; match on
//! [`Error::kind`] or the `is_*` predicates instead.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use http::{Method, StatusCode};

use crate::h1::ProtocolError;

/// A `Result` whose error is par-http's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A value a user attaches to a request of a scope, handed back with its response or
/// error (see `Response::tag` and [`Error::tag`]).
pub type Tag = std::sync::Arc<dyn std::any::Any + Send + Sync>;

/// The cause inside an [`Error`], type-erased.
pub(crate) type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The phase of a request in which a timeout fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutPhase {
    /// Establishing the connection (name resolution, TCP and the TLS handshake).
    Connect,
    /// Waiting for, or reading, the response head.
    Head,
    /// Reading the response body.
    Body,
    /// The request's total time limit passed.
    Total,
    /// The deadline of the enclosing parallel scope passed.
    ScopeDeadline,
}

/// What went wrong. Returned by [`Error::kind`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The URL could not be parsed, or is not an `http` or `https` URL with a host.
    InvalidUrl,
    /// The request could not be built: a header name or value is invalid (for example a
    /// value containing CR, LF or NUL), or the method is not allowed.
    InvalidRequest,
    /// The connection could not be established (resolution, refusal, unreachable).
    Connect,
    /// A time limit passed.
    Timeout(TimeoutPhase),
    /// The peer sent a response that breaks HTTP/1.1 framing rules.
    Protocol,
    /// The response exceeded a configured limit (head size, header count, ...).
    Limit,
    /// Writing the request or reading the response head failed at the IO level.
    Io,
    /// Reading the response body failed (IO error or truncated body).
    Body,
    /// The response had an error status and [`Error::status`] holds it.
    Status(StatusCode),
    /// The request was cancelled because its scope ended.
    Cancelled,
    /// `next_response` was called while no request of the scope was pending.
    NoPending,
    /// The outcome of this handle was already delivered through `next_response`.
    AlreadyCollected,
    /// The runtime that drives requests has shut down.
    RuntimeGone,
    /// The [`Dispatch`](crate::Dispatch) panicked while sending the request.
    DispatchPanicked,
    /// A redirect could not be followed: a loop, too many hops, a refused https to http
    /// downgrade or an invalid `Location`. The source is a
    /// [`RedirectError`](crate::RedirectError) saying which.
    Redirect,
    /// A body could not be decoded (for example invalid JSON for the requested type).
    Decode,
    /// The TLS handshake failed (unknown issuer, wrong host name, expired certificate,
    /// a server that refused the client certificate, a connection cut during the
    /// handshake). The source is the `rustls::Error` naming the cause, when rustls gave one.
    Tls,
    /// The TLS settings are invalid: a root certificate or client identity that is not
    /// valid PEM, or a key that does not match its certificate.
    TlsConfig,
    /// A compressed response body (`Content-Encoding`) could not be decompressed: it is
    /// corrupt or truncated, or it decompresses to more than the client's
    /// `max_decompressed_bytes` (a decompression bomb). The source is a
    /// [`DecompressError`](crate::DecompressError) saying which.
    Decompress,
    /// A request of a scope that can never progress: every connection to its host, or
    /// every slot under the scope's `max_in_flight`, is held by responses of the scope
    /// that were not collected and will not give it back by themselves (responses
    /// started with `stream()`, their bodies unread), while the caller waits for this
    /// one. The source says what holds them. Reported instead of a hang.
    Stalled,
    /// A proxy refused or broke the way to the origin: a `CONNECT` answered with a status
    /// other than 2xx (407 when the proxy wants credentials), a SOCKS5 handshake refused
    /// or cut short, or a proxy URL that cannot be used. The source is a
    /// [`ProxyError`](crate::ProxyError) naming the proxy and, for `CONNECT`, the status.
    Proxy,
    /// An HTTP/2 stream or connection failed: the server reset the stream or sent
    /// `GOAWAY` for a request it may have processed, or broke the protocol. Holds the
    /// HTTP/2 error code (RFC 9113 §7: `0x8` is `CANCEL`, `0x7` `REFUSED_STREAM`, `0x1`
    /// `PROTOCOL_ERROR`...); [`Error::h2_reason`] gives it too.
    Http2(u32),
    /// Every request of a race ([`Scope::race`](crate::Scope::race)) failed. The source is
    /// an [`AllFailed`] holding each request's error, in the order they failed;
    /// [`Error::all_failed`] gives them.
    AllFailed,
}

/// The errors of a race in which every request failed, in the order they failed: the
/// source of an [`ErrorKind::AllFailed`] error.
///
/// # Examples
///
/// ```
/// use par_http_core::{AllFailed, Error, ErrorKind};
///
/// let all = AllFailed::new(vec![Error::new(ErrorKind::Connect), Error::new(ErrorKind::Io)]);
/// let err = Error::new(ErrorKind::AllFailed).with_source(all);
/// assert_eq!(err.all_failed().map(<[Error]>::len), Some(2));
/// ```
#[derive(Debug)]
pub struct AllFailed {
    errors: Vec<Error>,
}

impl AllFailed {
    /// The failure of every request of a race, `errors` in the order they came.
    pub fn new(errors: Vec<Error>) -> Self {
        Self { errors }
    }

    /// Each request's error, in the order they failed.
    pub fn errors(&self) -> &[Error] {
        &self.errors
    }

    /// The errors, taken out.
    pub fn into_errors(self) -> Vec<Error> {
        self.errors
    }
}

impl fmt::Display for AllFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} requests, all failed", self.errors.len())?;
        for (i, err) in self.errors.iter().enumerate() {
            let sep = if i == 0 { ": " } else { "; " };
            write!(f, "{sep}{err}")?;
        }
        Ok(())
    }
}

impl StdError for AllFailed {}

/// The error of every par-http operation.
///
/// It says what went wrong ([`kind`](Self::kind) and the `is_*` predicates) and which
/// request it belongs to ([`method`](Self::method), [`url`](Self::url)).
///
/// # Examples
///
/// ```
/// use par_http_core::{Error, ErrorKind};
///
/// let err = Error::new(ErrorKind::Connect).with_request(&http::Method::GET, "http://127.0.0.1:1/");
/// assert!(err.is_connect());
/// assert_eq!(err.method(), Some(&http::Method::GET));
/// assert_eq!(err.url(), Some("http://127.0.0.1:1/"));
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    method: Option<Method>,
    url: Option<String>,
    source: Option<BoxError>,
    /// The request's position in its scope, and the user's tag, when it was started in one.
    index: Option<usize>,
    tag: Option<Tag>,
    /// Attempts made, the first included (1 unless a retry policy tried again).
    attempts: u32,
    /// Extra copies a hedge policy sent, over all the attempts.
    hedges: u32,
}

impl Error {
    /// An error of `kind` with no request attached yet.
    pub fn new(kind: ErrorKind) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                method: None,
                url: None,
                source: None,
                index: None,
                tag: None,
                attempts: 1,
                hedges: 0,
            }),
        }
    }

    /// Attaches an underlying cause, returned by [`source`](StdError::source).
    pub fn with_source(mut self, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// Names the request this error belongs to, unless one is already named.
    pub fn with_request(mut self, method: &Method, url: &str) -> Self {
        if self.inner.method.is_none() {
            self.inner.method = Some(method.clone());
        }
        if self.inner.url.is_none() {
            self.inner.url = Some(url.to_owned());
        }
        self
    }

    /// Says which request of a scope this error answers: its start index and tag.
    pub(crate) fn with_origin(mut self, index: usize, tag: Option<Tag>) -> Self {
        self.inner.index = Some(index);
        if tag.is_some() {
            self.inner.tag = tag;
        }
        self
    }

    /// The position of the request in its scope, counting from 0 in start order (the
    /// same number as its `Pending::index()`); `None` for a request sent outside a scope.
    pub fn index(&self) -> Option<usize> {
        self.inner.index
    }

    /// How many attempts the request took before this error, the first included: more
    /// than 1 when its retry policy tried it again (see [`RetryPolicy`](crate::RetryPolicy)).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = par_http_core::Error::new(par_http_core::ErrorKind::Connect);
    /// assert_eq!(err.attempts(), 1);
    /// ```
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }

    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        self.inner.attempts = attempts;
        self
    }

    /// How many extra copies of the request its hedge policy sent before this error, over
    /// all its attempts (see [`HedgePolicy`](crate::HedgePolicy)); not counted in
    /// [`attempts`](Self::attempts).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = par_http_core::Error::new(par_http_core::ErrorKind::Connect);
    /// assert_eq!(err.hedges(), 0);
    /// ```
    pub fn hedges(&self) -> u32 {
        self.inner.hedges
    }

    pub(crate) fn with_hedges(mut self, hedges: u32) -> Self {
        self.inner.hedges = hedges;
        self
    }

    /// The value attached to the request when it was started in a scope (its tag), if it
    /// has one of type `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = par_http_core::Error::new(par_http_core::ErrorKind::Connect);
    /// assert_eq!(err.tag::<u32>(), None);
    /// ```
    pub fn tag<T: std::any::Any>(&self) -> Option<&T> {
        self.inner.tag.as_ref()?.downcast_ref()
    }

    pub(crate) fn protocol(err: ProtocolError) -> Self {
        let kind = if err.is_limit() {
            ErrorKind::Limit
        } else if err.is_remote() {
            ErrorKind::Protocol
        } else {
            ErrorKind::InvalidRequest
        };
        Self::new(kind).with_source(err)
    }

    pub(crate) fn io(kind: ErrorKind, err: io::Error) -> Self {
        Self::new(kind).with_source(err)
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// The method of the request this error belongs to, if known.
    pub fn method(&self) -> Option<&Method> {
        self.inner.method.as_ref()
    }

    /// The URL of the request this error belongs to, as given (it may be invalid).
    pub fn url(&self) -> Option<&str> {
        self.inner.url.as_deref()
    }

    /// The status code, for errors made by `error_for_status`.
    pub fn status(&self) -> Option<StatusCode> {
        match self.inner.kind {
            ErrorKind::Status(status) => Some(status),
            _ => None,
        }
    }

    /// The framing error behind a [`Protocol`](ErrorKind::Protocol) or
    /// [`Limit`](ErrorKind::Limit) error, if that is the cause.
    pub fn protocol_error(&self) -> Option<&ProtocolError> {
        self.inner.source.as_ref()?.downcast_ref::<ProtocolError>()
    }

    /// The timeout phase, for timeout errors.
    pub fn timeout_phase(&self) -> Option<TimeoutPhase> {
        match self.inner.kind {
            ErrorKind::Timeout(phase) => Some(phase),
            _ => None,
        }
    }

    /// True if a time limit passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::Timeout(_))
    }
    /// True if the connection could not be established.
    pub fn is_connect(&self) -> bool {
        self.inner.kind == ErrorKind::Connect
    }
    /// True for errors made from an error status.
    pub fn is_status(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::Status(_))
    }
    /// True if reading the response body failed.
    pub fn is_body(&self) -> bool {
        self.inner.kind == ErrorKind::Body
    }
    /// True if the request was cancelled because its scope ended.
    pub fn is_cancelled(&self) -> bool {
        self.inner.kind == ErrorKind::Cancelled
    }
    /// True if the peer broke HTTP/1.1 framing rules.
    pub fn is_protocol(&self) -> bool {
        self.inner.kind == ErrorKind::Protocol
    }
    /// True if a configured limit was exceeded.
    pub fn is_limit(&self) -> bool {
        self.inner.kind == ErrorKind::Limit
    }
    /// True if the URL was invalid.
    pub fn is_invalid_url(&self) -> bool {
        self.inner.kind == ErrorKind::InvalidUrl
    }
    /// True if the request could not be built (bad header, bad method).
    pub fn is_invalid_request(&self) -> bool {
        self.inner.kind == ErrorKind::InvalidRequest
    }
    /// True if an IO error happened before the response head was complete.
    pub fn is_io(&self) -> bool {
        self.inner.kind == ErrorKind::Io
    }
    /// True if `next_response` was called with no request pending.
    pub fn is_no_pending(&self) -> bool {
        self.inner.kind == ErrorKind::NoPending
    }
    /// True if this handle's outcome was already delivered by `next_response`.
    pub fn is_already_collected(&self) -> bool {
        self.inner.kind == ErrorKind::AlreadyCollected
    }
    /// True if a redirect could not be followed (loop, too many, refused downgrade).
    pub fn is_redirect(&self) -> bool {
        self.inner.kind == ErrorKind::Redirect
    }
    /// True if a body could not be decoded (for example as JSON).
    pub fn is_decode(&self) -> bool {
        self.inner.kind == ErrorKind::Decode
    }
    /// True if the TLS handshake failed; [`source`](StdError::source) names the cause.
    pub fn is_tls(&self) -> bool {
        self.inner.kind == ErrorKind::Tls
    }
    /// True if a compressed body was corrupt or decompressed past the size limit.
    pub fn is_decompress(&self) -> bool {
        self.inner.kind == ErrorKind::Decompress
    }
    /// True if a proxy refused or broke the way to the origin (see [`ErrorKind::Proxy`]);
    /// [`proxy_error`](Self::proxy_error) names the proxy and the status it answered.
    pub fn is_proxy(&self) -> bool {
        self.inner.kind == ErrorKind::Proxy
    }
    /// The proxy failure behind a [`Proxy`](ErrorKind::Proxy) error.
    pub fn proxy_error(&self) -> Option<&crate::ProxyError> {
        self.inner
            .source
            .as_ref()?
            .downcast_ref::<crate::ProxyError>()
    }
    /// True for a wait that nothing could end (see [`ErrorKind::Stalled`]).
    pub fn is_stalled(&self) -> bool {
        self.inner.kind == ErrorKind::Stalled
    }

    /// True for an HTTP/2 stream or connection error (see [`ErrorKind::Http2`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use par_http_core::{Error, ErrorKind};
    ///
    /// let err = Error::new(ErrorKind::Http2(0x8));
    /// assert!(err.is_http2());
    /// assert_eq!(err.h2_reason(), Some(0x8));
    /// ```
    pub fn is_http2(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::Http2(_))
    }

    /// The error of each request of a race that all failed ([`ErrorKind::AllFailed`]), in
    /// the order they failed; `None` for any other error.
    pub fn all_failed(&self) -> Option<&[Self]> {
        let source = self.inner.source.as_ref()?;
        source.downcast_ref::<AllFailed>().map(AllFailed::errors)
    }

    /// The HTTP/2 error code of an [`ErrorKind::Http2`] error (RFC 9113 §7), else `None`.
    pub fn h2_reason(&self) -> Option<u32> {
        match self.inner.kind {
            ErrorKind::Http2(reason) => Some(reason),
            _ => None,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind);
        if let Some(method) = &self.inner.method {
            d.field("method", method);
        }
        if let Some(url) = &self.inner.url {
            d.field("url", url);
        }
        if let Some(index) = self.inner.index {
            d.field("index", &index);
        }
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.inner.kind {
            ErrorKind::InvalidUrl => "invalid url",
            ErrorKind::InvalidRequest => "invalid request",
            ErrorKind::Connect => "connection failed",
            ErrorKind::Timeout(TimeoutPhase::Connect) => "connect timed out",
            ErrorKind::Timeout(TimeoutPhase::Head) => "timed out waiting for the response",
            ErrorKind::Timeout(TimeoutPhase::Body) => "timed out reading the response body",
            ErrorKind::Timeout(TimeoutPhase::Total) => "request timed out",
            ErrorKind::Timeout(TimeoutPhase::ScopeDeadline) => "scope deadline passed",
            ErrorKind::Protocol => "invalid response",
            ErrorKind::Limit => "response exceeds a limit",
            ErrorKind::Io => "connection error",
            ErrorKind::Body => "error reading the response body",
            ErrorKind::Status(status) => {
                let kind = if status.is_client_error() {
                    "client error"
                } else {
                    "server error"
                };
                write!(f, "{kind} status {status}")?;
                return self.fmt_request(f);
            }
            ErrorKind::Cancelled => "request cancelled",
            ErrorKind::NoPending => "no pending responses",
            ErrorKind::AlreadyCollected => "response was already collected by next_response",
            ErrorKind::RuntimeGone => "the runtime has shut down",
            ErrorKind::DispatchPanicked => "the dispatch panicked",
            ErrorKind::Redirect => "redirect not followed",
            ErrorKind::Decode => "error decoding the response body",
            ErrorKind::Tls => "tls handshake failed",
            ErrorKind::TlsConfig => "invalid tls configuration",
            ErrorKind::Decompress => "error decompressing the response body",
            ErrorKind::Stalled => "stalled",
            ErrorKind::Proxy => "proxy failed",
            ErrorKind::AllFailed => "every request of the race failed",
            ErrorKind::Http2(reason) => {
                write!(f, "http/2 error (code {reason:#x})")?;
                return self.fmt_request(f);
            }
        };
        f.write_str(what)?;
        if let Some(source) = &self.inner.source {
            write!(f, ": {source}")?;
        }
        self.fmt_request(f)
    }
}

impl Error {
    fn fmt_request(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.inner.method, &self.inner.url) {
            (Some(method), Some(url)) => write!(f, " ({method} {url})"),
            (None, Some(url)) => write!(f, " ({url})"),
            _ => Ok(()),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| &**s as &(dyn StdError + 'static))
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        let kind = match err.kind() {
            ErrorKind::Timeout(_) => io::ErrorKind::TimedOut,
            ErrorKind::Protocol | ErrorKind::Limit | ErrorKind::Decompress => {
                io::ErrorKind::InvalidData
            }
            ErrorKind::Body => io::ErrorKind::UnexpectedEof,
            _ => io::ErrorKind::Other,
        };
        Self::new(kind, err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_request_and_cause() {
        let err = Error::protocol(ProtocolError::ConflictingContentLength)
            .with_request(&Method::POST, "http://a.test/x");
        let text = err.to_string();
        assert!(text.starts_with("invalid response: "), "{text}");
        assert!(text.ends_with("(POST http://a.test/x)"), "{text}");
        assert!(err.is_protocol());
        assert_eq!(
            err.protocol_error(),
            Some(&ProtocolError::ConflictingContentLength)
        );
    }

    #[test]
    fn first_request_named_wins() {
        let err = Error::new(ErrorKind::Cancelled)
            .with_request(&Method::GET, "http://a.test/")
            .with_request(&Method::PUT, "http://b.test/");
        assert_eq!(err.method(), Some(&Method::GET));
        assert_eq!(err.url(), Some("http://a.test/"));
    }

    #[test]
    fn error_is_small() {
        assert_eq!(size_of::<Error>(), size_of::<usize>());
    }
}
