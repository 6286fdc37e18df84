//! Which protocol each origin speaks, and its HTTP/2 connections.
//!
//! The first request to an origin becomes its *probe*: it opens the connection and
//! learns from ALPN what the server speaks. The requests that come meanwhile wait here,
//! holding nothing, instead of opening a connection each to find out:
//!
//! ```text
//!   Unknown ──probe──▶ Probing ──h2──▶ Http2 [conns]   requests become streams
//!      ▲                  │    └─h1──▶ Http1           requests go to the pool
//!      └───probe failed───┘
//! ```
//!
//! On an HTTP/2 origin a request takes the least busy connection below the server's
//! `SETTINGS_MAX_CONCURRENT_STREAMS`. A new connection takes one stream until the
//! server's first `SETTINGS` say how many it allows; the requests that come meanwhile
//! wait for them rather than guess (a guess above the server's limit is refused). When
//! every connection is full, one request opens another if the per-host cap allows (as a
//! probe again); otherwise requests queue for a stream on the least busy connection
//! (`h2` holds them until a stream frees up). A request the server refused avoids the
//! connection that refused it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::transport::h2::conn::{H2Conn, Lease};
use crate::transport::pool::PoolKey;

/// What a request should do to reach its origin.
pub(crate) enum Route {
    /// The origin speaks HTTP/1.1: use the pool.
    Http1,
    /// A stream on this HTTP/2 connection.
    Stream(Lease),
    /// Open a connection and report what it speaks.
    Probe(Probe),
}

/// The HTTP/2 side of a connector: every origin's protocol and connections.
#[derive(Default)]
pub(crate) struct Origins {
    origins: Mutex<HashMap<PoolKey, Origin>>,
    /// Notified whenever a probe ends.
    changed: event_listener::Event,
    /// Notified whenever a stream starts to wait for a slot on a connection.
    stream_wanted: Arc<event_listener::Event>,
}

/// The HTTP/2 streams of one origin, for the scope's stall watch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StreamCounts {
    /// Streams the servers allow at once, over the live connections.
    pub(crate) capacity: usize,
    /// Streams on the wire, or done but with a body still being read.
    pub(crate) active: usize,
    /// Streams `h2` holds back until a slot frees up.
    pub(crate) queued: usize,
}

#[derive(Default)]
struct Origin {
    protocol: Protocol,
    conns: Vec<Arc<H2Conn>>,
    /// Probes under way.
    probing: usize,
    /// The last probe failed: waiting requests probe at once, side by side, rather than
    /// one after the other (each would wait out the connect timeout in turn).
    failed: bool,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    #[default]
    Unknown,
    Http1,
    Http2,
}

impl Origins {
    fn lock(&self) -> MutexGuard<'_, HashMap<PoolKey, Origin>> {
        self.origins.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How a request to `key` goes: `may_open` says whether the per-host cap allows one
    /// more connection, and `avoid` names a connection the request must not use again
    /// if there is any other way (the one that refused it).
    ///
    /// In order: a stream on the least busy connection with room (a connection whose
    /// `SETTINGS` have not arrived has room for its first stream only); else wait for
    /// such a connection's `SETTINGS` (they say how many streams it takes); else open a
    /// connection if allowed; else queue for a stream on the least busy connection;
    /// else wait for the connection being opened; `avoid` comes last, when the cap
    /// leaves nowhere else to go.
    pub(crate) async fn route(
        self: &Arc<Self>,
        key: &PoolKey,
        may_open: impl Fn() -> bool,
        avoid: Option<&Weak<H2Conn>>,
    ) -> Route {
        let avoided =
            |conn: &Arc<H2Conn>| avoid.is_some_and(|weak| weak.as_ptr() == Arc::as_ptr(conn));
        'route: loop {
            let listener = 'wait: {
                let mut origins = self.lock();
                let origin = origins.entry(key.clone()).or_default();
                origin.conns.retain(|conn| !conn.is_closed());
                if origin.protocol == Protocol::Http1 {
                    return Route::Http1;
                }
                let others = || origin.conns.iter().filter(|conn| !avoided(conn));
                let with_room = others()
                    .filter(|conn| conn.room() > 0)
                    .min_by_key(|conn| conn.streams());
                if let Some(conn) = with_room {
                    return Route::Stream(conn.lease());
                }
                if let Some(conn) = others().find(|conn| !conn.settings_known()) {
                    // Its first stream is out; its `SETTINGS` will tell how many more it
                    // takes. Listening before looking again: the driver's poll that
                    // applies them (or ends the connection) wakes us.
                    let listener = conn.listen();
                    if conn.settings_known() || conn.room() > 0 {
                        continue 'route;
                    }
                    break 'wait listener;
                }
                let can_probe = origin.failed || origin.probing == 0;
                if can_probe && (origin.conns.is_empty() || may_open()) {
                    origin.probing += 1;
                    return Route::Probe(Probe {
                        origins: self.clone(),
                        key: key.clone(),
                        done: false,
                    });
                }
                // Every connection full, no other allowed: queue for a stream (`h2` holds
                // it until one frees up).
                if let Some(conn) = others().min_by_key(|conn| conn.streams()) {
                    return Route::Stream(conn.lease());
                }
                // Only the connection to avoid is left. Another one is on its way: wait
                // for it. Else the cap leaves no other way than the avoided one.
                if origin.probing == 0 {
                    if let Some(conn) = origin.conns.iter().min_by_key(|conn| conn.streams()) {
                        return Route::Stream(conn.lease());
                    }
                }
                self.changed.listen()
            };
            listener.await;
        }
    }

    /// Live HTTP/2 connections of every origin.
    pub(crate) fn connections(&self) -> Vec<Arc<H2Conn>> {
        self.lock()
            .values()
            .flat_map(|origin| origin.conns.iter())
            .filter(|conn| !conn.is_closed())
            .cloned()
            .collect()
    }

    /// What a new connection notifies when one of its streams waits for a slot.
    pub(crate) fn wanted_event(&self) -> Arc<event_listener::Event> {
        self.stream_wanted.clone()
    }

    /// The streams of `key`'s live connections (all 0 for an origin with none).
    pub(crate) fn streams(&self, key: &str) -> StreamCounts {
        let origins = self.lock();
        let Some(origin) = origins.get(key) else {
            return StreamCounts::default();
        };
        let live = origin.conns.iter().filter(|conn| !conn.is_closed());
        live.fold(StreamCounts::default(), |counts, conn| {
            let queued = conn.queued();
            StreamCounts {
                capacity: counts.capacity.saturating_add(conn.max_streams()),
                active: counts.active + conn.streams().saturating_sub(queued),
                queued: counts.queued + queued,
            }
        })
    }

    /// Completes once a stream to `key` waits for a slot (at once if one does).
    pub(crate) async fn stream_wanted(self: Arc<Self>, key: PoolKey) {
        loop {
            let listener = self.stream_wanted.listen();
            if self.streams(&key).queued > 0 {
                return;
            }
            listener.await;
        }
    }

    /// Live HTTP/2 connections to `key`, and their streams in use.
    pub(crate) fn stats(&self, key: &str) -> (usize, usize) {
        self.lock().get(key).map_or((0, 0), |origin| {
            let live = origin.conns.iter().filter(|conn| !conn.is_closed());
            live.fold((0, 0), |(conns, streams), conn| {
                (conns + 1, streams + conn.streams())
            })
        })
    }
}

/// The duty to open a connection to an origin and say what it speaks. Dropped without
/// a verdict (the connection failed, the request was cancelled), it lets the next
/// request try.
pub(crate) struct Probe {
    origins: Arc<Origins>,
    key: PoolKey,
    done: bool,
}

impl Probe {
    /// The origin answered in HTTP/1.1.
    pub(crate) fn http1(mut self) {
        self.settle(Protocol::Http1, None);
    }

    /// The origin speaks HTTP/2 on `conn`: a stream on it for the probing request.
    pub(crate) fn http2(mut self, conn: Arc<H2Conn>) -> Lease {
        let lease = conn.lease();
        self.settle(Protocol::Http2, Some(conn));
        lease
    }

    fn settle(&mut self, protocol: Protocol, conn: Option<Arc<H2Conn>>) {
        self.done = true;
        let mut origins = self.origins.lock();
        let origin = origins.entry(self.key.clone()).or_default();
        origin.probing = origin.probing.saturating_sub(1);
        origin.failed = false;
        origin.protocol = protocol;
        origin.conns.extend(conn);
        drop(origins);
        self.origins.changed.notify(usize::MAX);
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut origins = self.origins.lock();
        if let Some(origin) = origins.get_mut(&self.key) {
            origin.probing = origin.probing.saturating_sub(1);
            origin.failed = true;
        }
        drop(origins);
        self.origins.changed.notify(usize::MAX);
    }
}
