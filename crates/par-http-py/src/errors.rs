//! par-http's errors as httpx's exceptions (defined in `par_http/_exceptions.py`).
//!
//! Each exception carries the request it belongs to (`exc.request`, a
//! `par_http.Request` with its method and URL) and a message naming the cause chain.

use std::error::Error as _;

use par_http::{Error, ErrorKind, TimeoutPhase};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyModule};

use crate::transport::HandlerError;

/// The module holding the exception classes.
pub(crate) fn exceptions(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    MODULE
        .get_or_try_init(py, || Ok(py.import("par_http._exceptions")?.unbind()))
        .map(|module| module.bind(py))
}

/// The `par_http.Request` for `method` and `url`, or `None` when the error names none.
pub(crate) fn request_object(
    py: Python<'_>,
    method: Option<&str>,
    url: Option<&str>,
) -> PyResult<Py<PyAny>> {
    static REQUEST: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    match (method, url) {
        (Some(method), Some(url)) => Ok(REQUEST
            .import(py, "par_http._models", "Request")?
            .call1((method, url))?
            .unbind()),
        _ => Ok(py.None()),
    }
}

/// The exception class for an error of this kind (by name in `par_http._exceptions`).
fn class_name(err: &Error) -> &'static str {
    match err.kind() {
        ErrorKind::InvalidUrl => "InvalidURL",
        ErrorKind::InvalidRequest => "LocalProtocolError",
        ErrorKind::Connect | ErrorKind::Tls | ErrorKind::TlsConfig => "ConnectError",
        ErrorKind::Timeout(TimeoutPhase::Connect) => "ConnectTimeout",
        ErrorKind::Timeout(TimeoutPhase::Head | TimeoutPhase::Body) => "ReadTimeout",
        ErrorKind::Timeout(TimeoutPhase::ScopeDeadline) => "ScopeDeadlineExceeded",
        ErrorKind::Timeout(_) => "TimeoutException",
        ErrorKind::Protocol | ErrorKind::Limit => "RemoteProtocolError",
        ErrorKind::Io | ErrorKind::Body => "ReadError",
        ErrorKind::Status(_) => "HTTPStatusError",
        ErrorKind::Cancelled => "RequestCancelled",
        ErrorKind::NoPending => "NoPendingResponses",
        ErrorKind::AlreadyCollected => "AlreadyCollected",
        ErrorKind::Redirect => "TooManyRedirects",
        ErrorKind::Decode | ErrorKind::Decompress => "DecodingError",
        ErrorKind::Stalled => "Stalled",
        _ => "TransportError",
    }
}

/// The message: the error and each of its causes, `: `-separated.
fn message(err: &Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// Converts a par-http error into its Python exception (a transport handler's own
/// exception is raised as it was).
pub(crate) fn to_py_err(py: Python<'_>, err: &Error) -> PyErr {
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(HandlerError(raised)) = cause.downcast_ref::<HandlerError>() {
            return raised.clone_ref(py);
        }
        source = cause.source();
    }
    match build(py, err) {
        Ok(exception) => PyErr::from_value(exception),
        Err(failed) => failed,
    }
}

fn build<'py>(py: Python<'py>, err: &Error) -> PyResult<Bound<'py, PyAny>> {
    let class = exceptions(py)?.getattr(class_name(err))?;
    let method = err.method().map(|m| m.as_str());
    let request = request_object(py, method, err.url())?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("request", request)?;
    class.call((message(err),), Some(&kwargs))
}

/// A par_http exception of class `name` with `message`, naming no request.
pub(crate) fn new_err(py: Python<'_>, name: &str, message: &str) -> PyErr {
    match exceptions(py).and_then(|module| module.getattr(name)?.call1((message,))) {
        Ok(exception) => PyErr::from_value(exception),
        Err(failed) => failed,
    }
}
