//! The background runtime thread behind a blocking [`Client`](crate::Client), and behind
//! an [`AsyncClient`](crate::AsyncClient) that has no runtime of its own to join.
//!
//! One thread, named `par-http-runtime`, runs the chosen executor until the agent is
//! dropped: one-off requests, the pool's sweeper, and the background drivers of scopes
//! (with smol, a scope's request tasks run on whichever thread waits on the scope, see
//! [`crate::local_tasks`]; this thread runs them only while nobody does). That is why
//! the blocking API works from any thread, including one inside an async runtime.
//! `start` returns only once the executor runs (a start-up handshake), and `Drop` stops
//! the executor and joins the thread, so no task outlives its client. A tokio runtime
//! is built and dropped on that thread, never in async code.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::thread;

use par_http_core::{Error, ErrorKind, Result, Runtime};

use crate::runtimes::Executor;

/// The thread that runs an executor.
pub(crate) struct Agent {
    runtime: Arc<dyn Runtime>,
    executor: Executor,
    stop: Option<async_channel::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Agent {
    /// Starts an executor thread of the given kind.
    pub(crate) fn start(executor: Executor) -> Result<Self> {
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let (started, has_started) = std::sync::mpsc::sync_channel::<Arc<dyn Runtime>>(1);
        let body: Box<dyn FnOnce() + Send> = match executor {
            #[cfg(feature = "smol")]
            Executor::Smol => Box::new(move || {
                let executor = Arc::new(async_executor::Executor::new());
                let runtime: Arc<dyn Runtime> =
                    Arc::new(par_http_smol::SmolRuntime::new(executor.clone()));
                // Returns when every sender of `stop` is gone. This thread parks without
                // taking smol's IO reactor: a thread waiting on a scope drives it (see
                // `ScopeExecutor`), else async-io's own thread does; two threads taking
                // turns at it would cost a wake-up across threads for nearly every event.
                futures_lite::future::block_on(executor.run(async move {
                    let _ = started.send(runtime);
                    let _ = stopped.recv().await;
                }));
            }),
            #[cfg(feature = "tokio")]
            Executor::Tokio => Box::new(move || {
                let Ok(tokio_runtime) = ::tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    // `started` is dropped: start() reports the failure.
                    return;
                };
                let runtime: Arc<dyn Runtime> = Arc::new(par_http_tokio::TokioRuntime::new(
                    tokio_runtime.handle().clone(),
                ));
                tokio_runtime.block_on(async move {
                    let _ = started.send(runtime);
                    let _ = stopped.recv().await;
                });
                // Dropped here, on its own thread, outside any async context.
                drop(tokio_runtime);
            }),
        };
        let thread = thread::Builder::new()
            .name("par-http-runtime".into())
            .spawn(body)
            .map_err(|err| Error::new(ErrorKind::RuntimeGone).with_source(err))?;
        match has_started.recv() {
            Ok(runtime) => Ok(Self {
                runtime,
                executor,
                stop: Some(stop),
                thread: Some(thread),
            }),
            Err(_) => {
                let _ = thread.join();
                Err(Error::new(ErrorKind::RuntimeGone))
            }
        }
    }

    /// The kind of executor this agent runs.
    pub(crate) fn executor(&self) -> Executor {
        self.executor
    }

    /// The runtime that spawns onto this agent's executor.
    pub(crate) fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.runtime
    }
}

/// Waits for `future` on the calling thread. The executor runs elsewhere; this parks
/// the caller, which with smol drives the IO reactor meanwhile (the runtime thread does
/// not: see [`Agent::start`]).
pub(crate) fn wait<T>(future: impl Future<Output = T>) -> T {
    #[cfg(feature = "smol")]
    {
        async_io::block_on(future)
    }
    #[cfg(not(feature = "smol"))]
    {
        futures_lite::future::block_on(future)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // The last handle may be dropped on the agent thread itself (from a task):
            // joining there would wait forever, so that thread just ends on its own.
            if thread.thread().id() != thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Agent")
            .field("runtime", &self.runtime)
            .finish_non_exhaustive()
    }
}
