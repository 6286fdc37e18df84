//! One HTTP/2 connection: the `h2` handshake, the task that drives the connection on
//! the client's runtime, and the leases that count its streams.
//!
//! ```text
//!   handshake(io) ─▶ SendRequest (cloned per request) ──▶ streams
//!                └─▶ Driver: h2::client::Connection polled on Runtime::spawn
//!                      ├─ ends on GOAWAY / EOF / error   ─▶ closed, pool slot freed
//!                      └─ no stream for idle_timeout     ─▶ closed (socket dropped)
//! ```
//!
//! The [`H2Conn`] holds the driver's [`Task`]: the connection lives as long as the
//! registry of its origin or a [`Lease`] (a request or a body reading from it) keeps it.
//! Each poll of the driver is counted, so a scope that dropped streams can wait for
//! the poll that writes their `RST_STREAM` frames ([`H2Conn::flushed`]).
//!
//! Until the server's first `SETTINGS` arrive, nobody knows how many streams it allows
//! (RFC 9113 §5.1.2: the limit starts unbounded, and a server enforcing a low one answers
//! the excess with `REFUSED_STREAM`). So a new connection carries one stream until then:
//! `h2` is told to open at most one before `SETTINGS` (`initial_max_send_streams`), and
//! [`H2Conn::settings_known`] turns true after the driver's poll that read and applied
//! them, so that the routing ([`origins`](super::origins)) gives out no second stream
//! before. Go's transport and hyper assume 100 instead; vert.x and armeria wait for
//! the `SETTINGS`, as here (only the second stream waits, the first goes at once).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;

use crate::error::Result;
use crate::runtime::{BoxIo, Boxed, Runtime, Task};
use crate::transport::h2::error::from_h2;
use crate::transport::h2::io::TokioIo;
use crate::transport::pool::Slot;

/// Streams opened before the server's `SETTINGS` arrive, at most. Go and hyper assume
/// 100, which a server allowing fewer refuses (`REFUSED_STREAM`) on every new
/// connection; one stream is always allowed, and the others wait for the `SETTINGS`
/// (see the module docs).
const INITIAL_MAX_SEND_STREAMS: usize = 1;
/// The receive window of each stream: how much of a body the server may send ahead of
/// the reader (hyper's client uses 2 MiB too).
const STREAM_WINDOW: u32 = 2 * 1024 * 1024;
/// The receive window of the connection, shared by its streams: large enough that a few
/// unread streams do not stall the others.
const CONNECTION_WINDOW: u32 = 16 * 1024 * 1024;

/// What an HTTP/2 connection needs to know of the client.
#[derive(Debug, Clone, Copy)]
pub(crate) struct H2Settings {
    /// Largest response header list accepted (the client's head limit).
    pub(crate) max_header_list_size: u32,
    /// A connection with no stream for this long is closed.
    pub(crate) idle_timeout: Duration,
}

/// An open HTTP/2 connection.
pub(crate) struct H2Conn {
    send: h2::client::SendRequest<Bytes>,
    shared: Arc<Shared>,
    _driver: Task,
}

/// State shared by the connection, its leases and its driver.
struct Shared {
    /// No new stream may start: the connection ended, or the server sent `GOAWAY`.
    closed: AtomicBool,
    /// The server's first `SETTINGS` were read and applied (or the connection ended).
    settings_known: AtomicBool,
    state: Mutex<DriverState>,
    /// Notified after each poll of the driver.
    polled: event_listener::Event,
    /// The pool slot the connection counts against, freed when it ends.
    slot: Mutex<Option<Slot>>,
    /// Streams `h2` holds back until one of the server's slots frees up.
    queued: std::sync::atomic::AtomicUsize,
    /// Notified when a stream starts to wait for a slot (shared by the origin's
    /// connections: see [`Origins::stream_wanted`](super::origins::Origins)).
    wanted: Arc<event_listener::Event>,
}

#[derive(Default)]
struct DriverState {
    /// Leases alive (streams in use).
    streams: usize,
    /// Completed polls of the driver.
    polls: u64,
    /// True while the driver is being polled.
    polling: bool,
    /// The poll count at which every stream dropped unfinished so far has had its reset
    /// written.
    flush_target: u64,
    /// The driver's waker, to rearm its idle timer when the last stream ends.
    waker: Option<Waker>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, DriverState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let slot = self.slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(slot);
    }
}

impl H2Conn {
    /// Runs the HTTP/2 handshake over `io` and spawns its driver on `runtime`. The
    /// connection holds `slot` (its place under the per-host cap) until it ends.
    /// `wanted` is notified whenever one of its streams starts to wait for a slot.
    pub(crate) async fn handshake(
        io: BoxIo,
        slot: Slot,
        settings: H2Settings,
        runtime: &Arc<dyn Runtime>,
        wanted: Arc<event_listener::Event>,
    ) -> Result<Arc<Self>> {
        let mut builder = h2::client::Builder::new();
        builder
            .initial_max_send_streams(INITIAL_MAX_SEND_STREAMS)
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .max_header_list_size(settings.max_header_list_size)
            .enable_push(false);
        let io = TokioIo::new(io);
        let preface_read = io.preface_read();
        let (send, connection) = builder
            .handshake::<_, Bytes>(io)
            .await
            .map_err(|err| from_h2(err, crate::error::ErrorKind::Io))?;
        let shared = Arc::new(Shared {
            closed: AtomicBool::new(false),
            settings_known: AtomicBool::new(false),
            state: Mutex::new(DriverState::default()),
            polled: event_listener::Event::new(),
            slot: Mutex::new(Some(slot)),
            queued: std::sync::atomic::AtomicUsize::new(0),
            wanted,
        });
        let driver = Driver {
            connection: Box::pin(connection),
            preface_read,
            shared: shared.clone(),
            runtime: Arc::downgrade(runtime),
            idle_timeout: settings.idle_timeout,
            idle: None,
        };
        let task = runtime.spawn(Box::pin(driver));
        Ok(Arc::new(Self {
            send,
            shared,
            _driver: task,
        }))
    }

    /// True once no new stream may start on this connection.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// No new stream starts here: the server sent `GOAWAY` (or the connection failed).
    pub(crate) fn mark_closed(&self) {
        self.shared.closed.store(true, Ordering::Release);
    }

    /// Streams in use.
    pub(crate) fn streams(&self) -> usize {
        self.shared.lock().streams
    }

    /// The most streams the server allows at once, as its latest `SETTINGS` say (one
    /// until its first `SETTINGS` arrive).
    pub(crate) fn max_streams(&self) -> usize {
        self.send.current_max_send_streams()
    }

    /// True once the server's first `SETTINGS` have been applied, so that
    /// [`max_streams`](Self::max_streams) is the server's word; also true once the
    /// connection ended.
    pub(crate) fn settings_known(&self) -> bool {
        self.shared.settings_known.load(Ordering::Acquire) || self.is_closed()
    }

    /// Streams a request may still open here now: the server's limit less the streams
    /// in use, or, before its first `SETTINGS`, one if none is in use.
    pub(crate) fn room(&self) -> usize {
        let streams = self.streams();
        if self.settings_known() {
            self.max_streams().saturating_sub(streams)
        } else {
            usize::from(streams == 0)
        }
    }

    /// Streams `h2` holds back until the server frees a slot.
    pub(crate) fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Acquire)
    }

    /// Counts a stream as waiting for a slot until the guard drops.
    pub(crate) fn queue(&self) -> Queued {
        self.shared.queued.fetch_add(1, Ordering::AcqRel);
        self.shared.wanted.notify(usize::MAX);
        Queued {
            shared: self.shared.clone(),
        }
    }

    /// A listener notified after the driver's next poll (when the `SETTINGS` may have
    /// arrived, a stream ended, or the connection closed).
    pub(crate) fn listen(&self) -> event_listener::EventListener {
        self.shared.polled.listen()
    }

    /// A handle to open streams with, counted until the lease drops.
    pub(crate) fn lease(self: &Arc<Self>) -> Lease {
        self.shared.lock().streams += 1;
        Lease {
            conn: self.clone(),
            finished: false,
        }
    }

    /// Completes once the driver has written the resets of every stream dropped
    /// unfinished so far (at once if there is none).
    pub(crate) async fn flushed(&self) {
        loop {
            let listener = self.shared.polled.listen();
            let waker = {
                let state = self.shared.lock();
                if state.polls >= state.flush_target || self.is_closed() {
                    return;
                }
                state.waker.clone()
            };
            // `h2` wakes the driver when a dropped stream needs a reset; a stream that
            // needed none would leave this wait to the bound: wake it anyway.
            if let Some(waker) = waker {
                waker.wake();
            }
            listener.await;
        }
    }
}

/// A stream that waits for one of the server's slots, counted until dropped.
pub(crate) struct Queued {
    shared: Arc<Shared>,
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.shared.queued.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A stream's claim on its connection: counted while alive. Dropped unfinished (a
/// cancelled request, a body not read to its end), it makes the next
/// [`H2Conn::flushed`] wait for the driver to write the stream's reset.
pub(crate) struct Lease {
    conn: Arc<H2Conn>,
    finished: bool,
}

impl Lease {
    /// The connection's request handle, to open a stream with.
    pub(crate) fn sender(&self) -> h2::client::SendRequest<Bytes> {
        self.conn.send.clone()
    }

    pub(crate) fn conn(&self) -> &Arc<H2Conn> {
        &self.conn
    }

    /// The stream ended cleanly: nothing to reset.
    pub(crate) fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut state = self.conn.shared.lock();
        state.streams = state.streams.saturating_sub(1);
        if !self.finished {
            // A poll running now may have passed the point that writes resets.
            let target = state.polls + 1 + u64::from(state.polling);
            state.flush_target = state.flush_target.max(target);
        }
        let waker = (state.streams == 0).then(|| state.waker.clone()).flatten();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The future that drives one connection on the runtime.
struct Driver {
    connection: Pin<Box<h2::client::Connection<TokioIo, Bytes>>>,
    /// Set by the IO once the server's first frame (its `SETTINGS`) was read.
    preface_read: Arc<AtomicBool>,
    shared: Arc<Shared>,
    /// Weak: the task must not keep the runtime that owns it alive.
    runtime: Weak<dyn Runtime>,
    idle_timeout: Duration,
    /// Armed while no stream is in use.
    idle: Option<Boxed<()>>,
}

impl Future for Driver {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        {
            let mut state = self.shared.lock();
            state.polling = true;
            state.waker = Some(cx.waker().clone());
        }
        let ended = self.connection.as_mut().poll(cx).is_ready();
        // `h2` applies `SETTINGS` in the poll that reads them: a poll that ends with the
        // preface read has them applied (or the connection failed on them).
        if self.preface_read.load(Ordering::Acquire) {
            self.shared.settings_known.store(true, Ordering::Release);
        }
        let streams = {
            let mut state = self.shared.lock();
            state.polling = false;
            state.polls += 1;
            state.streams
        };
        self.shared.polled.notify(usize::MAX);
        if ended {
            self.shared.close();
            return Poll::Ready(());
        }
        if streams > 0 {
            self.idle = None;
            return Poll::Pending;
        }
        if self.idle.is_none() {
            let Some(runtime) = self.runtime.upgrade() else {
                self.shared.close();
                return Poll::Ready(());
            };
            self.idle = Some(runtime.sleep(self.idle_timeout));
        }
        let expired = self
            .idle
            .as_mut()
            .is_some_and(|idle| idle.as_mut().poll(cx).is_ready());
        if expired {
            // Idle past the pool's timeout: the connection (and its socket) ends.
            self.shared.close();
            self.shared.polled.notify(usize::MAX);
            return Poll::Ready(());
        }
        Poll::Pending
    }
}
