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
            Ok(Box::new(Compat::new(stream)) as BoxIo)
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

    #[test]
    fn dropping_the_task_aborts_it() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let runtime = TokioRuntime::new(rt.handle().clone());
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
