//! The smol runtime for par-http: tasks on an [`async_executor::Executor`], TCP on
//! [`async_io`]'s reactor (with a readiness cache, see `tcp.rs`), timers from [`async_io`].
//!
//! [`SmolRuntime`] is a handle to an executor. It does not drive the executor itself:
//! whoever owns it runs it (the blocking `par_http::Client` runs one on its background
//! thread; an async application may run its own and share it here). A spawned task is
//! an `async_task::Task`, which cancels its future when dropped, exactly the contract
//! of [`par_http_core::Spawn`].
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use par_http_core::Spawn;
//! use par_http_smol::SmolRuntime;
//!
//! let executor = Arc::new(async_executor::Executor::new());
//! let runtime = SmolRuntime::new(executor.clone());
//! let (tx, rx) = std::sync::mpsc::channel();
//! let task = runtime.spawn(Box::pin(async move { tx.send(7).unwrap() }));
//! futures_lite::future::block_on(executor.run(async {
//!     while executor.try_tick() {}
//! }));
//! assert_eq!(rx.recv().unwrap(), 7);
//! drop(task);
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod scope_executor;
mod tcp;

pub use scope_executor::ScopeExecutor;

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Instant;

use async_executor::Executor;
use async_io::Timer;
use par_http_core::{BoxIo, Boxed, Runtime, Spawn, Task};

/// The smol runtime: spawns on an [`Executor`] that someone else runs.
#[derive(Clone)]
pub struct SmolRuntime {
    executor: Arc<Executor<'static>>,
}

impl SmolRuntime {
    /// A runtime that spawns onto `executor`.
    pub fn new(executor: Arc<Executor<'static>>) -> Self {
        Self { executor }
    }

    /// A runtime on an application's own `executor` (smol's `Executor`, which the
    /// application runs on its threads): its requests' tasks run there, and no thread of
    /// par-http's is started for them. The same as [`new`](Self::new), named for that use.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use par_http_smol::SmolRuntime;
    ///
    /// let executor = Arc::new(async_executor::Executor::new());
    /// let runtime = SmolRuntime::with_executor(executor.clone());
    /// assert!(Arc::ptr_eq(runtime.executor(), &executor));
    /// ```
    pub fn with_executor(executor: Arc<Executor<'static>>) -> Self {
        Self::new(executor)
    }

    /// The executor tasks are spawned on.
    pub fn executor(&self) -> &Arc<Executor<'static>> {
        &self.executor
    }
}

impl fmt::Debug for SmolRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmolRuntime").finish_non_exhaustive()
    }
}

impl Spawn for SmolRuntime {
    fn spawn(&self, future: Boxed<()>) -> Task {
        Task::new(self.executor.spawn(future))
    }
}

impl Runtime for SmolRuntime {
    fn resolve(&self, host: &str, port: u16) -> Boxed<io::Result<Vec<SocketAddr>>> {
        let host = host.to_owned();
        // The system resolver blocks; run it on smol's blocking thread pool.
        Box::pin(blocking::unblock(move || {
            (host.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect)
        }))
    }

    fn connect_tcp(&self, addr: SocketAddr) -> Boxed<io::Result<BoxIo>> {
        Box::pin(async move { Ok(Box::new(tcp::SmolTcp::connect(addr).await?) as BoxIo) })
    }

    fn sleep_until(&self, deadline: Instant) -> Boxed<()> {
        Box::pin(async move {
            Timer::at(deadline).await;
        })
    }
}
