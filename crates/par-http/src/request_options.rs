//! The request options about credentials, query and body encodings, shared by every request
//! builder of the facade (blocking one-off and scoped, async one-off and scoped).
//!
//! Each builder holds a `par_http_core::RequestBuilder` in a field named `builder`;
//! [`builder_options!`] (headers, body, timeout) and [`policy_options!`] (auth, query, form,
//! json) expand, inside the builder's `impl`, to one-line delegations to it, so the four
//! builders cannot drift apart. The examples are on the core builder's methods
//! (`par_http_core::RequestBuilder::query`, ...) and on [`ClientBuilder`](crate::ClientBuilder).

/// Expands to `header`, `headers`, `body` and `timeout`, delegating to the `builder` field.
macro_rules! builder_options {
    () => {
        /// Appends a header field. An invalid name or value becomes the request's error,
        /// reported when its outcome is collected.
        pub fn header<K, V>(mut self, name: K, value: V) -> Self
        where
            K: TryInto<::http::header::HeaderName>,
            K::Error: Into<::http::Error>,
            V: TryInto<::http::header::HeaderValue>,
            V::Error: Into<::http::Error>,
        {
            self.builder = self.builder.header(name, value);
            self
        }

        /// Appends every field of `headers`.
        pub fn headers(mut self, headers: ::http::header::HeaderMap) -> Self {
            self.builder = self.builder.headers(headers);
            self
        }

        /// Sets the body.
        pub fn body(mut self, body: impl Into<::par_http_core::Body>) -> Self {
            self.builder = self.builder.body(body);
            self
        }

        /// Retries this request under `policy` instead of its scope's or its client's
        /// ([`RetryPolicy::none`](crate::RetryPolicy::none): no retries).
        pub fn retry(mut self, policy: crate::RetryPolicy) -> Self {
            self.builder = self.builder.retry(policy);
            self
        }

        /// Hedges this request under `policy` instead of its scope's or its client's
        /// ([`HedgePolicy::none`](crate::HedgePolicy::none): no hedging).
        pub fn hedge(mut self, policy: crate::HedgePolicy) -> Self {
            self.builder = self.builder.hedge(policy);
            self
        }

        /// Sets a time limit for this whole request, its body included (overrides the
        /// client's).
        pub fn timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.builder = self.builder.timeout(timeout);
            self
        }
    };
}

pub(crate) use builder_options;

/// Expands to `basic_auth`, `bearer_auth`, `query`, `form` and (with the `json` feature)
/// `json`, delegating to the `builder` field.
macro_rules! policy_options {
    () => {
        /// Sends HTTP Basic auth with this request, instead of the client's default
        /// credentials (and of credentials in the URL).
        pub fn basic_auth(
            mut self,
            user: impl std::fmt::Display,
            password: Option<impl std::fmt::Display>,
        ) -> Self {
            self.builder = self.builder.basic_auth(user, password);
            self
        }

        /// Sends a bearer token with this request, instead of the client's default
        /// credentials. A token that is not a valid header value becomes the request's
        /// error.
        pub fn bearer_auth(mut self, token: impl std::fmt::Display) -> Self {
            self.builder = self.builder.bearer_auth(token);
            self
        }

        /// Appends `pairs` to the URL's query string, form-urlencoded.
        pub fn query<I, K, V>(mut self, pairs: I) -> Self
        where
            I: IntoIterator,
            I::Item: std::borrow::Borrow<(K, V)>,
            K: AsRef<str>,
            V: AsRef<str>,
        {
            self.builder = self.builder.query(pairs);
            self
        }

        /// Sets the body to `pairs`, form-urlencoded, with `Content-Type:
        /// application/x-www-form-urlencoded` unless the request sets its own.
        pub fn form<I, K, V>(mut self, pairs: I) -> Self
        where
            I: IntoIterator,
            I::Item: std::borrow::Borrow<(K, V)>,
            K: AsRef<str>,
            V: AsRef<str>,
        {
            self.builder = self.builder.form(pairs);
            self
        }

        /// Sets the body to `value` as JSON, with `Content-Type: application/json` unless
        /// the request sets its own (feature `json`). A value that cannot be serialized
        /// becomes the request's error.
        #[cfg(feature = "json")]
        pub fn json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
            self.builder = self.builder.json(value);
            self
        }
    };
}

pub(crate) use policy_options;

/// Expands to `stream`, `max_body_in_memory` and `tag`, the settings of a request in a
/// scope, delegating to the `options` field (a `par_http_core::StartOptions`).
macro_rules! scope_options {
    () => {
        /// Delivers the response as soon as its head arrives, its body streaming from the
        /// connection as it is read, instead of read into memory in the background first.
        /// The request counts under the scope's `max_in_flight` until it is collected.
        pub fn stream(mut self) -> Self {
            self.options = self.options.stream();
            self
        }

        /// Reads up to `bytes` of this response's body into memory in the background
        /// (overrides the scope's `max_body_in_memory`).
        pub fn max_body_in_memory(mut self, bytes: usize) -> Self {
            self.options = self.options.max_body_in_memory(bytes);
            self
        }

        /// Attaches `tag` to the request: its response or error gives it back
        /// (`Response::tag`, `Error::tag`), wherever it is collected.
        pub fn tag<T: ::std::any::Any + Send + Sync>(mut self, tag: T) -> Self {
            self.options = self.options.tag(::std::sync::Arc::new(tag));
            self
        }
    };
}

pub(crate) use scope_options;
