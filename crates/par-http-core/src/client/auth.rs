//! Authentication: the client's default `Authorization`, its custom hook, and credentials
//! written into a URL's userinfo.
//!
//! All of it happens while a request is prepared ([`Client::prepare`](crate::Client::prepare)),
//! before the request reaches the redirect policy and the [`Dispatch`](crate::Dispatch), so
//! a mock dispatch sees exactly the `Authorization` the network would. The precedence, from
//! strongest to weakest: an `Authorization` the request sets itself (by header or by the
//! request builder's `basic_auth`/`bearer_auth`), credentials in the URL
//! (`http://user:pass@host/`, stripped from the URL and sent as Basic auth), then the
//! client's default. The [`AuthHook`] runs last, on every request, and may change anything.

use std::fmt;
use std::sync::Arc;

use http::header::{AUTHORIZATION, HeaderValue};

use crate::error::Result;
use crate::message::request::Request;

/// The signature of an auth hook: it may modify each request before it is sent.
type HookFn = dyn Fn(&mut Request) -> Result<()> + Send + Sync + 'static;

/// A function run on every request of a client, after its default headers and
/// credentials, that may modify it (sign it, add a token, ...). An error it returns
/// becomes the request's error.
///
/// # Examples
///
/// ```
/// use par_http_core::{AuthHook, Config};
///
/// let mut config = Config::default();
/// config.auth_hook = Some(AuthHook::new(|request| {
///     let signature = format!("sig-{}", request.url.path().len());
///     request.headers.insert("x-signature", signature.parse().map_err(|_| {
///         request.error(par_http_core::ErrorKind::InvalidRequest)
///     })?);
///     Ok(())
/// }));
/// ```
#[derive(Clone)]
pub struct AuthHook(Arc<HookFn>);

impl AuthHook {
    /// Wraps `hook`.
    pub fn new(hook: impl Fn(&mut Request) -> Result<()> + Send + Sync + 'static) -> Self {
        Self(Arc::new(hook))
    }

    /// Runs the hook on `request`.
    ///
    /// # Errors
    ///
    /// Whatever the hook returns.
    pub fn apply(&self, request: &mut Request) -> Result<()> {
        (self.0)(request)
    }
}

impl fmt::Debug for AuthHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthHook(..)")
    }
}

/// Applies the client's authentication to a request being prepared: its default
/// `Authorization` unless the request has one, then its hook.
pub(crate) fn apply(
    authorization: Option<&HeaderValue>,
    hook: Option<&AuthHook>,
    request: &mut Request,
) -> Result<()> {
    if let Some(value) = authorization {
        if !request.headers.contains_key(AUTHORIZATION) {
            request.headers.insert(AUTHORIZATION, value.clone());
        }
    }
    if let Some(hook) = hook {
        hook.apply(request)
            .map_err(|err| err.with_request(&request.method, request.url.as_str()))?;
    }
    Ok(())
}
