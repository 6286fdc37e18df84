//! The one place where the core's byte streams meet tokio's IO traits.
//!
//! The `h2` crate reads and writes through `tokio::io::AsyncRead`/`AsyncWrite`; every
//! stream of the core ([`BoxIo`]: TCP from either runtime, TLS) speaks `futures-io`.
//! [`TokioIo`] adapts one to the other. Only the traits are used, never a tokio runtime:
//! the connection future runs on whatever executor the client was built with.
//!
//! It also watches the first bytes the server sends: RFC 9113 §3.4 makes them a
//! `SETTINGS` frame (the server's connection preface), and [`TokioIo::preface_read`]
//! says when all of it has been handed to `h2`. `h2` does not tell when the server's
//! first `SETTINGS` arrived, and until then nobody knows how many streams the server
//! allows (see [`conn`](super::conn)).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use futures_lite::io::{AsyncRead, AsyncWrite};

use crate::runtime::BoxIo;

/// Length of an HTTP/2 frame header (RFC 9113 §4.1).
const FRAME_HEADER: usize = 9;

/// A `futures-io` stream seen through tokio's IO traits.
pub(crate) struct TokioIo {
    io: BoxIo,
    preface: Preface,
}

/// How much of the server's first frame has been read.
struct Preface {
    /// The first frame's header, as far as it came.
    header: [u8; FRAME_HEADER],
    /// Bytes of the first frame read so far.
    read: usize,
    /// Set once the whole first frame was read (or the stream ended before it).
    done: Arc<AtomicBool>,
}

impl Preface {
    /// Counts `bytes`, newly read, against the first frame.
    fn saw(&mut self, bytes: &[u8]) {
        if self.done.load(Ordering::Relaxed) {
            return;
        }
        for (slot, byte) in self.header.iter_mut().skip(self.read).zip(bytes) {
            *slot = *byte;
        }
        self.read = self.read.saturating_add(bytes.len());
        if self.read < FRAME_HEADER {
            return;
        }
        let [a, b, c, ..] = self.header;
        let payload = u32::from_be_bytes([0, a, b, c]) as usize;
        if self.read >= FRAME_HEADER + payload {
            self.done.store(true, Ordering::Release);
        }
    }
}

impl TokioIo {
    /// Wraps `io`.
    pub(crate) fn new(io: BoxIo) -> Self {
        Self {
            io,
            preface: Preface {
                header: [0; FRAME_HEADER],
                read: 0,
                done: Arc::new(AtomicBool::new(false)),
            },
        }
    }

    /// Becomes true once the server's first frame (its `SETTINGS`) has been read in
    /// full, or the stream ended before it.
    pub(crate) fn preface_read(&self) -> Arc<AtomicBool> {
        self.preface.done.clone()
    }
}

impl tokio::io::AsyncRead for TokioIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        // Zeroes only the part of the buffer never initialised before.
        let unfilled = buf.initialize_unfilled();
        let read = ready!(Pin::new(&mut this.io).poll_read(cx, unfilled));
        let n = match read {
            Ok(n) => n,
            Err(err) => {
                this.preface.done.store(true, Ordering::Release);
                return Poll::Ready(Err(err));
            }
        };
        if n == 0 {
            this.preface.done.store(true, Ordering::Release);
        } else {
            this.preface.saw(unfilled.get(..n).unwrap_or_default());
        }
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for TokioIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use futures_lite::future;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[test]
    fn bytes_pass_both_ways() {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut ours = TokioIo::new(Box::new(async_io::Async::new(ours).unwrap()));
        let mut theirs = TokioIo::new(Box::new(async_io::Async::new(theirs).unwrap()));
        future::block_on(async {
            ours.write_all(b"ping").await.unwrap();
            ours.flush().await.unwrap();
            let mut got = [0u8; 4];
            theirs.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"ping");
            ours.shutdown().await.unwrap();
        });
    }

    #[test]
    fn the_first_frame_is_read_in_full_one_byte_at_a_time() {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut ours = TokioIo::new(Box::new(async_io::Async::new(ours).unwrap()));
        let mut theirs = TokioIo::new(Box::new(async_io::Async::new(theirs).unwrap()));
        let done = theirs.preface_read();
        // A SETTINGS frame with one setting (6 bytes), then a PING.
        let mut frames = vec![0, 0, 6, 0x4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1];
        frames.extend_from_slice(&[0, 0, 8, 0x6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        future::block_on(async {
            for (i, byte) in frames.iter().enumerate() {
                assert_eq!(done.load(Ordering::Acquire), i >= 15, "after {i} bytes");
                ours.write_all(&[*byte]).await.unwrap();
                ours.flush().await.unwrap();
                let mut got = [0u8; 1];
                theirs.read_exact(&mut got).await.unwrap();
            }
            assert!(done.load(Ordering::Acquire));
        });
    }

    #[test]
    fn a_stream_that_ends_before_the_first_frame_counts_as_read() {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut theirs = TokioIo::new(Box::new(async_io::Async::new(theirs).unwrap()));
        let done = theirs.preface_read();
        drop(ours);
        future::block_on(async {
            let mut got = Vec::new();
            theirs.read_to_end(&mut got).await.unwrap();
        });
        assert!(done.load(Ordering::Acquire));
    }
}
