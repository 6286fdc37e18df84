//! The TCP stream of the smol runtime: an `async_io::Async` socket that remembers
//! whether it may have data, so that it does not ask the kernel when it knows the
//! answer.
//!
//! A plain `Async` stream tries every read with a system call first and waits for the
//! reactor only when that fails. For an HTTP client that is a wasted call on nearly
//! every exchange: right after a request is written the answer is not there yet, and a
//! pooled connection checked for staleness has nothing to say. [`SmolTcp`] keeps what
//! tokio's streams keep: after a read that drained the socket (fewer bytes than asked
//! for, or "would block"), the next read first waits for the reactor to report the
//! socket readable, and a check without a waiting task costs no system call at all.
//! With async-io's one-shot registrations that halves the system calls of a small
//! exchange (measured: three reads and an interest update per request become one read
//! and one update).
//!
//! The answer can be late, never lost: interest is registered before the stream reports
//! "nothing yet", and epoll reports data that arrived before the registration at once.
//! Late matters in one case: the pool's check of an idle connection before a request
//! that cannot be retried elsewhere (a `POST`). There the reactor may not have seen yet
//! a close that already happened, so that check reads the socket for real
//! ([`par_http_core::is_checking_staleness`]).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use async_io::Async;
use futures_lite::{AsyncRead, AsyncWrite};

/// A read at least this long that did not fill its buffer still leaves the stream
/// "maybe readable": a large transfer is under way (an exchange of small messages never
/// reads this much at once).
const STREAMING: usize = 4096;

/// A connected TCP stream on smol's reactor, with a readiness cache for reads.
#[derive(Debug)]
pub(crate) struct SmolTcp {
    inner: Async<TcpStream>,
    /// False once a read drained the socket: the next read waits for readiness first.
    maybe_readable: bool,
    /// True while a task waits for readiness (its waker is registered).
    awaiting: bool,
}

impl SmolTcp {
    /// Connects to `addr` with Nagle's algorithm off (requests are written whole).
    pub(crate) async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let inner = Async::<TcpStream>::connect(addr).await?;
        inner.get_ref().set_nodelay(true)?;
        Ok(Self {
            inner,
            maybe_readable: true,
            awaiting: false,
        })
    }
}

impl AsyncRead for SmolTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        // A strict staleness check asks the socket itself: a close the reactor has not
        // seen yet must not pass for "nothing yet".
        let strict = par_http_core::is_checking_staleness();
        loop {
            if !self.maybe_readable && !strict {
                // Registers interest (and the waker) unless an event came since the
                // last registration; no system call if it is registered already.
                // Polled again while waiting (`awaiting`), a task was most likely woken by
                // the event it waits for, which async-io can take for a stale one (an
                // event of the reactor's current turn, when the interest was registered
                // from another thread during that turn: the blocking client's case). It
                // reads at once: that costs less than a second turn of the reactor, and
                // interest stays registered if there is nothing yet.
                if self.inner.poll_readable(cx)?.is_pending() && !self.awaiting {
                    // A check with no task to wake (the pool's) waits for nothing.
                    self.awaiting = !par_http_core::is_probing_idle();
                    return Poll::Pending;
                }
                self.awaiting = false;
                self.maybe_readable = true;
            }
            match self.inner.get_ref().read(buf) {
                Ok(n) => {
                    // A short read emptied the socket's queue (an end of stream, 0,
                    // stays visible to the reactor, which reports it at once). But a
                    // stream that just gave a lot is likely still streaming: by the next
                    // read more has come, and a read costs less than a reactor turn.
                    self.maybe_readable = n == buf.len() || n >= STREAMING;
                    return Poll::Ready(Ok(n));
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.maybe_readable = false;
                    if strict {
                        // Nothing there: wait for readiness (registering interest).
                        ready!(self.inner.poll_readable(cx))?;
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
    }
}

impl SmolTcp {
    /// Runs a non-blocking write `op`, waiting for the socket to be writable while it
    /// would block.
    fn poll_write_with(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&TcpStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            match op(self.inner.get_ref()) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                res => return Poll::Ready(res),
            }
            ready!(self.inner.poll_writable(cx))?;
        }
    }
}

impl AsyncWrite for SmolTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |mut stream| stream.write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |mut stream| stream.write_vectored(bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A TCP socket has no user-space buffer to flush.
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.inner.get_ref().shutdown(Shutdown::Write))
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::time::Duration;

    use futures_lite::future;
    use futures_lite::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Polls a read once with a waker that does nothing: what the pool's staleness
    /// check does.
    fn peek(stream: &mut SmolTcp) -> Poll<io::Result<usize>> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut byte = [0u8; 1];
        Pin::new(stream).poll_read(&mut cx, &mut byte)
    }

    #[test]
    fn reads_what_arrives_after_a_drained_read_and_sees_the_peer_close() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        future::block_on(async {
            let mut client = SmolTcp::connect(addr).await.unwrap();
            let (mut server, _) = listener.accept().unwrap();
            server.write_all(b"first").unwrap();
            let mut buf = [0u8; 64];
            let n = client.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"first");
            // Drained: the next check registers interest and reports nothing yet.
            assert!(peek(&mut client).is_pending());
            assert!(peek(&mut client).is_pending());
            // Data that comes later is read once the reactor reports it.
            server.write_all(b"second").unwrap();
            let n = client.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"second");
            client.write_all(b"ping").await.unwrap();
            let mut got = [0u8; 4];
            server.read_exact(&mut got).unwrap();
            assert_eq!(&got, b"ping");
            // The peer closes: the stream ends.
            drop(server);
            let n = client.read(&mut buf).await.unwrap();
            assert_eq!(n, 0);
        });
    }

    /// A connected stream that has read the one byte its peer sent (the socket is
    /// drained), and the peer's end.
    fn after_one_byte() -> (SmolTcp, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = future::block_on(SmolTcp::connect(addr)).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        server.write_all(b"x").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(future::block_on(client.read(&mut buf)).unwrap(), 1);
        (client, server)
    }

    #[test]
    fn a_strict_check_reads_the_socket_not_the_cache() {
        let (mut client, server) = after_one_byte();
        // Drained: the cache now says "wait for the reactor".
        assert!(!client.maybe_readable);
        drop(server);
        // The close has reached this socket well before the check (loopback).
        std::thread::sleep(Duration::from_millis(50));
        let seen = par_http_core::checking_staleness(|| peek(&mut client));
        assert!(
            matches!(seen, Poll::Ready(Ok(0))),
            "a strict check reads the end of the stream: {seen:?}"
        );
    }

    #[test]
    fn a_check_sees_a_close_that_happened_while_idle() {
        let (mut client, server) = after_one_byte();
        // Going idle: the check registers interest.
        assert!(peek(&mut client).is_pending());
        drop(server);
        // The reactor (driven here by a short block_on) delivers the close; the next
        // check reads the end of the stream instead of reporting "nothing yet".
        let seen = async_io::block_on(async {
            for _ in 0..200 {
                if let Poll::Ready(result) = peek(&mut client) {
                    return Some(result.unwrap());
                }
                async_io::Timer::after(Duration::from_millis(5)).await;
            }
            None
        });
        assert_eq!(seen, Some(0));
    }
}
