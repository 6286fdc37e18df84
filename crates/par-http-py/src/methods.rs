//! The request methods a scope offers (`get`, `post`, ..., `request`), written once for
//! the blocking and the async scope: each calls the scope's own `start`.

/// Implements `#[pymethods]` for a scope type `$ty` whose `start(py, method, url, args)`
/// returns `$ret`, with the scope's other methods (`$extra`) in the same block.
macro_rules! scope_methods {
    ($ty:ident -> $ret:ty { $($extra:tt)* }) => {
        #[pyo3::pymethods]
        impl $ty {
            /// Starts a `GET` and returns its pending handle at once. It never raises: any
            /// error is raised when the response is collected.
            #[pyo3(signature = (url, *, params = None, headers = None, auth = None, timeout = None))]
            fn get<'py>(
                &self,
                py: Python<'py>,
                url: &str,
                params: Option<&Bound<'py, PyAny>>,
                headers: Option<&Bound<'py, PyAny>>,
                auth: Option<&Bound<'py, PyAny>>,
                timeout: Option<&Bound<'py, PyAny>>,
            ) -> PyResult<$ret> {
                let args = Args { params, headers, auth, timeout, ..Args::default() };
                self.start(py, "GET", url, &args)
            }

            /// Starts a `HEAD`; see `get`.
            #[pyo3(signature = (url, *, params = None, headers = None, auth = None, timeout = None))]
            fn head<'py>(
                &self,
                py: Python<'py>,
                url: &str,
                params: Option<&Bound<'py, PyAny>>,
                headers: Option<&Bound<'py, PyAny>>,
                auth: Option<&Bound<'py, PyAny>>,
                timeout: Option<&Bound<'py, PyAny>>,
            ) -> PyResult<$ret> {
                let args = Args { params, headers, auth, timeout, ..Args::default() };
                self.start(py, "HEAD", url, &args)
            }

            /// Starts a `DELETE`; see `get`.
            #[pyo3(signature = (url, *, params = None, headers = None, auth = None, timeout = None))]
            fn delete<'py>(
                &self,
                py: Python<'py>,
                url: &str,
                params: Option<&Bound<'py, PyAny>>,
                headers: Option<&Bound<'py, PyAny>>,
                auth: Option<&Bound<'py, PyAny>>,
                timeout: Option<&Bound<'py, PyAny>>,
            ) -> PyResult<$ret> {
                let args = Args { params, headers, auth, timeout, ..Args::default() };
                self.start(py, "DELETE", url, &args)
            }

            /// Starts a `POST` with `content` (bytes or str), `data` (a form) or `json`;
            /// see `get`.
            #[pyo3(signature = (
                url, *, content = None, data = None, json = None, params = None,
                headers = None, auth = None, timeout = None,
            ))]
            #[allow(clippy::too_many_arguments)] // httpx's keyword arguments.
            fn post<'py>(
                &self,
                py: Python<'py>,
                url: &str,
                content: Option<&Bound<'py, PyAny>>,
                data: Option<&Bound<'py, PyAny>>,
                json: Option<&Bound<'py, PyAny>>,
                params: Option<&Bound<'py, PyAny>>,
                headers: Option<&Bound<'py, PyAny>>,
                auth: Option<&Bound<'py, PyAny>>,
                timeout: Option<&Bound<'py, PyAny>>,
            ) -> PyResult<$ret> {
                let args = Args { params, headers, content, data, json, auth, timeout };
                self.start(py, "POST", url, &args)
            }

            /// Starts a `PUT`; see `post`.
            #[pyo3(signature = (
                url, *, content = None, data = None, json = None, params = None,
                headers = None, auth = None, timeout = None,
            ))]
            #[allow(clippy::too_many_arguments)] // httpx's keyword arguments.
            fn put<'py>(
                &self,
                py: Python<'py>,
                url: &str,
                content: Option<&Bound<'py, PyAny>>,
                data: Option<&Bound<'py, PyAny>>,
                json: Option<&Bound<'py, PyAny>>,
                params: Option<&Bound<'py, PyAny>>,
                headers: Option<&Bound<'py, PyAny>>,
                auth: Option<&Bound<'py, PyAny>>,
                timeout: Option<&Bound<'py, PyAny>>,
            ) -> PyResult<$ret> {
                let args = Args { params, headers, content, data, json, auth, timeout };
                self.start(py, "PUT", url, &args)
            }

            /// Starts a `PATCH`; see `post`.
            #[pyo3(signature = (
                url, *, content = None, data = None, json = None, params = None,
                headers = None, auth = None, timeout = None,
            ))]
            #[allow(clippy::too_many_arguments)] // httpx's keyword arguments.
            fn patch<'py>(
                &self,
                py: Python<'py>,
                url: &str,
                content: Option<&Bound<'py, PyAny>>,
                data: Option<&Bound<'py, PyAny>>,
                json: Option<&Bound<'py, PyAny>>,
                params: Option<&Bound<'py, PyAny>>,
                headers: Option<&Bound<'py, PyAny>>,
                auth: Option<&Bound<'py, PyAny>>,
                timeout: Option<&Bound<'py, PyAny>>,
            ) -> PyResult<$ret> {
                let args = Args { params, headers, content, data, json, auth, timeout };
                self.start(py, "PATCH", url, &args)
            }

            /// Starts a request with any method; see `post`.
            #[pyo3(signature = (
                method, url, *, content = None, data = None, json = None, params = None,
                headers = None, auth = None, timeout = None,
            ))]
            #[allow(clippy::too_many_arguments)] // httpx's keyword arguments.
            fn request<'py>(
                &self,
                py: Python<'py>,
                method: &str,
                url: &str,
                content: Option<&Bound<'py, PyAny>>,
                data: Option<&Bound<'py, PyAny>>,
                json: Option<&Bound<'py, PyAny>>,
                params: Option<&Bound<'py, PyAny>>,
                headers: Option<&Bound<'py, PyAny>>,
                auth: Option<&Bound<'py, PyAny>>,
                timeout: Option<&Bound<'py, PyAny>>,
            ) -> PyResult<$ret> {
                let args = Args { params, headers, content, data, json, auth, timeout };
                self.start(py, method, url, &args)
            }

            $($extra)*
        }
    };
}
