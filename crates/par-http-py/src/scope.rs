//! The blocking scope: `Parallel` (the context manager and the scope) and `Pending`.
//!
//! A `Parallel` owns a core [`Scope`] from its first use (`__enter__` or a first
//! request) to `__exit__`. The scope's request tasks run on a
//! [`ScopeExecutor`]: the thread waiting on the scope (in `get_response`,
//! `next_response`) runs them with the GIL released, as the facade's blocking scope
//! does, and a background driver on the runtime thread runs them while nobody waits.
//! `__exit__` cancels every pending request: the futures, and so their sockets, are
//! dropped before it returns.
//!
//! The same object is also the async context manager: `__aenter__` opens an
//! [`AsyncParallel`] instead (see [`crate::aio`]).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use par_http::core::{Scope, StartOptions, Task};
use par_http_smol::ScopeExecutor;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::aio::{AsyncParallel, AsyncScope, Ready};
use crate::client::{Args, ClientInner, ScopeSettings};
use crate::errors::to_py_err;
use crate::ledger::{Handle, Ledger};
use crate::response::{Response, ResponseData};
use crate::runtime::{spawn_async, wait};

/// An open blocking scope: the core scope and the executor of its tasks.
#[derive(Debug)]
pub(crate) struct SyncScope {
    // Dropped first: the end of the scope cancels what is pending.
    scope: Scope,
    local: ScopeExecutor,
    _driver: Task,
    ledger: Ledger,
}

impl SyncScope {
    fn open(client: &ClientInner, settings: ScopeSettings) -> Self {
        let local = ScopeExecutor::new();
        let driver = client.core.runtime().spawn(Box::pin(local.background()));
        let scope = client
            .core
            .scope(settings.options().spawner(Arc::new(local.clone())));
        Self {
            scope,
            local,
            _driver: driver,
            ledger: Ledger::default(),
        }
    }

    /// Cancels what is pending (sockets closed before this returns) and waits until
    /// the executor has let go of every task.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.ledger.close();
        py.detach(|| self.scope.cancel());
        wait(py, self.local.run(self.scope.close()))
    }
}

/// Which scopes a `Parallel` opened.
#[derive(Debug, Default)]
struct State {
    sync: Option<Arc<SyncScope>>,
    aio: Option<Arc<AsyncScope>>,
    closed: bool,
}

/// A parallel scope: start requests, then collect their responses.
///
/// ```python
/// with client.parallel() as parallel:
///     pending_one = parallel.get('http://127.0.0.1:8000/1')
///     pending_two = parallel.get('http://127.0.0.1:8000/2')
///     response_one = pending_one.get_response()
///     response_two = pending_two.get_response()
/// ```
///
/// * Starting (`get`, `post`, ..., `request`) never raises and never waits; every error
///   is raised by `get_response()` or `next_response()`.
/// * Each outcome is delivered exactly once: through its handle or through
///   `next_response()`, whichever asks first (the other raises `AlreadyCollected`).
/// * Leaving the block cancels every request still pending; their connections are
///   closed by the time `__exit__` returns.
/// * `async with` gives the asyncio form of the same scope (`AsyncParallel`).
///
/// Thread-safe: several threads may start and collect in one scope at once.
#[pyclass(frozen, module = "par_http")]
#[derive(Debug)]
pub struct Parallel {
    client: Arc<ClientInner>,
    settings: ScopeSettings,
    state: Mutex<State>,
}

impl Parallel {
    pub(crate) fn new(client: Arc<ClientInner>, settings: ScopeSettings) -> Self {
        Self {
            client,
            settings,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The blocking scope, opened on first use. Once the block has ended, a request
    /// started here fails with `RequestCancelled` when collected.
    fn scope(&self) -> Arc<SyncScope> {
        let mut state = self.state();
        let closed = state.closed;
        state
            .sync
            .get_or_insert_with(|| {
                let scope = SyncScope::open(&self.client, self.settings);
                if closed {
                    scope.scope.cancel();
                }
                Arc::new(scope)
            })
            .clone()
    }

    fn start(
        &self,
        py: Python<'_>,
        method: &str,
        url: &str,
        args: &Args<'_, '_>,
    ) -> PyResult<Pending> {
        let scope = self.scope();
        let (builder, name) = self.client.request(py, method, url, args);
        let pending = scope.scope.start_with(builder, StartOptions::new());
        Ok(Pending {
            handle: Handle::new(pending, name),
            scope,
        })
    }

    fn ensure_open(&self) -> PyResult<()> {
        if self.state().closed {
            return Err(PyRuntimeError::new_err(
                "this parallel block has ended: open a new one with parallel()",
            ));
        }
        Ok(())
    }
}

scope_methods!(Parallel -> Pending {
    /// Waits for whichever pending request finishes first and returns its response
    /// (the first to finish comes first), or raises its error.
    ///
    /// With `timeout` (seconds), returns None if none finished in that time (the
    /// requests go on). Raises `NoPendingResponses` at once when nothing is pending.
    #[pyo3(signature = (timeout = None))]
    fn next_response(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Response>> {
        let scope = self.scope();
        let outcome = match timeout {
            None => wait(py, scope.local.run(async {
                match scope.scope.next_response().await {
                    Ok(response) => Some(ResponseData::collect(response).await),
                    Err(err) => Some(Err(err)),
                }
            }))?,
            Some(timeout) => {
                let timeout = std::time::Duration::try_from_secs_f64(timeout).map_err(|_| {
                    pyo3::exceptions::PyValueError::new_err("timeout must be a positive number of seconds")
                })?;
                wait(py, scope.local.run(async {
                    match scope.scope.next_response_timeout(timeout).await {
                        Some(Ok(response)) => Some(ResponseData::collect(response).await),
                        Some(Err(err)) => Some(Err(err)),
                        None => None,
                    }
                }))?
            }
        };
        if let Some(outcome) = &outcome {
            scope.ledger.delivered(outcome, |data| data.index);
        }
        match outcome {
            Some(Ok(data)) => Ok(Some(Response::from_data(data))),
            Some(Err(err)) => Err(to_py_err(py, &err)),
            None => Ok(None),
        }
    }

    /// True while a request is running or has a response not yet collected.
    #[getter]
    fn has_pending_responses(&self) -> bool {
        self.state()
            .sync
            .as_ref()
            .is_some_and(|scope| scope.scope.has_pending_responses())
    }

    /// Ends the scope: cancels every pending request and closes its connection before
    /// returning. `__exit__` calls it.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let scope = {
            let mut state = self.state();
            state.closed = true;
            state.sync.clone()
        };
        match scope {
            Some(scope) => scope.close(py),
            None => Ok(()),
        }
    }

    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().ensure_open()?;
        slf.get().scope();
        Ok(slf)
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __aenter__(&self, py: Python<'_>) -> PyResult<Ready> {
        self.ensure_open()?;
        let scope = {
            let mut state = self.state();
            state
                .aio
                .get_or_insert_with(|| Arc::new(AsyncScope::open(&self.client, self.settings)))
                .clone()
        };
        let parallel = Py::new(py, AsyncParallel::new(self.client.clone(), scope))?;
        Ok(Ready::new(parallel.into_any()))
    }

    #[pyo3(signature = (*_exc))]
    fn __aexit__<'py>(&self, py: Python<'py>, _exc: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyAny>> {
        let scope = {
            let mut state = self.state();
            state.closed = true;
            state.aio.clone()
        };
        if let Some(scope) = &scope {
            // The futures, and their sockets, go here, before anything is awaited.
            py.detach(|| scope.cancel());
        }
        spawn_async(
            py,
            async move {
                if let Some(scope) = scope {
                    scope.close().await;
                }
            },
            |py, ()| Ok(false.into_pyobject(py)?.to_owned().into_any().unbind()),
        )
    }

    fn __repr__(&self) -> String {
        let state = self.state();
        let status = if state.closed { "closed" } else { "open" };
        format!("<par_http.Parallel {status}>")
    }
});

/// A request started in a scope: `get_response()` waits for its response.
///
/// Dropping the handle does not cancel the request: its outcome stays for
/// `next_response()`. Only the end of the block, or `cancel()`, cancels it.
#[pyclass(frozen, module = "par_http")]
#[derive(Debug)]
pub struct Pending {
    handle: Handle,
    scope: Arc<SyncScope>,
}

#[pymethods]
impl Pending {
    /// Waits for this request's response (the GIL is released meanwhile) and returns
    /// it with its body read, or raises the request's error.
    ///
    /// Raises `AlreadyCollected` if `next_response()` delivered this outcome already,
    /// or if this handle's outcome was taken before.
    fn get_response(&self, py: Python<'_>) -> PyResult<Response> {
        let pending = self.handle.take(py)?;
        let outcome = wait(
            py,
            self.scope
                .local
                .run(async { ResponseData::collect(pending.get_response().await?).await }),
        )?;
        match outcome {
            Ok(data) => Ok(Response::from_data(data)),
            Err(err) => {
                let handle = &self.handle;
                let err = self
                    .scope
                    .ledger
                    .explain(err, handle.index(), handle.name());
                Err(to_py_err(py, &err))
            }
        }
    }

    /// True once the outcome has arrived (or was delivered elsewhere).
    #[getter]
    fn is_ready(&self) -> bool {
        self.handle.is_ready()
    }

    /// The position of the request in its scope: 0, 1, ... in start order. Its
    /// response says the same (`Response.index`).
    #[getter]
    fn index(&self) -> usize {
        self.handle.index()
    }

    /// Cancels the request: its connection is closed before this returns and its
    /// outcome is never delivered. Returns False if it had finished already.
    fn cancel(&self) -> bool {
        self.handle.cancel()
    }

    fn __repr__(&self) -> String {
        format!("<par_http.Pending index={}>", self.handle.index())
    }
}
