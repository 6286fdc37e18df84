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

/// Runs `work` on the executor thread and returns an asyncio future (of the running
/// loop) that `convert` completes with its outcome.
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
    C: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let event_loop = GET_RUNNING_LOOP
        .import(py, "asyncio", "get_running_loop")?
        .call0()?;
    let future = event_loop.call_method0("create_future")?;
    let (loop_handle, future_handle) = (event_loop.unbind(), future.clone().unbind());
    let task = runtime()?.spawn(Box::pin(async move {
        let outcome = work.await;
        Python::attach(move |py| complete(py, &loop_handle, future_handle, convert(py, outcome)));
    }));
    let guard = Py::new(
        py,
        DropTaskWhenDone {
            task: Mutex::new(Some(task)),
        },
    )?;
    future.call_method1("add_done_callback", (guard,))?;
    Ok(future)
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
