//! A ready-made [`Dispatch`] for testing code that uses par-http without a server.
//!
//! [`MockDispatch`] replaces the network: plug it into a client with
//! [`ClientBuilder::dispatch`](crate::ClientBuilder::dispatch) (blocking or async) and every
//! request of that client, one-off or inside `parallel`, is answered from its routes and
//! recorded for assertions. The mock sits where the network would: it sees each request
//! after the client's policy has applied (default headers, user agent, auth and the auth
//! hook, base URL, query) and each hop of a redirect separately, so what it records is what
//! a server would have received. Only the framing fields the connector writes itself
//! (`Host`, `Content-Length`, `Transfer-Encoding`) are not among the recorded headers.
//!
//! Routes are tried in the order they were added; the first that matches answers. A request
//! that no route matches gets an empty **404 Not Found** (and is recorded too).
//!
//! # Examples
//!
//! ```
//! use par_http::mock::{MockDispatch, MockResponse};
//! use par_http::{Method, StatusCode};
//!
//! let mock = MockDispatch::new()
//!     .route(Method::GET, "/users/1", MockResponse::text("ann"))
//!     .route(Method::GET, "/old", MockResponse::redirect(StatusCode::FOUND, "/users/1"));
//! let client = par_http::Client::builder()
//!     .dispatch(mock.clone())
//!     .base_url("http://api.test/")
//!     .bearer_auth("t0k3n")
//!     .build()?;
//!
//! let (user, moved, missing) = client.parallel(|p| {
//!     let user = p.get("users/1");
//!     let moved = p.get("old");
//!     let missing = p.get("nothing");
//!     Ok((user.get_response()?.text()?, moved.get_response()?, missing.get_response()?))
//! })?;
//! assert_eq!(user, "ann");
//! assert_eq!(moved.url().as_str(), "http://api.test/users/1");
//! assert_eq!(missing.status(), StatusCode::NOT_FOUND);
//!
//! let seen = mock.requests();
//! assert_eq!(seen.len(), 4); // the redirect is two requests
//! assert!(seen.iter().all(|r| r.header("authorization") == Some("Bearer t0k3n")));
//! # Ok::<(), par_http::Error>(())
//! ```

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures_lite::io::AsyncReadExt;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use par_http_core::url::Position;
use par_http_core::{Boxed, Dispatch, Error, ErrorKind, Request, Response, Result, Url};

/// A [`Dispatch`] that answers from routes and records every request it gets.
///
/// Cheap to clone: clones share routes and records, so keep one clone for assertions
/// and give another to the client. See the [module documentation](self) for an example.
#[derive(Clone, Default)]
pub struct MockDispatch {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    routes: Mutex<Vec<Route>>,
    requests: Mutex<Vec<RecordedRequest>>,
}

type RouteFn = dyn Fn(&RecordedRequest) -> Option<MockResponse> + Send + Sync + 'static;

enum Route {
    /// A method and a path (or, when the pattern is an absolute URL, the URL up to its
    /// path), with a canned answer.
    Fixed {
        method: Method,
        pattern: String,
        response: MockResponse,
    },
    /// A closure that answers the requests it wants.
    Dynamic(Box<RouteFn>),
}

impl Route {
    fn answer(&self, request: &RecordedRequest) -> Option<MockResponse> {
        match self {
            Self::Fixed {
                method,
                pattern,
                response,
            } => {
                let target = if pattern.contains("://") {
                    &request.url[..Position::AfterPath]
                } else {
                    request.url.path()
                };
                (*method == request.method && target == pattern).then(|| response.clone())
            }
            Self::Dynamic(answer) => answer(request),
        }
    }
}

impl MockDispatch {
    /// A mock with no routes: every request gets a 404 until routes are added.
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers `method` requests for `path` with `response`, every time.
    ///
    /// `path` is matched against the URL's path, without the query (`"/users/1"`). A
    /// `path` that is an absolute URL (`"http://other.test:8080/x"`) is matched against
    /// the scheme, host, port and path instead, to tell origins apart.
    pub fn route(self, method: Method, path: impl Into<String>, response: MockResponse) -> Self {
        self.push(Route::Fixed {
            method,
            pattern: path.into(),
            response,
        });
        self
    }

    /// Lets `answer` answer requests: it returns a response for the requests it wants and
    /// `None` for the others, which go on to the next route.
    ///
    /// # Examples
    ///
    /// ```
    /// use par_http::mock::{MockDispatch, MockResponse};
    ///
    /// let echo = MockDispatch::new().route_fn(|request| {
    ///     (request.url.path() == "/echo").then(|| MockResponse::text(request.body.clone()))
    /// });
    /// ```
    pub fn route_fn(
        self,
        answer: impl Fn(&RecordedRequest) -> Option<MockResponse> + Send + Sync + 'static,
    ) -> Self {
        self.push(Route::Dynamic(Box::new(answer)));
        self
    }

    fn push(&self, route: Route) {
        let mut routes = self
            .inner
            .routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        routes.push(route);
    }

    /// Every request received so far, in the order they reached the mock.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forgets the requests received so far (the routes stay).
    pub fn clear_requests(&self) {
        self.inner
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    fn answer(&self, request: &RecordedRequest) -> MockResponse {
        let routes = self
            .inner
            .routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        routes
            .iter()
            .find_map(|route| route.answer(request))
            .unwrap_or_else(|| MockResponse::new(StatusCode::NOT_FOUND))
    }
}

impl Dispatch for MockDispatch {
    fn send(&self, request: Request) -> Boxed<Result<Response>> {
        let mock = self.clone();
        Box::pin(async move {
            let (method, url) = (request.method.clone(), request.url.clone());
            let mut body = Vec::new();
            request
                .body
                .into_reader()
                .read_to_end(&mut body)
                .await
                .map_err(|err| {
                    Error::new(ErrorKind::Io)
                        .with_source(err)
                        .with_request(&method, url.as_str())
                })?;
            let recorded = RecordedRequest {
                method,
                url,
                headers: request.headers,
                body: Bytes::from(body),
            };
            let answer = mock.answer(&recorded);
            let (method, url) = (recorded.method.clone(), recorded.url.clone());
            mock.inner
                .requests
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(recorded);
            if answer.stall {
                std::future::pending::<()>().await;
            }
            answer.into_response(method, url)
        })
    }
}

impl fmt::Debug for MockDispatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let routes = self
            .inner
            .routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        let requests = self
            .inner
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("MockDispatch")
            .field("routes", &routes)
            .field("requests", &requests)
            .finish()
    }
}

/// A request as the mock received it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The method.
    pub method: Method,
    /// The absolute URL, query included (credentials from the URL are already moved to
    /// `Authorization`).
    pub url: Url,
    /// The header fields the client sent (all but the connector's framing fields).
    pub headers: HeaderMap,
    /// The body, read to its end (a streamed body too).
    pub body: Bytes,
}

impl RecordedRequest {
    /// The first value of header `name`, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A canned answer: status, header fields and body.
///
/// # Examples
///
/// ```
/// use par_http::mock::MockResponse;
/// use par_http::StatusCode;
///
/// let created = MockResponse::new(StatusCode::CREATED)
///     .header("location", "/items/7")
///     .body("{}");
/// let moved = MockResponse::redirect(StatusCode::MOVED_PERMANENTLY, "https://new.test/");
/// ```
#[derive(Debug, Clone)]
pub struct MockResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    error: Option<String>,
    stall: bool,
}

impl MockResponse {
    /// An empty response with `status`.
    pub fn new(status: StatusCode) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            error: None,
            stall: false,
        }
    }

    /// A `200 OK` with `body` as `text/plain; charset=utf-8`.
    pub fn text(body: impl Into<Bytes>) -> Self {
        Self::new(StatusCode::OK)
            .header("content-type", "text/plain; charset=utf-8")
            .body(body)
    }

    /// A `200 OK` with `value` as JSON (feature `json`).
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::new(StatusCode::OK)
                .header("content-type", "application/json")
                .body(body),
            Err(err) => Self::new(StatusCode::OK).fail(format!("mock json: {err}")),
        }
    }

    /// A redirect (`status` is 301, 302, 303, 307 or 308) to `location`, which may be
    /// relative.
    pub fn redirect(status: StatusCode, location: &str) -> Self {
        Self::new(status).header("location", location)
    }

    /// Appends a header field. An invalid name or value makes the mock answer with an
    /// [`InvalidRequest`](ErrorKind::InvalidRequest) error instead (a bug in the test).
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: fmt::Display,
        V: TryInto<HeaderValue>,
        V::Error: fmt::Display,
    {
        match (name.try_into(), value.try_into()) {
            (Ok(name), Ok(value)) => {
                self.headers.append(name, value);
                self
            }
            (Err(err), _) => self.fail(format!("mock header name: {err}")),
            (_, Err(err)) => self.fail(format!("mock header value: {err}")),
        }
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Never answers: the request is recorded, then waits until it is cancelled (its
    /// timeout passes, its scope ends, or a hedge wins). A stand-in for a stalled server.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use par_http::mock::{MockDispatch, MockResponse};
    ///
    /// let mock = MockDispatch::new().route(par_http::Method::GET, "/slow", MockResponse::stall());
    /// let client = par_http::Client::builder()
    ///     .dispatch(mock)
    ///     .timeout(Duration::from_millis(20))
    ///     .build()?;
    /// assert!(client.get("http://api.test/slow").send().unwrap_err().is_timeout());
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn stall() -> Self {
        let mut response = Self::new(StatusCode::OK);
        response.stall = true;
        response
    }

    fn fail(mut self, reason: String) -> Self {
        self.error.get_or_insert(reason);
        self
    }

    fn into_response(self, method: Method, url: Url) -> Result<Response> {
        if let Some(reason) = self.error {
            return Err(Error::new(ErrorKind::InvalidRequest)
                .with_source(reason)
                .with_request(&method, url.as_str()));
        }
        // A response to HEAD, and 1xx/204/304, has no body on the wire either.
        let bodiless = method == Method::HEAD
            || self.status.is_informational()
            || self.status == StatusCode::NO_CONTENT
            || self.status == StatusCode::NOT_MODIFIED;
        let body = if bodiless { Bytes::new() } else { self.body };
        Ok(Response::new(
            method,
            url,
            self.status,
            self.headers,
            body.into(),
        ))
    }
}
