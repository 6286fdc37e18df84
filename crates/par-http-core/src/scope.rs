//! The parallel scope: start requests at once, collect each outcome exactly once, and
//! cancel whatever is left when the scope ends.
//!
//! A [`Scope`] is generic over nothing: it holds a [`Client`] (configuration and
//! [`Dispatch`](crate::Dispatch)) and a [`Spawn`](crate::Spawn), both as trait objects.
//! Each started request becomes one task on the spawner; its outcome goes to the
//! scope's [`Outcomes`] table, from which a [`Pending`] handle or `next_response` takes it.
//!
//! Ending a scope ([`Scope::close`]) cancels every running task and drops every outcome
//! nobody collected (closing their connections), then *waits* until every task's future
//! has actually been dropped. Each task holds a clone of a channel sender; the scope
//! waits for the channel to report that all senders are gone. Only then are all the
//! scope's sockets known to be closed or back in the pool.
//!
//! An optional limit on requests in flight applies backpressure: [`Scope::start`] waits
//! for a free slot before it spawns.

use std::fmt;
use std::sync::{Arc, Mutex};

use std::panic::AssertUnwindSafe;

use async_lock::Semaphore;
use futures_lite::FutureExt;

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::pending::{Outcomes, Pending, RequestName};
use crate::request::RequestBuilder;
use crate::response::Response;

/// Settings of one scope.
///
/// # Examples
///
/// ```
/// use par_http_core::ScopeOptions;
///
/// let options = ScopeOptions::new().max_in_flight(8);
/// assert_eq!(options.in_flight_limit(), Some(8));
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ScopeOptions {
    max_in_flight: Option<usize>,
}

impl ScopeOptions {
    /// No limit on requests in flight (the client's per-host connection cap still applies).
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `limit` requests of the scope run at once; starting another waits.
    /// A limit of 0 is taken as 1.
    pub fn max_in_flight(mut self, limit: usize) -> Self {
        self.max_in_flight = Some(limit.max(1));
        self
    }

    /// The limit on requests in flight, if any.
    pub fn in_flight_limit(&self) -> Option<usize> {
        self.max_in_flight
    }
}

/// A parallel scope, the engine behind both the blocking and the async API.
pub struct Scope {
    client: Client,
    outcomes: Arc<Outcomes>,
    limit: Option<Arc<Semaphore>>,
    /// Cloned into every task; the scope's own copy goes at close.
    alive: Mutex<Option<async_channel::Sender<()>>>,
    all_gone: async_channel::Receiver<()>,
}

impl Scope {
    /// A scope whose requests are prepared and sent by `client`.
    pub fn new(client: Client, options: ScopeOptions) -> Self {
        let (alive, all_gone) = async_channel::bounded(1);
        Self {
            client,
            outcomes: Arc::new(Outcomes::new()),
            limit: options.max_in_flight.map(|n| Arc::new(Semaphore::new(n))),
            alive: Mutex::new(Some(alive)),
            all_gone,
        }
    }

    /// The client this scope sends through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Starts a request and returns its handle. Starting never fails: any error (an
    /// invalid URL included) is the outcome, reported when it is collected.
    ///
    /// # Cancel safety
    ///
    /// This waits only for a free slot under the scope's limit. If the future is dropped
    /// while waiting, the request is never started.
    pub async fn start(&self, request: RequestBuilder) -> Pending {
        let request = match self.client.prepare(request) {
            Ok(request) => request,
            Err(err) => {
                let name = match (err.method(), err.url()) {
                    (Some(method), Some(url)) => Some(Arc::new(RequestName {
                        method: method.clone(),
                        url: url.to_owned(),
                    })),
                    _ => None,
                };
                return self.ready(Err(err), name);
            }
        };
        let permit = match &self.limit {
            Some(limit) => Some(limit.acquire_arc().await),
            None => None,
        };
        let alive = self.alive.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let name = Arc::new(RequestName {
            method: request.method.clone(),
            url: request.url.as_str().to_owned(),
        });
        let (Some(alive), Some(id)) = (alive, self.outcomes.add_running()) else {
            let err = request.error(ErrorKind::Cancelled);
            return self.ready(Err(err), Some(name));
        };
        let outcomes = self.outcomes.clone();
        let send = self.client.execute(request);
        let task_name = name.clone();
        // Made outside the future: if the future is dropped before it completes, even
        // unpolled (the runtime shut down under it, say), the handle gets a Cancelled
        // error instead of waiting forever.
        let mut report = ReportOnDrop {
            outcomes,
            id,
            name: task_name,
            reported: false,
        };
        let task = self.client.runtime().spawn(Box::pin(async move {
            // A panicking dispatch (a user's mock, say) must not take the executor down
            // or leave the handle waiting forever: the panic becomes this request's error.
            let outcome = match AssertUnwindSafe(send).catch_unwind().await {
                Ok(outcome) => outcome,
                Err(_) => Err(Error::new(ErrorKind::DispatchPanicked)),
            };
            drop(permit);
            report.complete(outcome);
            // Dropped last: the scope's close waits for this.
            drop(alive);
        }));
        if let Some(task) = self.outcomes.attach_task(id, task) {
            drop(task);
        }
        Pending::new(id, self.outcomes.clone(), Some(name))
    }

    fn ready(&self, outcome: Result<Response>, name: Option<Arc<RequestName>>) -> Pending {
        let id = self.outcomes.add_ready(outcome);
        Pending::new(id, self.outcomes.clone(), name)
    }

    /// Waits for the next outcome in completion order.
    ///
    /// # Errors
    ///
    /// The request's own error, or [`ErrorKind::NoPending`](crate::ErrorKind::NoPending)
    /// at once when no request is running or waiting to be collected.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: an outcome is only taken when the future completes.
    pub async fn next_response(&self) -> Result<Response> {
        self.outcomes.next().await
    }

    /// True while any request is running or has an outcome not yet collected.
    pub fn has_pending_responses(&self) -> bool {
        self.outcomes.has_pending()
    }

    /// Ends the scope: cancels every running request, closes the connections of
    /// uncollected responses, and waits until every task has stopped.
    ///
    /// # Cancel safety
    ///
    /// The cancellation happens at the first poll; dropping the future afterwards only
    /// skips the wait for the tasks' teardown.
    pub async fn close(&self) {
        self.close_now();
        // Err once every task's copy of the sender is gone, i.e. every future dropped.
        let _ = self.all_gone.recv().await;
    }

    /// Cancels what is still pending, without waiting for the teardown (use
    /// [`close`](Self::close) to wait). Further starts are cancelled at once.
    pub fn cancel(&self) {
        self.close_now();
    }

    fn close_now(&self) {
        let closed = self.outcomes.close();
        drop(closed);
        let own = self.alive.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(own);
    }
}

/// Delivers a request's outcome, or `Cancelled` if the task is dropped before it has one.
struct ReportOnDrop {
    outcomes: Arc<Outcomes>,
    id: usize,
    name: Arc<RequestName>,
    reported: bool,
}

impl ReportOnDrop {
    fn complete(&mut self, outcome: Result<Response>) {
        self.reported = true;
        let outcome = outcome.map_err(|err| self.name.name(err));
        self.outcomes.complete(self.id, outcome);
    }
}

impl Drop for ReportOnDrop {
    fn drop(&mut self) {
        if !self.reported {
            let err = self.name.name(Error::new(ErrorKind::Cancelled));
            self.outcomes.complete(self.id, Err(err));
        }
    }
}

impl Drop for Scope {
    /// Cancels what is still pending (without waiting for the teardown; use
    /// [`Scope::close`] to wait).
    fn drop(&mut self) {
        self.close_now();
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("outcomes", &self.outcomes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[path = "scope_tests.rs"]
mod tests;
