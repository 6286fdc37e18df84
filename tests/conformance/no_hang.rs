//! No pattern of starting and collecting requests in a scope hangs.
//!
//! A hang cannot be caught by the test that hangs, so every scenario here runs on a
//! thread of its own and is waited for with a timeout ([`run_bounded`], 60 s, or
//! `PAR_HTTP_HANG_LIMIT_SECS`): a case that hangs fails with `HANG: <case>` and the
//! server's gauges, and the test binary goes on. Parallelism and limits are judged by the
//! server's gauges (connections open at once, requests in flight at once), never by a
//! stopwatch.
//!
//! 1. The matrix: blocking and async scopes × five collection orders × five body sizes
//!    (every body read whole and compared byte for byte) × two limit sets (a per-host
//!    connection cap below the number of requests, with and without a scope limit).
//!    Every request must get exactly one outcome, and the server must never see more
//!    connections than the cap, nor more requests in flight than either limit.
//! 2. The program from the issue, made small: `max_in_flight(32)`, the default per-host
//!    cap, 133 (and 1,000) URLs with 64 KiB bodies, all started, then collected with
//!    `next_response`.
//! 3. Leaving a scope is joined: when `drop(parallel)` (async) or `client.parallel(..)`
//!    (blocking: return, `?`, panic) returns, the pending requests' sockets are closed.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use par_http::{ParallelConfig, StatusCode};

use crate::rt;
use crate::support::{HyperServer, ScriptedServer, WAIT, holding_server, pattern, run_bounded};

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

/// The body sizes of the matrix.
const EMPTY: usize = 0;
const SMALL: usize = 13;
const MEDIUM: usize = 64 * KIB;
const LARGE: usize = MIB + 1;
const HUGE: usize = 16 * MIB;

/// The scope limit of the "with a scope limit" cases: below the number of requests.
const SCOPE_LIMIT: usize = 3;

/// Which API a case drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    /// `client.parallel_with(config, |p| ...)`.
    Blocking,
    /// `AsyncClient::parallel_with(config)`, awaited on `rt::block_on`.
    Async,
}

/// In which order a case collects its outcomes. Every order starts all requests first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    /// `get_response` on each handle, in start order.
    Start,
    /// `get_response` on each handle, last started first.
    Reverse,
    /// `get_response` on each handle, in a fixed pseudo-random order.
    Shuffled,
    /// `while p.has_pending_responses() { p.next_response() }`, handles dropped.
    Completion,
    /// `next_response` and `get_response` on the remaining handles (in start order),
    /// taking turns; a handle whose outcome `next_response` took says so.
    Interleaved,
}

/// Shuffles `items` with a fixed seed (Fisher-Yates on a 64-bit LCG): the same order on
/// every run, and neither the start order nor its reverse.
fn shuffled<T>(mut items: Vec<T>) -> Vec<T> {
    let mut state: u64 = 0x5eed_1234_abcd_0042;
    for i in (1..items.len()).rev() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let j = usize::try_from(state >> 33).unwrap() % (i + 1);
        items.swap(i, j);
    }
    items
}

impl Order {
    /// `handles` (in start order) in the order this case collects them.
    fn arrange<T>(self, handles: Vec<T>) -> Vec<T> {
        match self {
            Self::Reverse => handles.into_iter().rev().collect(),
            Self::Shuffled => shuffled(handles),
            Self::Start | Self::Completion | Self::Interleaved => handles,
        }
    }
}

/// The target of request `index` of a case: `/bytes?n=SIZE&i=INDEX` (the server ignores
/// `i`; it comes back in the response's URL).
fn target(size: usize, index: usize) -> String {
    format!("/bytes?n={size}&i={index}")
}

/// The request index in a response's URL (see [`target`]).
fn index_of(url: &str) -> usize {
    let (_, index) = url
        .rsplit_once("i=")
        .unwrap_or_else(|| panic!("no index in {url}"));
    index
        .parse()
        .unwrap_or_else(|_| panic!("a bad index in {url}"))
}

/// The indexes of the requests the server has received, in the order received.
fn received(server: &HyperServer) -> Vec<usize> {
    server
        .request_targets()
        .iter()
        .map(|target| index_of(target))
        .collect()
}

/// Who got which outcome: each request must get exactly one, its own, whole body.
struct Tally {
    expected: Vec<u8>,
    delivered: Mutex<Vec<usize>>,
    collected: AtomicUsize,
}

impl Tally {
    fn new(requests: usize, size: usize) -> Self {
        Self {
            expected: pattern(size),
            delivered: Mutex::new(vec![0; requests]),
            collected: AtomicUsize::new(0),
        }
    }

    /// Records a response of `url` with `status` and `body`; `handle` is the index of the
    /// handle it came through (`None` for `next_response`).
    fn record(&self, url: &str, status: StatusCode, handle: Option<usize>, body: &[u8]) {
        let index = index_of(url);
        assert_eq!(status, 200, "request {index}");
        if let Some(handle) = handle {
            assert_eq!(index, handle, "handle {handle} delivered another request");
        }
        assert_eq!(
            body.len(),
            self.expected.len(),
            "request {index}: body length"
        );
        assert!(
            body == self.expected.as_slice(),
            "request {index}: the body differs from the pattern"
        );
        let mut delivered = self
            .delivered
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        delivered[index] += 1;
        assert_eq!(delivered[index], 1, "request {index} delivered twice");
        self.collected.fetch_add(1, Ordering::SeqCst);
    }

    /// Handle `index` said its outcome was already collected: `next_response` must have
    /// delivered it.
    fn already_collected(&self, index: usize) {
        let delivered = self
            .delivered
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        assert_eq!(
            delivered[index], 1,
            "handle {index} says already collected, but no outcome was delivered for it"
        );
    }

    /// Outcomes delivered so far.
    fn collected(&self) -> usize {
        self.collected.load(Ordering::SeqCst)
    }

    /// Every request got exactly one outcome.
    fn assert_complete(&self) {
        let delivered = self
            .delivered
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let missing: Vec<usize> = (0..delivered.len())
            .filter(|&i| delivered[i] != 1)
            .collect();
        assert!(
            missing.is_empty(),
            "requests without an outcome: {missing:?}"
        );
    }
}

/// One case of the matrix.
#[derive(Clone, Copy, Debug)]
struct Case {
    api: Api,
    order: Order,
    size: usize,
    requests: usize,
    per_host: usize,
    scope_limit: Option<usize>,
}

impl Case {
    /// More requests than the per-host cap: 12 on 4 connections, or 6 on 2 for 16 MiB
    /// bodies (to bound memory and time); with a scope limit of 3 if `scope_limit`.
    fn new(api: Api, order: Order, size: usize, scope_limit: bool) -> Self {
        let (requests, per_host) = if size >= HUGE { (6, 2) } else { (12, 4) };
        Self {
            api,
            order,
            size,
            requests,
            per_host,
            scope_limit: scope_limit.then_some(SCOPE_LIMIT),
        }
    }

    fn name(&self) -> String {
        format!(
            "{:?} scope on {}, {:?} order, {} requests with {} B bodies, \
             max_connections_per_host({}), max_in_flight {:?}",
            self.api,
            rt::NAME,
            self.order,
            self.requests,
            self.size,
            self.per_host,
            self.scope_limit
        )
    }

    fn config(&self) -> ParallelConfig {
        match self.scope_limit {
            Some(limit) => ParallelConfig::new().max_in_flight(limit),
            None => ParallelConfig::new(),
        }
    }

    fn urls(&self, server: &HyperServer) -> Vec<String> {
        (0..self.requests)
            .map(|i| server.url(&target(self.size, i)))
            .collect()
    }

    /// Runs the case, bounded.
    fn run(self) {
        let server = Arc::new(HyperServer::start());
        let tally = Arc::new(Tally::new(self.requests, self.size));
        let status = {
            let (server, tally) = (Arc::clone(&server), Arc::clone(&tally));
            move || {
                format!(
                    "collected {} of {}; server {:?}, received requests {:?}",
                    tally.collected(),
                    self.requests,
                    server.stats(),
                    received(&server)
                )
            }
        };
        run_bounded(&self.name(), status, move || {
            match self.api {
                Api::Blocking => self.run_blocking(&server, &tally),
                Api::Async => rt::block_on(self.run_async(&server, &tally)),
            }
            self.check(&server, &tally);
        });
    }

    fn run_blocking(&self, server: &HyperServer, tally: &Tally) {
        let client = rt::builder()
            .max_connections_per_host(self.per_host)
            .build()
            .unwrap();
        let urls = self.urls(server);
        client
            .parallel_with(self.config(), |p| {
                self.collect_blocking(p, &urls, tally)?;
                let err = p.next_response().unwrap_err();
                assert!(err.is_no_pending(), "{err:?}");
                Ok(())
            })
            .unwrap_or_else(|err| panic!("{}: {err:?}", self.name()));
    }

    fn collect_blocking(
        &self,
        p: &par_http::Parallel<'_>,
        urls: &[String],
        tally: &Tally,
    ) -> par_http::Result<()> {
        let take = |response: par_http::Response, handle: Option<usize>| {
            let (url, status) = (response.url().to_string(), response.status());
            let body = response.bytes()?;
            tally.record(&url, status, handle, &body);
            Ok::<_, par_http::Error>(())
        };
        match self.order {
            Order::Completion => {
                for url in urls {
                    p.get(url.as_str());
                }
                while p.has_pending_responses() {
                    take(p.next_response()?, None)?;
                }
            }
            Order::Interleaved => {
                let mut handles: VecDeque<_> = urls.iter().map(|url| p.get(url.as_str())).collect();
                let mut next_turn = true;
                while !handles.is_empty() || p.has_pending_responses() {
                    if next_turn {
                        if p.has_pending_responses() {
                            take(p.next_response()?, None)?;
                        }
                    } else if let Some(handle) = handles.pop_front() {
                        let index = handle.index();
                        match handle.get_response() {
                            Ok(response) => take(response, Some(index))?,
                            Err(err) if err.is_already_collected() => {
                                tally.already_collected(index);
                            }
                            Err(err) => return Err(err),
                        }
                    }
                    next_turn = !next_turn;
                }
            }
            Order::Start | Order::Reverse | Order::Shuffled => {
                let handles: Vec<_> = urls.iter().map(|url| p.get(url.as_str())).collect();
                for handle in self.order.arrange(handles) {
                    let index = handle.index();
                    take(handle.get_response()?, Some(index))?;
                }
            }
        }
        Ok(())
    }

    async fn run_async(&self, server: &HyperServer, tally: &Tally) {
        let client = rt::AsyncClient::builder()
            .max_connections_per_host(self.per_host)
            .build()
            .unwrap();
        let urls = self.urls(server);
        let parallel = client.parallel_with(self.config());
        if let Err(err) = self.collect_async(&parallel, &urls, tally).await {
            panic!("{}: {err:?}", self.name());
        }
        let err = parallel.next_response().await.unwrap_err();
        assert!(err.is_no_pending(), "{err:?}");
        parallel.close().await;
    }

    async fn collect_async(
        &self,
        p: &par_http::AsyncParallel,
        urls: &[String],
        tally: &Tally,
    ) -> par_http::Result<()> {
        async fn take(
            tally: &Tally,
            response: par_http::AsyncResponse,
            handle: Option<usize>,
        ) -> par_http::Result<()> {
            let (url, status) = (response.url().to_string(), response.status());
            let body = response.bytes().await?;
            tally.record(&url, status, handle, &body);
            Ok(())
        }
        match self.order {
            Order::Completion => {
                for url in urls {
                    p.get(url.as_str()).await;
                }
                while p.has_pending_responses() {
                    take(tally, p.next_response().await?, None).await?;
                }
            }
            Order::Interleaved => {
                let mut handles = VecDeque::new();
                for url in urls {
                    handles.push_back(p.get(url.as_str()).await);
                }
                let mut next_turn = true;
                while !handles.is_empty() || p.has_pending_responses() {
                    if next_turn {
                        if p.has_pending_responses() {
                            take(tally, p.next_response().await?, None).await?;
                        }
                    } else if let Some(handle) = handles.pop_front() {
                        let index = handle.index();
                        match handle.get_response().await {
                            Ok(response) => take(tally, response, Some(index)).await?,
                            Err(err) if err.is_already_collected() => {
                                tally.already_collected(index);
                            }
                            Err(err) => return Err(err),
                        }
                    }
                    next_turn = !next_turn;
                }
            }
            Order::Start | Order::Reverse | Order::Shuffled => {
                let mut handles = Vec::new();
                for url in urls {
                    handles.push(p.get(url.as_str()).await);
                }
                for handle in self.order.arrange(handles) {
                    let index = handle.index();
                    take(tally, handle.get_response().await?, Some(index)).await?;
                }
            }
        }
        Ok(())
    }

    /// Exactly one outcome each, and no limit broken as the server saw it.
    fn check(&self, server: &HyperServer, tally: &Tally) {
        tally.assert_complete();
        let stats = server.stats();
        assert!(
            stats.max_open <= self.per_host,
            "{}: more connections at once than the per-host cap: {stats:?}",
            self.name()
        );
        let limit = self.scope_limit.unwrap_or(usize::MAX).min(self.per_host);
        assert!(
            stats.max_in_flight <= limit,
            "{}: more requests in flight at once than {limit}: {stats:?}",
            self.name()
        );
        assert!(stats.requests >= self.requests, "{stats:?}");
    }
}

/// One module per collection order, one test per body size and limit set. The 16 MiB
/// bodies run with the per-host cap alone here; [`huge_bodies_under_a_scope_limit`]
/// covers them with a scope limit too, in two orders.
macro_rules! order_matrix {
    ($api:ident, $module:ident, $order:ident) => {
        mod $module {
            use crate::conformance::no_hang::{
                Api, Case, EMPTY, HUGE, LARGE, MEDIUM, Order, SMALL,
            };

            fn run(size: usize, scope_limit: bool) {
                Case::new(Api::$api, Order::$order, size, scope_limit).run();
            }

            #[test]
            fn empty_bodies() {
                run(EMPTY, false);
            }

            #[test]
            fn bodies_of_13_bytes() {
                run(SMALL, false);
            }

            #[test]
            fn bodies_of_64_kib() {
                run(MEDIUM, false);
            }

            #[test]
            fn bodies_of_1_mib_plus_1() {
                run(LARGE, false);
            }

            #[test]
            fn bodies_of_16_mib() {
                run(HUGE, false);
            }

            #[test]
            fn empty_bodies_max_in_flight_3() {
                run(EMPTY, true);
            }

            #[test]
            fn bodies_of_13_bytes_max_in_flight_3() {
                run(SMALL, true);
            }

            #[test]
            fn bodies_of_64_kib_max_in_flight_3() {
                run(MEDIUM, true);
            }

            #[test]
            fn bodies_of_1_mib_plus_1_max_in_flight_3() {
                run(LARGE, true);
            }
        }
    };
}

/// The matrix on the blocking scope.
mod blocking {
    order_matrix!(Blocking, start_order, Start);
    order_matrix!(Blocking, reverse_order, Reverse);
    order_matrix!(Blocking, shuffled_order, Shuffled);
    order_matrix!(Blocking, completion_order, Completion);
    order_matrix!(Blocking, interleaved_order, Interleaved);
}

/// The matrix on the async scope.
mod async_scope {
    order_matrix!(Async, start_order, Start);
    order_matrix!(Async, reverse_order, Reverse);
    order_matrix!(Async, shuffled_order, Shuffled);
    order_matrix!(Async, completion_order, Completion);
    order_matrix!(Async, interleaved_order, Interleaved);
}

/// 16 MiB bodies under a scope limit (6 requests, 2 connections, 3 in flight): the
/// orders that wait on the last-started handle first and on whichever completes.
mod huge_bodies_under_a_scope_limit {
    use super::{Api, Case, HUGE, Order};

    #[test]
    fn blocking_reverse_order() {
        Case::new(Api::Blocking, Order::Reverse, HUGE, true).run();
    }

    #[test]
    fn blocking_completion_order() {
        Case::new(Api::Blocking, Order::Completion, HUGE, true).run();
    }

    #[test]
    fn async_reverse_order() {
        Case::new(Api::Async, Order::Reverse, HUGE, true).run();
    }

    #[test]
    fn async_completion_order() {
        Case::new(Api::Async, Order::Completion, HUGE, true).run();
    }
}

#[test]
fn the_shuffled_order_is_neither_start_nor_reverse() {
    for n in [6, 12] {
        let order = shuffled((0..n).collect::<Vec<usize>>());
        assert_ne!(order, (0..n).collect::<Vec<_>>());
        assert_ne!(order, (0..n).rev().collect::<Vec<_>>());
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..n).collect::<Vec<_>>());
    }
}

/// The issue's program: its scope limit, its body size, the default per-host cap.
const ISSUE_LIMIT: usize = 32;
const ISSUE_BODY: usize = 64 * KIB;
/// The default per-host connection cap.
const DEFAULT_PER_HOST: usize = 100;

/// The issue's program on the blocking scope with `requests` URLs:
///
/// ```ignore
/// client.parallel_with(ParallelConfig::new().max_in_flight(32), |p| {
///     for url in &urls { p.get(url); }
///     while p.has_pending_responses() { p.next_response()?.bytes()?; }
///     Ok(())
/// })
/// ```
fn issue_program_blocking(requests: usize) {
    let server = Arc::new(HyperServer::start());
    let tally = Arc::new(Tally::new(requests, ISSUE_BODY));
    let name = format!(
        "the issue's program, blocking on {}, {requests} URLs",
        rt::NAME
    );
    let status = issue_status(&server, &tally, requests);
    run_bounded(&name, status, move || {
        let client = rt::client();
        let urls: Vec<String> = (0..requests)
            .map(|i| server.url(&target(ISSUE_BODY, i)))
            .collect();
        client
            .parallel_with(ParallelConfig::new().max_in_flight(ISSUE_LIMIT), |p| {
                for url in &urls {
                    p.get(url.as_str());
                }
                while p.has_pending_responses() {
                    let response = p.next_response()?;
                    let (url, status) = (response.url().to_string(), response.status());
                    let body = response.bytes()?;
                    tally.record(&url, status, None, &body);
                }
                Ok(())
            })
            .unwrap();
        check_issue(&server, &tally);
    });
}

/// The same, on the async scope.
fn issue_program_async(requests: usize) {
    let server = Arc::new(HyperServer::start());
    let tally = Arc::new(Tally::new(requests, ISSUE_BODY));
    let name = format!(
        "the issue's program, async on {}, {requests} URLs",
        rt::NAME
    );
    let status = issue_status(&server, &tally, requests);
    run_bounded(&name, status, move || {
        rt::block_on(async {
            let client = rt::AsyncClient::new();
            let urls: Vec<String> = (0..requests)
                .map(|i| server.url(&target(ISSUE_BODY, i)))
                .collect();
            let p = client.parallel_with(ParallelConfig::new().max_in_flight(ISSUE_LIMIT));
            for url in &urls {
                p.get(url.as_str()).await;
            }
            while p.has_pending_responses() {
                let response = p.next_response().await.unwrap();
                let (url, status) = (response.url().to_string(), response.status());
                let body = response.bytes().await.unwrap();
                tally.record(&url, status, None, &body);
            }
        });
        check_issue(&server, &tally);
    });
}

fn issue_status(
    server: &Arc<HyperServer>,
    tally: &Arc<Tally>,
    requests: usize,
) -> impl Fn() -> String + use<> {
    let (server, tally) = (Arc::clone(server), Arc::clone(tally));
    move || {
        format!(
            "collected {} of {requests}; server {:?}, received requests {:?}",
            tally.collected(),
            server.stats(),
            received(&server)
        )
    }
}

fn check_issue(server: &HyperServer, tally: &Tally) {
    tally.assert_complete();
    let stats = server.stats();
    assert!(stats.max_in_flight <= ISSUE_LIMIT, "{stats:?}");
    assert!(stats.max_open <= DEFAULT_PER_HOST, "{stats:?}");
}

#[test]
fn the_issue_program_with_133_urls_blocking() {
    issue_program_blocking(133);
}

#[test]
fn the_issue_program_with_133_urls_async() {
    issue_program_async(133);
}

#[test]
fn the_issue_program_with_1000_urls_blocking() {
    issue_program_blocking(1_000);
}

/// Requests held unanswered when a scope is left.
const HELD: usize = 5;

/// How long the server may take to notice connections the client has already closed:
/// only the time for its threads to read an EOF.
const CLOSE_NOTICED: Duration = Duration::from_secs(2);

fn held_status(server: &Arc<ScriptedServer>) -> impl Fn() -> String + use<> {
    let server = Arc::clone(server);
    move || format!("server {:?}", server.stats())
}

/// Drops an async scope with `HELD` requests that the server holds, then, without
/// awaiting anything more on the runtime, checks that the server sees every connection
/// closed: the sockets must be closed by the time `drop` returns.
///
/// The check runs inside `block_on`, blocking the runtime's thread on purpose, rather
/// than after it: `rt::block_on` drops its runtime on the way out, and dropping a
/// current-thread tokio runtime drops its tasks (closing their sockets), which would let
/// a `drop` that only signals cancellation pass.
fn async_drop_is_joined(multi_thread: bool) {
    let server = Arc::new(holding_server());
    let flavour = if multi_thread {
        "multi-thread"
    } else {
        "current-thread"
    };
    let name = format!(
        "drop(AsyncParallel) with {HELD} held requests on {} ({flavour})",
        rt::NAME
    );
    let status = held_status(&server);
    run_bounded(&name, status, move || {
        let test = async {
            let client = rt::AsyncClient::new();
            let parallel = client.parallel();
            for i in 0..HELD {
                parallel.get(server.url(&format!("/held/{i}"))).await;
            }
            assert!(
                super::eventually(|| server.stats(), |s| s.in_flight == HELD).await,
                "{:?}",
                server.stats()
            );
            drop(parallel);
            let dropped = Instant::now();
            // Nothing is awaited from here on: only the sockets already closed count.
            let closed = server.wait_until(|s| s.closed_by_peer == HELD, CLOSE_NOTICED);
            let stats = server.stats();
            drop(client);
            (closed, dropped.elapsed(), stats)
        };
        let (closed, after, stats) = if multi_thread {
            rt::block_on_multi_thread(test)
        } else {
            rt::block_on(test)
        };
        assert!(
            closed,
            "{HELD} connections must be closed when drop(parallel) returns; \
             {after:?} after it, without awaiting: {stats:?}"
        );
    });
}

#[test]
fn dropping_an_async_scope_closes_its_sockets_before_drop_returns() {
    async_drop_is_joined(false);
}

#[test]
fn dropping_an_async_scope_closes_its_sockets_before_drop_returns_multi_thread() {
    async_drop_is_joined(true);
}

/// How a blocking scope's closure is left.
#[derive(Clone, Copy, Debug)]
enum Exit {
    Return,
    QuestionMark,
    Panic,
}

/// Starts `HELD` requests the server holds, and waits until all arrived.
fn start_held(p: &par_http::Parallel<'_>, server: &ScriptedServer) {
    for i in 0..HELD {
        p.get(server.url(&format!("/held/{i}")));
    }
    assert!(
        server.wait_until(|s| s.in_flight == HELD, WAIT),
        "{:?}",
        server.stats()
    );
}

/// Leaves a blocking scope with `HELD` held requests by `exit`; by the time
/// `client.parallel` returns, their sockets must be closed.
fn blocking_exit_is_joined(exit: Exit) {
    let server = Arc::new(holding_server());
    let name = format!(
        "leaving a blocking scope by {exit:?} with {HELD} held requests on {}",
        rt::NAME
    );
    let status = held_status(&server);
    run_bounded(&name, status, move || {
        let client = rt::client();
        match exit {
            Exit::Return => client
                .parallel(|p| {
                    start_held(p, &server);
                    Ok(())
                })
                .unwrap(),
            Exit::QuestionMark => {
                let err = client
                    .parallel(|p| {
                        start_held(p, &server);
                        p.get(crate::support::closed_port_url()).get_response()?;
                        Ok(())
                    })
                    .unwrap_err();
                assert!(err.is_connect(), "{err:?}");
            }
            Exit::Panic => {
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    client.parallel(|p| -> par_http::Result<()> {
                        start_held(p, &server);
                        panic!("leaving the scope by a panic");
                    })
                }));
                assert!(outcome.is_err(), "the panic must come through");
            }
        }
        let returned = Instant::now();
        assert!(
            server.wait_until(|s| s.closed_by_peer == HELD, CLOSE_NOTICED),
            "{HELD} connections must be closed when parallel returns; {:?} after it: {:?}",
            returned.elapsed(),
            server.stats()
        );
    });
}

#[test]
fn returning_from_a_blocking_scope_closes_its_sockets_before_it_returns() {
    blocking_exit_is_joined(Exit::Return);
}

#[test]
fn an_error_out_of_a_blocking_scope_closes_its_sockets_before_it_returns() {
    blocking_exit_is_joined(Exit::QuestionMark);
}

#[test]
fn a_panic_out_of_a_blocking_scope_closes_its_sockets_before_it_returns() {
    blocking_exit_is_joined(Exit::Panic);
}
