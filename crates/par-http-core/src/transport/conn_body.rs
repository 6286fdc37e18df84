//! Streams a response body off its connection, then gives the connection back.
//!
//! [`H1Body`] owns the [`Pooled`] connection for as long as the body is being read. It
//! pumps socket bytes through the response's [`ResponseDecoder`] and copies body data
//! into the reader's buffer. When the decoder reports the end of the message with no
//! reason to close and no stray byte behind it, the connection is marked reusable and
//! returned to the pool; if the body is dropped half-read, the connection is closed.
//!
//! The connection's read timeout applies here too: a body whose next bytes take longer
//! than that to arrive fails with a [`TimeoutPhase::Body`] timeout (and the connection
//! is closed).

use std::fmt;
use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_lite::io::AsyncRead;
use http::HeaderMap;

use crate::error::{Error, ErrorKind, TimeoutPhase};
use crate::h1::{Event, ResponseDecoder};
use crate::transport::idle::IdleTimeout;
use crate::transport::pool::Pooled;

/// Reads at least this large go straight into the reader's buffer when they can.
const DIRECT_READ_MIN: usize = 4 * 1024;

/// The body of an HTTP/1.1 response, read from its connection.
pub(crate) struct H1Body {
    conn: Option<Pooled>,
    decoder: ResponseDecoder,
    /// Body bytes the decoder handed out but the reader has not taken yet: a range of the
    /// connection's buffer, valid until the next decode.
    pending: Range<usize>,
    trailers: Option<HeaderMap>,
}

impl H1Body {
    pub(crate) fn new(conn: Pooled, decoder: ResponseDecoder) -> Self {
        Self {
            conn: Some(conn),
            decoder,
            pending: 0..0,
            trailers: None,
        }
    }

    /// True once the whole body was read (and the connection released).
    pub(crate) fn is_done(&self) -> bool {
        self.conn.is_none() && self.pending.is_empty()
    }

    fn finish(&mut self, close: bool) {
        if let Some(mut conn) = self.conn.take() {
            let clean = conn.conn_mut().is_some_and(|c| c.is_buffer_empty());
            if !close && clean {
                conn.set_reusable();
            }
        }
    }

    /// Reads decoded body bytes into `dst`: `Ok(0)` at the end of the body.
    fn poll_body(&mut self, cx: &mut Context<'_>, dst: &mut [u8]) -> Poll<Result<usize, Error>> {
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            let Some(pooled) = self.conn.as_mut() else {
                return Poll::Ready(Ok(0));
            };
            let Some(conn) = pooled.conn_mut() else {
                return Poll::Ready(Ok(0));
            };
            if !self.pending.is_empty() {
                let available = conn.buffered_raw(self.pending.clone());
                let n = available.len().min(dst.len());
                if let (Some(to), Some(from)) = (dst.get_mut(..n), available.get(..n)) {
                    to.copy_from_slice(from);
                }
                self.pending.start += n;
                if self.pending.is_empty() {
                    conn.release_pending();
                }
                return Poll::Ready(Ok(n));
            }
            let offset = conn.consumed_offset();
            let buffered = conn.buffered();
            match self.decoder.decode(buffered) {
                Ok((used, Some(Event::Data(data)))) => {
                    let start = offset + (data.as_ptr() as usize - buffered.as_ptr() as usize);
                    let range = start..start + data.len();
                    let n = data.len().min(dst.len());
                    if let (Some(to), Some(from)) = (dst.get_mut(..n), data.get(..n)) {
                        to.copy_from_slice(from);
                    }
                    if n < data.len() {
                        conn.consume_keeping(used);
                        self.pending = range.start + n..range.end;
                    } else {
                        conn.consume(used);
                    }
                    return Poll::Ready(Ok(n));
                }
                Ok((used, Some(Event::End(end)))) => {
                    conn.consume(used);
                    self.trailers = end.trailers;
                    let close = end.close.is_some();
                    self.finish(close);
                    return Poll::Ready(Ok(0));
                }
                Ok((_, Some(Event::Head(_)))) => {
                    self.conn = None;
                    return Poll::Ready(Err(Error::new(ErrorKind::Protocol)));
                }
                Ok((used, None)) => {
                    conn.consume(used);
                    // A large read of plain body bytes (of a length-delimited body, of a
                    // large chunk, of a body that ends with the connection) goes straight
                    // into `dst`: one copy less, which is most of the cost of a big
                    // download. A few bytes ahead (the tail of a small chunk) are better
                    // read with what follows them, into the buffer.
                    let direct = match self.decoder.body_bytes_ahead() {
                        Some(ahead)
                            if conn.is_buffer_empty()
                                && dst.len() >= DIRECT_READ_MIN
                                && ahead >= DIRECT_READ_MIN as u64 =>
                        {
                            Some(usize::try_from(ahead).map_or(dst.len(), |a| a.min(dst.len())))
                        }
                        _ => None,
                    };
                    let read = match direct.and_then(|limit| dst.get_mut(..limit)) {
                        Some(into) => conn.poll_read_direct(cx, into),
                        None => conn.poll_fill(cx),
                    };
                    let n = match ready!(read) {
                        Ok(n) => n,
                        Err(err) if IdleTimeout::is(&err) => {
                            self.conn = None;
                            let timeout = Error::new(ErrorKind::Timeout(TimeoutPhase::Body));
                            return Poll::Ready(Err(timeout.with_source(err)));
                        }
                        Err(err) => {
                            self.conn = None;
                            return Poll::Ready(Err(Error::io(ErrorKind::Body, err)));
                        }
                    };
                    if n == 0 {
                        return Poll::Ready(match self.decoder.decode_eof() {
                            Ok(Event::End(end)) => {
                                self.trailers = end.trailers;
                                self.conn = None;
                                Ok(0)
                            }
                            Ok(_) => {
                                self.conn = None;
                                Err(Error::new(ErrorKind::Body))
                            }
                            Err(err) => {
                                self.conn = None;
                                Err(Error::new(ErrorKind::Body).with_source(err))
                            }
                        });
                    }
                    if direct.is_some() {
                        // The bytes are in `dst` already: the decoder only counts them.
                        let received = dst.get(..n).unwrap_or_default();
                        return Poll::Ready(match self.decoder.decode(received) {
                            Ok((used, Some(Event::Data(data)))) if used == n && data.len() == n => {
                                Ok(n)
                            }
                            Ok(_) => {
                                self.conn = None;
                                Err(Error::new(ErrorKind::Protocol))
                            }
                            Err(err) => {
                                self.conn = None;
                                Err(Error::protocol(err))
                            }
                        });
                    }
                }
                Err(err) => {
                    self.conn = None;
                    return Poll::Ready(Err(Error::protocol(err)));
                }
            }
        }
    }
}

impl AsyncRead for H1Body {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_body(cx, buf).map_err(io::Error::from)
    }
}

impl fmt::Debug for H1Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("H1Body")
            .field("done", &self.is_done())
            .finish_non_exhaustive()
    }
}
