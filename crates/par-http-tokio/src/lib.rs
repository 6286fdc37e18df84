//! The tokio runtime for par-http: tasks on a tokio runtime (aborted when their handle is
//! dropped), TCP and DNS through `tokio::net`, timers from `tokio::time`.
//!
//! par-http's core speaks `futures-io`; [`Compat`] adapts a tokio stream to it in a few
//! lines. Every future handed to the core is bound to the runtime's [`Handle`], so it can
//! be polled from any thread (the blocking facade reads bodies on the caller's thread),
//! not only from inside the runtime.
//!
//! A tokio `JoinHandle` detaches its task when dropped; par-http's
//! [`Spawn`] contract is the opposite (drop cancels). The [`Task`]
//! returned here wraps the handle and aborts the task on drop, like tokio's `JoinSet`.
//!
//! # Examples
//!
//! ```
//! use par_http_core::Spawn;
//! use par_http_tokio::TokioRuntime;
//!
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! let runtime = TokioRuntime::new(rt.handle().clone());
//! let (tx, rx) = std::sync::mpsc::channel();
//! let task = runtime.spawn(Box::pin(async move { tx.send(7).unwrap() }));
//! rt.block_on(tokio::task::yield_now());
//! assert_eq!(rx.recv().unwrap(), 7);
//! drop(task);
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use par_http_core::{BoxIo, Boxed, Runtime, Spawn, Task};
use pin_project_lite::pin_project;
use tokio::runtime::Handle;

/// The tokio runtime: spawns on, and binds IO and timers to, a runtime [`Handle`].
#[derive(Clone)]
pub struct TokioRuntime {
    handle: Handle,
}

impl TokioRuntime {
    /// A runtime that spawns onto the runtime behind `handle`.
    pub fn new(handle: Handle) -> Self {
        Self { handle }
    }

    /// The runtime of the calling context, if there is one.
    pub fn try_current() -> Option<Self> {
        Handle::try_current().ok().map(Self::new)
    }

    /// The handle tasks are spawned on.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Wraps `future` so that every poll runs inside this runtime's context.
    fn bind<F: Future + Send + 'static>(&self, future: F) -> Pin<Box<InRuntime<F>>> {
        Box::pin(InRuntime {
            handle: self.handle.clone(),
            future,
        })
    }
}

impl fmt::Debug for TokioRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokioRuntime")
            .field("flavor", &self.handle.runtime_flavor())
            .finish()
    }
}

/// Aborts its task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Spawn for TokioRuntime {
    fn spawn(&self, future: Boxed<()>) -> Task {
        Task::new(AbortOnDrop(self.handle.spawn(future)))
    }
}

impl Runtime for TokioRuntime {
    fn resolve(&self, host: &str, port: u16) -> Boxed<io::Result<Vec<SocketAddr>>> {
        let host = host.to_owned();
        self.bind(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), port)).await?;
            Ok(addrs.collect())
        })
    }

    fn connect_tcp(&self, addr: SocketAddr) -> Boxed<io::Result<BoxIo>> {
        self.bind(async move {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(TokioTcp(Compat::new(stream))) as BoxIo)
        })
    }

    fn sleep_until(&self, deadline: Instant) -> Boxed<()> {
        let _context = self.handle.enter();
        Box::pin(tokio::time::sleep_until(deadline.into()))
    }
}

pin_project! {
    /// Polls its future inside a runtime's context, whichever thread polls it.
    struct InRuntime<F> {
        handle: Handle,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for InRuntime<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _context = this.handle.enter();
        this.future.poll(cx)
    }
}

pin_project! {
    /// Adapts a tokio `AsyncRead + AsyncWrite` stream to `futures-io`.
    #[derive(Debug)]
    pub struct Compat<T> {
        #[pin]
        inner: T,
    }
}

impl<T> Compat<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        Self { inner }
    }

    /// The wrapped stream.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: tokio::io::AsyncRead> futures_lite::io::AsyncRead for Compat<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut read_buf = tokio::io::ReadBuf::new(buf);
        ready!(self.project().inner.poll_read(cx, &mut read_buf))?;
        Poll::Ready(Ok(read_buf.filled().len()))
    }
}

impl<T: tokio::io::AsyncWrite> futures_lite::io::AsyncWrite for Compat<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}

/// A connected tokio TCP stream as the core reads it: [`Compat`], except that a strict
/// staleness check ([`par_http_core::is_checking_staleness`]) reads the socket itself
/// first. tokio answers reads from its readiness state, which learns of a close only when
/// the runtime's IO driver next runs; a request that cannot be retried must not go out
/// on a connection the server has closed in the meantime.
struct TokioTcp(Compat<tokio::net::TcpStream>);

impl futures_lite::io::AsyncRead for TokioTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if par_http_core::is_checking_staleness() && !buf.is_empty() {
            let socket = socket2::SockRef::from(&self.0.inner);
            match io::Read::read(&mut &*socket, buf) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                // The end of the stream, unsolicited bytes, or an error: the answer.
                done => return Poll::Ready(done),
            }
        }
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl futures_lite::io::AsyncWrite for TokioTcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use futures_lite::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// A current-thread runtime and the adapter on it.
    fn current_thread() -> (tokio::runtime::Runtime, TokioRuntime) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let runtime = TokioRuntime::new(rt.handle().clone());
        (rt, runtime)
    }

    #[test]
    fn a_strict_check_sees_a_close_the_driver_has_not_seen() {
        let (rt, runtime) = current_thread();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut io = rt.block_on(runtime.connect_tcp(addr)).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        io::Write::write_all(&mut server, b"x").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(rt.block_on(io.read(&mut buf)).unwrap(), 1);
        // Nobody runs the runtime from here on: its driver does not learn of the close.
        drop(server);
        std::thread::sleep(Duration::from_millis(50));
        let seen = par_http_core::checking_staleness(|| {
            let _inside = rt.enter();
            let mut cx = Context::from_waker(std::task::Waker::noop());
            futures_lite::io::AsyncRead::poll_read(Pin::new(&mut io), &mut cx, &mut buf)
        });
        assert!(
            matches!(seen, Poll::Ready(Ok(0))),
            "a strict check reads the end of the stream: {seen:?}"
        );
    }

    #[test]
    fn dropping_the_task_aborts_it() {
        let (rt, runtime) = current_thread();
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = SetOnDrop(dropped.clone());
        let task = runtime.spawn(Box::pin(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        }));
        rt.block_on(tokio::task::yield_now());
        assert!(!dropped.load(Ordering::SeqCst));
        drop(task);
        rt.block_on(tokio::task::yield_now());
        assert!(dropped.load(Ordering::SeqCst));
    }

    #[test]
    fn io_and_timers_work_when_polled_off_the_runtime() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let runtime = TokioRuntime::new(rt.handle().clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4];
            stream.read_exact(&mut buf).unwrap();
            stream.write_all(&buf).unwrap();
        });
        // Polled on this (non-runtime) thread, like the blocking facade does.
        futures_lite::future::block_on(async {
            runtime.sleep(Duration::from_millis(5)).await;
            let addrs = runtime.resolve("localhost", addr.port()).await.unwrap();
            assert!(!addrs.is_empty());
            let mut io = runtime.connect_tcp(addr).await.unwrap();
            io.write_all(b"ping").await.unwrap();
            let mut back = [0u8; 4];
            io.read_exact(&mut back).await.unwrap();
            assert_eq!(&back, b"ping");
        });
        server.join().unwrap();
    }
}
