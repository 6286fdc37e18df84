//! Watching a scope: the counters behind [`Scope::stats`](crate::Scope::stats), the
//! progress events a scope's callback receives, and the report of errors nobody collected.
//!
//! Every request of a scope that leaves the line holds one [`Flight`]: it says the request
//! is in flight, and ends exactly once, as done, failed or cancelled. While the response's
//! head is awaited the flight lives in the request's task; when the body is still on the
//! wire after the head, the flight moves into the body's stream ([`WatchedBody`]), which
//! counts the bytes as they are read (in the background or by the caller) and ends the
//! flight at the body's end, at its error, or when the body is dropped unread (cancelled).
//! The counters are plain atomics; the callback, when there is one, is called on the
//! thread that made the progress, so it should be quick.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use futures_lite::AsyncRead;
use http::{Method, StatusCode};

use crate::error::{Error, ErrorKind};
use crate::message::response::Response;
use crate::scope::pending::Meta;

/// A progress callback: called with every [`Progress`] event of a scope's requests.
pub type ProgressFn = Arc<dyn Fn(&Progress<'_>) + Send + Sync + 'static>;

/// An error callback: called with each error nobody collected when a scope ends.
pub type UncollectedFn = Arc<dyn Fn(&Error) + Send + Sync + 'static>;

/// A snapshot of a scope's counters ([`Scope::stats`](crate::Scope::stats)).
///
/// Each request started is, at any moment, in exactly one of: `queued`, `in_flight`, or
/// ended (`done`, `failed` or `cancelled`); a request whose outcome was known at its
/// start (an invalid URL) goes straight to `failed`.
///
/// # Examples
///
/// ```
/// use par_http_core::ScopeStats;
///
/// let stats = ScopeStats::default();
/// assert_eq!(stats.started, 0);
/// assert_eq!(stats.in_flight, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScopeStats {
    /// Requests started in the scope.
    pub started: u64,
    /// Requests waiting in line for a slot under the scope's `max_in_flight`.
    pub queued: u64,
    /// Requests sent and not yet ended: waiting for their response, or with a body still
    /// being received (in the background, or by the caller as it reads).
    pub in_flight: u64,
    /// Requests whose response arrived with its whole body (any status).
    pub done: u64,
    /// Requests that ended in an error (the response's, or its body's), cancellations
    /// excepted.
    pub failed: u64,
    /// Requests cancelled: by the scope's end, a race, a fail-fast, a handle's `cancel`,
    /// or a response dropped before its body was read to the end.
    pub cancelled: u64,
    /// Body bytes received so far, over all requests (as delivered: decompressed).
    pub bytes_received: u64,
    /// Attempts made beyond each request's first (retries), over ended requests.
    pub retries: u64,
    /// Extra copies sent by hedging, over ended requests.
    pub hedges: u64,
    /// Errors that were still uncollected when the scope ended.
    pub uncollected_errors: u64,
}

/// One step of one request of a scope, as given to the scope's progress callback.
///
/// # Examples
///
/// ```
/// use par_http_core::{Progress, ProgressEvent};
///
/// fn show(progress: &Progress<'_>) {
///     if let ProgressEvent::Body { received, total, .. } = progress.event {
///         println!("#{} {}: {received} of {total:?} bytes", progress.index, progress.url);
///     }
/// }
/// # let _ = show;
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Progress<'a> {
    /// The request's position in its scope, as [`Pending::index`](crate::Pending::index).
    pub index: usize,
    /// The request's method.
    pub method: &'a Method,
    /// The request's URL, as started.
    pub url: &'a str,
    /// What happened.
    pub event: ProgressEvent<'a>,
}

/// What happened to a request of a scope (see [`Progress`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum ProgressEvent<'a> {
    /// The request left the line and is being sent (after a wait for a slot under the
    /// scope's `max_in_flight`, if there was one).
    Sent,
    /// The response's head arrived.
    Head {
        /// Its status.
        status: StatusCode,
        /// Its announced body length, if any.
        content_length: Option<u64>,
    },
    /// More of the body arrived.
    Body {
        /// The bytes that arrived with this event.
        chunk: u64,
        /// Body bytes received so far.
        received: u64,
        /// The announced body length, if any.
        total: Option<u64>,
    },
    /// The whole body arrived: the request is done.
    Done {
        /// The response's status.
        status: StatusCode,
        /// The body's length.
        received: u64,
    },
    /// The request, or the reading of its body, failed.
    Failed {
        /// Why.
        error: &'a Error,
    },
}

/// The counters of one scope and its callbacks.
#[derive(Default)]
pub(crate) struct Watch {
    started: AtomicU64,
    in_flight: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    bytes: AtomicU64,
    retries: AtomicU64,
    hedges: AtomicU64,
    uncollected: AtomicU64,
    progress: Option<ProgressFn>,
    on_uncollected: Option<UncollectedFn>,
}

impl Watch {
    pub(crate) fn new(progress: Option<ProgressFn>, on_uncollected: Option<UncollectedFn>) -> Self {
        Self {
            progress,
            on_uncollected,
            ..Self::default()
        }
    }

    /// The counters now; `queued` comes from the scope's line.
    pub(crate) fn stats(&self, queued: usize) -> ScopeStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ScopeStats {
            started: load(&self.started),
            queued: queued as u64,
            in_flight: load(&self.in_flight),
            done: load(&self.done),
            failed: load(&self.failed),
            cancelled: load(&self.cancelled),
            bytes_received: load(&self.bytes),
            retries: load(&self.retries),
            hedges: load(&self.hedges),
            uncollected_errors: load(&self.uncollected),
        }
    }

    pub(crate) fn started(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    /// A request that ended before it was sent (an error at its start, or while it waited
    /// in line).
    pub(crate) fn ended_unsent(&self, id: usize, name: Option<&(Method, String)>, error: &Error) {
        self.count_error(error);
        if let Some((method, url)) = name {
            self.emit(id, method, url, ProgressEvent::Failed { error });
        }
    }

    fn count_error(&self, error: &Error) {
        if error.is_cancelled() {
            self.cancelled.fetch_add(1, Ordering::Relaxed);
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.retries.fetch_add(
            u64::from(error.attempts().saturating_sub(1)),
            Ordering::Relaxed,
        );
        self.hedges
            .fetch_add(u64::from(error.hedges()), Ordering::Relaxed);
    }

    /// Reports an error nobody collected before the scope ended.
    pub(crate) fn uncollected(&self, error: &Error) {
        self.uncollected.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "tracing")]
        tracing::warn!(error = %error, "par-http: an error nobody collected before the scope ended");
        if let Some(report) = &self.on_uncollected {
            contain(|| report(error));
        }
    }

    fn emit(&self, index: usize, method: &Method, url: &str, event: ProgressEvent<'_>) {
        if let Some(progress) = &self.progress {
            let progress_now = Progress {
                index,
                method,
                url,
                event,
            };
            contain(|| progress(&progress_now));
        }
    }
}

/// Runs a user's callback so that a panic in it ends neither the request's task (whose
/// executor thread the scope's other requests need) nor a scope's end (a panic in a drop
/// during unwinding aborts): the panic is dropped, and logged with `tracing`.
fn contain(callback: impl FnOnce()) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(callback));
    #[cfg(feature = "tracing")]
    if outcome.is_err() {
        tracing::warn!("par-http: a scope's callback panicked");
    }
    drop(outcome);
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch")
            .field("stats", &self.stats(0))
            .finish_non_exhaustive()
    }
}

/// One request in flight: ends exactly once, as done, failed, or (dropped) cancelled.
pub(crate) struct Flight {
    watch: Arc<Watch>,
    index: usize,
    /// The request's name (method and URL), kept by the scope's table anyway.
    meta: Arc<Meta>,
    ended: bool,
    /// The request's span (made around its task by the scope) and when it was sent.
    #[cfg(feature = "tracing")]
    span: tracing::Span,
    #[cfg(feature = "tracing")]
    sent_at: std::time::Instant,
}

impl Flight {
    /// The request `index` leaves the line.
    pub(crate) fn sent(watch: Arc<Watch>, index: usize, meta: Arc<Meta>) -> Self {
        watch.in_flight.fetch_add(1, Ordering::Relaxed);
        let flight = Self {
            watch,
            index,
            #[cfg(feature = "tracing")]
            span: meta.span.clone(),
            meta,
            ended: false,
            #[cfg(feature = "tracing")]
            sent_at: std::time::Instant::now(),
        };
        #[cfg(feature = "tracing")]
        tracing::debug!(parent: &flight.span, "par-http: sent");
        flight.emit(ProgressEvent::Sent);
        flight
    }

    fn emit(&self, event: ProgressEvent<'_>) {
        if let Some((method, url)) = &self.meta.name {
            self.watch.emit(self.index, method, url, event);
        }
    }

    fn end(&mut self) {
        self.ended = true;
        self.watch.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// The request is done: its whole body of `received` bytes is in.
    fn done(&mut self, status: StatusCode, received: u64) {
        self.end();
        self.watch.done.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "tracing")]
        tracing::debug!(
            parent: &self.span,
            bytes = received,
            elapsed_us = crate::transport::connect::micros(self.sent_at.elapsed()),
            "par-http: body done"
        );
        self.emit(ProgressEvent::Done { status, received });
    }

    /// The request, or its body, failed with `error`.
    fn fail(&mut self, error: &Error) {
        self.end();
        self.watch.count_error(error);
        #[cfg(feature = "tracing")]
        {
            self.span.record("error", tracing::field::display(error));
            tracing::debug!(parent: &self.span, error = %error, "par-http: failed");
        }
        if !error.is_cancelled() {
            self.emit(ProgressEvent::Failed { error });
        }
    }

    /// The request failed.
    pub(crate) fn failed(mut self, error: &Error) {
        self.fail(error);
    }

    /// The response's head arrived: counts its attempts and the body bytes that came with
    /// it. When the body is complete already, the request is done; otherwise the flight
    /// goes into the body's stream, which ends it.
    pub(crate) fn head(mut self, response: &mut Response) {
        let status = response.status();
        let total = response.content_length();
        self.watch.retries.fetch_add(
            u64::from(response.attempts().saturating_sub(1)),
            Ordering::Relaxed,
        );
        self.watch
            .hedges
            .fetch_add(u64::from(response.hedges()), Ordering::Relaxed);
        #[cfg(feature = "tracing")]
        {
            self.span.record("status", status.as_u16());
            self.span.record("attempts", response.attempts());
            tracing::debug!(
                parent: &self.span,
                first_byte_us = crate::transport::connect::micros(self.sent_at.elapsed()),
                "par-http: response head"
            );
        }
        self.emit(ProgressEvent::Head {
            status,
            content_length: total,
        });
        let body = response.body_mut();
        let received = body.in_memory_len() as u64;
        if received > 0 {
            self.watch.bytes.fetch_add(received, Ordering::Relaxed);
            self.emit(ProgressEvent::Body {
                chunk: received,
                received,
                total,
            });
        }
        if body.is_complete() {
            self.done(status, received);
            return;
        }
        body.map_rest(move |rest| {
            Box::pin(WatchedBody {
                rest,
                flight: self,
                status,
                received,
                total,
            })
        });
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        if !self.ended {
            self.end();
            self.watch.cancelled.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The stream of a body still on the wire, counting its bytes for its request's flight.
struct WatchedBody {
    rest: Pin<Box<dyn AsyncRead + Send + 'static>>,
    flight: Flight,
    status: StatusCode,
    received: u64,
    total: Option<u64>,
}

impl AsyncRead for WatchedBody {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let result = this.rest.as_mut().poll_read(cx, buf);
        if this.flight.ended {
            return result;
        }
        match &result {
            Poll::Ready(Ok(0)) => this.flight.done(this.status, this.received),
            Poll::Ready(Ok(n)) => {
                this.received += *n as u64;
                this.flight
                    .watch
                    .bytes
                    .fetch_add(*n as u64, Ordering::Relaxed);
                this.flight.emit(ProgressEvent::Body {
                    chunk: *n as u64,
                    received: this.received,
                    total: this.total,
                });
            }
            Poll::Ready(Err(err)) => {
                let error = this
                    .flight
                    .meta
                    .name(Error::new(ErrorKind::Body).with_source(err.to_string()));
                this.flight.fail(&error);
            }
            Poll::Pending => {}
        }
        result
    }
}
