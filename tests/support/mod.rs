//! Test equipment shared by the integration tests: servers on 127.0.0.1 and small helpers.
//!
//! - [`ScriptedServer`]: raw TCP, every byte written by the test (framing edge cases,
//!   stale connections, cancellation), with connection and in-flight gauges.
//! - [`HyperServer`]: a real third-party server (hyper 1.x) for interop, parallelism and
//!   keep-alive reuse, with the same kind of gauges.
//! - [`ForwardProxy`]: a forward proxy (HTTP forwarding, `CONNECT`, SOCKS5, optional
//!   credentials) that records every request and tunnel it saw.
//!
//! Each test file includes this module with `mod support;` and uses a subset of it, so
//! unused items are expected in any one test binary.
// Each test binary uses a different subset of this module; what one leaves unused is
// used by another, so unused items and re-exports are expected here.
#![allow(dead_code, unused_imports)]

mod bounded;
mod forward_proxy;
mod h2_server;
mod hyper_server;
mod scripted;
mod thread_runtime;
mod tls_server;
mod virtual_clock;
mod wire;

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

pub use bounded::{HANG_LIMIT, hang_limit, run_bounded};
pub use forward_proxy::{ForwardProxy, ProxyLog, ProxyOptions, TlsForwardProxy, TunnelRecord};
pub use h2_server::{Behaviour, H2Options, H2Server, H2Stats, goaway_refusing_server};
pub use hyper_server::{HyperServer, HyperStats, pattern};
pub use scripted::{ScriptedServer, ScriptedStats, ServerConn};
pub use thread_runtime::ThreadRuntime;
pub use tls_server::{CertKey, TestPki, TlsServer, TlsStats};
pub use virtual_clock::VirtualClock;
pub use wire::{RawRequest, RawResponse, ok, read_request, read_response, response};

/// The bound for every "wait until the server saw X" in the tests: generous, because it
/// only matters when a test is about to fail.
pub const WAIT: Duration = Duration::from_secs(10);

/// `http://ADDR/path`, with or without a leading `/` in `path`.
pub fn url_for(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}/{}", path.trim_start_matches('/'))
}

/// A URL on 127.0.0.1 whose port has nothing listening (bound, then released).
pub fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    url_for(addr, "/nothing-here")
}

/// Named switches a test flips to let a scripted handler go on: the test decides the order
/// in which the server answers, so completion order is asserted without a stopwatch.
#[derive(Debug, Default)]
pub struct Switches {
    on: std::sync::Mutex<Vec<String>>,
    changed: std::sync::Condvar,
}

impl Switches {
    /// A shared set of switches, all off.
    pub fn new() -> std::sync::Arc<Self> {
        std::sync::Arc::default()
    }

    /// Turns `name` on and wakes whoever waits for it.
    pub fn turn_on(&self, name: &str) {
        let mut on = self
            .on
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        on.push(name.to_owned());
        drop(on);
        self.changed.notify_all();
    }

    /// Waits until `name` is on, at most `timeout`; returns whether it is on.
    pub fn wait_for(&self, name: &str, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut on = self
            .on
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            if on.iter().any(|n| n == name) {
                return true;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            on = self
                .changed
                .wait_timeout(on, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}

/// A server whose connections each read one request and then hold it unanswered until the
/// client closes the connection (bounded by [`WAIT`]): the stand-in for "a slow server".
pub fn holding_server() -> ScriptedServer {
    ScriptedServer::new(|conn| {
        if conn.read_request().is_some() {
            conn.wait_for_close(WAIT);
        }
    })
}

/// How long the first batch of a [`gate_server`] stays held after the gate opened, so that
/// a request over the limit has time to show up in the gauges. Passing never depends on
/// it; only catching a client that breaks its limit does.
pub const GRACE: Duration = Duration::from_millis(200);

/// A server for limit tests. Each request is held until `n` were in flight at once (at
/// most [`WAIT`]); the first `n` are then held [`GRACE`] longer, or until an `n + 1`-th
/// arrives, so a client that exceeds its limit shows in `max_in_flight`. Later requests
/// are answered at once. Answers carry the request target as the body.
pub fn gate_server(n: usize) -> ScriptedServer {
    ScriptedServer::new(move |conn| {
        while let Some(request) = conn.read_request() {
            let first_batch = conn.stats().requests <= n;
            conn.wait_until(|s| s.max_in_flight >= n, WAIT);
            if first_batch {
                conn.wait_until(|s| s.in_flight > n, GRACE);
            }
            conn.write_all(&ok(&request.target));
        }
    })
}

/// Runs the calling test alone in a child process (this same test binary, filtered to
/// `name` with `--exact`) and returns whether it passed there; inside that child it
/// returns `None` so the test body runs.
///
/// Tests that count process-wide things (threads, file descriptors) use this: in the
/// shared test binary, other tests open sockets and start clients at the same moment.
///
/// ```ignore
/// if let Some(passed) = support::isolated(module_path!(), "my_test") { assert!(passed); return; }
/// ```
pub fn isolated(module: &str, test: &str) -> Option<bool> {
    const MARK: &str = "PAR_HTTP_ISOLATED_TEST";
    // `module_path!()` starts with the crate (the test binary) name: drop it.
    let path = module.split_once("::").map_or(module, |(_, rest)| rest);
    let name = format!("{path}::{test}");
    if std::env::var(MARK).is_ok_and(|running| running == name) {
        return None;
    }
    let Ok(exe) = std::env::current_exe() else {
        return Some(false);
    };
    let status = std::process::Command::new(exe)
        .args([name.as_str(), "--exact", "--test-threads=1", "--nocapture"])
        .env(MARK, &name)
        .status();
    Some(status.is_ok_and(|status| status.success()))
}

/// Waits on `changed` until `cond` holds for the gauges behind `gauges`, `timeout` passes,
/// or `give_up()` says the server is stopping; returns whether `cond` held. The one wait
/// loop of every test server's `wait_until`.
pub fn wait_on<T>(
    mut gauges: std::sync::MutexGuard<'_, T>,
    changed: &std::sync::Condvar,
    mut cond: impl FnMut(&T) -> bool,
    timeout: Duration,
    give_up: impl Fn() -> bool,
) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if cond(&gauges) {
            return true;
        }
        let now = std::time::Instant::now();
        if now >= deadline || give_up() {
            return false;
        }
        gauges = changed
            .wait_timeout(gauges, deadline - now)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0;
    }
}

/// Stops a test server: raises its `stop` flag, shuts down its live `streams` (so that
/// their threads see the end at once) and joins its acceptor thread.
fn shut_down<'a>(
    stop: &AtomicBool,
    streams: impl IntoIterator<Item = &'a TcpStream>,
    accept: Option<JoinHandle<()>>,
) {
    stop.store(true, Ordering::SeqCst);
    for stream in streams {
        let _ = stream.shutdown(Shutdown::Both);
    }
    if let Some(accept) = accept {
        let _ = accept.join();
    }
}
