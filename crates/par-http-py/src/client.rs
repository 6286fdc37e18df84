//! `Client(...)`: configuration shared by every request of its scopes, and how the
//! arguments of a Python call (`params`, `headers`, `content`, `data`, `json`, `auth`,
//! `timeout`) become a par-http request.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method};
use par_http::core::{Config, RequestBuilder, ScopeOptions};
use par_http::{Error, ErrorKind, RedirectPolicy};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyMapping, PyString};

use crate::ledger::Name;
use crate::runtime::runtime;
use crate::scope::Parallel;

/// What a client's scopes share: the core client (pool, configuration, transport) and
/// the base URL (joined httpx's way, see [`ClientInner::url`]).
#[derive(Debug)]
pub(crate) struct ClientInner {
    pub(crate) core: par_http::core::Client,
    base_url: Option<String>,
}

impl ClientInner {
    /// `url` joined to the base URL as httpx joins them: a relative URL is appended to
    /// the base's path (`base_url="http://h/api"`, `"/users"` -> `http://h/api/users`).
    pub(crate) fn url(&self, url: &str) -> String {
        match &self.base_url {
            Some(base) if !url.contains("://") => {
                let path = url.trim_start_matches('/');
                if path.is_empty() {
                    base.clone()
                } else {
                    format!("{}/{}", base.trim_end_matches('/'), path)
                }
            }
            _ => url.to_owned(),
        }
    }

    /// Starts building a request: every argument error becomes the request's outcome, to
    /// be raised when it is collected, never here.
    pub(crate) fn request(
        &self,
        py: Python<'_>,
        method: &str,
        url: &str,
        args: &Args<'_, '_>,
    ) -> (RequestBuilder, Name) {
        let url = self.url(url);
        let method = match Method::from_bytes(method.to_ascii_uppercase().as_bytes()) {
            Ok(method) => method,
            Err(err) => {
                let builder = RequestBuilder::from_error(
                    Error::new(ErrorKind::InvalidRequest)
                        .with_source(err)
                        .with_request(&Method::GET, &url),
                );
                let name = Name {
                    method: Method::GET,
                    url,
                };
                return (builder, name);
            }
        };
        let builder = self.core.request(method.clone(), url.as_str());
        let builder = match args.apply(py, builder) {
            Ok(builder) => builder,
            Err(err) => RequestBuilder::from_error(
                Error::new(ErrorKind::InvalidRequest)
                    .with_source(err.to_string())
                    .with_request(&method, &url),
            ),
        };
        (builder, Name { method, url })
    }
}

/// The optional arguments of a request method.
#[derive(Debug, Default)]
pub(crate) struct Args<'a, 'py> {
    pub(crate) params: Option<&'a Bound<'py, PyAny>>,
    pub(crate) headers: Option<&'a Bound<'py, PyAny>>,
    pub(crate) content: Option<&'a Bound<'py, PyAny>>,
    pub(crate) data: Option<&'a Bound<'py, PyAny>>,
    pub(crate) json: Option<&'a Bound<'py, PyAny>>,
    pub(crate) auth: Option<&'a Bound<'py, PyAny>>,
    pub(crate) timeout: Option<&'a Bound<'py, PyAny>>,
}

impl Args<'_, '_> {
    fn apply(&self, py: Python<'_>, mut builder: RequestBuilder) -> PyResult<RequestBuilder> {
        if let Some(params) = self.params {
            builder = builder.query(string_pairs(params)?);
        }
        if let Some(headers) = self.headers {
            builder = builder.headers(header_map(headers)?);
        }
        if let Some(auth) = self.auth {
            builder = match Auth::extract(auth)? {
                Auth::Basic(user, password) => builder.basic_auth(user, password),
                Auth::Bearer(token) => builder.bearer_auth(token),
            };
        }
        if let Some(timeout) = self.timeout.filter(|t| !t.is_none()) {
            builder = builder.timeout(seconds(timeout.extract()?)?);
        }
        if let Some(json) = self.json {
            builder = builder.body(json_dumps(py, json)?).map(|mut request| {
                request
                    .headers
                    .entry(http::header::CONTENT_TYPE)
                    .or_insert(HeaderValue::from_static("application/json"));
                Ok(request)
            });
        } else if let Some(data) = self.data {
            builder = builder.form(string_pairs(data)?);
        } else if let Some(content) = self.content {
            builder = builder.body(bytes_of(content)?);
        }
        Ok(builder)
    }
}

/// `auth=`: a `(user, password)` tuple (Basic) or a str (a bearer token).
enum Auth {
    Basic(String, Option<String>),
    Bearer(String),
}

impl Auth {
    fn extract(auth: &Bound<'_, PyAny>) -> PyResult<Self> {
        if let Ok(token) = auth.extract::<String>() {
            return Ok(Self::Bearer(token));
        }
        match auth.extract::<(String, Option<String>)>() {
            Ok((user, password)) => Ok(Self::Basic(user, password)),
            Err(_) => Err(PyTypeError::new_err(
                "auth must be a (user, password) tuple or a bearer token str",
            )),
        }
    }
}

/// A positive, finite number of seconds.
fn seconds(value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| PyValueError::new_err(format!("invalid timeout: {value} seconds")))
}

/// `(key, value)` pairs from a mapping or a sequence of pairs; values go through `str()`
/// (booleans as `true`/`false`, as httpx sends them).
fn string_pairs(value: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    let items = match value.cast::<PyMapping>() {
        Ok(mapping) => mapping.items()?.into_any(),
        Err(_) => value.clone(),
    };
    let mut pairs = Vec::new();
    for item in items.try_iter()? {
        let (key, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
        let key = key.str()?.to_string();
        if let Ok(list) = value.cast::<pyo3::types::PyList>() {
            for value in list.iter() {
                pairs.push((key.clone(), param_str(&value)?));
            }
        } else {
            pairs.push((key, param_str(&value)?));
        }
    }
    Ok(pairs)
}

fn param_str(value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(flag) = value.cast::<pyo3::types::PyBool>() {
        return Ok(if flag.is_true() { "true" } else { "false" }.to_owned());
    }
    if value.is_none() {
        return Ok(String::new());
    }
    Ok(value.str()?.to_string())
}

/// A header map from a mapping, a sequence of pairs or a `par_http.Headers`.
pub(crate) fn header_map(value: &Bound<'_, PyAny>) -> PyResult<HeaderMap> {
    let value = if value.hasattr("raw_items")? {
        value.call_method0("raw_items")?
    } else {
        value.clone()
    };
    let mut map = HeaderMap::new();
    for (name, value) in string_pairs(&value)? {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|err| PyValueError::new_err(format!("invalid header name {name:?}: {err}")))?;
        let value = HeaderValue::from_str(&value).map_err(|err| {
            PyValueError::new_err(format!("invalid value for header {name}: {err}"))
        })?;
        map.append(name, value);
    }
    Ok(map)
}

/// `json.dumps(value)` as UTF-8 bytes (compact, as httpx sends it).
pub(crate) fn json_dumps(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let kwargs = pyo3::types::PyDict::new(py);
    kwargs.set_item("separators", (",", ":"))?;
    kwargs.set_item("ensure_ascii", false)?;
    let text = DUMPS
        .import(py, "json", "dumps")?
        .call((value,), Some(&kwargs))?;
    Ok(Bytes::from(text.extract::<String>()?))
}

/// A body from bytes, bytearray, memoryview or str (UTF-8).
pub(crate) fn bytes_of(value: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Ok(Bytes::copy_from_slice(bytes.as_bytes()));
    }
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(Bytes::from(text.to_cow()?.into_owned()));
    }
    match value.extract::<Vec<u8>>() {
        Ok(bytes) => Ok(Bytes::from(bytes)),
        Err(_) => Err(PyTypeError::new_err("content must be bytes or str")),
    }
}

/// Optional float attribute `name` of `obj` (a `Timeout` or `Limits`), as a duration.
fn duration_attr(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Option<Duration>> {
    match obj.getattr(name) {
        Ok(value) if !value.is_none() => Ok(Some(seconds(value.extract()?)?)),
        _ => Ok(None),
    }
}

/// A client: the configuration that every request of its scopes uses (auth, headers,
/// base URL, timeouts, redirects, limits, TLS and transport) and a connection pool.
///
/// ```python
/// client = par_http.Client(auth=("user", "pass"), headers={"x-team": "search"}, timeout=10.0)
/// with client.parallel() as parallel:
///     ...
/// ```
///
/// Thread-safe: several threads may use one client, and its scopes, at once.
#[pyclass(frozen, module = "par_http")]
#[derive(Debug)]
pub struct Client {
    inner: Arc<ClientInner>,
}

#[pymethods]
impl Client {
    /// A client.
    ///
    /// * `auth`: `(user, password)` for Basic auth, or a str bearer token.
    /// * `headers`: default header fields (a dict, pairs or `Headers`).
    /// * `base_url`: relative request URLs are appended to it.
    /// * `timeout`: seconds (connect and read), a `Timeout`, or None for no limit;
    ///   5 seconds by default, as httpx.
    /// * `follow_redirects` (default False, as httpx) and `max_redirects` (default 20).
    /// * `limits`: a `Limits` (connections per host, keep-alive).
    /// * `verify`: False turns TLS verification off; a str names a CA bundle (PEM file)
    ///   to trust in addition to the built-in roots.
    /// * `cert`: `(cert_file, key_file)` for client authentication (mutual TLS).
    /// * `transport`: a `MockTransport` in place of the network.
    /// * `trust_env`, `http1`, `http2`: accepted for httpx compatibility (no effect).
    #[new]
    #[pyo3(signature = (
        *, auth = None, headers = None, base_url = None, timeout = None,
        follow_redirects = false, max_redirects = 20, limits = None, verify = None,
        cert = None, transport = None, trust_env = true, http1 = true, http2 = false,
    ))]
    #[allow(clippy::too_many_arguments)] // httpx's keyword arguments, one by one.
    fn new(
        auth: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        base_url: Option<String>,
        timeout: Option<&Bound<'_, PyAny>>,
        follow_redirects: bool,
        max_redirects: usize,
        limits: Option<&Bound<'_, PyAny>>,
        verify: Option<&Bound<'_, PyAny>>,
        cert: Option<(String, String)>,
        transport: Option<&Bound<'_, crate::transport::MockTransport>>,
        trust_env: bool,
        http1: bool,
        http2: bool,
    ) -> PyResult<Self> {
        let _ = (trust_env, http1, http2);
        let mut config = Config::default();
        if let Some(auth) = auth.filter(|a| !a.is_none()) {
            config.authorization = Some(match Auth::extract(auth)? {
                Auth::Basic(user, password) => {
                    par_http::core::basic_auth_header(&user, password.as_deref())
                }
                Auth::Bearer(token) => par_http::core::bearer_auth_header(&token)
                    .map_err(|err| PyValueError::new_err(err.to_string()))?,
            });
        }
        if let Some(headers) = headers {
            for (name, value) in &header_map(headers)? {
                config.default_headers.insert(name.clone(), value.clone());
            }
        }
        match timeout {
            // The default, as httpx: 5 seconds to connect and between two bytes.
            None => {
                config.connect_timeout = Some(Duration::from_secs(5));
                config.read_timeout = Some(Duration::from_secs(5));
            }
            Some(timeout) if timeout.is_none() => {
                config.connect_timeout = None;
                config.read_timeout = None;
            }
            Some(timeout) => match timeout.extract::<f64>() {
                Ok(secs) => {
                    config.connect_timeout = Some(seconds(secs)?);
                    config.read_timeout = Some(seconds(secs)?);
                }
                Err(_) => {
                    config.connect_timeout = duration_attr(timeout, "connect")?;
                    config.read_timeout = duration_attr(timeout, "read")?;
                    config.timeout = duration_attr(timeout, "total")?;
                }
            },
        }
        config.redirect = if follow_redirects {
            RedirectPolicy::limited(max_redirects)
        } else {
            RedirectPolicy::none()
        };
        if let Some(limits) = limits {
            if let Some(max) = limits
                .getattr("max_connections")?
                .extract::<Option<usize>>()?
            {
                config.max_connections_per_host = max.max(1);
                config.max_idle_per_host = config
                    .max_connections_per_host
                    .max(par_http::core::DEFAULT_MAX_IDLE_PER_HOST);
            }
            if let Some(max) = limits
                .getattr("max_keepalive_connections")?
                .extract::<Option<usize>>()?
            {
                config.max_idle_per_host = max;
            }
            if let Some(expiry) = duration_attr(limits, "keepalive_expiry")? {
                config.idle_timeout = expiry;
            }
        }
        if let Some(verify) = verify.filter(|v| !v.is_none()) {
            if let Ok(verify) = verify.extract::<bool>() {
                config.tls.danger_accept_invalid_certs = !verify;
            } else {
                let path: std::path::PathBuf = verify.extract()?;
                let pem = std::fs::read(&path).map_err(|err| {
                    PyValueError::new_err(format!("cannot read {}: {err}", path.display()))
                })?;
                config
                    .tls
                    .add_root_certificate_pem(&pem)
                    .map_err(|err| PyValueError::new_err(err.to_string()))?;
            }
        }
        if let Some((cert, key)) = cert {
            let read = |path: &str| {
                std::fs::read(path)
                    .map_err(|err| PyValueError::new_err(format!("cannot read {path}: {err}")))
            };
            config
                .tls
                .set_identity_pem(&read(&cert)?, &read(&key)?)
                .map_err(|err| PyValueError::new_err(err.to_string()))?;
        }
        let runtime = runtime()?;
        let core = match transport {
            Some(transport) => par_http::core::Client::with_dispatch(
                runtime,
                Arc::new(transport.get().dispatch()),
                config,
            ),
            None => par_http::core::Client::new(runtime, config),
        };
        let base_url = base_url.filter(|url| !url.is_empty());
        Ok(Self {
            inner: Arc::new(ClientInner { core, base_url }),
        })
    }

    /// Opens a parallel scope on this client, a context manager: `with
    /// client.parallel() as parallel:` (blocking) or `async with client.parallel() as
    /// parallel:` (asyncio).
    ///
    /// * `max_in_flight`: at most this many requests run at once; the others wait in
    ///   line (backpressure, not an error).
    /// * `deadline`: seconds for the whole block; requests still running then fail
    ///   with `ScopeDeadlineExceeded`.
    #[pyo3(signature = (*, max_in_flight = None, deadline = None))]
    fn parallel(&self, max_in_flight: Option<usize>, deadline: Option<f64>) -> PyResult<Parallel> {
        Ok(Parallel::new(
            self.inner.clone(),
            ScopeSettings::new(max_in_flight, deadline)?,
        ))
    }

    /// Does nothing: the connection pool is released when the client is garbage
    /// collected (kept for httpx compatibility).
    fn close(&self) {}

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, _exc: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        false
    }

    fn __repr__(&self) -> String {
        match &self.inner.base_url {
            Some(base) => format!("<par_http.Client base_url={base:?}>"),
            None => "<par_http.Client>".to_owned(),
        }
    }
}

/// The settings of a scope, given to `parallel(...)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScopeSettings {
    max_in_flight: Option<usize>,
    deadline: Option<Duration>,
}

impl ScopeSettings {
    fn new(max_in_flight: Option<usize>, deadline: Option<f64>) -> PyResult<Self> {
        Ok(Self {
            max_in_flight: max_in_flight.map(|limit| limit.max(1)),
            deadline: deadline.map(seconds).transpose()?,
        })
    }

    /// The core scope's options.
    pub(crate) fn options(self) -> ScopeOptions {
        let mut options = ScopeOptions::new();
        if let Some(limit) = self.max_in_flight {
            options = options.max_in_flight(limit);
        }
        if let Some(deadline) = self.deadline {
            options = options.deadline(deadline);
        }
        options
    }
}

/// Opens a parallel scope on a default client shared by the whole process (httpx's
/// defaults: a 5-second timeout, no redirects followed): `with par_http.parallel() as
/// parallel:` or `async with par_http.parallel() as parallel:`.
#[pyfunction]
#[pyo3(signature = (*, max_in_flight = None, deadline = None))]
pub(crate) fn parallel(
    py: Python<'_>,
    max_in_flight: Option<usize>,
    deadline: Option<f64>,
) -> PyResult<Parallel> {
    static DEFAULT: PyOnceLock<Py<Client>> = PyOnceLock::new();
    let client = DEFAULT.get_or_try_init(py, || {
        Py::new(
            py,
            Client::new(
                None, None, None, None, false, 20, None, None, None, None, true, true, false,
            )?,
        )
    })?;
    client.get().parallel(max_in_flight, deadline)
}
