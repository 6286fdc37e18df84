//! One HTTP/1.1 connection: a byte stream, its read buffer, and the exchange loop.
//!
//! This is the only place where bytes meet a socket. [`Connection::send_request`] runs
//! the sans-IO encoder into a buffer and writes it; [`Connection::read_head`] pumps the
//! socket through a [`ResponseDecoder`] until the head is complete. The body is then
//! streamed by [`crate::transport::conn_body`], which owns the connection until the message ends.
//!
//! The connection also carries the client's read timeout ([`IdleTimer`]): every read
//! through [`Connection::poll_fill`], for the head and for the body, fails with an
//! [`IdleTimeout`] once no byte has arrived for that long.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::future::poll_fn;
use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use url::Position;

use crate::error::{Error, ErrorKind, TimeoutPhase};
use crate::h1::{self, BodyFraming, Event, ResponseDecoder, ResponseHead};
use crate::message::body::BodyParts;
use crate::message::request::Request;
use crate::runtime::BoxIo;
use crate::transport::idle::{IdleTimeout, IdleTimer};

/// Bytes read from the socket per read call once a body is streaming.
const READ_CHUNK: usize = 16 * 1024;

/// Largest request body copied into the head's buffer to go out in one write.
const COALESCE_BODY_MAX: usize = 16 * 1024;

/// Read buffers kept for reuse on each thread, at most.
const SPARE_BUFFERS_MAX: usize = 8;

thread_local! {
    /// Read buffers of connections that went idle or closed, ready for the next
    /// connection that receives bytes on this thread. They stay initialized, so a reused
    /// buffer costs neither an allocation nor zeroing; and an idle connection holds no
    /// buffer, so thousands of pooled connections cost no more than their sockets.
    static SPARE_BUFFERS: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A spare read buffer of [`READ_CHUNK`] bytes from this thread's cache, if one is there.
fn take_spare_buffer() -> Option<Vec<u8>> {
    SPARE_BUFFERS
        .try_with(|spares| spares.borrow_mut().pop())
        .ok()
        .flatten()
}

/// Keeps `buf` for reuse (if it has the usual size and the cache has room).
fn give_spare_buffer(buf: Vec<u8>) {
    if buf.len() != READ_CHUNK {
        return;
    }
    let _ = SPARE_BUFFERS.try_with(|spares| {
        if let Ok(mut spares) = spares.try_borrow_mut() {
            if spares.len() < SPARE_BUFFERS_MAX {
                spares.push(buf);
            }
        }
    });
}

/// An open HTTP/1.1 connection.
pub(crate) struct Connection {
    io: BoxIo,
    /// Received bytes are `buf[start..end]`. The vector stays initialized to its full
    /// length, so reads never zero memory again; it is allocated only once a first byte
    /// arrives (a connection waiting for its response holds no buffer).
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// How many exchanges completed on this connection.
    pub(crate) completed: u32,
    /// How many seconds the server keeps this connection open while idle, as its last
    /// response said (`Keep-Alive: timeout=N`; 18 hours at most, far above any pool's
    /// idle timeout: kept small, as every pooled connection carries it).
    server_idle_secs: Option<u16>,
    /// The read timeout, if the client has one.
    idle: Option<IdleTimer>,
    /// Set on a connection to a forwarding HTTP proxy: requests go out with an
    /// absolute-form target, and with this `Proxy-Authorization` when there is one.
    forward: Option<Option<http::HeaderValue>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        give_spare_buffer(std::mem::take(&mut self.buf));
    }
}

/// Why sending a request failed, and whether it may be retried.
pub(crate) struct SendFailure {
    pub(crate) error: Error,
    /// True when no byte of a response was received, so an idempotent request can be
    /// repeated on a fresh connection.
    pub(crate) nothing_received: bool,
}

impl Connection {
    pub(crate) fn new(io: BoxIo) -> Self {
        Self {
            io,
            buf: Vec::new(),
            start: 0,
            end: 0,
            completed: 0,
            server_idle_secs: None,
            idle: None,
            forward: None,
        }
    }

    /// How long the server keeps this connection open while idle, if it said so.
    pub(crate) fn server_idle_limit(&self) -> Option<Duration> {
        self.server_idle_secs
            .map(|secs| Duration::from_secs(u64::from(secs)))
    }

    /// Limits the idle time between received bytes (the client's read timeout).
    pub(crate) fn with_read_timeout(mut self, idle: Option<IdleTimer>) -> Self {
        self.idle = idle;
        self
    }

    /// Makes this a connection to a forwarding proxy (`Some`), with the proxy's
    /// credentials when it has any.
    pub(crate) fn forwarding(mut self, forward: Option<Option<http::HeaderValue>>) -> Self {
        self.forward = forward;
        self
    }

    /// The received bytes not consumed yet.
    pub(crate) fn buffered(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    /// Marks `n` buffered bytes as consumed.
    pub(crate) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Where the unconsumed bytes start in the buffer.
    pub(crate) fn consumed_offset(&self) -> usize {
        self.start
    }

    /// Marks `n` bytes consumed by the decoder while `keep` (a range of the buffer whose
    /// body bytes are not delivered yet) stays readable through [`Self::buffered_raw`].
    pub(crate) fn consume_keeping(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }

    /// The bytes of `range` in the buffer (kept by [`Self::consume_keeping`]).
    pub(crate) fn buffered_raw(&self, range: std::ops::Range<usize>) -> &[u8] {
        self.buf.get(range).unwrap_or_default()
    }

    /// The kept range was delivered: the buffer may be reset.
    pub(crate) fn release_pending(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads more bytes into the buffer. `Ok(0)` means the peer closed the connection.
    ///
    /// With a read timeout, a read that has waited that long since the last received
    /// byte fails with an error for which [`IdleTimeout::is`] holds.
    pub(crate) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        let result = if self.buf.is_empty() {
            self.poll_first_fill(cx)
        } else {
            if self.buf.len() - self.end < READ_CHUNK / 2 {
                // Compact before growing: the unconsumed tail moves to the front.
                if self.start > 0 {
                    self.buf.copy_within(self.start..self.end, 0);
                    self.end -= self.start;
                    self.start = 0;
                }
                if self.buf.len() - self.end < READ_CHUNK / 2 {
                    let grown = self.end + READ_CHUNK;
                    self.buf.resize(grown, 0);
                }
            }
            let result = match self.buf.get_mut(self.end..) {
                Some(spare) => Pin::new(&mut self.io).poll_read(cx, spare),
                None => Poll::Ready(Ok(0)),
            };
            if let Poll::Ready(Ok(n)) = &result {
                self.end = (self.end + n).min(self.buf.len());
            }
            result
        };
        self.after_read(cx, result)
    }

    /// Reads straight into `dst`, bypassing the buffer (for large body reads whose bytes
    /// the decoder knows to be plain data). Only valid while the buffer is empty.
    pub(crate) fn poll_read_direct(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_read(cx, dst);
        self.after_read(cx, result)
    }

    /// Applies the read timeout to the outcome of a read.
    fn after_read(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        if let Some(idle) = self.idle.as_mut() {
            if result.is_ready() {
                idle.progress();
            } else if idle.poll_expired(cx) {
                return Poll::Ready(Err(IdleTimeout::io_error()));
            }
        }
        result
    }

    /// Gives the read buffer back to the thread's cache when it holds no unconsumed
    /// byte: a connection going idle in the pool, or waiting for its next response, needs
    /// none.
    pub(crate) fn release_buffer(&mut self) {
        if self.is_buffer_empty() && !self.buf.is_empty() {
            give_spare_buffer(std::mem::take(&mut self.buf));
            self.start = 0;
            self.end = 0;
        }
    }

    /// The first read into an empty buffer. A spare buffer of this thread is read into
    /// directly (and given back if nothing is there yet); without one, the read goes
    /// through a buffer on the stack, so that a connection waiting for its response (most
    /// of its life, under load) allocates none.
    fn poll_first_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if let Some(mut spare) = take_spare_buffer() {
            let result = Pin::new(&mut self.io).poll_read(cx, &mut spare);
            match &result {
                Poll::Ready(Ok(n)) if *n > 0 => {
                    self.start = 0;
                    self.end = (*n).min(spare.len());
                    self.buf = spare;
                }
                _ => give_spare_buffer(spare),
            }
            return result;
        }
        let mut first = [0u8; 4 * 1024];
        let result = Pin::new(&mut self.io).poll_read(cx, &mut first);
        if let Poll::Ready(Ok(n)) = &result {
            let received = first.get(..*n).unwrap_or_default();
            self.buf = vec![0; READ_CHUNK.max(received.len())];
            if let Some(dst) = self.buf.get_mut(..received.len()) {
                dst.copy_from_slice(received);
            }
            self.start = 0;
            self.end = received.len();
        }
        result
    }

    /// True when the buffer is empty (no unconsumed byte).
    pub(crate) fn is_buffer_empty(&self) -> bool {
        self.start >= self.end
    }

    /// Checks, without waiting, whether an idle connection is still usable: the peer
    /// has not closed it and has not sent anything unsolicited. `strict` when a request
    /// that cannot be retried elsewhere is to go out on it: the stream then answers from
    /// the socket, not from its readiness cache (see
    /// [`is_checking_staleness`](crate::is_checking_staleness)).
    pub(crate) fn is_idle_usable(&mut self, strict: bool) -> bool {
        if !self.is_buffer_empty() {
            return false;
        }
        let probe = || {
            let mut cx = Context::from_waker(std::task::Waker::noop());
            let mut byte = [0u8; 1];
            matches!(
                Pin::new(&mut self.io).poll_read(&mut cx, &mut byte),
                Poll::Pending
            )
        };
        if strict {
            crate::probing_idle(|| crate::checking_staleness(probe))
        } else {
            crate::probing_idle(probe)
        }
    }

    /// Writes `request` (head and body).
    pub(crate) async fn send_request(
        &mut self,
        request: &mut Request,
        host: &str,
    ) -> Result<(), SendFailure> {
        let fail = |error: Error| SendFailure {
            error,
            nothing_received: true,
        };
        let body = std::mem::take(&mut request.body);
        let framing = match body.len() {
            Some(0) => BodyFraming::Empty,
            Some(n) => BodyFraming::Length(n),
            None => BodyFraming::Chunked,
        };
        let absolute;
        let with_proxy_auth;
        let without_proxy_auth;
        let (target, headers) = match &self.forward {
            // `Proxy-Authorization` is for a proxy only: never sent to an origin (nor
            // into a tunnel, where only the origin reads it).
            None if request
                .headers
                .contains_key(http::header::PROXY_AUTHORIZATION) =>
            {
                let mut headers = request.headers.clone();
                headers.remove(http::header::PROXY_AUTHORIZATION);
                without_proxy_auth = headers;
                (origin_form(&request.url), &without_proxy_auth)
            }
            None => (origin_form(&request.url), &request.headers),
            Some(authorization) => {
                absolute = absolute_form(&request.url);
                let headers = match authorization {
                    Some(value) => {
                        let mut headers = request.headers.clone();
                        headers.insert(http::header::PROXY_AUTHORIZATION, value.clone());
                        with_proxy_auth = headers;
                        &with_proxy_auth
                    }
                    None => &request.headers,
                };
                (absolute.as_str(), headers)
            }
        };
        let mut out = Vec::with_capacity(256);
        if let Err(err) =
            h1::encode_request_head(&mut out, &request.method, target, host, headers, framing)
        {
            request.body = body;
            return Err(fail(Error::protocol(err)));
        }
        let kept = body.try_clone();
        let write_result = match body.into_parts() {
            BodyParts::Bytes(bytes) => {
                if bytes.len() <= COALESCE_BODY_MAX {
                    out.extend_from_slice(&bytes);
                    self.io.write_all(&out).await
                } else {
                    match self.io.write_all(&out).await {
                        Ok(()) => self.io.write_all(&bytes).await,
                        Err(err) => Err(err),
                    }
                }
            }
            BodyParts::Reader(reader, length) => {
                self.io.write_all(&out).await?;
                write_stream(&mut self.io, reader, length).await
            }
        };
        request.body = kept.unwrap_or_default();
        match write_result {
            Ok(()) => self
                .io
                .flush()
                .await
                .map_err(|e| fail(Error::io(ErrorKind::Io, e))),
            Err(err) => Err(fail(Error::io(ErrorKind::Io, err))),
        }
    }

    /// Writes `request` and reads the response head.
    ///
    /// RFC 9112 §9.6: a server may answer (a 413, say) before it has read the request
    /// body, then close the connection, so that writing the rest fails with a reset or a
    /// broken pipe. When a write fails, a complete response head already received is the
    /// outcome (as curl and hyper deliver it) and the connection is closed after it;
    /// otherwise the write error is.
    pub(crate) async fn exchange(
        &mut self,
        request: &mut Request,
        host: &str,
        decoder: &mut ResponseDecoder,
    ) -> Result<ResponseHead, SendFailure> {
        // Boxed: writing's state (a streamed body's above all) would otherwise take room
        // in the request's future for as long as the response is awaited.
        match Box::pin(self.send_request(request, host)).await {
            Ok(()) => self.read_head(decoder).await,
            Err(failure) => match self.head_already_received(decoder) {
                Some(mut head) => {
                    decoder.close_after(h1::CloseReason::RequestIncomplete);
                    head.close.get_or_insert(h1::CloseReason::RequestIncomplete);
                    Ok(head)
                }
                None => Err(failure),
            },
        }
    }

    /// A response head that is complete among the bytes received so far, read without
    /// waiting (after a failed write the peer is gone: nothing more is coming).
    fn head_already_received(&mut self, decoder: &mut ResponseDecoder) -> Option<ResponseHead> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        loop {
            match decoder.decode(self.buffered()) {
                Ok((used, Some(Event::Head(head)))) => {
                    self.consume(used);
                    return Some(head);
                }
                Ok((used, None)) => {
                    self.consume(used);
                    match self.poll_fill(&mut cx) {
                        Poll::Ready(Ok(n)) if n > 0 => {}
                        _ => return None,
                    }
                }
                Ok((_, Some(_))) | Err(_) => return None,
            }
        }
    }

    /// Reads until the response head is complete.
    pub(crate) async fn read_head(
        &mut self,
        decoder: &mut ResponseDecoder,
    ) -> Result<ResponseHead, SendFailure> {
        // The request is out: the idle time is counted from here.
        if let Some(idle) = self.idle.as_mut() {
            idle.progress();
        }
        loop {
            let decoded = decoder.decode(self.buffered());
            let received = decoder.has_received_bytes();
            let fail = |error: Error| SendFailure {
                error,
                nothing_received: !received,
            };
            match decoded {
                Ok((used, Some(Event::Head(head)))) => {
                    self.consume(used);
                    if let Some(limit) = h1::keep_alive_timeout(&head.headers) {
                        let secs = u16::try_from(limit.as_secs()).unwrap_or(u16::MAX);
                        self.server_idle_secs = Some(secs);
                    }
                    return Ok(head);
                }
                Ok((used, Some(_))) => {
                    // The decoder yields the head first; anything else is a broken invariant
                    // of the decoder, reported rather than trusted.
                    self.consume(used);
                    return Err(fail(Error::new(ErrorKind::Protocol)));
                }
                Ok((used, None)) => {
                    self.consume(used);
                    let n = poll_fn(|cx| self.poll_fill(cx)).await.map_err(|err| {
                        fail(if IdleTimeout::is(&err) {
                            Error::new(ErrorKind::Timeout(TimeoutPhase::Head)).with_source(err)
                        } else {
                            Error::io(ErrorKind::Io, err)
                        })
                    })?;
                    if n == 0 {
                        let err = match decoder.decode_eof() {
                            Ok(_) => Error::new(ErrorKind::Protocol),
                            Err(err) => Error::protocol(err),
                        };
                        let received = decoder.has_received_bytes();
                        return Err(SendFailure {
                            error: err,
                            nothing_received: !received,
                        });
                    }
                }
                Err(err) => return Err(fail(Error::protocol(err))),
            }
        }
    }
}

impl From<io::Error> for SendFailure {
    fn from(err: io::Error) -> Self {
        Self {
            error: Error::io(ErrorKind::Io, err),
            nothing_received: true,
        }
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("buffered", &self.buffered().len())
            .field("completed", &self.completed)
            .finish_non_exhaustive()
    }
}

/// The request target in origin form (RFC 9112 §3.2.1): path and query, never empty.
fn origin_form(url: &url::Url) -> &str {
    match &url[Position::BeforePath..Position::AfterQuery] {
        "" => "/",
        target => target,
    }
}

/// The absolute-form request target for a forwarding proxy (RFC 9112 §3.2.2): scheme,
/// authority, path and query; never the userinfo or the fragment.
fn absolute_form(url: &url::Url) -> String {
    format!(
        "{}://{}{}",
        url.scheme(),
        &url[Position::BeforeHost..Position::AfterPort],
        origin_form(url)
    )
}

/// Copies a streaming body to the connection, chunked when its length is unknown.
async fn write_stream(
    io: &mut BoxIo,
    mut reader: Box<dyn AsyncRead + Send + Unpin>,
    length: Option<u64>,
) -> io::Result<()> {
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut framed = Vec::new();
    let mut sent: u64 = 0;
    loop {
        let n = reader.read(&mut chunk).await?;
        let data = chunk.get(..n).unwrap_or_default();
        match length {
            Some(expected) => {
                sent += n as u64;
                if sent > expected {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "request body is longer than its declared length",
                    ));
                }
                if n == 0 {
                    if sent < expected {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "request body is shorter than its declared length",
                        ));
                    }
                    return Ok(());
                }
                io.write_all(data).await?;
            }
            None => {
                framed.clear();
                if n == 0 {
                    h1::encode_last_chunk(&mut framed);
                    return io.write_all(&framed).await;
                }
                h1::encode_chunk(&mut framed, data);
                io.write_all(&framed).await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_form_targets() {
        let cases = [
            ("http://a.test", "http://a.test/"),
            ("http://u:p@a.test:8080/x?q#f", "http://a.test:8080/x?q"),
            ("http://[::1]:81/", "http://[::1]:81/"),
        ];
        for (url, target) in cases {
            let url = url::Url::parse(url).unwrap();
            assert_eq!(absolute_form(&url), target, "{url}");
        }
    }

    #[test]
    fn origin_form_targets() {
        let cases = [
            ("http://a.test", "/"),
            ("http://a.test/", "/"),
            ("http://a.test/x/y?q=1&r", "/x/y?q=1&r"),
            ("http://a.test/x#frag", "/x"),
            ("http://a.test/x?q#frag", "/x?q"),
            ("http://a.test:8080/%20?%20", "/%20?%20"),
        ];
        for (url, target) in cases {
            let url = url::Url::parse(url).unwrap();
            assert_eq!(origin_form(&url), target, "{url}");
        }
    }

    fn spare_count() -> usize {
        SPARE_BUFFERS.with(|spares| spares.borrow().len())
    }

    fn fill(conn: &mut Connection) -> usize {
        futures_lite::future::block_on(poll_fn(|cx| conn.poll_fill(cx))).unwrap()
    }

    #[test]
    fn an_idle_connection_gives_its_read_buffer_back_for_the_next_one() {
        use std::io::Write;
        let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut conn = Connection::new(Box::new(async_io::Async::new(ours).unwrap()));
        let spares = spare_count();

        theirs.write_all(b"first").unwrap();
        assert_eq!(fill(&mut conn), 5);
        assert_eq!(conn.buffered(), b"first");
        // Unconsumed bytes keep the buffer.
        conn.release_buffer();
        assert_eq!(conn.buffered(), b"first");
        conn.consume(5);
        conn.release_buffer();
        assert!(conn.buf.is_empty(), "an idle connection holds no buffer");
        assert_eq!(spare_count(), spares + 1);

        // The next first read takes the spare, already initialized.
        theirs.write_all(b"second").unwrap();
        assert_eq!(fill(&mut conn), 6);
        assert_eq!(conn.buffered(), b"second");
        assert_eq!(spare_count(), spares);

        // A closed connection gives its buffer back too.
        conn.consume(6);
        drop(conn);
        assert_eq!(spare_count(), spares + 1);
    }
}
