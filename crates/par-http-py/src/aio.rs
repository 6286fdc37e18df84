//! The asyncio scope: `AsyncParallel` and `AsyncPending`.
//!
//! ```python
//! async with client.parallel() as parallel:
//!     pending = await parallel.get(url)
//!     response = await pending.get_response()
//! ```
//!
//! The scope's request tasks run on the runtime thread. A wait (`get_response`,
//! `next_response`, `__aexit__`) is an asyncio future that a task on that thread
//! completes through `loop.call_soon_threadsafe` (see [`crate::runtime::spawn_async`]):
//! the event loop's thread never blocks, and no thread is made per call. Starting a
//! request returns an awaitable that is ready at once ([`Ready`]), so `await
//! parallel.get(url)` reads as in the seed.

use std::sync::Arc;

use par_http::core::{Scope, StartOptions};
use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;

use crate::client::{Args, ClientInner, ScopeSettings};
use crate::errors::to_py_err;
use crate::ledger::{Handle, Ledger};
use crate::response::ResponseData;
use crate::runtime::run_async;

/// An open async scope.
#[derive(Debug)]
pub(crate) struct AsyncScope {
    scope: Scope,
    ledger: Ledger,
}

impl AsyncScope {
    pub(crate) fn open(client: &ClientInner, settings: ScopeSettings) -> Self {
        Self {
            scope: client.core.scope(settings.options()),
            ledger: Ledger::default(),
        }
    }

    /// Cancels what is pending; the sockets are closed before this returns.
    pub(crate) fn cancel(&self) {
        self.ledger.close();
        self.scope.cancel();
    }

    /// Cancels what is pending and waits until every task has stopped.
    pub(crate) async fn close(&self) {
        self.scope.close().await;
    }
}

/// An awaitable that is ready at once: `await` gives its value or raises its error.
#[pyclass(frozen, module = "par_http._par_http")]
#[derive(Debug)]
pub struct Ready {
    outcome: PyResult<Py<PyAny>>,
}

impl Ready {
    pub(crate) fn new(value: Py<PyAny>) -> Self {
        Self { outcome: Ok(value) }
    }

    pub(crate) fn outcome(outcome: PyResult<Py<PyAny>>) -> Self {
        Self { outcome }
    }
}

#[pymethods]
impl Ready {
    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match &self.outcome {
            Ok(value) => Err(PyStopIteration::new_err((value.clone_ref(py),))),
            Err(err) => Err(err.clone_ref(py)),
        }
    }
}

/// The asyncio form of a parallel scope (what `async with client.parallel()` gives).
///
/// Starting a request (`await parallel.get(url)`) never raises and never waits; every
/// error is raised by `await pending.get_response()` or `await
/// parallel.next_response()`. Leaving the block cancels every request still pending,
/// and their connections are closed before `__aexit__` completes.
#[pyclass(frozen, module = "par_http")]
#[derive(Debug)]
pub struct AsyncParallel {
    client: Arc<ClientInner>,
    scope: Arc<AsyncScope>,
}

impl AsyncParallel {
    pub(crate) fn new(client: Arc<ClientInner>, scope: Arc<AsyncScope>) -> Self {
        Self { client, scope }
    }

    fn start(
        &self,
        py: Python<'_>,
        method: &str,
        url: &str,
        args: &Args<'_, '_>,
    ) -> PyResult<Ready> {
        let (builder, name) = self.client.request(py, method, url, args);
        let pending = self.scope.scope.start_with(builder, StartOptions::new());
        let handle = AsyncPending {
            handle: Handle::new(pending, name),
            scope: self.scope.clone(),
        };
        Ok(Ready::new(Py::new(py, handle)?.into_any()))
    }
}

scope_methods!(AsyncParallel -> Ready {
    /// Awaits whichever pending request finishes first and returns its response, or
    /// raises its error. Raises `NoPendingResponses` when nothing is pending.
    fn next_response<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let scope = self.scope.clone();
        run_async(
            py,
            async move {
                let outcome = match scope.scope.next_response().await {
                    Ok(response) => ResponseData::collect(response).await,
                    Err(err) => Err(err),
                };
                scope.ledger.delivered(&outcome, |data| data.index);
                outcome
            },
            convert,
        )
    }

    /// True while a request is running or has a response not yet collected.
    #[getter]
    fn has_pending_responses(&self) -> bool {
        self.scope.scope.has_pending_responses()
    }

    fn __repr__(&self) -> String {
        "<par_http.AsyncParallel>".to_owned()
    }
});

/// A collected outcome as a Python value, or its exception.
fn convert(py: Python<'_>, outcome: par_http::Result<ResponseData>) -> PyResult<Py<PyAny>> {
    match outcome {
        Ok(data) => data.into_py(py),
        Err(err) => Err(to_py_err(py, &err)),
    }
}

/// A request started in an async scope: `await pending.get_response()`.
///
/// Dropping the handle does not cancel the request: its outcome stays for
/// `next_response()`.
#[pyclass(frozen, module = "par_http")]
#[derive(Debug)]
pub struct AsyncPending {
    handle: Handle,
    scope: Arc<AsyncScope>,
}

#[pymethods]
impl AsyncPending {
    /// Awaits this request's response (body read) or raises its error.
    fn get_response<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let pending = self.handle.take(py)?;
        let (scope, index, name) = (
            self.scope.clone(),
            self.handle.index(),
            self.handle.name().clone(),
        );
        run_async(
            py,
            async move {
                match pending.get_response().await {
                    Ok(response) => ResponseData::collect(response).await,
                    Err(err) => Err(scope.ledger.explain(err, index, &name)),
                }
            },
            convert,
        )
    }

    /// True once the outcome has arrived (or was delivered elsewhere).
    #[getter]
    fn is_ready(&self) -> bool {
        self.handle.is_ready()
    }

    /// The position of the request in its scope: 0, 1, ... in start order.
    #[getter]
    fn index(&self) -> usize {
        self.handle.index()
    }

    /// Cancels the request (its connection closed before this returns). Returns False
    /// if it had finished already.
    fn cancel(&self) -> bool {
        self.handle.cancel()
    }

    fn __repr__(&self) -> String {
        format!("<par_http.AsyncPending index={}>", self.handle.index())
    }
}
