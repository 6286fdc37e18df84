//! The runtime-generic client: configuration, a dispatch and a runtime, shared by
//! every request and scope made from it.
//!
//! The facade's blocking `Client` and async `AsyncClient` both wrap this type, so
//! requests are prepared (default headers applied) in one place.

use std::fmt;
use std::sync::Arc;

use http::Method;

use crate::error::{Result, TimeoutPhase};
use crate::message::dispatch::Dispatch;
use crate::message::request::{IntoUrl, Request, RequestBuilder};
use crate::message::response::Response;
use crate::runtime::{Boxed, Runtime};
use crate::transport::http1::Http1Dispatch;

pub(crate) mod auth;
pub(crate) mod budget;
pub(crate) mod config;
pub(crate) mod cookies;
pub(crate) mod deadline;
pub(crate) mod decompress;
pub(crate) mod hedge;
pub(crate) mod redirect;
pub(crate) mod retry;

use config::Config;

/// A client: cheap to clone, all clones share one connection pool.
#[derive(Clone)]
pub struct Client {
    runtime: Arc<dyn Runtime>,
    dispatch: Arc<dyn Dispatch>,
    config: Arc<Config>,
    /// True when the dispatch is the client's own HTTP/1.1 connector, which hands each
    /// request back with its response (for the redirect policy).
    hands_back_requests: bool,
    /// Bounds the retries of all the client's requests together.
    retry_budget: Arc<budget::RetryBudget>,
}

impl Client {
    /// A client that sends through the pooled HTTP/1.1 connector on `runtime`.
    pub fn new(runtime: Arc<dyn Runtime>, config: Config) -> Self {
        let config = Arc::new(config);
        let dispatch = Arc::new(Http1Dispatch::new(
            runtime.clone(),
            config.connector_config(),
        ));
        Self {
            runtime,
            dispatch,
            config,
            hands_back_requests: true,
            retry_budget: Arc::default(),
        }
    }

    /// A client that sends through `dispatch` (a mock, a proxy, ...) instead.
    pub fn with_dispatch(
        runtime: Arc<dyn Runtime>,
        dispatch: Arc<dyn Dispatch>,
        config: Config,
    ) -> Self {
        Self {
            runtime,
            dispatch,
            config: Arc::new(config),
            hands_back_requests: false,
            retry_budget: Arc::default(),
        }
    }

    /// True when the dispatch hands each request back with its response (the client's
    /// own connector does; another dispatch's requests are copied before they are sent,
    /// in case the answer is a redirect).
    pub(crate) fn hands_back_requests(&self) -> bool {
        self.hands_back_requests
    }

    /// The runtime that runs this client's tasks.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.runtime
    }

    /// The dispatch requests go through.
    pub fn dispatch(&self) -> &Arc<dyn Dispatch> {
        &self.dispatch
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Starts building a request; a relative `url` is resolved against the client's base
    /// URL.
    pub fn request(&self, method: Method, url: impl IntoUrl) -> RequestBuilder {
        RequestBuilder::new(method, url, self.config.base_url.as_ref())
    }

    /// Builds `builder` and applies the client's configuration to it: default headers,
    /// then authentication (default credentials and the auth hook).
    pub fn prepare(&self, builder: RequestBuilder) -> Result<Request> {
        let mut request = builder.build()?;
        if request.headers.is_empty() {
            // The usual case: a copy of the defaults, without a lookup per field.
            request.headers.clone_from(&self.config.default_headers);
        } else {
            // A field the request sets itself replaces the default (all of its lines).
            let defaults = &self.config.default_headers;
            for name in defaults.keys() {
                if !request.headers.contains_key(name) {
                    for value in defaults.get_all(name) {
                        request.headers.append(name.clone(), value.clone());
                    }
                }
            }
        }
        auth::apply(
            self.config.authorization.as_ref(),
            self.config.auth_hook.as_ref(),
            &mut request,
        )?;
        Ok(request)
    }

    /// Sends one request and waits for its response head.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the request and closes its connection.
    pub async fn send(&self, builder: RequestBuilder) -> Result<Response> {
        let request = self.prepare(builder)?;
        self.execute(request).await
    }

    /// Sends a prepared request through the client's policy (the layer where redirects,
    /// auth and decompression apply) and its dispatch. Every request of the client, one-off
    /// or in a scope, goes through here.
    ///
    /// The total time limit (the request's own, else the client's) is one deadline for the
    /// whole exchange, every redirect hop and the body included, whatever the dispatch.
    /// Retries (the request's [`RetryPolicy`](crate::RetryPolicy), else the client's) and
    /// hedges (its [`HedgePolicy`](crate::HedgePolicy), else the client's) happen inside
    /// it; each attempt may be hedged.
    pub fn execute(&self, mut request: Request) -> Boxed<Result<Response>> {
        let retry = (request.retry.take()).or_else(|| self.config.retry.clone());
        let hedge = (request.hedge.take())
            .or_else(|| self.config.hedge.clone())
            .filter(|policy| policy.is_active());
        // Hedges spend from the retry budget with the request's retry policy's share.
        let share = retry
            .as_ref()
            .map_or(budget::DEFAULT_SHARE, |policy| policy.budget_share());
        let policy = retry.filter(|policy| policy.attempts() > 1);
        let timeout = request.timeout.or(self.config.timeout);
        // A limit too far away to represent is no limit.
        let deadline = timeout.and_then(|limit| self.runtime.now().checked_add(limit));
        let name = deadline.map(|_| (request.method.clone(), request.url.clone()));
        let runtime = self.runtime.clone();
        if policy.is_none() && hedge.is_none() {
            // The layers (redirects, decoding) are one future in one box; the usual
            // request, without a time limit, holds nothing else while it waits.
            let decoded = self.attempt(request);
            let (Some(deadline), Some((method, url))) = (deadline, name) else {
                return Box::pin(decoded);
            };
            return Box::pin(async move {
                let sleep = runtime.sleep_until(deadline);
                deadline::bounded(decoded, sleep, &runtime, deadline, TimeoutPhase::Total)
                    .await
                    .map_err(|err| err.with_request(&method, url.as_str()))
            });
        }
        // Retries and hedges happen within the same total deadline.
        let policed: Boxed<Result<Response>> = match (policy, hedge) {
            (Some(policy), hedge) => {
                Box::pin(retry::with_retries(self.clone(), request, policy, hedge))
            }
            (None, Some(hedge)) => Box::pin(hedge::single(self.clone(), request, hedge, share)),
            (None, None) => Box::pin(self.attempt(request)),
        };
        let (Some(deadline), Some((method, url))) = (deadline, name) else {
            return policed;
        };
        Box::pin(async move {
            let sleep = runtime.sleep_until(deadline);
            deadline::bounded(policed, sleep, &runtime, deadline, TimeoutPhase::Total)
                .await
                .map_err(|err| err.with_request(&method, url.as_str()))
        })
    }

    /// One attempt of `request`: its redirects, then its body's decoding.
    pub(crate) fn attempt(
        &self,
        request: Request,
    ) -> decompress::DecodedResponse<redirect::Follow> {
        decompress::decoded(
            self.config.decompress,
            self.config.max_decompressed_bytes,
            redirect::follow(self, request),
        )
    }

    /// The retry budget shared by every request of this client and its clones.
    pub(crate) fn retry_budget(&self) -> &budget::RetryBudget {
        &self.retry_budget
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("dispatch", &self.dispatch)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
