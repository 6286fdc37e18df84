//! A request ready to be sent, and the builder that makes one.
//!
//! [`RequestBuilder`] never fails while it is being used: an invalid URL or header is
//! remembered and reported when the request is sent (or, in a scope, when its outcome is
//! collected). That is what lets `parallel.get(url)` return a `Pending` without a `Result`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

use crate::error::{Error, ErrorKind, Result};
use crate::message::body::Body;
use crate::message::hedge_policy::HedgePolicy;
use crate::message::retry_policy::RetryPolicy;

/// A request with a parsed URL, ready for a [`Dispatch`](crate::Dispatch).
#[derive(Debug)]
#[non_exhaustive]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The absolute URL.
    pub url: Url,
    /// Header fields, sent in addition to those the connector adds (`Host`, framing).
    pub headers: HeaderMap,
    /// The body.
    pub body: Body,
    /// A time limit for this request, overriding the client's.
    pub timeout: Option<Duration>,
    /// How this request is retried, overriding its scope's and its client's policy
    /// (read once, when the client starts executing it).
    pub retry: Option<Arc<RetryPolicy>>,
    /// How this request is hedged, overriding its scope's and its client's policy (read
    /// once, when the client starts executing it).
    pub hedge: Option<Arc<HedgePolicy>>,
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, url: Url) -> Self {
        Self {
            method,
            url,
            headers: HeaderMap::new(),
            body: Body::empty(),
            timeout: None,
            retry: None,
            hedge: None,
        }
    }

    /// A copy of this request, if its body can be sent again.
    pub fn try_clone(&self) -> Option<Self> {
        Some(Self {
            method: self.method.clone(),
            url: self.url.clone(),
            headers: self.headers.clone(),
            body: self.body.try_clone()?,
            timeout: self.timeout,
            retry: self.retry.clone(),
            hedge: self.hedge.clone(),
        })
    }

    /// Makes an error about this request.
    pub fn error(&self, kind: ErrorKind) -> Error {
        Error::new(kind).with_request(&self.method, self.url.as_str())
    }
}

/// Something that can be turned into a URL: `&str`, `String`, `&String` or [`Url`].
///
/// Parsing happens when the request is built; a failure is kept and reported later.
pub trait IntoUrl {
    /// Parses (or passes on) the URL, resolving a relative one against `base` if given.
    fn into_url(self, base: Option<&Url>) -> std::result::Result<Url, (String, url::ParseError)>;
}

impl IntoUrl for Url {
    fn into_url(self, _base: Option<&Url>) -> std::result::Result<Url, (String, url::ParseError)> {
        Ok(self)
    }
}

impl IntoUrl for &Url {
    fn into_url(self, _base: Option<&Url>) -> std::result::Result<Url, (String, url::ParseError)> {
        Ok(self.clone())
    }
}

impl IntoUrl for &str {
    fn into_url(self, base: Option<&Url>) -> std::result::Result<Url, (String, url::ParseError)> {
        let parsed = match base {
            Some(base) => base.join(self),
            None => parse_remembered(self),
        };
        parsed.map_err(|err| (self.to_owned(), err))
    }
}

thread_local! {
    /// The last absolute URL parsed on this thread.
    static LAST_PARSED: std::cell::RefCell<Option<Url>> = const { std::cell::RefCell::new(None) };
}

/// Parses an absolute URL. The same string as the last one parsed on this thread (a
/// scope starting many requests to one endpoint) is a copy of that result: a URL's
/// serialization parses back to the same URL, so only a string equal to it is taken from
/// there, and everything else is parsed.
fn parse_remembered(input: &str) -> std::result::Result<Url, url::ParseError> {
    let remembered = LAST_PARSED
        .try_with(|last| {
            let last = last.try_borrow().ok()?;
            last.as_ref().filter(|url| url.as_str() == input).cloned()
        })
        .ok()
        .flatten();
    if let Some(url) = remembered {
        return Ok(url);
    }
    let url = Url::parse(input)?;
    let _ = LAST_PARSED.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = Some(url.clone());
        }
    });
    Ok(url)
}

impl IntoUrl for String {
    fn into_url(self, base: Option<&Url>) -> std::result::Result<Url, (String, url::ParseError)> {
        self.as_str().into_url(base)
    }
}

impl IntoUrl for &String {
    fn into_url(self, base: Option<&Url>) -> std::result::Result<Url, (String, url::ParseError)> {
        self.as_str().into_url(base)
    }
}

/// Builds a [`Request`]; errors are kept until [`build`](Self::build).
///
/// # Examples
///
/// ```
/// use par_http_core::RequestBuilder;
///
/// let request = RequestBuilder::new(http::Method::POST, "http://127.0.0.1:8080/items", None)
///     .header("x-trace", "1")
///     .body("hello")
///     .build()?;
/// assert_eq!(request.url.path(), "/items");
///
/// let bad = RequestBuilder::new(http::Method::GET, "not a url", None).build();
/// assert!(bad.unwrap_err().is_invalid_url());
/// # Ok::<(), par_http_core::Error>(())
/// ```
pub struct RequestBuilder {
    state: Result<Request>,
    /// Basic credentials taken from the URL's userinfo, used unless the request sets its
    /// own `Authorization`.
    url_auth: Option<HeaderValue>,
}

impl RequestBuilder {
    /// Starts a request for `url`, resolved against `base` when it is relative.
    ///
    /// Credentials in the URL (`http://user:password@host/`) are removed from it and sent
    /// as Basic auth, unless the request sets its own `Authorization`.
    pub fn new(method: Method, url: impl IntoUrl, base: Option<&Url>) -> Self {
        let mut url_auth = None;
        let state = match url.into_url(base) {
            Ok(mut url) => {
                url_auth = crate::message::credentials::take_url_credentials(&mut url);
                check_url(&method, url).map(|url| Request::new(method, url))
            }
            Err((raw, err)) => Err(Error::new(ErrorKind::InvalidUrl)
                .with_source(err)
                .with_request(&method, &redact_userinfo(&raw))),
        };
        Self { state, url_auth }
    }

    /// A builder that reports `error` when built.
    pub fn from_error(error: Error) -> Self {
        Self {
            state: Err(error),
            url_auth: None,
        }
    }

    /// A builder for an already built request (credentials in its URL are taken as for
    /// [`new`](Self::new)).
    pub fn from_request(mut request: Request) -> Self {
        let url_auth = crate::message::credentials::take_url_credentials(&mut request.url);
        Self {
            state: Ok(request),
            url_auth,
        }
    }

    /// Appends a header field. An invalid name or value makes the request fail when sent.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: Into<http::Error>,
        V: TryInto<HeaderValue>,
        V::Error: Into<http::Error>,
    {
        if let Ok(request) = &mut self.state {
            let name = name.try_into().map_err(Into::into);
            let value = value.try_into().map_err(Into::into);
            match (name, value) {
                (Ok(name), Ok(value)) => {
                    request.headers.append(name, value);
                }
                (Err(err), _) | (_, Err(err)) => {
                    let err = request.error(ErrorKind::InvalidRequest).with_source(err);
                    self.state = Err(err);
                }
            }
        }
        self
    }

    /// Appends every field of `headers`.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        if let Ok(request) = &mut self.state {
            let mut last = None;
            for (name, value) in headers {
                if let Some(name) = name {
                    last = Some(name);
                }
                if let Some(name) = &last {
                    request.headers.append(name.clone(), value);
                }
            }
        }
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        if let Ok(request) = &mut self.state {
            request.body = body.into();
        }
        self
    }

    /// Sets a time limit for this whole request: connect, send, response head and body.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        if let Ok(request) = &mut self.state {
            request.timeout = Some(timeout);
        }
        self
    }

    /// Retries this request under `policy` instead of its scope's or its client's
    /// ([`RetryPolicy::none`] for no retries).
    ///
    /// # Examples
    ///
    /// ```
    /// use par_http_core::http::Method;
    /// use par_http_core::{RequestBuilder, RetryPolicy};
    ///
    /// let request = RequestBuilder::new(Method::GET, "http://127.0.0.1:8080/", None)
    ///     .retry(RetryPolicy::new().max_attempts(4))
    ///     .build()?;
    /// assert_eq!(request.retry.map(|p| p.attempts()), Some(4));
    /// # Ok::<(), par_http_core::Error>(())
    /// ```
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        if let Ok(request) = &mut self.state {
            request.retry = Some(Arc::new(policy));
        }
        self
    }

    /// Hedges this request under `policy` instead of its scope's or its client's
    /// ([`HedgePolicy::none`] for no hedging): an idempotent request whose body is in
    /// memory gets another copy when the first has no response head after the policy's
    /// delay.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use par_http_core::http::Method;
    /// use par_http_core::{HedgePolicy, RequestBuilder};
    ///
    /// let request = RequestBuilder::new(Method::GET, "http://127.0.0.1:8080/", None)
    ///     .hedge(HedgePolicy::after(Duration::from_millis(50)))
    ///     .build()?;
    /// assert_eq!(request.hedge.map(|p| p.delay()), Some(Duration::from_millis(50)));
    /// # Ok::<(), par_http_core::Error>(())
    /// ```
    pub fn hedge(mut self, policy: HedgePolicy) -> Self {
        if let Ok(request) = &mut self.state {
            request.hedge = Some(Arc::new(policy));
        }
        self
    }

    /// Sets `Authorization` to HTTP Basic auth, replacing any earlier value (the client's
    /// default credentials do not override it).
    ///
    /// # Examples
    ///
    /// ```
    /// use par_http_core::RequestBuilder;
    ///
    /// let request = RequestBuilder::new(http::Method::GET, "http://127.0.0.1:8080/", None)
    ///     .basic_auth("user", Some("pass"))
    ///     .build()?;
    /// assert_eq!(request.headers["authorization"], "Basic dXNlcjpwYXNz");
    /// # Ok::<(), par_http_core::Error>(())
    /// ```
    pub fn basic_auth(
        mut self,
        user: impl fmt::Display,
        password: Option<impl fmt::Display>,
    ) -> Self {
        if let Ok(request) = &mut self.state {
            let (user, password) = (user.to_string(), password.map(|p| p.to_string()));
            let value = crate::message::credentials::basic_auth_header(&user, password.as_deref());
            request.headers.insert(http::header::AUTHORIZATION, value);
        }
        self
    }

    /// Sets `Authorization` to a bearer token, replacing any earlier value. A token that is
    /// not a valid header value makes the request fail when sent.
    pub fn bearer_auth(mut self, token: impl fmt::Display) -> Self {
        if let Ok(request) = &mut self.state {
            match crate::message::credentials::bearer_auth_header(&token.to_string()) {
                Ok(value) => {
                    request.headers.insert(http::header::AUTHORIZATION, value);
                }
                Err(err) => {
                    let err = err.with_request(&request.method, request.url.as_str());
                    self.state = Err(err);
                }
            }
        }
        self
    }

    /// Appends `pairs` to the URL's query, form-urlencoded (`?a=1&b=x+y`).
    ///
    /// # Examples
    ///
    /// ```
    /// use par_http_core::RequestBuilder;
    ///
    /// let request = RequestBuilder::new(http::Method::GET, "http://127.0.0.1:8080/s?v=1", None)
    ///     .query(&[("q", "a b&c"), ("page", "2")])
    ///     .build()?;
    /// assert_eq!(request.url.query(), Some("v=1&q=a+b%26c&page=2"));
    /// # Ok::<(), par_http_core::Error>(())
    /// ```
    pub fn query<I, K, V>(mut self, pairs: I) -> Self
    where
        I: IntoIterator,
        I::Item: std::borrow::Borrow<(K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        if let Ok(request) = &mut self.state {
            let mut pairs = pairs.into_iter().peekable();
            if pairs.peek().is_some() {
                request.url.query_pairs_mut().extend_pairs(pairs);
            }
        }
        self
    }

    /// Sets the body to `pairs`, form-urlencoded, with `Content-Type:
    /// application/x-www-form-urlencoded` unless the request sets its own.
    ///
    /// # Examples
    ///
    /// ```
    /// use par_http_core::RequestBuilder;
    ///
    /// let request = RequestBuilder::new(http::Method::POST, "http://127.0.0.1:8080/login", None)
    ///     .form(&[("user", "ann"), ("note", "a&b c")])
    ///     .build()?;
    /// assert_eq!(request.body.as_bytes().unwrap().as_ref(), b"user=ann&note=a%26b+c");
    /// assert_eq!(request.headers["content-type"], "application/x-www-form-urlencoded");
    /// # Ok::<(), par_http_core::Error>(())
    /// ```
    pub fn form<I, K, V>(mut self, pairs: I) -> Self
    where
        I: IntoIterator,
        I::Item: std::borrow::Borrow<(K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        if let Ok(request) = &mut self.state {
            let encoded = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish();
            request.body = Body::from(encoded);
            request
                .headers
                .entry(http::header::CONTENT_TYPE)
                .or_insert(HeaderValue::from_static(
                    "application/x-www-form-urlencoded",
                ));
        }
        self
    }

    /// Sets the body to `value` serialized as JSON, with `Content-Type: application/json`
    /// unless the request sets its own. A value that cannot be serialized makes the
    /// request fail when sent ([`ErrorKind::InvalidRequest`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use par_http_core::RequestBuilder;
    ///
    /// let request = RequestBuilder::new(http::Method::POST, "http://127.0.0.1:8080/items", None)
    ///     .json(&serde_json::json!({ "name": "par-http" }))
    ///     .build()?;
    /// assert_eq!(request.body.as_bytes().unwrap().as_ref(), br#"{"name":"par-http"}"#);
    /// # Ok::<(), par_http_core::Error>(())
    /// ```
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
        if let Ok(request) = &mut self.state {
            match serde_json::to_vec(value) {
                Ok(bytes) => {
                    request.body = Body::from(bytes);
                    request
                        .headers
                        .entry(http::header::CONTENT_TYPE)
                        .or_insert(HeaderValue::from_static("application/json"));
                }
                Err(err) => {
                    let err = request.error(ErrorKind::InvalidRequest).with_source(err);
                    self.state = Err(err);
                }
            }
        }
        self
    }

    /// Applies `f` to the request being built (if it is still valid).
    pub fn map(mut self, f: impl FnOnce(Request) -> Result<Request>) -> Self {
        self.state = self.state.and_then(f);
        self
    }

    /// The request, or the first error met while building it.
    pub fn build(self) -> Result<Request> {
        let mut request = self.state?;
        if let Some(value) = self.url_auth {
            if !request.headers.contains_key(http::header::AUTHORIZATION) {
                request.headers.insert(http::header::AUTHORIZATION, value);
            }
        }
        Ok(request)
    }
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("request", &self.state)
            .finish()
    }
}

/// Only `http` and `https` URLs with a host can be sent.
pub(crate) fn check_url(method: &Method, url: Url) -> Result<Url> {
    let supported = matches!(url.scheme(), "http" | "https") && url.host().is_some();
    if supported {
        Ok(url)
    } else {
        Err(Error::new(ErrorKind::InvalidUrl)
            .with_source(UnsupportedUrl)
            .with_request(method, url.as_str()))
    }
}

/// The cause of an [`ErrorKind::InvalidUrl`] for a URL that parsed but can't be sent.
#[derive(Debug)]
struct UnsupportedUrl;

impl fmt::Display for UnsupportedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("only http:// and https:// URLs with a host are supported")
    }
}

impl std::error::Error for UnsupportedUrl {}

/// `raw` with any `user:password@` of its authority replaced by `***@`, so that an
/// unparsable URL kept in an error message never shows a credential.
fn redact_userinfo(raw: &str) -> String {
    let Some(scheme_end) = raw.find("://") else {
        return raw.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = raw.get(authority_start..).unwrap_or_default();
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..authority_len).unwrap_or_default();
    match authority.rfind('@') {
        Some(at) => format!(
            "{}***{}",
            raw.get(..authority_start).unwrap_or_default(),
            rest.get(at..).unwrap_or_default()
        ),
        None => raw.to_owned(),
    }
}

#[cfg(test)]
mod redact_tests {
    use super::redact_userinfo;

    #[test]
    fn credentials_of_unparsable_urls_are_redacted() {
        assert_eq!(
            redact_userinfo("http://u:pw@bad host/x"),
            "http://***@bad host/x"
        );
        assert_eq!(redact_userinfo("http://a@b@c/"), "http://***@c/");
        assert_eq!(redact_userinfo("http://host/p@q"), "http://host/p@q");
        assert_eq!(redact_userinfo("not a url"), "not a url");
    }
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn a_remembered_url_is_the_same_as_a_fresh_parse() {
        let inputs = [
            "http://a.test/x?q=1",
            "http://a.test/x?q=1",
            "HTTP://A.test:80/./y/../x",
            "http://a.test/x",
            "http://a.test/x",
            "http://[::1]:8080/p#frag",
            "http://[::1]:8080/p#frag",
            "https://user:pw@b.test/",
            "https://user:pw@b.test/",
            "http://a.test/%7e",
            "http://a.test/%7e",
            "not a url",
            "not a url",
        ];
        for input in inputs {
            assert_eq!(parse_remembered(input), Url::parse(input), "{input}");
        }
        // The remembered URL never stands in for a different string.
        assert_eq!(
            parse_remembered("http://a.test/y").unwrap().as_str(),
            "http://a.test/y"
        );
    }
}
