//! `Response`: a response with its body read, as httpx's non-streaming responses are.

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Version};
use par_http::Url;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::errors::{exceptions, request_object};

/// What a collected response holds: its head and its whole body.
#[derive(Debug)]
pub(crate) struct ResponseData {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) url: Option<Url>,
    pub(crate) method: Method,
    pub(crate) body: Bytes,
    pub(crate) index: Option<usize>,
}

impl ResponseData {
    /// Reads the whole body of `response` (its first MiB is usually read already, in the
    /// background).
    pub(crate) async fn collect(response: par_http::core::Response) -> par_http::Result<Self> {
        let status = response.status();
        let version = response.version();
        let headers = response.headers().clone();
        let url = Some(response.url().clone());
        let method = response.method().clone();
        let index = response.index();
        let body = response.bytes().await?;
        Ok(Self {
            status,
            version,
            headers,
            url,
            method,
            body,
            index,
        })
    }

    /// Converts into a Python `Response`.
    pub(crate) fn into_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(Py::new(py, Response::from_data(self))?.into_any())
    }
}

/// An HTTP response, with its body read (as httpx's `Response`).
///
/// `status_code`, `headers` (case-insensitive), `content` (bytes), `text`, `json()`,
/// `url`, `http_version` and `raise_for_status()`, as in httpx. It can also be built by
/// hand, for a `MockTransport` handler: `Response(200, json={"ok": True})`.
#[pyclass(frozen, module = "par_http")]
pub struct Response {
    data: ResponseData,
    headers: PyOnceLock<Py<PyAny>>,
    content: PyOnceLock<Py<PyBytes>>,
}

impl Response {
    pub(crate) fn from_data(data: ResponseData) -> Self {
        Self {
            data,
            headers: PyOnceLock::new(),
            content: PyOnceLock::new(),
        }
    }

    /// The parts a mock transport sends back.
    pub(crate) fn parts(&self) -> (StatusCode, HeaderMap, Bytes) {
        (
            self.data.status,
            self.data.headers.clone(),
            self.data.body.clone(),
        )
    }

    /// The charset of `Content-Type`, if any.
    fn charset(&self) -> Option<String> {
        let content_type = self.data.headers.get(http::header::CONTENT_TYPE)?;
        let content_type = content_type.to_str().ok()?;
        content_type.split(';').skip(1).find_map(|param| {
            let (name, value) = param.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("charset")
                .then(|| value.trim().trim_matches('"').to_ascii_lowercase())
        })
    }
}

/// Decodes a header value as Latin-1 (every byte is a character), as httpx does.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

#[pymethods]
impl Response {
    /// A response made by hand (for a `MockTransport` handler).
    ///
    /// `content` (bytes or str), `text` or `json` sets the body; `json` and `text` also
    /// set `Content-Type` unless `headers` has one.
    #[new]
    #[pyo3(signature = (status_code, *, headers = None, content = None, text = None, json = None))]
    fn new(
        py: Python<'_>,
        status_code: u16,
        headers: Option<&Bound<'_, PyAny>>,
        content: Option<&Bound<'_, PyAny>>,
        text: Option<String>,
        json: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let status = StatusCode::from_u16(status_code)
            .map_err(|err| PyValueError::new_err(format!("invalid status code: {err}")))?;
        let mut map = match headers {
            Some(headers) => crate::client::header_map(headers)?,
            None => HeaderMap::new(),
        };
        let (body, content_type) = if let Some(json) = json {
            (
                crate::client::json_dumps(py, json)?,
                Some("application/json"),
            )
        } else if let Some(text) = text {
            (Bytes::from(text), Some("text/plain; charset=utf-8"))
        } else if let Some(content) = content {
            (crate::client::bytes_of(content)?, None)
        } else {
            (Bytes::new(), None)
        };
        if let Some(content_type) = content_type {
            map.entry(http::header::CONTENT_TYPE)
                .or_insert(http::HeaderValue::from_static(content_type));
        }
        Ok(Self::from_data(ResponseData {
            status,
            version: Version::HTTP_11,
            headers: map,
            url: None,
            method: Method::GET,
            body,
            index: None,
        }))
    }

    /// The status code, an int (`200`).
    #[getter]
    fn status_code(&self) -> u16 {
        self.data.status.as_u16()
    }

    /// The reason phrase of the status (`"OK"`, `"Not Found"`).
    #[getter]
    fn reason_phrase(&self) -> &'static str {
        self.data.status.canonical_reason().unwrap_or("")
    }

    /// The HTTP version, `"HTTP/1.1"` or `"HTTP/1.0"`.
    #[getter]
    fn http_version(&self) -> String {
        format!("{:?}", self.data.version)
    }

    /// The header fields, a case-insensitive `par_http.Headers`.
    #[getter]
    fn headers(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        static HEADERS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        self.headers
            .get_or_try_init(py, || {
                let pairs = PyList::empty(py);
                for (name, value) in &self.data.headers {
                    pairs.append((name.as_str(), latin1(value.as_bytes())))?;
                }
                Ok(HEADERS
                    .import(py, "par_http._models", "Headers")?
                    .call1((pairs,))?
                    .unbind())
            })
            .map(|headers| headers.clone_ref(py))
    }

    /// The body, as bytes (decompressed when it was sent gzip- or deflate-encoded).
    #[getter]
    fn content(&self, py: Python<'_>) -> Py<PyBytes> {
        self.content
            .get_or_init(py, || PyBytes::new(py, &self.data.body).unbind())
            .clone_ref(py)
    }

    /// The charset the text is decoded with: `Content-Type`'s, else `"utf-8"`.
    #[getter]
    fn encoding(&self) -> String {
        self.charset().unwrap_or_else(|| "utf-8".to_owned())
    }

    /// The body decoded as text (see `encoding`; invalid bytes are replaced).
    #[getter]
    fn text(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.charset() {
            Some(charset) if !matches!(charset.as_str(), "utf-8" | "utf8") => {
                let content = self.content(py);
                match content
                    .bind(py)
                    .call_method1("decode", (charset, "replace"))
                {
                    Ok(text) => Ok(text.unbind()),
                    // An unknown charset: read as UTF-8.
                    Err(_) => Ok(String::from_utf8_lossy(&self.data.body)
                        .into_pyobject(py)?
                        .into_any()
                        .unbind()),
                }
            }
            _ => Ok(String::from_utf8_lossy(&self.data.body)
                .into_pyobject(py)?
                .into_any()
                .unbind()),
        }
    }

    /// The body parsed as JSON (with `json.loads`).
    fn json(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let content = self.content(py);
        Ok(LOADS
            .import(py, "json", "loads")?
            .call1((content,))?
            .unbind())
    }

    /// The URL of the response (the last one, after redirects), as a str.
    #[getter]
    fn url(&self) -> Option<String> {
        self.data.url.as_ref().map(|url| url.as_str().to_owned())
    }

    /// The request this response answers (method and URL).
    #[getter]
    fn request(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        request_object(py, Some(self.data.method.as_str()), self.url().as_deref())
    }

    /// The start index of the request in its scope (0, 1, ... in start order).
    #[getter]
    fn index(&self) -> Option<usize> {
        self.data.index
    }

    /// True for a 2xx status.
    #[getter]
    fn is_success(&self) -> bool {
        self.data.status.is_success()
    }

    /// True for a 3xx status.
    #[getter]
    fn is_redirect(&self) -> bool {
        self.data.status.is_redirection()
    }

    /// True for a 4xx status.
    #[getter]
    fn is_client_error(&self) -> bool {
        self.data.status.is_client_error()
    }

    /// True for a 5xx status.
    #[getter]
    fn is_server_error(&self) -> bool {
        self.data.status.is_server_error()
    }

    /// True for a 4xx or 5xx status.
    #[getter]
    fn is_error(&self) -> bool {
        self.is_client_error() || self.is_server_error()
    }

    /// Raises `HTTPStatusError` for a 4xx or 5xx status; returns the response otherwise.
    fn raise_for_status(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        let py = slf.py();
        let this = slf.get();
        let kind = if this.is_client_error() {
            "Client error"
        } else if this.is_server_error() {
            "Server error"
        } else {
            return Ok(slf);
        };
        let message = format!(
            "{kind} '{} {}' for url '{}'",
            this.data.status.as_u16(),
            this.reason_phrase(),
            this.url().unwrap_or_default()
        );
        let kwargs = PyDict::new(py);
        kwargs.set_item("request", this.request(py)?)?;
        kwargs.set_item("response", &slf)?;
        let exception = exceptions(py)?
            .getattr("HTTPStatusError")?
            .call((message,), Some(&kwargs))?;
        Err(PyErr::from_value(exception))
    }

    fn __repr__(&self) -> String {
        format!(
            "<Response [{} {}]>",
            self.data.status.as_u16(),
            self.reason_phrase()
        )
    }
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.data.status)
            .field("url", &self.data.url)
            .finish_non_exhaustive()
    }
}
