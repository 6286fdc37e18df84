//! A response: status, headers, and a body that streams.
//!
//! The head is complete when a [`Response`] exists; its [`ResponseBody`] may still be
//! arriving. A body is whatever bytes the connector already had (often all of it) plus,
//! when more is coming, a stream that owns the connection. Reading that stream to its end
//! returns the connection to the pool; dropping it early closes the connection.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_lite::io::{AsyncRead, AsyncReadExt};
use http::{HeaderMap, Method, StatusCode, Version};
use url::Url;

use crate::error::{Error, ErrorKind, Result, Tag};
use crate::message::body_buffer::Claim;

/// Largest amount reserved up front from a `Content-Length` when collecting a body (a
/// hostile length must not allocate memory the body never fills).
const MAX_PRERESERVE: usize = 1024 * 1024;

/// An HTTP response whose head has arrived.
#[non_exhaustive]
pub struct Response {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    method: Method,
    url: Url,
    body: ResponseBody,
    /// The URLs that redirected to this one, oldest first (filled by the redirect policy).
    redirect_history: Vec<Url>,
    /// What the client's own connector kept of the request, for the redirect policy;
    /// taken by it before the response goes further.
    sent: Option<Box<Sent>>,
    /// The request's position in its scope and the user's tag, set when it is delivered.
    index: Option<usize>,
    tag: Option<Tag>,
    /// Attempts made for this outcome, the first included (see `RetryPolicy`).
    attempts: u32,
    /// Extra copies a hedge policy sent for this outcome, over all its attempts.
    hedges: u32,
}

/// What the HTTP/1.1 connector hands back of a request it sent, with its response: the
/// rest of the request is in the response (method, URL). The redirect policy builds the
/// next hop from it; without it, every request would be copied before it is sent, in
/// case the answer is a redirect.
pub(crate) struct Sent {
    pub(crate) headers: HeaderMap,
    /// The body again, when it was in memory (a stream cannot be sent twice).
    pub(crate) body: Option<crate::message::body::Body>,
    pub(crate) timeout: Option<std::time::Duration>,
}

impl Response {
    /// A response to `method url` with `status`, `headers` and `body` (for a
    /// [`Dispatch`](crate::Dispatch) that is not the network, such as a mock).
    ///
    /// # Examples
    ///
    /// ```
    /// use par_http_core::{Response, ResponseBody};
    ///
    /// let url = url::Url::parse("http://example.test/").unwrap();
    /// let response = Response::new(http::Method::GET, url, http::StatusCode::OK, Default::default(), ResponseBody::from("hi"));
    /// assert_eq!(response.status(), 200);
    /// ```
    pub fn new(
        method: Method,
        url: Url,
        status: StatusCode,
        headers: HeaderMap,
        body: ResponseBody,
    ) -> Self {
        Self {
            status,
            version: Version::HTTP_11,
            headers,
            method,
            url,
            body,
            redirect_history: Vec::new(),
            sent: None,
            index: None,
            tag: None,
            attempts: 1,
            hedges: 0,
        }
    }

    /// Says which request of a scope this response answers: its start index and tag.
    pub(crate) fn set_origin(&mut self, index: usize, tag: Option<Tag>) {
        self.index = Some(index);
        self.tag = tag;
    }

    /// The position of the request in its scope, counting from 0 in start order (the
    /// same number as its `Pending::index()`); `None` for a request sent outside a scope.
    /// With `next_response`, it says which request a response answers, even when the
    /// same URL was started twice or a redirect changed [`url`](Self::url).
    pub fn index(&self) -> Option<usize> {
        self.index
    }

    /// The value attached to the request when it was started in a scope (its tag), if it
    /// has one of type `T`.
    pub fn tag<T: std::any::Any>(&self) -> Option<&T> {
        self.tag.as_ref()?.downcast_ref()
    }

    /// How many attempts the request took, the first included: more than 1 when its
    /// retry policy tried it again (see [`RetryPolicy`](crate::RetryPolicy)).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    pub(crate) fn set_attempts(&mut self, attempts: u32) {
        self.attempts = attempts;
    }

    /// How many extra copies of the request its hedge policy sent (see
    /// [`HedgePolicy`](crate::HedgePolicy)), over all its attempts: 0 when none was
    /// needed. [`attempts`](Self::attempts) does not count them: a hedge is a copy
    /// racing the attempt it belongs to, not an attempt of its own.
    ///
    /// # Examples
    ///
    /// ```
    /// use par_http_core::{Response, ResponseBody};
    ///
    /// let url = url::Url::parse("http://example.test/").unwrap();
    /// let response = Response::new(http::Method::GET, url, http::StatusCode::OK, Default::default(), ResponseBody::from("hi"));
    /// assert_eq!((response.attempts(), response.hedges()), (1, 0));
    /// ```
    pub fn hedges(&self) -> u32 {
        self.hedges
    }

    pub(crate) fn set_hedges(&mut self, hedges: u32) {
        self.hedges = hedges;
    }

    /// Keeps what the connector hands back of the request (see [`Sent`]).
    pub(crate) fn set_sent(&mut self, sent: Box<Sent>) {
        self.sent = Some(sent);
    }

    /// Takes what the connector handed back of the request, if it did.
    pub(crate) fn take_sent(&mut self) -> Option<Box<Sent>> {
        self.sent.take()
    }

    pub(crate) fn set_redirect_history(&mut self, history: Vec<Url>) {
        self.redirect_history = history;
    }

    /// The URLs that answered with a redirect before this response, oldest first (the
    /// URL of the original request is the first one). Empty when no redirect was followed;
    /// its length is the number of redirects.
    pub fn redirect_history(&self) -> &[Url] {
        &self.redirect_history
    }

    /// The header fields, to change (decompression removes `Content-Encoding`).
    pub(crate) fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    pub(crate) fn set_version(&mut self, version: Version) {
        self.version = version;
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The HTTP version of the response.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The header fields.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The URL this response came from: the final URL after any redirects.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The method of the request.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// True when the whole body is in memory (nothing left on the connection).
    pub(crate) fn body_is_complete(&self) -> bool {
        self.body.is_complete()
    }

    /// The body, to read as a stream.
    pub fn body_mut(&mut self) -> &mut ResponseBody {
        &mut self.body
    }

    /// Takes the body out, dropping the head.
    pub fn into_body(self) -> ResponseBody {
        self.body
    }

    /// The length of the body, when the `Content-Length` header says it.
    pub fn content_length(&self) -> Option<u64> {
        self.headers
            .get(http::header::CONTENT_LENGTH)?
            .to_str()
            .ok()?
            .parse()
            .ok()
    }

    /// Turns a 4xx or 5xx response into an error of kind [`ErrorKind::Status`].
    pub fn error_for_status(self) -> Result<Self> {
        // 600-999 are not defined; RFC 9110 §15 says to treat them like 5xx.
        if self.status.as_u16() >= 400 {
            Err(Error::new(ErrorKind::Status(self.status))
                .with_request(&self.method, self.url.as_str()))
        } else {
            Ok(self)
        }
    }

    /// Reads the whole body.
    ///
    /// # Errors
    ///
    /// A body error ([`Error::is_body`]) if the connection fails or the body is truncated,
    /// a protocol error if its framing is broken.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the response: its connection is closed.
    pub async fn bytes(self) -> Result<Bytes> {
        let hint = self.content_length();
        let Self {
            method, url, body, ..
        } = self;
        body.collect(hint)
            .await
            .map_err(|err| err.with_request(&method, url.as_str()))
    }

    /// Reads the next piece of the body: `None` once it has all been read. A way to
    /// stream a body on any runtime without an IO trait (as reqwest's `chunk`).
    ///
    /// # Errors
    ///
    /// As for [`bytes`](Self::bytes).
    ///
    /// # Examples
    ///
    /// ```
    /// # use par_http_core::{Response, ResponseBody};
    /// # futures_lite::future::block_on(async {
    /// # let url = url::Url::parse("http://example.test/").unwrap();
    /// # let mut response = Response::new(http::Method::GET, url, http::StatusCode::OK, Default::default(), ResponseBody::from("hello"));
    /// let mut body = Vec::new();
    /// while let Some(chunk) = response.chunk().await? {
    ///     body.extend_from_slice(&chunk);
    /// }
    /// assert_eq!(body, b"hello");
    /// # Ok::<(), par_http_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        let (method, url) = (&self.method, &self.url);
        self.body
            .chunk()
            .await
            .map_err(|err| err.with_request(method, url.as_str()))
    }

    /// Reads the whole body as UTF-8 text (invalid sequences are replaced).
    ///
    /// # Errors
    ///
    /// As for [`bytes`](Self::bytes).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the response: its connection is closed.
    pub async fn text(self) -> Result<String> {
        let bytes = self.bytes().await?;
        Ok(match String::from_utf8(bytes.into()) {
            Ok(text) => text,
            Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
        })
    }

    /// Reads the whole body and decodes it as JSON into `T`.
    ///
    /// # Errors
    ///
    /// As for [`bytes`](Self::bytes), or an error of kind [`ErrorKind::Decode`]
    /// ([`Error::is_decode`]) when the body is not valid JSON for `T`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the response: its connection is closed.
    #[cfg(feature = "json")]
    pub async fn json<T: serde::de::DeserializeOwned>(self) -> Result<T> {
        let (method, url) = (self.method.clone(), self.url.clone());
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|err| {
            Error::new(ErrorKind::Decode)
                .with_source(err)
                .with_request(&method, url.as_str())
        })
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("url", &self.url.as_str())
            .field("status", &self.status)
            .field("version", &self.version)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// A response body: bytes already received, then (maybe) a stream of the rest.
///
/// It implements [`AsyncRead`]. An IO error from it wraps a par-http [`Error`]
/// (`io::Error::into_inner` gives it back).
pub struct ResponseBody {
    received: Bytes,
    /// Read in the background after `received`, in chunks (see `fill`).
    buffered: std::collections::VecDeque<Bytes>,
    rest: Option<Pin<Box<dyn AsyncRead + Send + 'static>>>,
}

impl ResponseBody {
    /// An empty body.
    pub fn empty() -> Self {
        Self::from(Bytes::new())
    }

    /// A body made of `received` bytes followed by whatever `rest` yields.
    pub fn from_parts(received: Bytes, rest: impl AsyncRead + Send + 'static) -> Self {
        Self {
            received,
            buffered: std::collections::VecDeque::new(),
            rest: Some(Box::pin(rest)),
        }
    }

    /// A body read from `reader`.
    pub fn from_reader(reader: impl AsyncRead + Send + 'static) -> Self {
        Self::from_parts(Bytes::new(), reader)
    }

    /// True when every byte of the body is in memory already.
    pub fn is_complete(&self) -> bool {
        self.rest.is_none()
    }

    /// How many bytes of the body are in memory.
    pub(crate) fn in_memory_len(&self) -> usize {
        self.received.len() + self.buffered.iter().map(Bytes::len).sum::<usize>()
    }

    /// Replaces the stream of the rest of the body (if any) by `wrap` of it.
    pub(crate) fn map_rest(
        &mut self,
        wrap: impl FnOnce(
            Pin<Box<dyn AsyncRead + Send + 'static>>,
        ) -> Pin<Box<dyn AsyncRead + Send + 'static>>,
    ) {
        if let Some(rest) = self.rest.take() {
            self.rest = Some(wrap(rest));
        }
    }

    /// Reads more of the body into memory (a scope's background reading), until it is
    /// complete, `limit` bytes are in memory, or `claim` gets no more of its budget.
    /// Returns true once the body is complete; its stream (and the connection it holds)
    /// is dropped then, which gives a cleanly read connection back to the pool.
    ///
    /// The bytes go into chunks of 64 KiB, not one buffer: chunks come from the
    /// allocator's reused memory, where a buffer of a megabyte would be mapped afresh
    /// (and faulted in page by page) for every body, and regrown along the way.
    pub(crate) async fn fill(&mut self, limit: usize, claim: &mut Claim) -> Result<bool> {
        const CHUNK: usize = 64 * 1024;
        let mut held = self.in_memory_len();
        let Some(rest) = self.rest.as_mut() else {
            return Ok(true);
        };
        loop {
            if held > limit {
                return Ok(false);
            }
            // At the limit, one byte more tells a body that ends there from a longer one.
            let room = claim.grow((limit - held).clamp(1, CHUNK));
            if room == 0 {
                return Ok(false);
            }
            let mut chunk = BytesMut::zeroed(room);
            let mut filled = 0;
            let mut ended = false;
            while filled < room {
                match rest.read(chunk.get_mut(filled..).unwrap_or_default()).await {
                    Ok(0) => {
                        ended = true;
                        break;
                    }
                    Ok(n) => filled += n,
                    Err(err) => {
                        claim.shrink(room);
                        return Err(from_io(err));
                    }
                }
            }
            claim.shrink(room - filled);
            chunk.truncate(filled);
            held += filled;
            if filled > 0 {
                self.buffered.push_back(chunk.freeze());
            }
            if ended {
                self.rest = None;
                return Ok(true);
            }
        }
    }

    /// Takes up to `max` bytes of the part of the body already in memory (what came with
    /// the head, then the chunks read in the background), or `None` if none is left.
    fn take_in_memory(&mut self, max: usize) -> Option<Bytes> {
        let piece = if self.received.is_empty() {
            self.buffered.front_mut()?
        } else {
            &mut self.received
        };
        let taken = if piece.len() <= max {
            std::mem::take(piece)
        } else {
            piece.split_to(max)
        };
        if self.buffered.front().is_some_and(Bytes::is_empty) {
            self.buffered.pop_front();
        }
        Some(taken)
    }

    /// The next piece of the body, `None` at its end.
    pub(crate) async fn chunk(&mut self) -> Result<Option<Bytes>> {
        if let Some(piece) = self.take_in_memory(usize::MAX) {
            return Ok(Some(piece));
        }
        let Some(rest) = self.rest.as_mut() else {
            return Ok(None);
        };
        let mut piece = BytesMut::zeroed(16 * 1024);
        let n = rest.read(&mut piece).await.map_err(from_io)?;
        if n == 0 {
            self.rest = None;
            return Ok(None);
        }
        piece.truncate(n);
        Ok(Some(piece.freeze()))
    }

    /// Reads the rest of the body into memory.
    pub(crate) async fn collect(mut self, hint: Option<u64>) -> Result<Bytes> {
        let pieces = usize::from(!self.received.is_empty()) + self.buffered.len();
        if self.rest.is_none() && pieces <= 1 {
            // All of it in one piece: no copy.
            return Ok(self.take_in_memory(usize::MAX).unwrap_or_default());
        }
        let in_memory = self.in_memory_len();
        let reserve = hint
            .and_then(|len| usize::try_from(len).ok())
            .unwrap_or(0)
            .min(MAX_PRERESERVE);
        let mut out = BytesMut::with_capacity(reserve.max(in_memory));
        while let Some(piece) = self.take_in_memory(usize::MAX) {
            out.extend_from_slice(&piece);
        }
        let Some(mut rest) = self.rest.take() else {
            return Ok(out.freeze());
        };
        out.reserve(8 * 1024);
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let n = rest.read(&mut chunk).await.map_err(from_io)?;
            if n == 0 {
                return Ok(out.freeze());
            }
            out.extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }
}

/// Gets the par-http error back out of an `io::Error` made by a body stream.
pub(crate) fn from_io(err: io::Error) -> Error {
    if err.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        if let Some(inner) = err.into_inner() {
            if let Ok(err) = inner.downcast::<Error>() {
                return *err;
            }
        }
        return Error::new(ErrorKind::Body);
    }
    Error::io(ErrorKind::Body, err)
}

impl AsyncRead for ResponseBody {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(piece) = self.take_in_memory(buf.len()) {
            let n = piece.len();
            if let Some(dst) = buf.get_mut(..n) {
                dst.copy_from_slice(&piece);
            }
            return Poll::Ready(Ok(n));
        }
        match self.rest.as_mut() {
            None => Poll::Ready(Ok(0)),
            Some(rest) => {
                let result = rest.as_mut().poll_read(cx, buf);
                if let Poll::Ready(Ok(0)) = result {
                    self.rest = None;
                }
                result
            }
        }
    }
}

impl From<Bytes> for ResponseBody {
    fn from(bytes: Bytes) -> Self {
        Self {
            received: bytes,
            buffered: std::collections::VecDeque::new(),
            rest: None,
        }
    }
}

impl From<Vec<u8>> for ResponseBody {
    fn from(bytes: Vec<u8>) -> Self {
        Bytes::from(bytes).into()
    }
}

impl From<String> for ResponseBody {
    fn from(text: String) -> Self {
        Bytes::from(text).into()
    }
}

impl From<&'static str> for ResponseBody {
    fn from(text: &'static str) -> Self {
        Bytes::from_static(text.as_bytes()).into()
    }
}

impl Default for ResponseBody {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("received", &self.received.len())
            .field(
                "buffered",
                &self.buffered.iter().map(Bytes::len).sum::<usize>(),
            )
            .field("complete", &self.rest.is_none())
            .finish()
    }
}
