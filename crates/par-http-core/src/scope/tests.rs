//! Scope rules, checked with a scripted dispatch (no sockets): completion order,
//! exactly-once delivery, cancellation on close, backpressure, panics.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_executor::Executor;
use futures_lite::future;
use http::{Method, StatusCode};

use super::*;
use crate::runtime::{BoxIo, Boxed, Runtime, Spawn, Task};
use crate::{Config, Dispatch, Request, ResponseBody};

/// A runtime whose executor runs on a background thread for the duration of a test.
#[derive(Debug)]
struct TestRuntime {
    executor: Arc<Executor<'static>>,
}

impl Spawn for TestRuntime {
    fn spawn(&self, future: Boxed<()>) -> Task {
        Task::new(self.executor.spawn(future))
    }
}

impl Runtime for TestRuntime {
    fn resolve(&self, _: &str, _: u16) -> Boxed<io::Result<Vec<SocketAddr>>> {
        Box::pin(async { Err(io::Error::other("no network in scope tests")) })
    }
    fn connect_tcp(&self, _: SocketAddr) -> Boxed<io::Result<BoxIo>> {
        Box::pin(async { Err(io::Error::other("no network in scope tests")) })
    }
    fn sleep_until(&self, deadline: Instant) -> Boxed<()> {
        Box::pin(async move {
            async_io::Timer::at(deadline).await;
        })
    }
}

/// Requests to `/gate/N` wait until gate N is opened; `/panic` panics; anything else
/// answers at once. Counts live and peak in-flight sends, and drops of unfinished ones.
#[derive(Debug, Default)]
struct Scripted {
    gates: Mutex<HashMap<String, async_channel::Receiver<()>>>,
    openers: Mutex<HashMap<String, async_channel::Sender<()>>>,
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    dropped_unfinished: Arc<AtomicUsize>,
}

impl Scripted {
    fn gate(&self, path: &str) {
        let (tx, rx) = async_channel::bounded(1);
        self.gates.lock().unwrap().insert(path.to_owned(), rx);
        self.openers.lock().unwrap().insert(path.to_owned(), tx);
    }
    fn open(&self, path: &str) {
        let tx = self.openers.lock().unwrap().remove(path).unwrap();
        tx.try_send(()).unwrap();
    }
}

struct Flight {
    in_flight: Arc<AtomicUsize>,
    dropped_unfinished: Arc<AtomicUsize>,
    finished: bool,
}

impl Drop for Flight {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if !self.finished {
            self.dropped_unfinished.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Dispatch for Arc<Scripted> {
    fn send(&self, request: Request) -> Boxed<Result<Response>> {
        let gate = self.gates.lock().unwrap().remove(request.url.path());
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        let flight = Flight {
            in_flight: self.in_flight.clone(),
            dropped_unfinished: self.dropped_unfinished.clone(),
            finished: false,
        };
        Box::pin(async move {
            let mut flight = flight;
            if request.url.path() == "/panic" {
                panic!("scripted panic");
            }
            if let Some(gate) = gate {
                let _ = gate.recv().await;
            }
            flight.finished = true;
            let body = ResponseBody::from(request.url.path().to_owned());
            Ok(Response::new(
                request.method,
                request.url,
                StatusCode::OK,
                Default::default(),
                body,
            ))
        })
    }
}

struct Harness {
    executor: Arc<Executor<'static>>,
    stop: Option<async_channel::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    dispatch: Arc<Scripted>,
    client: Client,
}

impl Harness {
    fn new() -> Self {
        let executor = Arc::new(Executor::new());
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let runner = executor.clone();
        let thread = std::thread::spawn(move || {
            future::block_on(runner.run(async move {
                let _ = stopped.recv().await;
            }))
        });
        let dispatch = Arc::new(Scripted::default());
        let runtime = Arc::new(TestRuntime {
            executor: executor.clone(),
        });
        let client = Client::with_dispatch(runtime, Arc::new(dispatch.clone()), Config::default());
        Self {
            executor,
            stop: Some(stop),
            thread: Some(thread),
            dispatch,
            client,
        }
    }

    fn get(path: &str) -> RequestBuilder {
        RequestBuilder::new(Method::GET, format!("http://scope.test{path}"), None)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        let _ = &self.executor;
    }
}

async fn text(response: Result<Response>) -> String {
    let response = response.unwrap();
    String::from_utf8(response.bytes().await.unwrap().to_vec()).unwrap()
}

#[test]
fn next_response_follows_completion_order() {
    let h = Harness::new();
    future::block_on(async {
        let scope = h.client.scope(ScopeOptions::new());
        for gate in ["/a", "/b", "/c"] {
            h.dispatch.gate(gate);
        }
        let _a = scope.start(Harness::get("/a")).await;
        let _b = scope.start(Harness::get("/b")).await;
        let _c = scope.start(Harness::get("/c")).await;
        for path in ["/c", "/a", "/b"] {
            h.dispatch.open(path);
            assert_eq!(text(scope.next_response().await).await, path);
        }
        assert!(!scope.has_pending_responses());
        assert!(scope.next_response().await.unwrap_err().is_no_pending());
        scope.close().await;
    });
}

#[test]
fn each_outcome_is_delivered_exactly_once() {
    let h = Harness::new();
    future::block_on(async {
        let scope = h.client.scope(ScopeOptions::new());
        let first = scope.start(Harness::get("/one")).await;
        let second = scope.start(Harness::get("/two")).await;
        // Through its handle first: next_response then only sees the other one.
        assert_eq!(text(second.get_response().await).await, "/two");
        assert_eq!(text(scope.next_response().await).await, "/one");
        // The handle whose outcome next_response delivered gets a typed answer.
        let err = first.get_response().await.unwrap_err();
        assert!(err.is_already_collected(), "{err:?}");
        assert!(scope.next_response().await.unwrap_err().is_no_pending());
        scope.close().await;
    });
}

#[test]
fn dropping_a_pending_keeps_its_outcome_for_next_response() {
    let h = Harness::new();
    future::block_on(async {
        let scope = h.client.scope(ScopeOptions::new());
        h.dispatch.gate("/slow");
        drop(scope.start(Harness::get("/slow")).await);
        assert!(scope.has_pending_responses());
        h.dispatch.open("/slow");
        assert_eq!(text(scope.next_response().await).await, "/slow");
        assert_eq!(h.dispatch.dropped_unfinished.load(Ordering::SeqCst), 0);
        scope.close().await;
    });
}

#[test]
fn errors_arrive_only_at_collection_and_name_the_request() {
    let h = Harness::new();
    future::block_on(async {
        let scope = h.client.scope(ScopeOptions::new());
        let bad = scope
            .start(RequestBuilder::new(Method::POST, "http://[::1", None))
            .await;
        let bad_header = scope
            .start(Harness::get("/h").header("x-bad", "a\r\nb"))
            .await;
        assert!(scope.has_pending_responses());
        let err = bad.get_response().await.unwrap_err();
        assert!(err.is_invalid_url(), "{err:?}");
        assert_eq!(err.method(), Some(&Method::POST));
        assert_eq!(err.url(), Some("http://[::1"));
        let err = bad_header.get_response().await.unwrap_err();
        assert!(err.is_invalid_request(), "{err:?}");
        assert_eq!(err.url(), Some("http://scope.test/h"));
        scope.close().await;
    });
}

#[test]
fn close_cancels_running_requests_and_waits_for_their_teardown() {
    let h = Harness::new();
    future::block_on(async {
        let scope = h.client.scope(ScopeOptions::new());
        for n in 0..20 {
            let path = format!("/never/{n}");
            h.dispatch.gate(&path);
            let _ = scope.start(Harness::get(&path)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while h.dispatch.in_flight.load(Ordering::SeqCst) < 20 && Instant::now() < deadline {
            async_io::Timer::after(Duration::from_millis(1)).await;
        }
        assert_eq!(h.dispatch.peak.load(Ordering::SeqCst), 20);
        scope.close().await;
        // Joined: every dispatch future has been dropped by the time close returns.
        assert_eq!(h.dispatch.in_flight.load(Ordering::SeqCst), 0);
        assert_eq!(h.dispatch.dropped_unfinished.load(Ordering::SeqCst), 20);
        assert!(!scope.has_pending_responses());
        assert!(scope.next_response().await.unwrap_err().is_no_pending());
        // A request started after the end is cancelled, not run.
        let late = scope.start(Harness::get("/late")).await;
        assert!(late.get_response().await.unwrap_err().is_cancelled());
    });
}

#[test]
fn a_limit_applies_backpressure() {
    let h = Harness::new();
    future::block_on(async {
        let scope = h.client.scope(ScopeOptions::new().max_in_flight(3));
        for n in 0..10 {
            h.dispatch.gate(&format!("/g/{n}"));
        }
        // Starting never waits: all ten are started at once, seven wait in line.
        let mut started = Vec::new();
        for n in 0..10 {
            started.push(scope.start(Harness::get(&format!("/g/{n}"))).await);
        }
        // Three at a time reach the dispatch: each gate opens once three are in flight
        // (or all that are left).
        for n in 0..10 {
            let want = 3.min(10 - n);
            let deadline = Instant::now() + Duration::from_secs(10);
            while h.dispatch.in_flight.load(Ordering::SeqCst) != want && Instant::now() < deadline {
                async_io::Timer::after(Duration::from_millis(1)).await;
            }
            assert_eq!(h.dispatch.in_flight.load(Ordering::SeqCst), want);
            assert_eq!(h.dispatch.peak.load(Ordering::SeqCst), 3);
            h.dispatch.open(&format!("/g/{n}"));
        }
        let mut count = 0;
        while scope.has_pending_responses() {
            scope.next_response().await.unwrap();
            count += 1;
        }
        assert_eq!(count, 10);
        assert_eq!(h.dispatch.peak.load(Ordering::SeqCst), 3);
        scope.close().await;
    });
}

#[test]
fn a_panicking_dispatch_becomes_that_requests_error() {
    let h = Harness::new();
    future::block_on(async {
        let scope = h.client.scope(ScopeOptions::new());
        let boom = scope.start(Harness::get("/panic")).await;
        let fine = scope.start(Harness::get("/fine")).await;
        let err = boom.get_response().await.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::DispatchPanicked);
        assert_eq!(err.url(), Some("http://scope.test/panic"));
        assert_eq!(text(fine.get_response().await).await, "/fine");
        scope.close().await;
    });
}

#[test]
fn close_drops_uncollected_outcomes() {
    let h = Harness::new();
    future::block_on(async {
        let scope = h.client.scope(ScopeOptions::new());
        let pending = scope.start(Harness::get("/done")).await;
        while !pending.is_ready() {
            async_io::Timer::after(Duration::from_millis(1)).await;
        }
        scope.close().await;
        assert!(!scope.has_pending_responses());
        let err = pending.get_response().await.unwrap_err();
        assert!(err.is_already_collected() || err.is_cancelled(), "{err:?}");
    });
}

/// A runtime that has shut down: it drops every future it is given.
#[derive(Debug)]
struct ShutDownRuntime;

impl Spawn for ShutDownRuntime {
    fn spawn(&self, future: Boxed<()>) -> Task {
        drop(future);
        Task::new(())
    }
}

impl Runtime for ShutDownRuntime {
    fn resolve(&self, _: &str, _: u16) -> Boxed<io::Result<Vec<SocketAddr>>> {
        Box::pin(async { Err(io::Error::other("shut down")) })
    }
    fn connect_tcp(&self, _: SocketAddr) -> Boxed<io::Result<BoxIo>> {
        Box::pin(async { Err(io::Error::other("shut down")) })
    }
    fn sleep_until(&self, _: Instant) -> Boxed<()> {
        Box::pin(async {})
    }
}

#[test]
fn a_task_dropped_by_its_runtime_reports_cancelled_instead_of_hanging() {
    let dispatch = Arc::new(Scripted::default());
    let client = Client::with_dispatch(
        Arc::new(ShutDownRuntime),
        Arc::new(dispatch),
        Config::default(),
    );
    future::block_on(async {
        let scope = client.scope(ScopeOptions::new());
        let pending = scope.start(Harness::get("/lost")).await;
        let err = pending.get_response().await.unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        assert_eq!(err.url(), Some("http://scope.test/lost"));
        assert!(scope.next_response().await.unwrap_err().is_no_pending());
        scope.close().await;
    });
}
