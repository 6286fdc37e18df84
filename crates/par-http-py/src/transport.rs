//! `MockTransport`: a Python function answers the requests instead of the network (as
//! httpx's `MockTransport`), so a user's tests can run a client offline.
//!
//! It is a par-http [`Dispatch`]: the client applies its configuration (base URL,
//! headers, auth, redirects) around it exactly as around the network. The handler runs
//! on smol's blocking thread pool, holding the GIL only while it runs.

use std::fmt;
use std::sync::Arc;

use par_http::core::{Boxed, Dispatch, Request, ResponseBody};
use par_http::{Error, ErrorKind};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList};

use crate::response::Response;

/// A Python exception raised by a transport handler, carried through par-http's error
/// so that `get_response()` raises it as it was (see [`crate::errors::to_py_err`]).
#[derive(Debug)]
pub(crate) struct HandlerError(pub(crate) PyErr);

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the transport handler raised {}", self.0)
    }
}

impl std::error::Error for HandlerError {}

/// A transport that calls `handler(request)` for every request and sends back the
/// `par_http.Response` it returns. An exception it raises is raised by
/// `get_response()` / `next_response()`.
///
/// ```python
/// def handler(request):
///     return par_http.Response(200, json={"path": request.url})
/// client = par_http.Client(transport=par_http.MockTransport(handler))
/// ```
#[pyclass(frozen, module = "par_http")]
#[derive(Debug)]
pub struct MockTransport {
    handler: Arc<Py<PyAny>>,
}

impl MockTransport {
    /// The dispatch a client sends through.
    pub(crate) fn dispatch(&self) -> PythonDispatch {
        PythonDispatch {
            handler: self.handler.clone(),
        }
    }
}

#[pymethods]
impl MockTransport {
    /// A transport answered by `handler(request) -> Response`.
    #[new]
    fn new(handler: Py<PyAny>) -> Self {
        Self {
            handler: Arc::new(handler),
        }
    }
}

/// The [`Dispatch`] of a [`MockTransport`].
pub(crate) struct PythonDispatch {
    handler: Arc<Py<PyAny>>,
}

impl fmt::Debug for PythonDispatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PythonDispatch").finish_non_exhaustive()
    }
}

impl Dispatch for PythonDispatch {
    fn send(&self, request: Request) -> Boxed<par_http::Result<par_http::core::Response>> {
        let handler = self.handler.clone();
        Box::pin(blocking::unblock(move || {
            let method = request.method.clone();
            let url = request.url.clone();
            let name = |err: Error| err.with_request(&method, url.as_str());
            let answer = Python::attach(|py| call(py, &handler, &request));
            match answer {
                Ok((status, headers, body)) => Ok(par_http::core::Response::new(
                    method.clone(),
                    url.clone(),
                    status,
                    headers,
                    ResponseBody::from(body),
                )),
                Err(err) => Err(name(
                    Error::new(ErrorKind::Connect).with_source(HandlerError(err)),
                )),
            }
        }))
    }
}

/// Calls the handler with a `par_http.Request` and reads the `Response` it returns.
fn call(
    py: Python<'_>,
    handler: &Py<PyAny>,
    request: &Request,
) -> PyResult<(http::StatusCode, http::HeaderMap, bytes::Bytes)> {
    static REQUEST: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let headers = PyList::empty(py);
    for (name, value) in &request.headers {
        headers.append((name.as_str(), String::from_utf8_lossy(value.as_bytes())))?;
    }
    let content = request
        .body
        .as_bytes()
        .map(|bytes| PyBytes::new(py, bytes))
        .unwrap_or_else(|| PyBytes::new(py, b""));
    let py_request = REQUEST.import(py, "par_http._models", "Request")?.call1((
        request.method.as_str(),
        request.url.as_str(),
        headers,
        content,
    ))?;
    let answer = handler.bind(py).call1((py_request,))?;
    let response = answer.cast::<Response>()?;
    Ok(response.get().parts())
}
