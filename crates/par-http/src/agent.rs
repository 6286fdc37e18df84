//! The background runtime thread behind a blocking [`Client`](crate::Client), and behind
//! an [`AsyncClient`](crate::AsyncClient) that has no runtime of its own to join.
//!
//! One thread, named `par-http-runtime`, runs the chosen executor until the agent is
//! dropped: the pool's sweeper, and whatever no caller is there to run. A blocking call
//! ([`Agent::wait`]) does its part on the calling thread: with smol, a scope's request
//! tasks run on whichever thread waits on the scope (see [`crate::local_tasks`]) and
//! that thread drives smol's IO reactor; with tokio, the waiting thread drives the whole
//! runtime and this thread takes it over only while nobody waits (see
//! [`crate::tokio_driver`]). That is why the blocking API works from any thread,
//! including one inside an async runtime, with no hand-off between threads for most
//! steps. `start` returns only once the executor runs (a start-up handshake), and `Drop`
//! stops the executor and joins the thread, so no task outlives its client. A tokio
//! runtime is built and dropped on that thread, never in async code.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::thread;

use par_http_core::{Error, ErrorKind, Result, Runtime};

use crate::runtimes::Executor;
#[cfg(feature = "tokio")]
use crate::tokio_driver::TokioDriver;

/// What the agent thread hands back once its executor runs.
struct Started {
    runtime: Arc<dyn Runtime>,
    #[cfg(feature = "tokio")]
    tokio: Option<Arc<TokioDriver>>,
}

/// The thread that runs an executor, or an application's runtime (no thread of ours).
pub(crate) struct Agent {
    runtime: Arc<dyn Runtime>,
    /// `None` for an application's runtime.
    executor: Option<Executor>,
    /// The tokio runtime and who drives it (tokio only).
    #[cfg(feature = "tokio")]
    tokio: Option<Arc<TokioDriver>>,
    stop: Option<async_channel::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Agent {
    /// Starts an executor thread of the given kind.
    pub(crate) fn start(executor: Executor) -> Result<Self> {
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let (started, has_started) = std::sync::mpsc::sync_channel::<Started>(1);
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
                    let _ = started.send(Started {
                        runtime,
                        #[cfg(feature = "tokio")]
                        tokio: None,
                    });
                    let _ = stopped.recv().await;
                }));
            }),
            #[cfg(feature = "tokio")]
            Executor::Tokio => Box::new(move || {
                // `stop` is not used: the driver is stopped directly.
                drop(stopped);
                let Ok(driver) = TokioDriver::new() else {
                    // `started` is dropped: start() reports the failure.
                    return;
                };
                let driver = Arc::new(driver);
                let runtime: Arc<dyn Runtime> =
                    Arc::new(par_http_tokio::TokioRuntime::new(driver.handle().clone()));
                let _ = started.send(Started {
                    runtime,
                    tokio: Some(driver.clone()),
                });
                driver.run_background();
                // The runtime is dropped here, on its own thread, outside any async
                // context, once the agent has let go of it (it does right after `stop`).
                while Arc::strong_count(&driver) > 1 {
                    thread::sleep(std::time::Duration::from_millis(1));
                }
                drop(driver);
            }),
        };
        let thread = thread::Builder::new()
            .name("par-http-runtime".into())
            .spawn(body)
            .map_err(|err| Error::new(ErrorKind::RuntimeGone).with_source(err))?;
        match has_started.recv() {
            Ok(started) => Ok(Self {
                runtime: started.runtime,
                executor: Some(executor),
                #[cfg(feature = "tokio")]
                tokio: started.tokio,
                stop: Some(stop),
                thread: Some(thread),
            }),
            Err(_) => {
                let _ = thread.join();
                Err(Error::new(ErrorKind::RuntimeGone))
            }
        }
    }

    /// An agent for an application's `runtime`: no thread is started; a blocking call
    /// parks until the runtime (which drives its own IO and timers, from its own threads)
    /// completes what it waits for.
    pub(crate) fn with_runtime(runtime: Arc<dyn Runtime>) -> Self {
        Self {
            runtime,
            executor: None,
            #[cfg(feature = "tokio")]
            tokio: None,
            stop: None,
            thread: None,
        }
    }

    /// Blocks the calling thread on `future`. With tokio the caller drives the runtime
    /// meanwhile (see [`TokioDriver`]); with smol it drives smol's IO reactor.
    pub(crate) fn wait<T>(&self, future: impl Future<Output = T>) -> T {
        if self.executor.is_none() {
            return futures_lite::future::block_on(future);
        }
        #[cfg(feature = "tokio")]
        if let Some(driver) = &self.tokio {
            return driver.block_on(future, false);
        }
        park_on(future)
    }

    /// As [`wait`](Self::wait), for a future that spawns tasks (starting a request in a
    /// scope): with tokio it goes into the runtime at once (see [`TokioDriver::block_on`]).
    pub(crate) fn wait_spawning<T>(&self, future: impl Future<Output = T>) -> T {
        if self.executor.is_none() {
            return futures_lite::future::block_on(future);
        }
        #[cfg(feature = "tokio")]
        if let Some(driver) = &self.tokio {
            return driver.block_on(future, true);
        }
        park_on(future)
    }

    /// The kind of executor this agent runs (`None`: an application's runtime).
    pub(crate) fn executor(&self) -> Option<Executor> {
        self.executor
    }

    /// The runtime that spawns onto this agent's executor.
    pub(crate) fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.runtime
    }
}

/// Waits for `future` on the calling thread, for an executor the caller does not drive:
/// with smol the caller drives the IO reactor meanwhile (the runtime thread does not:
/// see [`Agent::start`]).
fn park_on<T>(future: impl Future<Output = T>) -> T {
    #[cfg(feature = "smol")]
    {
        // A call answered at once (starting a request, an outcome already in) is polled
        // once outside async-io's `block_on`: leaving that wakes async-io's own thread,
        // which then takes the reactor, and the caller's next wait would get its events
        // through that thread (a wake-up across threads per wait).
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        async_io::block_on(future)
    }
    #[cfg(not(feature = "smol"))]
    {
        futures_lite::future::block_on(future)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        #[cfg(feature = "tokio")]
        if let Some(driver) = self.tokio.take() {
            driver.stop();
        }
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
