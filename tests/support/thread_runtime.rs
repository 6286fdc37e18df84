//! A third runtime, deliberately small, written against `par_http::Runtime` alone: each
//! task on a thread of its own, IO and timers from async-io (whose reactor runs on
//! whichever thread waits, or on async-io's own). It proves that the facade needs nothing
//! of smol or tokio beyond the `Runtime` contract: `tests/threads.rs` runs the whole
//! conformance suite on it.
//!
//! The contract, as this runtime keeps it:
//! - `spawn` runs the future in the background; dropping the returned `Task` cancels it
//!   (the future is dropped on its thread as soon as that thread sees the cancellation,
//!   and never polled again after that);
//! - IO and timers make progress whichever thread polls them (async-io's reactor);
//! - `resolve` may block: here it runs on the calling task's own thread.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use par_http::{BoxIo, Boxed, Runtime, Spawn, Task};

/// One thread per task, async-io for IO and timers.
#[derive(Debug, Default)]
pub struct ThreadRuntime;

impl ThreadRuntime {
    /// The runtime shared by the suite's clients.
    pub fn shared() -> Arc<dyn Runtime> {
        static SHARED: OnceLock<Arc<ThreadRuntime>> = OnceLock::new();
        SHARED.get_or_init(|| Arc::new(Self)).clone()
    }
}

/// The cancellation of one task: set by dropping its `Task`, seen by its thread.
#[derive(Debug, Default)]
struct Cancel {
    state: Mutex<(bool, Option<Waker>)>,
}

/// Dropped with the `Task`: cancels the task and wakes its thread.
struct CancelOnDrop(Arc<Cancel>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.0 = true;
            state.1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Runs `future` until it completes or its task is cancelled.
struct Cancellable {
    future: Boxed<()>,
    cancel: Arc<Cancel>,
}

impl Future for Cancellable {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        {
            let mut state = self
                .cancel
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if state.0 {
                return Poll::Ready(());
            }
            state.1 = Some(cx.waker().clone());
        }
        self.future.as_mut().poll(cx)
    }
}

impl Spawn for ThreadRuntime {
    fn spawn(&self, future: Boxed<()>) -> Task {
        let cancel = Arc::new(Cancel::default());
        let task = Cancellable {
            future,
            cancel: cancel.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name("thread-runtime-task".into())
            .stack_size(256 * 1024)
            .spawn(move || async_io::block_on(task));
        if let Err(err) = spawned {
            // The future was dropped with the closure: the task is cancelled already,
            // as if its handle had been dropped. Its owner sees the request fail.
            eprintln!("thread runtime: cannot start a thread: {err}");
        }
        Task::new(CancelOnDrop(cancel))
    }
}

impl Runtime for ThreadRuntime {
    fn resolve(&self, host: &str, port: u16) -> Boxed<io::Result<Vec<SocketAddr>>> {
        let host = host.to_owned();
        // Blocking is fine here: the task waiting for it has this thread to itself.
        Box::pin(async move {
            (host.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect)
        })
    }

    fn connect_tcp(&self, addr: SocketAddr) -> Boxed<io::Result<BoxIo>> {
        Box::pin(async move {
            let stream = async_io::Async::<TcpStream>::connect(addr).await?;
            stream.get_ref().set_nodelay(true)?;
            Ok(Box::new(stream) as BoxIo)
        })
    }

    fn sleep_until(&self, deadline: Instant) -> Boxed<()> {
        Box::pin(async move {
            async_io::Timer::at(deadline).await;
        })
    }
}
