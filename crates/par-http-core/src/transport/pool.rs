//! The connection pool: idle keep-alive connections and a cap on open ones, per origin.
//!
//! A request first [`checkout`](Pool::checkout)s: it gets an idle connection, or a
//! [`Slot`] that permits opening a new one, or it waits in line (holding no socket) until
//! another request returns a connection or frees a slot. This is what lets 10,000 requests
//! start in one scope without running out of file descriptors.
//!
//! Only [`Pooled::drop`] puts a connection back, and only when the exchange on it ended
//! cleanly ([`Pooled::set_reusable`]); anything else closes it. A cancelled request's
//! guard is dropped with its future, so cancellation can never leak a slot, unlike pools
//! that count by hand.
//!
//! Hand-offs to waiting requests go through one-shot channels. A value sent to a waiter
//! that has meanwhile gone away is dropped with the channel, outside the pool's lock, and
//! its own drop gives the slot back: slots are never lost.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::transport::conn::Connection;

/// Default cap on open connections per origin (httpx's pool limit).
pub const DEFAULT_MAX_CONNECTIONS_PER_HOST: usize = 100;
/// Default cap on idle connections kept per origin.
pub const DEFAULT_MAX_IDLE_PER_HOST: usize = 100;
/// Default time an idle connection is kept (hyper-util and reqwest use 90 s).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Pool limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolConfig {
    pub(crate) max_connections_per_host: usize,
    pub(crate) max_idle_per_host: usize,
    pub(crate) idle_timeout: Duration,
}

/// Identifies an origin: `scheme://host:port`.
pub(crate) type PoolKey = Arc<str>;

/// The pool shared by every request of a client.
pub(crate) struct Pool {
    config: PoolConfig,
    hosts: Mutex<HashMap<PoolKey, Host>>,
    /// Notified whenever a request starts waiting for a connection (see [`Pool::wanted`]).
    waiting: event_listener::Event,
    /// The runtime whose clock stamps returned connections (a test's virtual clock, say);
    /// the system's clock without one.
    clock: Option<std::sync::Weak<dyn crate::runtime::Runtime>>,
}

#[derive(Default)]
struct Host {
    /// Idle connections, the most recently used last.
    idle: Vec<Idle>,
    /// Connections counted against the cap: open, being opened, or idle.
    open: usize,
    /// Requests waiting for a connection or a slot, oldest first.
    waiters: VecDeque<async_channel::Sender<Grant>>,
}

struct Idle {
    conn: Connection,
    /// When it stops being usable: the pool's idle timeout, or earlier when the server
    /// said it closes connections idle for less (`Keep-Alive: timeout=N`).
    until: Instant,
}

/// When a connection that went idle at `since` stops being reused: after `idle_timeout`,
/// or a little before the server's own limit (`server`), so that a request is never sent
/// into a connection the server is closing. The margin (a second, or half a short limit)
/// covers the time between the server's last byte and the connection's return.
fn idle_until(since: Instant, idle_timeout: Duration, server: Option<Duration>) -> Instant {
    let limit = match server {
        Some(server) => {
            let margin = Duration::from_secs(1).min(server / 2);
            idle_timeout.min(server.saturating_sub(margin))
        }
        None => idle_timeout,
    };
    since.checked_add(limit).unwrap_or(since)
}

/// What a waiting request is given.
pub(crate) enum Grant {
    /// A connection that just finished an exchange.
    Conn(Pooled),
    /// Permission to open a new connection.
    Slot(Slot),
}

impl Pool {
    pub(crate) fn new(config: PoolConfig) -> Self {
        Self {
            config: PoolConfig {
                max_connections_per_host: config.max_connections_per_host.max(1),
                ..config
            },
            hosts: Mutex::new(HashMap::new()),
            waiting: event_listener::Event::new(),
            clock: None,
        }
    }

    /// Stamps returned connections with `runtime`'s clock, the one the sweeper and
    /// checkouts read.
    pub(crate) fn with_clock(mut self, runtime: &Arc<dyn crate::runtime::Runtime>) -> Self {
        self.clock = Some(Arc::downgrade(runtime));
        self
    }

    /// The time now, on the pool's clock.
    fn now(&self) -> Instant {
        match self.clock.as_ref().and_then(std::sync::Weak::upgrade) {
            Some(runtime) => runtime.now(),
            None => Instant::now(),
        }
    }

    /// Completes when a request waits for a connection to `key` (at once if one does).
    pub(crate) async fn wanted(&self, key: &PoolKey) {
        loop {
            let listener = self.waiting.listen();
            if self.stats(key).2 > 0 {
                return;
            }
            listener.await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<PoolKey, Host>> {
        // A panic while holding the lock leaves counts that are still consistent (every
        // update is a single statement), so a poisoned lock is used as is.
        self.hosts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An idle connection to `key` that is still usable, if there is one now (without
    /// waiting, and without taking a slot to open one). Expired and closed ones found on
    /// the way are dropped, freeing their slots.
    pub(crate) fn take_idle(
        self: &Arc<Self>,
        key: &PoolKey,
        strict: bool,
        now: Instant,
    ) -> Option<Pooled> {
        loop {
            let mut hosts = self.lock();
            let host = hosts.get_mut(key)?;
            let mut expired = Vec::new();
            let mut found = None;
            while let Some(idle) = host.idle.pop() {
                if now >= idle.until {
                    host.open = host.open.saturating_sub(1);
                    expired.push(idle.conn);
                } else {
                    found = Some(idle.conn);
                    break;
                }
            }
            drop(hosts);
            drop(expired);
            let mut pooled = Pooled::new(self.clone(), key.clone(), found?);
            if pooled
                .conn_mut()
                .is_some_and(|conn| conn.is_idle_usable(strict))
            {
                return Some(pooled);
            }
            // Closed by the server while idle: dropping it frees its slot.
            drop(pooled);
        }
    }

    /// Gets a connection for `key`: an idle one (if `allow_idle`), a slot to open one, or
    /// waits for either. Waiting holds no socket. Cancel-safe: dropping the future gives
    /// back anything it was handed.
    pub(crate) async fn checkout(
        self: &Arc<Self>,
        key: &PoolKey,
        allow_idle: bool,
        strict: bool,
        now: Instant,
    ) -> Grant {
        loop {
            if allow_idle {
                if let Some(pooled) = self.take_idle(key, strict, now) {
                    return Grant::Conn(pooled);
                }
            }
            let receiver = {
                let mut hosts = self.lock();
                let host = hosts.entry(key.clone()).or_default();
                if host.open < self.config.max_connections_per_host {
                    host.open += 1;
                    drop(hosts);
                    return Grant::Slot(Slot {
                        pool: Some(self.clone()),
                        key: key.clone(),
                    });
                }
                let (sender, receiver) = async_channel::bounded(1);
                host.waiters.push_back(sender);
                drop(hosts);
                self.waiting.notify(usize::MAX);
                receiver
            };
            if let Ok(grant) = receiver.recv().await {
                return grant;
            }
        }
    }

    /// A connection comes back from an exchange: to a waiter, to the idle list, or closed.
    fn put_back(self: &Arc<Self>, key: PoolKey, conn: Connection, now: Instant) {
        let grant = Grant::Conn(Pooled::new(self.clone(), key.clone(), conn));
        let mut gone = Vec::new();
        let mut hosts = self.lock();
        let Some(host) = hosts.get_mut(&key) else {
            return;
        };
        let Some(Grant::Conn(mut pooled)) = offer(host, grant, &mut gone) else {
            drop(hosts);
            return;
        };
        pooled.pool = None;
        let Some(conn) = pooled.conn.take() else {
            return;
        };
        let mut surplus = None;
        let until = idle_until(now, self.config.idle_timeout, conn.server_idle_limit());
        if host.idle.len() < self.config.max_idle_per_host && until > now {
            host.idle.push(Idle { conn, until });
        } else {
            host.open = host.open.saturating_sub(1);
            surplus = Some(conn);
        }
        drop(hosts);
        drop((gone, surplus));
    }

    /// A counted connection (or slot) went away: its slot goes to a waiter or is freed.
    fn release_slot(self: &Arc<Self>, key: PoolKey) {
        let grant = Grant::Slot(Slot {
            pool: Some(self.clone()),
            key: key.clone(),
        });
        let mut gone = Vec::new();
        let mut hosts = self.lock();
        let Some(host) = hosts.get_mut(&key) else {
            return;
        };
        if let Some(Grant::Slot(mut slot)) = offer(host, grant, &mut gone) {
            // Nobody wants it: the slot is freed here, not by its own drop.
            slot.pool = None;
            host.open = host.open.saturating_sub(1);
            if host.open == 0 && host.idle.is_empty() && host.waiters.is_empty() {
                hosts.remove(&key);
            }
        }
        drop(hosts);
        drop(gone);
    }

    /// Counts for tests and diagnostics: (open, idle, waiting) for `key`.
    pub(crate) fn stats(&self, key: &str) -> (usize, usize, usize) {
        let hosts = self.lock();
        hosts.get(key).map_or((0, 0, 0), |host| {
            (host.open, host.idle.len(), host.waiters.len())
        })
    }

    /// Closes every idle connection that has been idle for `idle_timeout` or more, or past
    /// what its server allows.
    pub(crate) fn sweep(&self, now: Instant) {
        let mut closed = Vec::new();
        let mut hosts = self.lock();
        for host in hosts.values_mut() {
            let before = host.idle.len();
            let (keep, expired): (Vec<_>, Vec<_>) =
                host.idle.drain(..).partition(|idle| now < idle.until);
            host.idle = keep;
            host.open = host.open.saturating_sub(before - host.idle.len());
            closed.extend(expired);
        }
        hosts.retain(|_, host| host.open > 0 || !host.waiters.is_empty());
        drop(hosts);
        drop(closed);
    }

    /// When the first idle connection expires, if any sits idle.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        let hosts = self.lock();
        hosts
            .values()
            .flat_map(|host| host.idle.iter().map(|idle| idle.until))
            .min()
    }

    /// True while any connection sits idle.
    pub(crate) fn has_idle(&self) -> bool {
        self.lock().values().any(|host| !host.idle.is_empty())
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Offers `grant` to the oldest waiter still listening, or hands it back if there is
/// none. Senders of waiters go to `gone`, to be dropped after the lock is released.
fn offer(
    host: &mut Host,
    mut grant: Grant,
    gone: &mut Vec<async_channel::Sender<Grant>>,
) -> Option<Grant> {
    while let Some(waiter) = host.waiters.pop_front() {
        let sent = waiter.try_send(grant);
        gone.push(waiter);
        match sent {
            Ok(()) => return None,
            Err(err) => grant = err.into_inner(),
        }
    }
    Some(grant)
}

/// Permission to open one connection to an origin; dropping it unused frees the slot.
pub(crate) struct Slot {
    pool: Option<Arc<Pool>>,
    key: PoolKey,
}

impl Slot {
    /// Turns the slot into a pooled connection once `conn` is open.
    pub(crate) fn fill(mut self, conn: Connection) -> Pooled {
        match self.pool.take() {
            Some(pool) => Pooled::new(pool, self.key.clone(), conn),
            None => Pooled {
                pool: None,
                key: self.key.clone(),
                conn: Some(conn),
                reusable: false,
            },
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.release_slot(self.key.clone());
        }
    }
}

/// A connection checked out of the pool. Dropping it returns the connection to the pool
/// if [`set_reusable`](Self::set_reusable) was called, and closes it otherwise.
pub(crate) struct Pooled {
    pool: Option<Arc<Pool>>,
    key: PoolKey,
    conn: Option<Connection>,
    reusable: bool,
}

impl Pooled {
    fn new(pool: Arc<Pool>, key: PoolKey, conn: Connection) -> Self {
        Self {
            pool: Some(pool),
            key,
            conn: Some(conn),
            reusable: false,
        }
    }

    pub(crate) fn conn_mut(&mut self) -> Option<&mut Connection> {
        self.conn.as_mut()
    }

    /// The exchange ended cleanly: the connection may serve another request.
    pub(crate) fn set_reusable(&mut self) {
        self.reusable = true;
    }

    /// True if this connection already served an exchange (it came from the idle list).
    pub(crate) fn was_reused(&self) -> bool {
        self.conn.as_ref().is_some_and(|conn| conn.completed > 0)
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let Some(pool) = self.pool.take() else {
            return;
        };
        // The staleness check also arms the stream's read interest while it is idle, so
        // that a close by the server is seen at checkout without a system call.
        let usable = self.reusable
            && self
                .conn
                .as_mut()
                .is_some_and(|conn| conn.is_idle_usable(false));
        match self.conn.take() {
            Some(mut conn) if usable => {
                conn.release_buffer();
                conn.completed = conn.completed.saturating_add(1);
                let now = pool.now();
                pool.put_back(self.key.clone(), conn, now);
            }
            conn => {
                drop(conn);
                pool.release_slot(self.key.clone());
            }
        }
    }
}

impl fmt::Debug for Pooled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pooled")
            .field("key", &self.key)
            .field("reusable", &self.reusable)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    use async_io::Async;
    use futures_lite::future;

    use super::*;

    fn pool(max_connections: usize, max_idle: usize, idle_timeout: Duration) -> Arc<Pool> {
        Arc::new(Pool::new(PoolConfig {
            max_connections_per_host: max_connections,
            max_idle_per_host: max_idle,
            idle_timeout,
        }))
    }

    /// A connection whose peer end the test keeps.
    fn conn() -> (Connection, UnixStream) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        (Connection::new(Box::new(Async::new(ours).unwrap())), theirs)
    }

    fn key() -> PoolKey {
        "http://pool.test:80".into()
    }

    fn checkout(pool: &Arc<Pool>) -> Grant {
        future::block_on(pool.checkout(&key(), true, false, Instant::now()))
    }

    fn slot(grant: Grant) -> Slot {
        match grant {
            Grant::Slot(slot) => slot,
            Grant::Conn(_) => panic!("expected a slot, got a connection"),
        }
    }

    fn pooled(grant: Grant) -> Pooled {
        match grant {
            Grant::Conn(pooled) => pooled,
            Grant::Slot(_) => panic!("expected a connection, got a slot"),
        }
    }

    #[test]
    fn a_clean_connection_is_reused() {
        let pool = pool(4, 4, DEFAULT_IDLE_TIMEOUT);
        let (conn, _peer) = conn();
        let mut first = slot(checkout(&pool)).fill(conn);
        first.set_reusable();
        drop(first);
        assert_eq!(pool.stats(&key()), (1, 1, 0));
        let again = pooled(checkout(&pool));
        assert!(again.was_reused());
        assert_eq!(pool.stats(&key()), (1, 0, 0));
    }

    #[test]
    fn a_connection_not_marked_reusable_is_closed() {
        let pool = pool(4, 4, DEFAULT_IDLE_TIMEOUT);
        let (conn, mut peer) = conn();
        drop(slot(checkout(&pool)).fill(conn));
        assert_eq!(pool.stats(&key()), (0, 0, 0));
        // The peer sees the close.
        let mut byte = [0u8; 1];
        assert_eq!(peer.read(&mut byte).unwrap(), 0);
    }

    #[test]
    fn the_cap_queues_requests_and_hands_over_connections() {
        let pool = pool(1, 1, DEFAULT_IDLE_TIMEOUT);
        let (conn, _peer) = conn();
        let mut held = slot(checkout(&pool)).fill(conn);
        let waiter_key = key();
        let mut waiting = Box::pin(pool.checkout(&waiter_key, true, false, Instant::now()));
        assert!(future::block_on(future::poll_once(&mut waiting)).is_none());
        assert_eq!(pool.stats(&key()), (1, 0, 1));
        held.set_reusable();
        drop(held);
        let handed = pooled(future::block_on(waiting));
        assert!(handed.was_reused());
        assert_eq!(pool.stats(&key()), (1, 0, 0));
    }

    #[test]
    fn a_closed_connection_frees_its_slot_for_a_waiter() {
        let pool = pool(1, 1, DEFAULT_IDLE_TIMEOUT);
        let held = slot(checkout(&pool));
        let waiter_key = key();
        let mut waiting = Box::pin(pool.checkout(&waiter_key, true, false, Instant::now()));
        assert!(future::block_on(future::poll_once(&mut waiting)).is_none());
        drop(held);
        drop(slot(future::block_on(waiting)));
        assert_eq!(pool.stats(&key()), (0, 0, 0));
    }

    #[test]
    fn cancelled_waiters_never_leak_slots() {
        let pool = pool(2, 2, DEFAULT_IDLE_TIMEOUT);
        for _ in 0..1000 {
            let a = slot(checkout(&pool));
            let b = slot(checkout(&pool));
            let waiter_key = key();
            let mut waiting = Box::pin(pool.checkout(&waiter_key, true, false, Instant::now()));
            assert!(future::block_on(future::poll_once(&mut waiting)).is_none());
            // The slot is granted to the waiter, which is then cancelled before it runs.
            drop(a);
            drop(waiting);
            drop(b);
            assert_eq!(pool.stats(&key()), (0, 0, 0));
        }
        let _ = slot(checkout(&pool));
        let _ = slot(checkout(&pool));
    }

    #[test]
    fn an_idle_connection_closed_by_the_server_is_not_used() {
        let pool = pool(4, 4, DEFAULT_IDLE_TIMEOUT);
        let (conn, peer) = conn();
        let mut first = slot(checkout(&pool)).fill(conn);
        first.set_reusable();
        drop(first);
        drop(peer);
        drop(slot(checkout(&pool)));
        assert_eq!(pool.stats(&key()), (0, 0, 0));
    }

    #[test]
    fn idle_connections_expire() {
        let pool = pool(4, 4, Duration::from_secs(5));
        let (c1, _peer) = conn();
        let mut first = slot(checkout(&pool)).fill(c1);
        first.set_reusable();
        drop(first);
        let later = Instant::now() + Duration::from_secs(6);
        drop(slot(future::block_on(pool.checkout(
            &key(),
            true,
            false,
            later,
        ))));
        assert_eq!(pool.stats(&key()), (0, 0, 0));

        let (conn2, _peer2) = conn();
        let mut second = slot(checkout(&pool)).fill(conn2);
        second.set_reusable();
        drop(second);
        pool.sweep(Instant::now() + Duration::from_secs(6));
        assert!(!pool.has_idle());
        assert_eq!(pool.stats(&key()), (0, 0, 0));
    }

    #[test]
    fn the_idle_cap_closes_surplus_connections() {
        let pool = pool(4, 1, DEFAULT_IDLE_TIMEOUT);
        let (c1, _p1) = conn();
        let (c2, mut p2) = conn();
        let mut a = slot(checkout(&pool)).fill(c1);
        let mut b = slot(checkout(&pool)).fill(c2);
        a.set_reusable();
        b.set_reusable();
        drop(a);
        drop(b);
        assert_eq!(pool.stats(&key()), (1, 1, 0));
        let mut byte = [0u8; 1];
        assert_eq!(p2.read(&mut byte).unwrap(), 0);
    }
}
