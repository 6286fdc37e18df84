//! The executor thread behind every client, and the two ways Python waits on it.
//!
//! * [`wait`]: a blocking call (`get_response()`, `next_response()`, `__exit__`) releases
//!   the GIL and blocks in slices of [`SLICE`]; between two slices it calls
//!   `check_signals`, so Ctrl-C raises `KeyboardInterrupt` within a slice, and the
//!   future it was waiting on is dropped (which is how a wait is cancelled: every wait of
//!   the scope is cancel-safe, and `__exit__` then cancels the scope).
//! * [`spawn_async`]: an `await` in asyncio gets an asyncio future; the work runs as a
//!   task on the executor thread, which completes the future through
//!   `loop.call_soon_threadsafe`. No thread per call. If the asyncio future is cancelled
//!   first, the task is dropped (cancelling the wait, not the request).

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use futures_lite::future;
use par_http::core::{Runtime, Task};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

/// How long a blocking wait runs without the GIL before it checks for signals.
const SLICE: Duration = Duration::from_millis(50);

/// The process-wide runtime: a smol executor on one thread named `par-http-py`.
pub(crate) fn runtime() -> PyResult<Arc<dyn Runtime>> {
    static RUNTIME: OnceLock<Result<Arc<dyn Runtime>, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(start)
        .clone()
        .map_err(PyRuntimeError::new_err)
}

fn start() -> Result<Arc<dyn Runtime>, String> {
    let executor = Arc::new(async_executor::Executor::new());
    let runtime: Arc<dyn Runtime> = Arc::new(par_http_smol::SmolRuntime::new(executor.clone()));
    std::thread::Builder::new()
        .name("par-http-py".into())
        // It runs for the life of the process. It does not drive smol's IO reactor: a
        // thread blocked in `wait` does, and async-io's own thread otherwise.
        .spawn(move || future::block_on(executor.run(future::pending::<()>())))
        .map_err(|err| format!("par_http: cannot start the runtime thread: {err}"))?;
    Ok(runtime)
}

/// Blocks on `future` with the GIL released, checking for signals between slices.
///
/// # Errors
///
/// The exception a signal handler raised (`KeyboardInterrupt`); `future` is dropped.
pub(crate) fn wait<T: Send>(py: Python<'_>, future: impl Future<Output = T> + Send) -> PyResult<T> {
    let mut future = std::pin::pin!(future);
    let mut timer = async_io::Timer::never();
    loop {
        let done = py.detach(|| {
            timer.set_after(SLICE);
            let slice = async {
                (&mut timer).await;
                None
            };
            async_io::block_on(future::or(async { Some(future.as_mut().await) }, slice))
        });
        if let Some(value) = done {
            return Ok(value);
        }
        py.check_signals()?;
    }
}

/// An awaitable for `work`: ready at once if `work` completes at its first poll (an
/// outcome that has arrived already, its body read: no trip to the runtime thread and
/// back), else the asyncio future of [`spawn_async`].
///
/// # Errors
///
/// As [`spawn_async`].
pub(crate) fn run_async<'py, T, W, C>(
    py: Python<'py>,
    work: W,
    convert: C,
) -> PyResult<Bound<'py, PyAny>>
where
    W: Future<Output = T> + Send + 'static,
    T: Send + 'static,
    C: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    let mut work = Box::pin(work);
    // One poll, which never blocks: `block_on` only lends it a waker.
    if let Some(outcome) = future::block_on(future::poll_once(work.as_mut())) {
        let ready = crate::aio::Ready::outcome(convert(py, outcome));
        return Ok(Bound::new(py, ready)?.into_any());
    }
    spawn_async(py, work, convert)
}

/// Runs `work` on the executor thread and returns an asyncio future (of the running
/// loop) that `convert` completes with its outcome.
///
/// The outcome reaches the loop through the loop's [`Bridge`] when it has one (Unix
/// selector loops): the executor thread queues it without taking the GIL and wakes the
/// loop through a socket pair, and the loop completes every queued future in one
/// callback. Elsewhere each outcome goes through `loop.call_soon_threadsafe`.
///
/// # Errors
///
/// No running event loop, or the runtime could not start.
pub(crate) fn spawn_async<'py, T, W, C>(
    py: Python<'py>,
    work: W,
    convert: C,
) -> PyResult<Bound<'py, PyAny>>
where
    W: Future<Output = T> + Send + 'static,
    T: Send + 'static,
    C: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    static BRIDGE_FOR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let event_loop = GET_RUNNING_LOOP
        .import(py, "asyncio", "get_running_loop")?
        .call0()?;
    let future = event_loop.call_method0("create_future")?;
    let future_handle = future.clone().unbind();
    let bridge = BRIDGE_FOR
        .import(py, "par_http._models", "_bridge_for")?
        .call1((&event_loop,))?;
    let task = match bridge.cast::<Bridge>() {
        Ok(bridge) => {
            let shared = bridge.get().shared.clone();
            runtime()?.spawn(Box::pin(async move {
                let outcome = work.await;
                shared.push(Completion {
                    future: future_handle,
                    convert: Box::new(move |py| convert(py, outcome)),
                });
            }))
        }
        Err(_) => {
            let loop_handle = event_loop.unbind();
            runtime()?.spawn(Box::pin(async move {
                let outcome = work.await;
                Python::attach(move |py| {
                    complete(py, &loop_handle, future_handle, convert(py, outcome));
                });
            }))
        }
    };
    let guard = Py::new(
        py,
        DropTaskWhenDone {
            task: Mutex::new(Some(task)),
        },
    )?;
    future.call_method1("add_done_callback", (guard,))?;
    Ok(future)
}

/// Makes the Python value of an outcome, on the loop's thread.
type Convert = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// An outcome on its way to the event loop.
struct Completion {
    future: Py<PyAny>,
    convert: Convert,
}

/// The queue of one event loop's completed outcomes and the socket that wakes it.
struct BridgeShared {
    queue: Mutex<Vec<Completion>>,
    #[cfg(unix)]
    wake: std::os::unix::net::UnixStream,
}

impl BridgeShared {
    /// Queues `completion`; wakes the loop if the queue was empty (else a wake-up is on
    /// its way already).
    fn push(&self, completion: Completion) {
        let was_empty = {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            queue.push(completion);
            queue.len() == 1
        };
        #[cfg(unix)]
        if was_empty {
            use std::io::Write as _;
            // Non-blocking: a full socket buffer means a wake-up is pending anyway.
            let _ = (&self.wake).write(&[1]);
        }
        #[cfg(not(unix))]
        let _ = was_empty;
    }
}

/// The way outcomes reach one asyncio event loop: the loop watches the reading end of
/// a socket pair (`loop.add_reader(bridge.fileno(), bridge.drain)`, set up by
/// `par_http._models._bridge_for`), and `drain` completes every queued future.
#[pyclass(frozen, module = "par_http._par_http")]
pub(crate) struct Bridge {
    shared: Arc<BridgeShared>,
    #[cfg(unix)]
    reader: std::os::unix::net::UnixStream,
}

#[pymethods]
impl Bridge {
    #[new]
    fn new() -> PyResult<Self> {
        #[cfg(unix)]
        {
            let (reader, wake) = std::os::unix::net::UnixStream::pair()?;
            reader.set_nonblocking(true)?;
            wake.set_nonblocking(true)?;
            Ok(Self {
                shared: Arc::new(BridgeShared {
                    queue: Mutex::new(Vec::new()),
                    wake,
                }),
                reader,
            })
        }
        #[cfg(not(unix))]
        {
            Err(pyo3::exceptions::PyNotImplementedError::new_err(
                "the bridge needs Unix sockets",
            ))
        }
    }

    /// The file descriptor the loop watches.
    fn fileno(&self) -> i64 {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd as _;
            i64::from(self.reader.as_raw_fd())
        }
        #[cfg(not(unix))]
        {
            -1
        }
    }

    /// Completes every queued future (run by the loop when the socket is readable).
    fn drain(&self, py: Python<'_>) -> PyResult<()> {
        #[cfg(unix)]
        {
            use std::io::Read as _;
            let mut buffer = [0u8; 64];
            while matches!((&self.reader).read(&mut buffer), Ok(n) if n > 0) {}
        }
        let completions = std::mem::take(
            &mut *self
                .shared
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for Completion { future, convert } in completions {
            let future = future.bind(py);
            if future.call_method0("done")?.is_truthy()? {
                continue;
            }
            match convert(py) {
                Ok(value) => future.call_method1("set_result", (value,))?,
                Err(err) => future.call_method1("set_exception", (err.into_value(py),))?,
            };
        }
        Ok(())
    }
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge").finish_non_exhaustive()
    }
}

/// Completes `future` on its loop's thread (nothing happens if it is done already, or
/// if the loop is closed: nobody waits any more).
fn complete(
    py: Python<'_>,
    event_loop: &Py<PyAny>,
    future: Py<PyAny>,
    outcome: PyResult<Py<PyAny>>,
) {
    static COMPLETE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let Ok(complete) = COMPLETE.import(py, "par_http._models", "_complete") else {
        return;
    };
    let (ok, value) = match outcome {
        Ok(value) => (true, value),
        Err(err) => (false, err.into_value(py).into_any()),
    };
    let _ = event_loop
        .bind(py)
        .call_method1("call_soon_threadsafe", (complete, future, ok, value));
}

/// The done-callback of an asyncio future made by [`spawn_async`]: drops the task, which
/// cancels it if it still runs (the future was cancelled).
#[pyclass(frozen, module = "par_http._par_http")]
struct DropTaskWhenDone {
    task: Mutex<Option<Task>>,
}

#[pymethods]
impl DropTaskWhenDone {
    fn __call__(&self, _future: &Bound<'_, PyAny>) {
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(task);
    }
}
