//! The background runtime a blocking [`Client`](crate::Client) owns.
//!
//! One thread, named `par-http-runtime`, runs the selected executor until the client
//! (and every response still holding it) is gone. Callers never run the executor
//! themselves: they hand futures to it and wait on channels, which is why the blocking
//! API works from any thread, including one inside an async runtime.
//!
//! `Drop` stops the executor and joins the thread, so no task outlives its client.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::thread;

use par_http_core::{Error, ErrorKind, Result, Runtime};

/// The thread that runs the client's executor.
pub(crate) struct Agent {
    runtime: Arc<dyn Runtime>,
    stop: Option<async_channel::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Agent {
    /// Starts the executor thread; fails only if the thread cannot be created.
    #[cfg(feature = "smol")]
    pub(crate) fn start() -> Result<Self> {
        let executor = Arc::new(async_executor::Executor::new());
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let runner = executor.clone();
        let (started, has_started) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = thread::Builder::new()
            .name("par-http-runtime".into())
            .spawn(move || {
                // Returns when every sender of `stop` is gone.
                async_io::block_on(runner.run(async move {
                    let _ = started.send(());
                    let _ = stopped.recv().await;
                }));
            })
            .map_err(|err| Error::new(ErrorKind::RuntimeGone).with_source(err))?;
        // Start-up handshake: the executor is running before the client is handed out.
        if has_started.recv().is_err() {
            return Err(Error::new(ErrorKind::RuntimeGone));
        }
        Ok(Self {
            runtime: Arc::new(par_http_smol::SmolRuntime::new(executor)),
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The runtime that spawns onto this agent's executor.
    pub(crate) fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.runtime
    }
}

/// Waits for `future` on the calling thread. The executor runs elsewhere; this only
/// parks the caller (and, with smol, lets it help drive the IO reactor while it waits).
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
